"""The generated Python module driven against a real Fieldsync server.

Environment: FIELDSYNC_SERVER_BIN (the `fieldsync` binary); the generated `fieldsync` module and
its library on PYTHONPATH. The server runs with FIELDSYNC_ADMIN_PASSWORD set, so it creates its
`admin` with a known password instead of printing a generated one.
"""

import gc
import hashlib
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import fieldsync

ADMIN_PASSWORD = "admin-test-password"
DISPATCH_PASSWORD = "dispatch-test-password"
# What a signature pad hands over: a PNG of the customer's strokes.
SIGNATURE_PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `fieldsync serve` process on a fixed port over a database in `directory`; API calls carry
    the session token of whoever signed in last."""

    def __init__(self, directory):
        self.db = os.path.join(directory, "server.sqlite3")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None
        self.token = None
        # More `serve` options, for the next start.
        self.options = []

    def start(self):
        self.process = subprocess.Popen(
            [os.environ["FIELDSYNC_SERVER_BIN"], "serve", "--db", self.db, "--addr", f"127.0.0.1:{self.port}",
             *self.options],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "FIELDSYNC_ADMIN_PASSWORD": ADMIN_PASSWORD},
        )
        line = self.process.stdout.readline()
        assert "Fieldsync server on" in line, line

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)
        self.process.stdout.close()

    def sign_in(self, user, password):
        """Signs an office user in; later calls go as them (sessions outlive a server restart)."""
        self.token = self.call("POST", "/v1/auth/login", {"user": user, "password": password}, authenticated=False)["token"]

    def call(self, method, path, body=None, authenticated=True):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if authenticated:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=20) as response:
            return json.loads(response.read() or b"null")


class Recorder(fieldsync.FieldsyncListener):
    def __init__(self):
        self.changed = []
        self.events = []
        self.reminders = []

    def jobs_changed(self, job_ids):
        self.changed.append(list(job_ids))

    def sync_progressed(self, event):
        self.events.append(event)

    def reminders_arrived(self, reminders):
        self.reminders.extend(reminders)


class InstallerDay(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.server = Server(self.dir.name)
        self.server.start()
        self.server.sign_in("admin", ADMIN_PASSWORD)
        self.server.call("POST", "/v1/users", {"id": "anna", "name": "Anna", "role": "installer"})
        self.server.call("POST", "/v1/users", {
            "id": "dispatch", "name": "Dora", "role": "dispatcher", "password": DISPATCH_PASSWORD,
        })
        # The admin may read jobs but not edit them: dispatch does the rest.
        self.server.sign_in("dispatch", DISPATCH_PASSWORD)
        job = self.server.call("POST", "/v1/jobs", {
            "kind": "repair",
            "customer": {"name": "Ada", "tier": "vip", "phone": "+1 555 0100"},
            "site": {"address": "1 Main Street", "region": "north", "lat": 55.9533, "lon": -3.1883},
            "product": {"model": "HP-300", "serial": "SN1"},
            "problem": {"category": "no heat", "description": "Radiators cold"},
            "checklist": [["power", "Check power"], ["seal", "Check seal"]],
        })
        self.job = job["id"]
        self.server.call("POST", f"/v1/jobs/{self.job}/assign", {"assignee": "anna"})
        self.config = fieldsync.ClientConfig(
            store_path=os.path.join(self.dir.name, "phone.sqlite3"), user_id="anna", server_url=self.server.url
        )

    def enrolled(self):
        """Opens the phone on its fresh store and enrolls it with a one-time code from dispatch. The
        credential is kept in `self.credential` for opening the same store again."""
        client = fieldsync.FieldsyncClient.open(self.config)
        code = self.server.call("POST", "/v1/enrollments", {"user": "anna"})["code"]
        self.credential = client.enroll(code)
        return client

    def tearDown(self):
        if self.server.process.poll() is None:
            self.server.stop()
        self.dir.cleanup()

    def test_offline_work_reaches_the_server(self):
        client = self.enrolled()
        recorder = Recorder()
        subscription = client.subscribe(recorder)

        summary = client.sync_now()
        self.assertEqual(summary.updated_job_ids, [self.job])
        self.assertIsInstance(recorder.events[0], fieldsync.SyncEvent.STARTED)
        self.assertIsInstance(recorder.events[-1], fieldsync.SyncEvent.FINISHED)
        self.assertIn([self.job], recorder.changed)
        jobs = client.all_jobs()
        self.assertEqual([j.id for j in jobs], [self.job])
        self.assertEqual(jobs[0].status, fieldsync.JobStatus.ASSIGNED)
        self.assertTrue(jobs[0].vip)
        # The job's customer came with it: who they are, what they own, their jobs.
        self.assertTrue(summary.customers_changed)
        card = client.customer_card(self.job)
        self.assertEqual((card.name, card.tier, card.phones), ("Ada", "vip", ["+1 555 0100"]))
        self.assertEqual([p.serial for p in card.products], ["SN1"])
        self.assertEqual([(j.job_id, j.engineer, j.description) for j in card.jobs],
                         [(self.job, "anna", "Radiators cold")])
        self.assertEqual(client.customer_cards(), [card])

        # Offline: the server is gone; every step still saves at once.
        self.server.stop()
        self.assertEqual(client.customer_card(self.job), card, "readable offline")
        client.move_status(self.job, fieldsync.JobStatus.EN_ROUTE, None)
        client.move_status(self.job, fieldsync.JobStatus.ON_SITE, fieldsync.GeoPoint(lat=52.5, lon=13.4))
        client.update_checklist_item(self.job, "power", fieldsync.ChecklistUpdate(done=True))
        client.append_note(self.job, "Replaced the valve.")
        client.add_part(self.job, "PV-22", 1, True)
        client.add_time_entry(self.job, fieldsync.TimeKind.ON_SITE, 1_000, 2_000)
        client.set_rating(self.job, 5, "Tidy work")
        photo_bytes = b"\xff\xd8\xff" + bytes(range(256)) * 40
        photo = client.attach_photo(self.job, photo_bytes, "image/jpeg", "new valve")
        self.assertEqual(photo.sha256, hashlib.sha256(photo_bytes).hexdigest())
        self.assertEqual(client.attach_photo(self.job, photo_bytes, "image/jpeg", "again"), photo)
        client.finish_visit(self.job, fieldsync.VisitOutcome(first_visit_success=True, cause="valve"), True)
        self.assertEqual(client.sync_state(self.job), fieldsync.SyncState.SAVED_LOCALLY)
        self.assertEqual(client.outbox().depth, 10)
        detail = client.job(self.job)
        self.assertEqual(detail.summary.status, fieldsync.JobStatus.COMPLETED)
        self.assertEqual(detail.site_position, fieldsync.GeoPoint(lat=55.9533, lon=-3.1883))
        self.assertTrue(detail.checklist[0].done)
        self.assertEqual(detail.parts[0].part_number, "PV-22")

        with self.assertRaises(fieldsync.FieldsyncError.Offline):
            client.sync_now()
        self.assertIsInstance(recorder.events[-1], fieldsync.SyncEvent.FAILED)

        # Back online: one sync and the server holds every edit.
        self.server.start()
        summary = client.sync_now()
        self.assertEqual(summary.accepted_jobs, 1)
        # Every change is on the server, but the photo's bytes are still only on the phone: the
        # job honestly stays "saved locally" until they are uploaded too.
        self.assertEqual(client.sync_state(self.job), fieldsync.SyncState.SAVED_LOCALLY)
        self.assertEqual(client.outbox().depth, 0)
        on_server = self.server.call("GET", f"/v1/jobs/{self.job}")
        self.assertEqual(on_server["summary"]["status"], "completed")
        self.assertEqual(on_server["job"]["notes"], "Replaced the valve.")
        self.assertEqual(on_server["job"]["rating"]["score"], 5)
        self.assertEqual(on_server["job"]["photos"][0]["sha256"], photo.sha256)
        subscription.cancel()

    def test_errors_arrive_as_exceptions_and_nothing_is_saved(self):
        client = self.enrolled()
        client.sync_now()
        with self.assertRaises(fieldsync.FieldsyncError.NotFound):
            client.job("no-such-job")
        with self.assertRaises(fieldsync.FieldsyncError.NotFound):
            client.customer_card("no-such-job")
        # The office's QR code holds an enrollment link; a text that is not one is named.
        link = fieldsync.parse_enrollment_link(
            "fieldsync://enroll?server=https%3A%2F%2Ffs.example.com&user=anna&code=0f3a")
        self.assertEqual((link.server, link.user, link.code), ("https://fs.example.com", "anna", "0f3a"))
        with self.assertRaises(fieldsync.FieldsyncError.NotAllowed) as raised:
            fieldsync.parse_enrollment_link("fieldsync://enroll?server=https%3A%2F%2Fa&user=anna")
        self.assertEqual(raised.exception.code, "bad_enrollment_link")
        self.assertIn("code", raised.exception.reason)
        with self.assertRaises(fieldsync.FieldsyncError.NotAllowed) as raised:
            client.set_rating(self.job, 9, "too good")
        self.assertIn("rating", str(raised.exception))
        client.move_status(self.job, fieldsync.JobStatus.ON_SITE, None)
        with self.assertRaises(fieldsync.FieldsyncError.NotAllowed) as raised:
            client.move_status(self.job, fieldsync.JobStatus.EN_ROUTE, None)
        self.assertEqual(raised.exception.code, "transition_not_allowed")
        self.assertEqual(raised.exception.params, {"from": "on_site", "to": "en_route", "role": "installer"})
        self.assertEqual(raised.exception.reason, "edit refused: an installer may not move a job from on_site to en_route")
        self.assertEqual(client.outbox().depth, 1)
        other_user = fieldsync.ClientConfig(store_path=self.config.store_path, user_id="ben", server_url=self.server.url)
        with self.assertRaises(fieldsync.FieldsyncError.Storage):
            fieldsync.FieldsyncClient.open(other_user)

    def test_subscriptions_stop_when_cancelled_or_dropped_and_objects_close(self):
        client = self.enrolled()
        client.sync_now()
        kept, cancelled, dropped = Recorder(), Recorder(), Recorder()
        keep = client.subscribe(kept)
        cancel = client.subscribe(cancelled)
        client.subscribe(dropped)  # the subscription object is dropped at once
        gc.collect()
        cancel.cancel()
        cancel.cancel()
        client.append_note(self.job, "one")
        self.assertEqual(kept.changed, [[self.job]])
        self.assertEqual(cancelled.changed, [])
        self.assertEqual(dropped.changed, [])
        del keep
        gc.collect()
        client.append_note(self.job, "two")
        self.assertEqual(kept.changed, [[self.job]])
        # Closing the client and opening the store again keeps everything.
        device = client.device_id()
        del client
        gc.collect()
        reopened = fieldsync.FieldsyncClient.open(fieldsync.ClientConfig(
            store_path=self.config.store_path, user_id="anna", server_url=self.server.url,
            device_credential=self.credential,
        ))
        self.assertEqual(reopened.device_id(), device)
        self.assertEqual(reopened.job(self.job).notes, "one\ntwo")

    def test_a_throwing_listener_does_not_undo_or_block_anything(self):
        class Broken(fieldsync.FieldsyncListener):
            def jobs_changed(self, job_ids):
                raise RuntimeError("app bug")

            def sync_progressed(self, event):
                raise RuntimeError("app bug")

            def reminders_arrived(self, reminders):
                raise RuntimeError("app bug")

        client = self.enrolled()
        broken = client.subscribe(Broken())
        healthy = Recorder()
        kept = client.subscribe(healthy)
        client.sync_now()
        client.request_help(self.job, "needs a second pair of hands")
        self.assertEqual(client.job(self.job).help_requests, 1)
        self.assertEqual(client.job(self.job).summary.ring, 2)
        self.assertIn([self.job], healthy.changed)
        self.assertIsInstance(healthy.events[-1], fieldsync.SyncEvent.FINISHED)
        # The office answers the request in the job; the answer arrives with the next sync.
        client.sync_now()
        self.server.call("POST", f"/v1/jobs/{self.job}/help/0/answer", {"answer": "Ben is on his way"})
        client.sync_now()
        help = client.job(self.job).help
        self.assertEqual(help[0].reason, "needs a second pair of hands")
        self.assertEqual(help[0].answer, "Ben is on his way")
        self.assertEqual(help[0].answered_by, "dispatch")
        self.assertIsNotNone(help[0].answered_at_ms)
        broken.cancel()
        kept.cancel()

    def test_the_installer_hears_a_reminder_and_acknowledges_it_offline(self):
        client = self.enrolled()
        heard = Recorder()
        subscription = client.subscribe(heard)
        # A call taken three days ago is past its resolve deadline once it is Anna's: the
        # ladder reminds her (it looks again within a second of the change).
        three_days_ago = int(time.time() * 1000) - 3 * 24 * 3600 * 1000
        late = self.server.call("POST", "/v1/jobs", {
            "kind": "repair", "call_received_at": three_days_ago,
            "customer": {"name": "Grace", "tier": "standard", "phone": "+1 555 0101"},
            "site": {"address": "2 Main Street", "region": "north"},
            "problem": {"category": "no heat", "description": "Radiators cold"},
        })["id"]
        self.server.call("POST", f"/v1/jobs/{late}/assign", {"assignee": "anna"})
        deadline = time.time() + 20
        while not client.reminders() and time.time() < deadline:
            client.sync_now()
            time.sleep(0.2)
        reminders = client.reminders()
        self.assertEqual([(r.job_id, r.rule) for r in reminders], [(late, "resolve:owner")])
        self.assertEqual(heard.reminders, reminders, "the listener heard it")
        # Acknowledged without a signal: gone from the list at once, recorded by the server as
        # Anna's at the next sync.
        client.acknowledge_reminder(reminders[0].id)
        self.assertEqual(client.reminders(), [])
        with self.assertRaises(fieldsync.FieldsyncError.NotFound):
            client.acknowledge_reminder(reminders[0].id + 1000)
        client.sync_now()
        on_server = self.server.call("GET", f"/v1/jobs/{late}")["reminders"]
        acknowledged = [r for r in on_server if r["id"] == reminders[0].id][0]
        self.assertEqual(acknowledged["acknowledged_by"], "anna")
        subscription.cancel()

    def test_plain_http_to_another_host_is_refused_with_a_clear_error(self):
        config = fieldsync.ClientConfig(store_path=self.config.store_path, user_id="anna", server_url="http://fieldsync.example.com")
        with self.assertRaises(fieldsync.FieldsyncError.NotAllowed) as raised:
            fieldsync.FieldsyncClient.open(config)
        self.assertIn("https://", raised.exception.reason)
        pinned = fieldsync.ClientConfig(store_path=self.config.store_path, user_id="anna", server_url="https://fieldsync.example.com", pinned_spki_sha256=["not-a-hash"])
        with self.assertRaises(fieldsync.FieldsyncError.NotAllowed) as raised:
            fieldsync.FieldsyncClient.open(pinned)
        self.assertIn("not-a-hash", raised.exception.reason)
        # Opting in to plain HTTP on a closed network is explicit.
        opted_in = fieldsync.ClientConfig(store_path=self.config.store_path, user_id="anna", server_url="http://10.0.2.2:8080", allow_insecure_http=True)
        fieldsync.FieldsyncClient.open(opted_in)

    def test_todays_list_and_the_live_nudge(self):
        client = self.enrolled()
        client.sync_now()
        # The job has no appointment yet: it is in today's list whatever the time zone.
        now = int(time.time() * 1000)
        self.assertEqual([j.id for j in client.today_and_upcoming(now, 120)], [self.job])
        # Found as the installer types: the customer's name, any case, or nothing.
        self.assertEqual([j.id for j in client.find_jobs("ad")], [self.job])
        self.assertEqual(client.find_jobs("zz"), [])
        # The sync started the offline lease: 14 days on the phone's clock by default.
        lease = client.lease_status(now)
        self.assertEqual(lease.kind, fieldsync.LeaseKind.ACTIVE)
        self.assertGreater(lease.locks_at_ms, now + 13 * 86_400_000)
        self.assertEqual(client.lease_status(now + 15 * 86_400_000).kind, fieldsync.LeaseKind.LOCKED)
        with self.assertRaises(fieldsync.FieldsyncError.Locked) as raised:
            client.job(self.job)
        self.assertIn("sync", raised.exception.reason)
        # The customers' names, numbers and histories are locked with the jobs.
        with self.assertRaises(fieldsync.FieldsyncError.Locked):
            client.customer_card(self.job)
        with self.assertRaises(fieldsync.FieldsyncError.Locked):
            client.customer_cards()
        # Syncing renews it: the phone is usable again.
        client.sync_now()
        client.job(self.job)
        nudged = []
        waiter = threading.Thread(target=lambda: nudged.append(client.wait_for_changes(20_000)))
        waiter.start()
        # The waiter subscribes in the background: keep assigning work until it has heard.
        assigned = []
        while waiter.is_alive() and len(assigned) < 50:
            job = self.server.call("POST", "/v1/jobs", {
                "customer": {"name": "Grace"},
                "site": {"address": "2 Mill Lane"},
                "problem": {"category": "leak", "description": "Water under the unit"},
            })["id"]
            self.server.call("POST", f"/v1/jobs/{job}/assign", {"assignee": "anna"})
            assigned.append(job)
            time.sleep(0.2)
        waiter.join()
        self.assertEqual(nudged, [True])
        self.assertEqual(sorted(client.sync_now().updated_job_ids), sorted(assigned))

    def test_field_tips_are_searchable_offline_as_you_type(self):
        client = fieldsync.FieldsyncClient.open(self.config)
        self.server.stop()
        tip = client.add_tip("HP-300", "  Vérifier la soupape de sécurité avant de relancer le brûleur.  ")
        self.assertEqual(tip.text, "Vérifier la soupape de sécurité avant de relancer le brûleur.")
        self.assertEqual(tip.author, "anna")
        chinese = client.add_tip("HP-300", "安装前先检查阀门的密封圈")

        def found(query):
            return [(hit.kind, hit.model, hit.reference) for hit in client.search(query, 10)]

        mine = [(fieldsync.HitKind.TIP, "HP-300", tip.id)]
        # Without the accent, and the last word as a prefix while it is being typed.
        self.assertEqual(found("verif"), mine)
        self.assertEqual(found("Verifier soupa"), mine)
        self.assertEqual(found("soupape brul"), mine)
        # A finished word (followed by a space) is no longer a prefix.
        self.assertEqual(found("soupa "), [])
        # Chinese: two characters next to each other anywhere in the text.
        self.assertEqual(found("阀门"), [(fieldsync.HitKind.TIP, "HP-300", chinese.id)])
        self.assertEqual(found(""), [])
        self.assertEqual(found("\"*()"), [])
        snippet = client.search("verif", 10)[0].snippet
        self.assertIn(fieldsync.SnippetPart(text="Vérifier", matched=True), snippet)
        self.assertEqual({t.id for t in client.tips("HP-300")}, {tip.id, chinese.id})
        self.assertEqual(client.tips("HP-400"), [])
        self.assertEqual(client.cases("HP-300"), [])
        self.assertIsNone(client.manual("HP-300"))
        with self.assertRaises(fieldsync.FieldsyncError.NotAllowed):
            client.add_tip(" ", "no model")

    def test_the_customer_signs_offline_and_the_media_wait_for_upload(self):
        client = self.enrolled()
        client.sync_now()
        recorder = Recorder()
        subscription = client.subscribe(recorder)
        self.server.stop()

        preview = client.preview_report(self.job, "Ada Lovelace")
        self.assertTrue(preview.startswith(b"%PDF"))
        self.assertIsNone(client.job(self.job).signature)
        signature = client.sign(self.job, SIGNATURE_PNG, "image/png", "Ada Lovelace")
        self.assertEqual(recorder.changed, [[self.job]])
        self.assertEqual(signature.signed_by, "Ada Lovelace")
        self.assertEqual(signature.image.sha256, hashlib.sha256(SIGNATURE_PNG).hexdigest())
        self.assertEqual(client.job(self.job).signature, signature)
        report = client.blob(signature.report_sha256)
        self.assertTrue(report.startswith(b"%PDF"))
        self.assertEqual(hashlib.sha256(report).hexdigest(), signature.report_sha256)
        self.assertEqual(client.blob(signature.image.sha256), SIGNATURE_PNG)
        self.assertIsNone(client.blob("0" * 64))

        pending = {media.sha256: media for media in client.pending_media()}
        self.assertEqual(set(pending), {signature.image.sha256, signature.report_sha256})
        self.assertEqual(pending[signature.report_sha256].mime_type, "application/pdf")
        self.assertEqual(pending[signature.report_sha256].size, len(report))
        self.assertEqual(pending[signature.image.sha256].mime_type, "image/png")
        self.assertEqual({media.job_id for media in pending.values()}, {self.job})
        self.assertEqual(client.sync_state(self.job), fieldsync.SyncState.SAVED_LOCALLY)

        usage = client.storage_usage()
        self.assertIsNone(usage.budget)
        self.assertEqual(usage.unsent_media, len(report) + len(SIGNATURE_PNG))
        self.assertEqual(usage.sent_media, 0)
        # Media the server does not hold yet are never evicted, whatever the budget.
        client.set_storage_budget(1)
        usage = client.storage_usage()
        self.assertEqual(usage.budget, 1)
        self.assertEqual(usage.unsent_media, len(report) + len(SIGNATURE_PNG))
        self.assertEqual(client.blob(signature.report_sha256), report)
        self.assertEqual(client.blob(signature.image.sha256), SIGNATURE_PNG)
        self.assertEqual(len(client.pending_media()), 2)

        with self.assertRaises(fieldsync.FieldsyncError.Offline):
            client.upload_media()
        with self.assertRaises(fieldsync.FieldsyncError.NotAllowed):
            client.sign(self.job, SIGNATURE_PNG, "text/plain", "Ada Lovelace")
        with self.assertRaises(fieldsync.FieldsyncError.NotFound):
            client.sign("no-such-job", SIGNATURE_PNG, "image/png", "Ada Lovelace")
        subscription.cancel()

    def test_a_chinese_phone_prints_the_report_in_chinese_on_the_organisations_time(self):
        self.server.stop()
        self.server.options = ["--time-zone", "Asia/Shanghai"]
        self.server.start()
        # No font named: the library finds the platform's CJK font (here Debian's Noto Sans CJK).
        self.config.locale = "zh-CN"
        client = self.enrolled()
        client.sync_now()
        signature = client.sign(self.job, SIGNATURE_PNG, "image/png", "张伟")
        report = os.path.join(self.dir.name, "report.pdf")
        with open(report, "wb") as f:
            f.write(client.blob(signature.report_sha256))
        text = subprocess.run(["pdftotext", "-enc", "UTF-8", report, "-"], capture_output=True, check=True).stdout
        text = text.decode("utf-8")
        for expected in ["服务报告", "客户等级：VIP", "签名人：张伟", "UTC+08:00"]:
            self.assertIn(expected, text)

    def test_a_chinese_phone_explains_a_refusal_in_chinese(self):
        self.config.locale = "zh-CN"
        client = self.enrolled()
        client.sync_now()
        client.move_status(self.job, fieldsync.JobStatus.ON_SITE, None)
        with self.assertRaises(fieldsync.FieldsyncError.NotAllowed) as raised:
            client.move_status(self.job, fieldsync.JobStatus.EN_ROUTE, None)
        self.assertEqual(raised.exception.code, "transition_not_allowed")
        self.assertEqual(raised.exception.params["to"], "en_route")
        self.assertEqual(raised.exception.reason, "工程师不能把工单从“已到场”改为“已出发”")
        with self.assertRaises(fieldsync.FieldsyncError.NotFound) as raised:
            client.job("no-such-job")
        self.assertEqual(raised.exception.reason, "工单 no-such-job 不在本设备上")

    def test_signed_media_manuals_and_tips_reach_the_server(self):
        self.server.call("POST", "/v1/manuals", {
            "model": "HP-300",
            "version": 1,
            "title": "HP-300 service manual",
            "sections": [{"id": "burner", "title": "Réglage du brûleur", "body": "Pression du brûleur : 12 mbar."}],
        })
        client = self.enrolled()
        client.sync_now()
        signature = client.sign(self.job, SIGNATURE_PNG, "image/png", "Ada Lovelace")
        report = client.blob(signature.report_sha256)
        tip = client.add_tip("HP-300", "Purger le circuit avant la mise en pression.")

        # The signature travels with the sync; its image and report with the upload after it.
        self.assertEqual(client.sync_now().accepted_jobs, 1)
        self.assertEqual(client.sync_state(self.job), fieldsync.SyncState.SAVED_LOCALLY)
        uploaded = client.upload_media()
        self.assertEqual(uploaded.uploaded, 2)
        self.assertEqual(uploaded.bytes_sent, len(report) + len(SIGNATURE_PNG))
        self.assertEqual(client.pending_media(), [])
        self.assertEqual(client.sync_state(self.job), fieldsync.SyncState.ACCEPTED)
        self.assertEqual(client.upload_media(), fieldsync.UploadSummary(uploaded=0, bytes_sent=0))
        self.assertEqual(client.fetch_blob(signature.report_sha256), report)

        knowledge = client.sync_knowledge()
        self.assertEqual(knowledge.manuals, ["HP-300"])
        self.assertEqual(knowledge.refused_tips, [])
        manual = client.manual("HP-300")
        self.assertEqual((manual.model, manual.version, manual.title), ("HP-300", 1, "HP-300 service manual"))
        self.assertEqual([section.id for section in manual.sections], ["burner"])
        self.assertEqual(manual.attachments, [])
        hits = client.search("reglage brul", 10)
        self.assertEqual([(hit.kind, hit.reference) for hit in hits], [(fieldsync.HitKind.MANUAL, "burner")])
        self.assertEqual([t.id for t in client.tips("HP-300")], [tip.id])

        # Media the server holds may be evicted under the budget, and fetched again.
        usage = client.storage_usage()
        self.assertEqual((usage.unsent_media, usage.sent_media), (0, len(report) + len(SIGNATURE_PNG)))
        client.set_storage_budget(0)
        self.assertIsNone(client.blob(signature.image.sha256))
        self.assertEqual(client.fetch_blob(signature.image.sha256), SIGNATURE_PNG)

    def test_a_revoked_device_is_wiped_and_the_api_needs_a_sign_in(self):
        client = self.enrolled()
        client.sync_now()
        self.assertEqual([j.id for j in client.all_jobs()], [self.job])
        # The phone is lost: dispatch revokes it, and its next sync wipes the jobs it held.
        self.server.call("POST", f"/v1/devices/{client.device_id()}/revoke")
        with self.assertRaises(fieldsync.FieldsyncError.Revoked):
            client.sync_now()
        self.assertEqual(client.all_jobs(), [])
        # Nobody reads jobs without signing in.
        with self.assertRaises(urllib.error.HTTPError) as raised:
            self.server.call("GET", "/v1/jobs", authenticated=False)
        with raised.exception:
            self.assertEqual(raised.exception.code, 401)
            self.assertEqual(json.loads(raised.exception.read())["code"], "unauthenticated")


if __name__ == "__main__":
    unittest.main()
