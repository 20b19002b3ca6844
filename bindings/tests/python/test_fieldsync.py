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

    def start(self):
        self.process = subprocess.Popen(
            [os.environ["FIELDSYNC_SERVER_BIN"], "serve", "--db", self.db, "--addr", f"127.0.0.1:{self.port}"],
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

    def jobs_changed(self, job_ids):
        self.changed.append(list(job_ids))

    def sync_progressed(self, event):
        self.events.append(event)


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
            "site": {"address": "1 Main Street", "region": "north"},
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

        # Offline: the server is gone; every step still saves at once.
        self.server.stop()
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
        with self.assertRaises(fieldsync.FieldsyncError.NotAllowed) as raised:
            client.set_rating(self.job, 9, "too good")
        self.assertIn("rating", str(raised.exception))
        client.move_status(self.job, fieldsync.JobStatus.ON_SITE, None)
        with self.assertRaises(fieldsync.FieldsyncError.NotAllowed):
            client.move_status(self.job, fieldsync.JobStatus.EN_ROUTE, None)
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
        broken.cancel()
        kept.cancel()

    def test_https_urls_are_refused_with_a_clear_error(self):
        config = fieldsync.ClientConfig(store_path=self.config.store_path, user_id="anna", server_url="https://example.com")
        with self.assertRaises(fieldsync.FieldsyncError.NotAllowed) as raised:
            fieldsync.FieldsyncClient.open(config)
        self.assertIn("http://", raised.exception.reason)

    def test_todays_list_and_the_live_nudge(self):
        client = self.enrolled()
        client.sync_now()
        # The job has no appointment yet: it is in today's list whatever the time zone.
        now = int(time.time() * 1000)
        self.assertEqual([j.id for j in client.today_and_upcoming(now, 120)], [self.job])
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
