//! Scenarios written as numbered steps, each against a real server over HTTP.

use std::sync::Arc;
use std::time::Duration;

use fieldsync_client_core::protocol::job::{ChecklistUpdate, Outcome};
use fieldsync_client_core::protocol::rules::Status;
use fieldsync_client_core::{JobQuery, JobSyncState, SyncSession};
use fieldsync_server::domain::clock::ManualClock;
use fieldsync_server::state::limits::DeviceQuotas;
use fieldsync_tests::TestServer;
use serde_json::json;

use crate::{phone_heads, server_heads};

/// Sync quotas that a fallback never meets: it takes one request per Automerge sync message,
/// and on a loaded machine the default burst has been seen to run out mid-way (the phone is
/// then told to wait, which these tests are not about).
fn fallback_quotas() -> DeviceQuotas {
    DeviceQuotas {
        syncs_per_minute: std::num::NonZeroU32::new(6_000).expect("nonzero"),
        sync_burst: std::num::NonZeroU32::new(1_000).expect("nonzero"),
        ..DeviceQuotas::default()
    }
}

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

#[test]
fn field_day_offline_work_meets_a_moved_appointment() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();

    // 1. Dispatch takes the call, schedules and assigns the job.
    let job = dispatcher.create_job("Ada Lovelace");
    dispatcher.set_appointment(&job, 1_800_000_000_000, 1_800_000_000_000 + 2 * HOUR);
    dispatcher.assign(&job, Some("anna"));

    // 2. Anna's phone syncs: the job arrives whole.
    let phone = server.phone("anna");
    let report = phone.sync();
    assert_eq!(report.updated_jobs, 1);
    let listed = phone.store.list_jobs(&JobQuery::default()).expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, Status::Assigned);

    // 3. Offline in the basement: she works the job. Every step is durable at once.
    phone
        .store
        .move_status(&job, Status::EnRoute, None)
        .expect("en route");
    phone
        .store
        .move_status(&job, Status::OnSite, Some((52.5, 13.4)))
        .expect("on site");
    phone
        .store
        .update_checklist_item(
            &job,
            "power",
            &ChecklistUpdate {
                done: Some(true),
                ..Default::default()
            },
        )
        .expect("tick");
    phone
        .store
        .append_note(&job, "Replaced the pressure valve.")
        .expect("note");
    phone.store.add_part(&job, "PV-22", 1, true).expect("part");
    phone
        .store
        .set_rating(&job, 5, "Quick and tidy")
        .expect("rating");
    let outcome = Outcome {
        first_visit_success: Some(true),
        cause: "valve".into(),
        fix: "replaced".into(),
        summary: "fixed".into(),
    };
    phone
        .store
        .finish_visit(&job, &outcome, true)
        .expect("complete");
    assert_eq!(
        phone.store.sync_state(&job).expect("state"),
        JobSyncState::SavedLocally
    );
    // Seven operations, eight changes: ending the visit records the outcome and the status.
    assert_eq!(phone.store.outbox_status().expect("outbox").depth, 8);

    // 4. Meanwhile dispatch moves the appointment.
    dispatcher.set_appointment(&job, 1_800_000_000_000 + HOUR, 1_800_000_000_000 + 3 * HOUR);

    // 5. The phone reconnects: one round trip plus the acknowledgement.
    let report = phone.sync();
    assert_eq!(report.round_trips, 2, "{report:?}");
    assert_eq!(report.accepted_jobs, 1);
    assert_eq!(
        phone.store.sync_state(&job).expect("state"),
        JobSyncState::Accepted
    );
    assert_eq!(phone.store.outbox_status().expect("outbox").depth, 0);

    // 6. Both sides hold identical heads and every edit.
    assert_eq!(phone_heads(&phone, &job), server_heads(&server, &job));
    let on_server = &dispatcher.job(&job)["job"];
    let on_phone = phone.store.job(&job).expect("job");
    assert_eq!(
        on_server["appointment"]["start"],
        1_800_000_000_000_i64 + HOUR
    );
    assert_eq!(
        on_phone.appointment.map(|a| a.start),
        Some(1_800_000_000_000 + HOUR)
    );
    assert_eq!(on_server["checklist"]["power"]["done"], true);
    assert_eq!(on_server["notes"], "Replaced the pressure valve.");
    assert_eq!(on_server["parts"][0]["part_number"], "PV-22");
    assert_eq!(on_server["rating"]["score"], 5);
    assert_eq!(on_server["outcome"]["first_visit_success"], true);
    assert_eq!(dispatcher.job(&job)["summary"]["status"], "completed");
    let transitions = on_server["transitions"].as_array().expect("transitions");
    let on_site = transitions
        .iter()
        .find(|t| t["to"] == "on_site")
        .expect("on_site kept");
    assert_eq!(on_site["by"], "anna");
    assert_eq!(on_site["lat"], 52.5);

    // 7. A sync with nothing new is one round trip.
    assert_eq!(phone.sync().round_trips, 1);
}

/// A misspelt address and the wrong tier are corrected while the installer works offline:
/// both sides end with her work and the correction, the VIP clocks and the old values in the
/// history; what a correction may not touch is refused with nothing stored.
#[test]
fn a_misspelt_address_is_corrected_while_the_installer_works_offline() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let job = dispatcher.create_job("Ada Lovelace");
    dispatcher.assign(&job, Some("anna"));
    let phone = server.phone("anna");
    phone.sync();
    let before = dispatcher.job(&job);

    // Offline, Anna ticks the checklist and writes a note.
    phone
        .store
        .update_checklist_item(
            &job,
            "power",
            &ChecklistUpdate {
                done: Some(true),
                ..Default::default()
            },
        )
        .expect("tick");
    phone
        .store
        .append_note(&job, "Side gate is locked.")
        .expect("note");

    // Meanwhile the office corrects the address and the tier.
    let corrected = dispatcher.patch(
        &format!("/v1/jobs/{job}"),
        &json!({
            "site": { "address": "1 Test Road, Flat 2" },
            "customer": { "tier": "vip" },
            "reason": "the caller spelt it out again",
        }),
    );
    assert_eq!(corrected.status, 200, "{:?}", corrected.body);
    assert_eq!(corrected.body["tier"], "vip");

    // Bad corrections are refused, naming the problem, and store nothing.
    let heads = dispatcher.job(&job)["heads"].clone();
    for (body, problem) in [
        (json!({ "notes": "rewritten" }), "not_correctable"),
        (json!({ "assignee": "ben" }), "not_correctable"),
        (
            json!({ "customer": { "email": "not-an-address" } }),
            "not_an_email",
        ),
        (json!({ "site": { "address": "" } }), "required"),
        (json!({ "kind": "demolition" }), "invalid_value"),
    ] {
        let refused = dispatcher.patch(&format!("/v1/jobs/{job}"), &body);
        assert_eq!(refused.status, 400, "{body}: {:?}", refused.body);
        assert_eq!(refused.body["params"]["problem"], problem, "{body}");
    }
    assert_eq!(dispatcher.job(&job)["heads"], heads, "nothing stored");
    let missing = dispatcher.patch("/v1/jobs/job-nope", &json!({ "priority": "high" }));
    assert_eq!(missing.status, 404);

    // The phone reconnects: both edits are on both sides.
    phone.sync();
    assert_eq!(phone_heads(&phone, &job), server_heads(&server, &job));
    let on_phone = phone.store.job(&job).expect("job");
    assert_eq!(on_phone.site.address, "1 Test Road, Flat 2");
    assert_eq!(on_phone.site.region, "north", "untouched");
    assert_eq!(on_phone.notes, "Side gate is locked.");
    let view = dispatcher.job(&job);
    assert_eq!(view["job"]["site"]["address"], "1 Test Road, Flat 2");
    assert_eq!(view["job"]["notes"], "Side gate is locked.");
    assert_eq!(view["job"]["checklist"]["power"]["done"], true);
    // The VIP targets, counted from the same call, are tighter.
    let deadline = |view: &serde_json::Value| view["job"]["sla"]["resolve_by"].as_i64();
    assert!(deadline(&view) < deadline(&before), "{view}");
    let history = view["history"].as_array().expect("history");
    let correction = history
        .iter()
        .find(|entry| {
            entry["detail"]
                .as_str()
                .is_some_and(|d| d.contains("site.address"))
        })
        .expect("the correction is in the history");
    let detail = correction["detail"].as_str().expect("detail");
    assert!(
        detail.contains("site.address: \"1 Test Road\" → \"1 Test Road, Flat 2\""),
        "{detail}"
    );
    assert!(detail.contains("sla.resolve_by: "), "{detail}");
    assert!(
        detail.ends_with("the caller spelt it out again"),
        "{detail}"
    );
    assert_eq!(correction["user"], "dispatch");
}

#[test]
fn server_restart_between_rounds_loses_nothing() {
    let mut server = TestServer::start();
    let job = server.dispatcher().create_job("Grace Hopper");
    server.dispatcher().assign(&job, Some("anna"));
    let phone = server.phone("anna");
    phone.sync();

    // 1. Edit offline, sync, and restart the server.
    phone.store.append_note(&job, "first").expect("note");
    phone.sync();
    server.restart_with(|_| {});
    // 2. Edit again after the restart; dispatch edits too.
    phone.store.append_note(&job, "second").expect("note");
    server.dispatcher().set_appointment(&job, 1_000, 2_000);
    let report = phone.sync();
    assert!(!report.reset, "a restart is not a reset: {report:?}");
    assert_eq!(phone_heads(&phone, &job), server_heads(&server, &job));
    assert_eq!(
        server.dispatcher().job(&job)["job"]["notes"],
        "first\nsecond"
    );
}

#[test]
fn a_round_cut_off_mid_response_is_retried_to_the_same_result() {
    let server = TestServer::start();
    let job = server.dispatcher().create_job("Alan Turing");
    server.dispatcher().assign(&job, Some("anna"));
    let phone = server.phone("anna");
    phone.sync();
    phone
        .store
        .append_note(&job, "captured before the cut")
        .expect("note");
    server.dispatcher().set_appointment(&job, 5_000, 9_000);

    // 1. The request reaches the server, which commits; the response is cut off at every
    //    possible length. The device cannot use any of them and keeps its outbox.
    let mut session = SyncSession::new(&phone.store);
    let request = session
        .next_request()
        .expect("request")
        .expect("something to send");
    let response = phone.transport.exchange(&request).expect("exchange");
    for cut in [
        0,
        1,
        response.len() / 3,
        response.len() / 2,
        response.len() - 1,
    ] {
        let mut retry = SyncSession::new(&phone.store);
        let request = retry
            .next_request()
            .expect("request")
            .expect("something to send");
        assert!(
            retry.receive(&response[..cut]).is_err(),
            "a truncated response at {cut} was accepted"
        );
        drop(request);
    }
    drop(session);
    assert_eq!(phone.store.outbox_status().expect("outbox").depth, 1);

    // 2. The retry converges, and the server stored the change once.
    let report = phone.sync();
    assert_eq!(report.accepted_jobs, 1);
    assert_eq!(phone.store.outbox_status().expect("outbox").depth, 0);
    assert_eq!(phone_heads(&phone, &job), server_heads(&server, &job));
    let view = server.dispatcher().job(&job);
    assert_eq!(view["job"]["notes"], "captured before the cut");
    assert_eq!(view["job"]["appointment"]["start"], 5_000);
    // Duplicated delivery stored nothing twice.
    let changes = view["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|h| h["kind"] == "change")
        .count();
    assert_eq!(changes, 4, "create, assign, appointment, note: {view}");
}

#[test]
fn the_same_job_edited_on_two_phones_of_one_installer() {
    let server = TestServer::start();
    let job = server.dispatcher().create_job("Katherine Johnson");
    server.dispatcher().assign(&job, Some("anna"));
    let phone = server.phone("anna");
    let tablet = server.phone("anna");
    phone.sync();
    tablet.sync();

    // 1. Both edit the same checklist item offline, different fields, and the notes.
    phone
        .store
        .update_checklist_item(
            &job,
            "seal",
            &ChecklistUpdate {
                done: Some(true),
                ..Default::default()
            },
        )
        .expect("tick");
    tablet
        .store
        .update_checklist_item(
            &job,
            "seal",
            &ChecklistUpdate {
                note: Some("gasket worn".into()),
                ..Default::default()
            },
        )
        .expect("note");
    phone
        .store
        .move_status(&job, Status::OnSite, None)
        .expect("on site");
    tablet
        .store
        .finish_visit(&job, &Outcome::default(), true)
        .expect("completed");

    // 2. Both sync (twice, so each sees the other's work).
    phone.sync();
    tablet.sync();
    phone.sync();
    let item = phone.store.job(&job).expect("job").checklist["seal"].clone();
    assert!(item.done && item.note == "gasket worn", "{item:?}");
    assert_eq!(
        phone.store.job(&job).expect("job").status(),
        Status::Completed
    );
    assert_eq!(phone_heads(&phone, &job), phone_heads(&tablet, &job));
    assert_eq!(phone_heads(&phone, &job), server_heads(&server, &job));
}

#[test]
fn reassigned_while_offline_keeps_the_captured_work_then_leaves_the_phone() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let job = dispatcher.create_job("Hedy Lamarr");
    let other = dispatcher.create_job("Other customer");
    dispatcher.assign(&job, Some("anna"));
    dispatcher.assign(&other, Some("anna"));
    let anna = server.phone("anna");
    anna.sync();

    // 1. Anna works the job offline; dispatch gives it to Ben meanwhile.
    anna.store
        .append_note(&job, "wiring checked")
        .expect("note");
    anna.store.add_part(&job, "FUSE-5", 2, false).expect("part");
    dispatcher.assign(&job, Some("ben"));

    // 2. Anna reconnects: her work lands on the server, then the job leaves her phone.
    let report = anna.sync();
    assert_eq!(report.accepted_jobs, 1, "{report:?}");
    assert_eq!(report.purged_jobs, 1, "{report:?}");
    assert_eq!(anna.store.job_ids().expect("ids"), vec![other.clone()]);
    let on_server = dispatcher.job(&job);
    assert_eq!(on_server["job"]["notes"], "wiring checked");
    assert_eq!(on_server["job"]["parts"][0]["by"], "anna");
    assert_eq!(on_server["summary"]["assignee"], "ben");

    // 3. Ben's phone gets the job with Anna's work in it.
    let ben = server.phone("ben");
    ben.sync();
    assert_eq!(ben.store.job(&job).expect("job").notes, "wiring checked");
}

#[test]
fn a_closed_job_leaves_the_phone_after_a_quiet_week_and_comes_back_when_reopened() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let server = TestServer::start_with_clock(clock.clone());
    let dispatcher = server.dispatcher();
    let job = dispatcher.create_job("Grace Hopper");
    let open = dispatcher.create_job("Open job");
    dispatcher.assign(&job, Some("anna"));
    dispatcher.assign(&open, Some("anna"));
    let anna = server.phone("anna");
    anna.sync();

    // 1. A job that was never worked cannot be closed. Anna does the work; dispatch closes the
    //    job. Six days on it is still on her phone.
    let close = || {
        dispatcher.post(
            &format!("/v1/jobs/{job}/status"),
            &json!({ "to": "closed" }),
        )
    };
    let refused = close();
    assert_eq!(
        (
            refused.status,
            refused.body["params"]["problem"].as_str(),
            refused.body["params"]["from"].as_str()
        ),
        (400, Some("transition_not_allowed"), Some("assigned")),
        "{:?}",
        refused.body
    );
    anna.arrive(&job);
    anna.store
        .finish_visit(&job, &Outcome::default(), true)
        .expect("completed");
    anna.sync();
    // Closing before customer service called the customer back needs a reason; after the
    // call it does not.
    let early = close();
    assert_eq!(
        (early.status, early.body["params"]["field"].as_str()),
        (400, Some("reason")),
        "{:?}",
        early.body
    );
    let called = dispatcher.post(
        &format!("/v1/jobs/{job}/return-visits"),
        &json!({ "outcome": "reached", "score": 5 }),
    );
    assert_eq!(called.status, 200, "{:?}", called.body);
    let closed = close();
    assert_eq!(closed.status, 200, "close: {:?}", closed.body);
    clock.advance(6 * DAY);
    server.escalate_now();
    let report = anna.sync();
    assert_eq!(report.purged_jobs, 0, "{report:?}");

    // 2. She adds a note offline; a day later the job has been quiet on the server for a week.
    anna.store
        .append_note(&job, "left the manual")
        .expect("note");
    clock.advance(DAY);
    server.escalate_now();

    // 3. Her next sync delivers the note, then the job leaves the phone. The open job stays.
    let report = anna.sync();
    assert_eq!(report.accepted_jobs, 1, "{report:?}");
    assert_eq!(report.purged_jobs, 1, "{report:?}");
    assert_eq!(anna.store.job_ids().expect("ids"), vec![open.clone()]);
    // The week signed the office out: new sessions.
    server.forget_sessions();
    let office = server.dispatcher();
    assert_eq!(office.job(&job)["job"]["notes"], "left the manual");

    // 4. A new phone of hers starts with the open job only and is told of no job leaving; a
    //    second pass of the scheduler changes nothing.
    let tablet = server.phone("anna");
    tablet.sync();
    assert_eq!(tablet.store.job_ids().expect("ids"), vec![open.clone()]);
    let purges = office.get("/v1/audit?kind=purge").body;
    assert_eq!(
        purges.as_array().map(Vec::len),
        Some(1),
        "only the phone that held the job was told to purge it: {purges}"
    );
    server.escalate_now();
    let leaves = office.get("/v1/audit?kind=leave").body;
    assert_eq!(
        leaves.as_array().map(Vec::len),
        Some(1),
        "left once: {leaves}"
    );

    // 5. Office edits of the closed job reach no phone.
    office.set_appointment(&job, 10_000, 20_000);
    let report = anna.sync();
    assert_eq!(
        (report.updated_jobs, report.reset),
        (0, false),
        "{report:?}"
    );
    assert!(anna.store.job(&job).is_err(), "not back on the phone");

    // 6. Reopened, with the reason the history keeps, it comes back whole to both.
    let reopen = |body| office.post(&format!("/v1/jobs/{job}/status"), &body);
    let refused = reopen(json!({ "to": "assigned", "reason": "  " }));
    assert_eq!(
        (
            refused.status,
            refused.body["params"]["field"].as_str(),
            refused.body["params"]["problem"].as_str()
        ),
        (400, Some("reason"), Some("required")),
        "{:?}",
        refused.body
    );
    let reopened = reopen(json!({ "to": "assigned", "reason": "the leak came back" }));
    assert_eq!(reopened.status, 200, "reopen: {:?}", reopened.body);
    let history = office.job(&job)["history"].clone();
    assert!(
        history.as_array().expect("history").iter().any(|entry| {
            entry["detail"] == "the leak came back" && entry["fields"][0] == "transitions"
        }),
        "the reason is in the history: {history}"
    );
    for phone in [&anna, &tablet] {
        phone.sync();
        let back = phone.store.job(&job).expect("the job is back");
        assert_eq!(back.notes, "left the manual");
        assert_eq!(back.status(), Status::Assigned);
    }
    assert_eq!(phone_heads(&anna, &job), server_heads(&server, &job));
}

#[test]
fn a_server_restored_from_an_older_backup_gets_the_phone_work_back() {
    let mut server = TestServer::start_with_quotas(fallback_quotas());
    let job = server.dispatcher().create_job("Barbara Liskov");
    server.dispatcher().assign(&job, Some("anna"));
    let phone = server.phone("anna");
    phone.sync();

    // 1. Back up the server's database.
    let backup = server.dir.path().join("backup.sqlite3");
    server.restart_with(|dir| {
        std::fs::copy(dir.join("server.sqlite3"), &backup).expect("backup");
    });
    // 2. The phone uploads work; the server accepts it and the outbox empties.
    phone
        .store
        .append_note(&job, "done after the backup")
        .expect("note");
    phone
        .store
        .move_status(&job, Status::OnSite, None)
        .expect("status");
    phone.sync();
    assert_eq!(phone.store.outbox_status().expect("outbox").depth, 0);

    // 3. The server is restored from the backup: it lost that work.
    server.restart_with(|dir| {
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.join(format!("server.sqlite3{suffix}")));
        }
        std::fs::copy(&backup, dir.join("server.sqlite3")).expect("restore");
    });
    assert_eq!(server.dispatcher().job(&job)["job"]["notes"], "");

    // 4. The phone reconnects: the server sees a cursor it never issued, resets, and the
    //    Automerge sync fallback brings the lost work back.
    let report = phone.sync();
    assert!(report.reset, "{report:?}");
    assert_eq!(
        server.dispatcher().job(&job)["job"]["notes"],
        "done after the backup"
    );
    assert_eq!(phone_heads(&phone, &job), server_heads(&server, &job));
    assert_eq!(phone.sync().round_trips, 1, "settled after the fallback");
}

/// The restore the reset rule cannot see: a backup taken just before a push-only sync. The
/// restored phone presents the cursor it had acknowledged, not an older one, yet it lost the
/// change that sync uploaded; the server sends it back because the phone never acknowledged the
/// answer that accepted it. No one else edits the job.
#[test]
fn a_phone_restored_from_just_before_a_push_gets_its_own_work_back() {
    let server = TestServer::start();
    let job = server.dispatcher().create_job("Barbara Liskov");
    server.dispatcher().assign(&job, Some("anna"));
    let phone = server.phone("anna");
    phone.sync();
    phone.sync();
    let backup = phone.backup();
    phone
        .store
        .append_note(&job, "pushed after the backup")
        .expect("note");
    let pushed = phone.sync();
    assert_eq!(pushed.accepted_jobs, 1, "{pushed:?}");
    let expected = server_heads(&server, &job);

    let phone = phone.restored_from(&backup, "anna");
    for _ in 0..2 {
        phone.sync();
    }
    let job_on_phone = phone.store.job(&job).expect("job");
    assert!(
        job_on_phone.notes.contains("pushed after the backup"),
        "the phone has its own note back: {:?}",
        job_on_phone.notes
    );
    assert_eq!(
        phone_heads(&phone, &job),
        expected,
        "phone and server hold the same document"
    );
}

#[test]
fn a_phone_restored_from_a_backup_catches_up() {
    let server = TestServer::start();
    let job = server.dispatcher().create_job("Frances Allen");
    server.dispatcher().assign(&job, Some("anna"));
    let phone = server.phone("anna");
    phone.sync();
    let backup = phone.backup();

    phone
        .store
        .append_note(&job, "uploaded, then the phone was restored")
        .expect("note");
    phone.sync();
    server.dispatcher().set_appointment(&job, 10_000, 20_000);
    phone.sync();
    let expected = server_heads(&server, &job);

    // The restored store presents an old cursor: the server resets and sends everything. The
    // platform keystore came back with the backup: the same device, the same credential.
    let phone = phone.restored_from(&backup, "anna");
    let store = &phone.store;
    // The installer works offline on the restored phone before it reconnects. The store got a
    // fresh actor, so these changes never collide with the ones the backup lost.
    store
        .append_note(&job, "captured after the restore")
        .expect("note");
    let report = phone.sync();
    assert!(report.reset, "{report:?}");
    assert_eq!(store.outbox_status().expect("outbox").depth, 0);
    assert_eq!(
        store.outbox_status().expect("outbox").parked,
        0,
        "nothing was refused"
    );
    let notes = server.dispatcher().job(&job)["job"]["notes"]
        .as_str()
        .expect("notes")
        .to_owned();
    assert!(
        notes.contains("uploaded, then the phone was restored")
            && notes.contains("captured after the restore"),
        "{notes}"
    );
    let heads = phone_heads(&phone, &job);
    assert_eq!(heads, server_heads(&server, &job));
    assert_ne!(heads, expected, "the new note is part of the history now");
    assert_eq!(store.job(&job).expect("job").notes, notes);
}

#[test]
fn an_online_phone_is_nudged_when_its_jobs_change() {
    let server = TestServer::start();
    let phone = server.phone("anna");
    phone.sync();
    let url = server.url();
    let credential = phone.credential.clone();
    let waiter = std::thread::spawn(move || {
        let transport = fieldsync_client_core::transport::HttpTransport::new(&url)
            .expect("transport")
            .with_credential(&credential);
        transport.wait_for_nudge(Duration::from_secs(20))
    });
    // The listener subscribes in the background: dispatch keeps assigning Anna new work until
    // the nudge has arrived (on a busy machine the first assignment may come before it listens).
    let dispatcher = server.dispatcher();
    let mut assigned = Vec::new();
    while !waiter.is_finished() && assigned.len() < 50 {
        let job = dispatcher.create_job("Margaret Hamilton");
        dispatcher.assign(&job, Some("anna"));
        assigned.push(job);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        waiter.join().expect("thread").expect("nudge"),
        "no nudge arrived"
    );
    phone.sync();
    assigned.sort();
    assert_eq!(phone.store.job_ids().expect("ids"), assigned);
}

#[test]
fn large_catch_up_is_paged() {
    let server = TestServer::start_with_limits(fieldsync_server::domain::sync::PageLimits {
        bytes: 4_096,
        events: 10,
    });
    let dispatcher = server.dispatcher();
    let jobs: Vec<String> = (0..30)
        .map(|i| dispatcher.create_job(&format!("Customer {i}")))
        .collect();
    for (n, job) in (0..).zip(&jobs) {
        dispatcher.assign(job, Some("anna"));
        dispatcher.set_appointment(job, n * 1_000, n * 1_000 + 500);
    }
    let phone = server.phone("anna");
    let report = phone.sync();
    assert!(report.round_trips > 3, "expected several pages: {report:?}");
    assert_eq!(phone.store.job_ids().expect("ids").len(), 30);
    for job in &jobs {
        assert_eq!(phone_heads(&phone, job), server_heads(&server, job));
    }
}

#[test]
fn changes_the_server_cannot_place_go_through_the_fallback() {
    let server = TestServer::start_with_quotas(fallback_quotas());
    let job = server.dispatcher().create_job("Sophie Wilson");
    server.dispatcher().assign(&job, Some("anna"));
    let phone = server.phone("anna");
    phone.sync();
    phone.store.append_note(&job, "first").expect("note");
    phone.store.append_note(&job, "second").expect("note");

    // 1. The first change is lost on the way: the server gets one that builds on history it
    //    does not have, and asks for the fallback.
    let mut session = SyncSession::new(&phone.store);
    let request = session.next_request().expect("request").expect("some");
    let mut request: fieldsync_client_core::protocol::wire::SyncRequest =
        fieldsync_client_core::protocol::wire::decode(&request).expect("decode");
    request.push[0].changes.remove(0);
    let response = phone
        .transport
        .exchange(&fieldsync_client_core::protocol::wire::encode(&request))
        .expect("exchange");
    session.receive(&response).expect("receive");
    assert_eq!(
        phone.store.outbox_status().expect("outbox").depth,
        2,
        "nothing is dropped on the way"
    );

    // 2. The app is killed here; the fallback resumes in the next session and settles.
    drop(session);
    let report = phone.sync();
    assert_eq!(report.resynced_jobs, 1, "{report:?}");
    assert_eq!(phone.store.outbox_status().expect("outbox").depth, 0);
    assert_eq!(
        server.dispatcher().job(&job)["job"]["notes"],
        "first\nsecond"
    );
    assert_eq!(phone_heads(&phone, &job), server_heads(&server, &job));
    assert_eq!(phone.sync().round_trips, 1, "settled");
}

/// An online phone that pushes an edit is not nudged back for it (one request per edit); the
/// installer's other phone is, and the office hears which job changed.
#[test]
fn an_online_phone_is_not_nudged_by_its_own_edit_and_the_office_hears_the_job() {
    let server = TestServer::start();
    let first = server.dispatcher().create_job("Grace Hopper");
    let second = server.dispatcher().create_job("Alan Kay");
    for job in [&first, &second] {
        server.dispatcher().assign(job, Some("anna"));
    }
    let phone = server.phone("anna");
    let other_phone = server.phone("anna");
    phone.sync();
    other_phone.sync();
    let own = fieldsync_tests::EventStream::open(&server.url(), &phone.credential);
    let sibling = fieldsync_tests::EventStream::open(&server.url(), &other_phone.credential);
    let office = fieldsync_tests::EventStream::open(
        &server.url(),
        server.dispatcher().token().expect("token"),
    );

    phone
        .store
        .append_note(&first, "pushed online")
        .expect("note");
    let pushed = phone.sync();
    assert_eq!(
        pushed.round_trips, 1,
        "one request for the edit: {pushed:?}"
    );
    assert!(sibling.expect("changed").contains(first.as_str()));
    let heard = office.expect("changed");
    assert!(
        heard.contains(first.as_str()),
        "the office hears the job: {heard}"
    );

    // The pushing phone's next nudge is for the next change, not its own edit.
    server
        .dispatcher()
        .set_appointment(&second, 1_000_000, 2_000_000);
    let next = own.expect("changed");
    assert!(
        next.contains(second.as_str()) && !next.contains(first.as_str()),
        "{next}"
    );
}

#[test]
fn an_installer_hears_their_reminder_and_acknowledges_it_offline() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let server = TestServer::start_with_clock(clock.clone());
    let dispatcher = server.dispatcher();
    let job = dispatcher.create_job("Overdue job");
    dispatcher.assign(&job, Some("anna"));
    let anna = server.phone("anna");
    let report = anna.sync();
    assert!(report.new_reminders.is_empty(), "{report:?}");

    // 1. The job is past its resolve deadline: the ladder reminds its engineer, and Anna's
    //    next sync brings the reminder, once.
    clock.advance(3 * DAY);
    server.escalate_now();
    // The office signs in again after three days.
    server.forget_sessions();
    let dispatcher = server.dispatcher();
    let report = anna.sync();
    let arrived: Vec<(&str, &str)> = report
        .new_reminders
        .iter()
        .map(|r| (r.job_id.as_str(), r.rule.as_str()))
        .collect();
    assert_eq!(arrived, [(job.as_str(), "resolve:owner")], "{report:?}");
    assert!(anna.sync().new_reminders.is_empty(), "heard once");
    let held = anna.store.reminders().expect("reminders");
    assert_eq!(held, report.new_reminders, "readable offline");

    // 2. She acknowledges it without a signal: it leaves her list at once; the server records
    //    who acknowledged it when she syncs. A reminder she does not hold is refused by name.
    let id = held[0].id;
    anna.store.acknowledge_reminder(id).expect("acknowledge");
    assert!(anna.store.reminders().expect("reminders").is_empty());
    let unknown = anna
        .store
        .acknowledge_reminder(id + 1_000)
        .expect_err("not on the phone");
    assert_eq!(unknown.code(), "unknown_reminder");
    let open = dispatcher.get("/v1/reminders").body;
    assert!(
        open.as_array()
            .expect("reminders")
            .iter()
            .any(|r| r["id"] == id),
        "still open on the server while she is offline"
    );
    anna.sync();
    let view = dispatcher.job(&job);
    let reminder = view["reminders"]
        .as_array()
        .expect("reminders")
        .iter()
        .find(|r| r["id"] == id)
        .expect("the reminder")
        .clone();
    assert_eq!(reminder["acknowledged_by"], "anna", "{reminder:?}");
    assert!(anna.store.reminders().expect("reminders").is_empty());
    assert!(anna.sync().new_reminders.is_empty(), "not sent again");
}

/// The customer travels with the job: Anna's phone knows, offline, what Ben did for the same
/// customer last time, the product's warranty and their numbers; an unchanged set costs no
/// bytes; a new job for the customer reaches the card within the refresh; a job that leaves
/// the phone takes its customer with it at once.
#[test]
fn an_installer_sees_the_customers_products_and_past_jobs_offline() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let server = TestServer::start_with_clock(clock.clone());
    let open = |dispatcher: &fieldsync_tests::Dispatcher, problem: &str| {
        let answer = dispatcher.post(
            "/v1/jobs",
            &json!({
                "kind": "repair",
                "customer": { "name": "张伟", "phone": "138 0013 8000", "tier": "vip" },
                "site": { "address": "世纪大道100号", "province": "上海市" },
                "product": { "model": "KFR-35", "serial": "SN-1", "purchase_ref": "PO-7",
                             "warranty_end": 1_900_000_000_000_i64 },
                "problem": { "category": "no cooling", "description": problem },
            }),
        );
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        answer.body["id"].as_str().expect("id").to_owned()
    };

    // 1. Last month Ben fixed the air conditioner.
    let dispatcher = server.dispatcher();
    let earlier = open(&dispatcher, "不制冷");
    dispatcher.assign(&earlier, Some("ben"));
    let ben = server.phone("ben");
    ben.sync();
    ben.arrive(&earlier);
    ben.store
        .finish_visit(
            &earlier,
            &Outcome {
                first_visit_success: Some(true),
                cause: "low refrigerant".into(),
                fix: "recharged".into(),
                summary: "cooling again".into(),
            },
            true,
        )
        .expect("complete");
    ben.sync();

    // 2. The customer calls again; Anna gets the job, and with it the customer.
    clock.advance(30 * DAY);
    server.forget_sessions();
    let dispatcher = server.dispatcher();
    let now = open(&dispatcher, "漏水");
    dispatcher.assign(&now, Some("anna"));
    let anna = server.phone("anna");
    let report = anna.sync();
    assert!(report.customers_changed, "{report:?}");

    // 3. Offline, the card says who they are, what they own and what was done before.
    let card = anna
        .store
        .customer_card(&now)
        .expect("read")
        .expect("a card for the job's customer");
    assert_eq!((card.name.as_str(), card.tier.as_str()), ("张伟", "vip"));
    assert_eq!(card.phones, ["138 0013 8000"]);
    assert_eq!(card.sites, ["上海市世纪大道100号"]);
    assert_eq!(card.products.len(), 1);
    assert_eq!(
        (
            card.products[0].serial.as_str(),
            card.products[0].purchase_ref.as_str(),
            card.products[0].warranty_end
        ),
        ("SN-1", "PO-7", Some(1_900_000_000_000))
    );
    let history: Vec<&str> = card.jobs.iter().map(|j| j.job.as_str()).collect();
    assert_eq!(
        history,
        [now.as_str(), earlier.as_str()],
        "newest call first"
    );
    let before = &card.jobs[1];
    assert_eq!(
        (
            before.engineer.as_str(),
            before.status.as_str(),
            before.cause.as_str(),
            before.fix.as_str(),
            before.description.as_str(),
            before.first_visit_fixed
        ),
        (
            "ben",
            "completed",
            "low refrigerant",
            "recharged",
            "不制冷",
            Some(true)
        )
    );
    assert!(before.completed_at.is_some());
    assert_eq!(
        anna.store.customer_cards().expect("cards"),
        vec![card.clone()]
    );

    // 4. Nothing changed: the next sync brings no cards.
    let quiet = anna.sync();
    assert!(!quiet.customers_changed, "{quiet:?}");

    // 5. The customer calls about another unit (open, not yet assigned): within the refresh
    //    Anna's card knows it.
    let third = dispatcher.post(
        "/v1/jobs",
        &json!({
            "kind": "installation",
            "customer": { "name": "张伟", "phone": "13800138000" },
            "site": { "address": "世纪大道100号", "province": "上海市" },
            "product": { "model": "KFR-50", "serial": "SN-2" },
            "problem": { "category": "new unit", "description": "装新空调" },
        }),
    );
    assert_eq!(third.status, 201, "{:?}", third.body);
    clock.advance(11 * 60 * 1000);
    let refreshed = anna.sync();
    assert!(refreshed.customers_changed, "{refreshed:?}");
    let card = anna.store.customer_card(&now).expect("read").expect("card");
    assert_eq!(card.jobs.len(), 3);
    assert_eq!(card.products[0].serial, "SN-2", "the latest product first");

    // 6. The job goes to Ben: it leaves Anna's phone and its customer with it, at once.
    dispatcher.assign(&now, Some("ben"));
    let moved = anna.sync();
    assert!(moved.customers_changed, "{moved:?}");
    assert!(anna.store.customer_cards().expect("cards").is_empty());
}
