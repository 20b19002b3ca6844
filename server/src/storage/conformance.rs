//! The conformance suite every storage backend must pass. A backend's tests invoke [`storage_conformance_tests!`](crate::storage_conformance_tests)
//! with a function that makes a fresh, empty store.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed expectation is a failed test

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::{JobKind, JobSummary, Priority, Tier};
use fieldsync_protocol::rules::Status;

use super::{
    AuditEntry, AuditKind, BlobRecord, Credential, DeviceRecord, EnrollmentCode, EventKind,
    NewChange, PendingUpload, Reminder, ReportLink, SCHEDULE_VERSION, Session, Shift, Storage,
    StorageError, StoredDocument, StoredJob, TimeOff, User, WorkSchedule, read, write,
};
use crate::storage::{JobFacts, ListEntry, ListKind};
use fieldsync_protocol::knowledge::{Attachment, Case, Manual, Section};

/// A job's summary as the checks store it.
pub(crate) fn summary(id: &str, assignee: Option<&str>) -> JobSummary {
    JobSummary {
        id: id.into(),
        kind: JobKind::Repair,
        status: Status::Assigned,
        assignee: assignee.map(str::to_owned),
        appointment_start: None,
        appointment_end: None,
        customer_name: "Ada".into(),
        customer_id: String::new(),
        tier: Tier::Standard,
        region: "north".into(),
        priority: Priority::Normal,
        ring: 1,
        call_received_at: 1,
        resolve_by: None,
        first_visit_success: None,
        rating: None,
    }
}

/// The `n`th made-up change.
pub(crate) fn change(n: u8) -> NewChange {
    NewChange {
        hash: [n; 32],
        bytes: vec![n; 4],
        origin_device: None,
    }
}

fn change_from(n: u8, device: &str) -> NewChange {
    NewChange {
        origin_device: Some(device.into()),
        ..change(n)
    }
}

/// Declares one `#[test]` per conformance check, each on a fresh store from `$fresh` (a
/// function returning whatever must be kept alive with the store, and the store), so a
/// backend's failures are reported by name. Every backend invokes it once.
#[macro_export]
macro_rules! storage_conformance_tests {
    ($fresh:expr) => {
        $crate::storage_conformance_tests!(@tests $fresh;
            identity_is_stable,
            jobs_round_trip_and_history_is_ordered,
            documents_are_a_snapshot_and_the_changes_after_it,
            duplicate_changes_are_stored_once,
            failed_write_leaves_nothing,
            work_done_atomically_commits_together_or_not_at_all,
            events_follow_current_scope,
            history_becomes_visible_in_seq_order,
            idle_closed_jobs_leave_scope,
            devices_and_users_round_trip,
            work_schedules_round_trip,
            identities_round_trip,
            sign_in_failures_are_counted_per_account_and_network,
            audit_is_ordered_and_filtered,
            facts_and_reminders_round_trip,
            managed_lists_round_trip,
            ladder_looks_at_changed_and_due_jobs,
            blob_index_round_trips,
            knowledge_round_trips,
            fleet_round_trips,
            customers_are_found_and_merged,
            customer_history_is_found_by_customer,
            notifications_are_queued_once_and_delivered,
        );
    };
    (@tests $fresh:expr; $($check:ident),* $(,)?) => {$(
        #[test]
        fn $check() {
            let (_keep, store) = $fresh();
            $crate::storage::conformance::$check(store.as_ref());
        }
    )*};
}

/// Work done atomically (the demo's seeding) commits as one or not at all; inside it, a failed
/// transaction rolls back only itself, and reads see what the work wrote so far.
pub fn work_done_atomically_commits_together_or_not_at_all(store: &dyn Storage) {
    let user = |id: &str| User {
        id: id.into(),
        name: id.into(),
        role: "installer".into(),
        region: String::new(),
        skills: Vec::new(),
    };
    let users = |store: &dyn Storage| read(store, |tx| tx.users()).expect("read").len();
    let failed: Result<(), StorageError> = super::atomically(store, || {
        write(store, |tx| tx.put_user(&user("a")))?;
        write(store, |tx| tx.put_user(&user("b")))?;
        Err(StorageError::Database("stopped midway".into()))
    });
    assert!(failed.is_err());
    assert_eq!(users(store), 0, "nothing of the failed work is kept");
    super::atomically(store, || {
        write(store, |tx| tx.put_user(&user("a")))?;
        assert_eq!(users(store), 1, "the work reads its own writes");
        let inner: Result<(), StorageError> = write(store, |tx| {
            tx.put_user(&user("c"))?;
            Err(StorageError::Database("refused".into()))
        });
        assert!(inner.is_err());
        write(store, |tx| tx.put_user(&user("b")))
    })
    .expect("atomically");
    assert_eq!(users(store), 2);
}

/// Failed sign-ins are counted per account and client network within a window, can be taken
/// back one by one or all at once, and the expired ones are forgotten.
pub fn sign_in_failures_are_counted_per_account_and_network(store: &dyn Storage) {
    let failures = |user: &str, network: &str, since: Millis| {
        read(store, |tx| tx.sign_in_failures(user, network, since)).expect("read")
    };
    let first = write(store, |tx| {
        tx.record_sign_in_failure("dana", "203.0.113.7", 100, 0)
    })
    .expect("record");
    write(store, |tx| {
        tx.record_sign_in_failure("dana", "203.0.113.7", 200, 0)?;
        tx.record_sign_in_failure("dana", "", 250, 0)?;
        tx.record_sign_in_failure("eve", "203.0.113.7", 300, 0)
    })
    .expect("record");
    assert_eq!(failures("dana", "203.0.113.7", 0), [100, 200]);
    assert_eq!(
        failures("dana", "203.0.113.7", 150),
        [200],
        "only the window"
    );
    assert_eq!(failures("dana", "", 0), [250]);
    write(store, |tx| tx.forget_sign_in_failure(first)).expect("take back");
    assert_eq!(failures("dana", "203.0.113.7", 0), [200]);
    // A failure recorded later forgets everyone's older than its window.
    write(store, |tx| {
        tx.record_sign_in_failure("eve", "x", 1_000, 260)
    })
    .expect("record");
    assert_eq!(failures("dana", "203.0.113.7", 0), Vec::<Millis>::new());
    assert_eq!(failures("eve", "203.0.113.7", 0), [300]);
    write(store, |tx| tx.forget_sign_in_failures("eve")).expect("unlock");
    assert_eq!(failures("eve", "203.0.113.7", 0), Vec::<Millis>::new());
    assert_eq!(failures("eve", "x", 0), Vec::<Millis>::new());
}

/// The server id and actor stay the same within a store.
pub fn identity_is_stable(store: &dyn Storage) {
    let (id, actor) = read(store, |tx| {
        Ok::<_, StorageError>((tx.server_id()?, tx.server_actor()?))
    })
    .expect("read");
    assert!(!id.is_empty() && !actor.is_empty());
    let again = read(store, |tx| tx.server_id()).expect("read");
    assert_eq!(id, again);
}

/// A projection row for `summary` (the store keeps the byte counts itself).
pub(crate) fn stored(summary: JobSummary) -> StoredJob {
    StoredJob {
        summary,
        heads: Vec::new(),
        snapshot_bytes: 0,
        tail_bytes: 0,
    }
}

/// [`JobStore`](crate::storage::JobStore): documents round-trip, history in order.
pub fn jobs_round_trip_and_history_is_ordered(store: &dyn Storage) {
    let job = StoredJob {
        heads: vec![7; 32],
        ..stored(summary("j1", Some("u1")))
    };
    write(store, |tx| {
        tx.put_job(
            &job,
            &[change_from(1, "d1"), change_from(2, "d1")],
            None,
            10,
        )?;
        tx.record_scope("j1", "u1", EventKind::Enter, 10)
    })
    .expect("write");
    let (stored, max, history) = read(store, |tx| {
        Ok::<_, StorageError>((
            tx.job("j1")?,
            tx.max_seq()?,
            tx.events_for_user("u1", 0, 10)?,
        ))
    })
    .expect("read");
    assert_eq!(
        stored,
        Some(StoredJob {
            tail_bytes: 8,
            ..job
        })
    );
    assert_eq!(max, 3);
    let seqs: Vec<u64> = history.iter().map(|h| h.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    assert_eq!(history[2].kind, EventKind::Enter);
    assert_eq!(read(store, |tx| tx.job("nope")).expect("read"), None);
    assert_eq!(read(store, |tx| tx.list_jobs()).expect("read").len(), 1);
}

/// [`JobStore::job_document`](crate::storage::JobStore::job_document): the changes appended
/// after the latest snapshot, in order; a snapshot covers everything appended until then.
pub fn documents_are_a_snapshot_and_the_changes_after_it(store: &dyn Storage) {
    let job = stored(summary("j1", Some("u1")));
    let document = |store: &dyn Storage| read(store, |tx| tx.job_document("j1")).expect("read");
    let row = |store: &dyn Storage| {
        let row = read(store, |tx| tx.job("j1")).expect("read").expect("job");
        (row.snapshot_bytes, row.tail_bytes)
    };
    assert_eq!(document(store), None);
    write(store, |tx| {
        tx.put_job(&job, &[change(1)], None, 1)?;
        tx.record_scope("j1", "u1", EventKind::Enter, 1)?;
        tx.put_job(&job, &[change(2), change(1)], None, 2)
    })
    .expect("write");
    let never_compacted = document(store).expect("document");
    assert!(never_compacted.snapshot.is_empty());
    assert_eq!(never_compacted.tail, vec![vec![1; 4], vec![2; 4]]);
    assert_eq!(row(store), (0, 8), "a change already held adds nothing");
    write(store, |tx| {
        tx.put_job(&job, &[change(3)], Some(&[9; 10]), 3)
    })
    .expect("write");
    assert_eq!(
        document(store),
        Some(StoredDocument {
            snapshot: vec![9; 10],
            tail: Vec::new(),
        })
    );
    assert_eq!(row(store), (10, 0));
    write(store, |tx| {
        tx.put_job(&job, &[change(4), change(5)], None, 4)
    })
    .expect("write");
    let after = document(store).expect("document");
    assert_eq!(after.tail, vec![vec![4; 4], vec![5; 4]]);
    assert_eq!(row(store), (10, 8));
    let mut bytes = vec![9; 10];
    bytes.extend([4; 4]);
    bytes.extend([5; 4]);
    assert_eq!(after.into_bytes(), bytes);
    // A compaction that fails with its transaction leaves the previous document.
    let failed: Result<(), StorageError> = write(store, |tx| {
        tx.put_job(&job, &[change(6)], Some(&[8; 3]), 5)?;
        Err(StorageError::Corrupt("boom".into()))
    });
    assert!(failed.is_err());
    assert_eq!(row(store), (10, 8));
    assert_eq!(document(store).expect("document").snapshot, vec![9; 10]);
}

/// A change appended twice is stored once.
pub fn duplicate_changes_are_stored_once(store: &dyn Storage) {
    let job = stored(summary("j1", Some("u1")));
    write(store, |tx| {
        tx.put_job(&job, &[change_from(1, "d1")], None, 10)?;
        tx.record_scope("j1", "u1", EventKind::Enter, 10)?;
        tx.put_job(&job, &[change_from(1, "d2"), change(2)], None, 11)
    })
    .expect("write");
    // Sequence numbers may have gaps; what matters is one entry per change.
    let events: Vec<_> = read(store, |tx| tx.events_for_user("u1", 0, 10))
        .expect("read")
        .into_iter()
        .filter(|e| e.kind == EventKind::Change)
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].origin_device.as_deref(), Some("d1"));
}

/// A failed write transaction leaves nothing behind.
pub fn failed_write_leaves_nothing(store: &dyn Storage) {
    let job = stored(summary("j1", None));
    let result: Result<(), StorageError> = write(store, |tx| {
        tx.put_job(&job, &[change(1)], None, 10)?;
        Err(StorageError::Corrupt("boom".into()))
    });
    assert!(result.is_err());
    assert_eq!(read(store, |tx| tx.job("j1")).expect("read"), None);
    assert_eq!(read(store, |tx| tx.max_seq()).expect("read"), 0);
}

/// A reader never sees a history entry while an earlier `seq` can still commit: a device whose
/// cursor passed the later entry would never receive the earlier one (ADR 0014). One writer
/// appends and keeps its transaction open; a second appends to another job meanwhile; whatever
/// a reader sees in between must be the start of the history as it finally is.
pub fn history_becomes_visible_in_seq_order(store: &dyn Storage) {
    use std::time::Duration;
    write(store, |tx| {
        for job in ["slow", "fast"] {
            tx.put_job(&stored(summary(job, Some("u1"))), &[], None, 1)?;
            tx.record_scope(job, "u1", EventKind::Enter, 1)?;
        }
        Ok::<_, StorageError>(())
    })
    .expect("jobs");
    let history = || {
        read(store, |tx| tx.events_for_user("u1", 0, 100))
            .expect("read")
            .into_iter()
            .map(|e| (e.seq, e.job_id))
            .collect::<Vec<_>>()
    };
    let (appended, wait_for_append) = std::sync::mpsc::channel();
    let midway = std::thread::scope(|scope| {
        let slow = scope.spawn(move || {
            write(store, |tx| {
                tx.put_job(&stored(summary("slow", Some("u1"))), &[change(1)], None, 2)?;
                appended.send(()).expect("signal");
                std::thread::sleep(Duration::from_millis(300));
                Ok::<_, StorageError>(())
            })
        });
        wait_for_append.recv().expect("the slow writer appended");
        let fast = scope.spawn(|| {
            write(store, |tx| {
                tx.put_job(&stored(summary("fast", Some("u1"))), &[change(2)], None, 3)
            })
        });
        std::thread::sleep(Duration::from_millis(100));
        let midway = history();
        slow.join().expect("slow writer").expect("slow write");
        fast.join().expect("fast writer").expect("fast write");
        midway
    });
    let finally = history();
    assert_eq!(finally.len(), 4, "{finally:?}");
    assert!(
        finally.starts_with(&midway),
        "seen midway {midway:?}, finally {finally:?}"
    );
}

/// A user's history follows the jobs they hold now.
pub fn events_follow_current_scope(store: &dyn Storage) {
    write(store, |tx| {
        tx.put_job(&stored(summary("mine", Some("u1"))), &[change(1)], None, 1)?;
        tx.record_scope("mine", "u1", EventKind::Enter, 1)?;
        tx.put_job(
            &stored(summary("theirs", Some("u2"))),
            &[change(2)],
            None,
            1,
        )?;
        tx.record_scope("theirs", "u2", EventKind::Enter, 1)?;
        tx.put_job(
            &stored(summary("mine", Some("u1"))),
            &[change_from(3, "d1")],
            None,
            2,
        )
    })
    .expect("write");
    let events = read(store, |tx| tx.events_for_user("u1", 0, 100)).expect("read");
    let seen: Vec<(u64, &str, EventKind)> = events
        .iter()
        .map(|e| (e.seq, e.job_id.as_str(), e.kind))
        .collect();
    assert_eq!(
        seen,
        vec![
            (1, "mine", EventKind::Change),
            (2, "mine", EventKind::Enter),
            (5, "mine", EventKind::Change)
        ]
    );
    assert_eq!(events[2].origin_device.as_deref(), Some("d1"));
    assert_eq!(events[2].change.as_deref(), Some([3, 3, 3, 3].as_slice()));
    assert_eq!(
        read(store, |tx| tx.events_for_user("u1", 2, 100))
            .expect("read")
            .len(),
        1
    );
    assert_eq!(
        read(store, |tx| tx.events_for_user("u1", 0, 1))
            .expect("read")
            .len(),
        1
    );
    assert_eq!(
        read(store, |tx| tx.latest_entry("mine", "u1")).expect("read"),
        Some(2)
    );
    assert!(!read(store, |tx| tx.ever_in_scope("theirs", "u1")).expect("read"));
    // The scope now, and the seq of its latest change, which a leave moves on.
    let scope = |user: &str| {
        read(store, |tx| {
            Ok::<_, StorageError>((tx.jobs_in_scope(user)?, tx.latest_scope_seq(user)?))
        })
        .expect("read")
    };
    assert_eq!(scope("u1"), (vec!["mine".to_owned()], 2));
    assert_eq!(scope("u2"), (vec!["theirs".to_owned()], 4));
    assert_eq!(scope("nobody"), (vec![], 0));
    write(store, |tx| {
        tx.record_scope("mine", "u1", EventKind::Leave, 3)
    })
    .expect("write");
    assert_eq!(scope("u1"), (vec![], 6));
}

/// Closed jobs idle since a time are found while still in scope; once they leave, their later
/// changes no longer reach the user.
pub fn idle_closed_jobs_leave_scope(store: &dyn Storage) {
    let put = |tx: &mut dyn crate::storage::WriteTx, id: &str, status: Status, n: u8, now| {
        let summary = JobSummary {
            status,
            ..summary(id, Some("u1"))
        };
        tx.put_job(&stored(summary), &[change(n)], None, now)
    };
    write(store, |tx| {
        for (id, status, n, now) in [
            ("quiet", Status::Closed, 1, 10),
            ("busy", Status::Closed, 2, 50),
            ("open", Status::Assigned, 3, 10),
        ] {
            put(tx, id, status, n, now)?;
            tx.record_scope(id, "u1", EventKind::Enter, now)?;
        }
        Ok::<_, StorageError>(())
    })
    .expect("write");
    let due = read(store, |tx| tx.idle_closed_in_scope(20, 100)).expect("read");
    assert_eq!(due, vec![("quiet".to_owned(), "u1".to_owned())]);
    assert!(read(store, |tx| tx.in_scope("quiet", "u1")).expect("read"));
    assert!(!read(store, |tx| tx.in_scope("quiet", "u2")).expect("read"));
    write(store, |tx| {
        tx.record_scope("quiet", "u1", EventKind::Leave, 60)?;
        put(tx, "quiet", Status::Closed, 4, 70)
    })
    .expect("write");
    assert!(!read(store, |tx| tx.in_scope("quiet", "u1")).expect("read"));
    assert!(
        read(store, |tx| tx.idle_closed_in_scope(100, 100))
            .expect("read")
            .iter()
            .all(|(job, _)| job != "quiet")
    );
    let after_leave: Vec<(String, EventKind)> = read(store, |tx| tx.events_for_user("u1", 0, 100))
        .expect("read")
        .into_iter()
        .filter(|e| e.job_id == "quiet")
        .map(|e| (e.job_id, e.kind))
        .collect();
    assert_eq!(
        after_leave,
        vec![
            ("quiet".to_owned(), EventKind::Enter),
            ("quiet".to_owned(), EventKind::Leave)
        ],
        "the scope events stay, the changes of a job out of scope do not"
    );
    // Entering again (reopened) brings its changes back.
    write(store, |tx| {
        tx.record_scope("quiet", "u1", EventKind::Enter, 80)
    })
    .expect("write");
    assert!(read(store, |tx| tx.in_scope("quiet", "u1")).expect("read"));
    let changes = read(store, |tx| tx.events_for_user("u1", 0, 100))
        .expect("read")
        .into_iter()
        .filter(|e| e.job_id == "quiet" && e.kind == EventKind::Change)
        .count();
    assert_eq!(changes, 2, "both changes of the job back in scope");
}

/// A working week is stored per user, replaced whole, listed by user and removed.
pub fn work_schedules_round_trip(store: &dyn Storage) {
    let shift = |start: &str, end: &str| {
        Some(Shift {
            start: start.into(),
            end: end.into(),
        })
    };
    let mut week = vec![shift("08:00", "17:00"); 5];
    week.extend([None, None]);
    let schedule = WorkSchedule {
        v: SCHEDULE_VERSION,
        week,
        time_off: vec![TimeOff {
            from: "2030-01-07".into(),
            to: "2030-01-11".into(),
            reason: "年假".into(),
        }],
    };
    write(store, |tx| {
        for id in ["u1", "u2"] {
            tx.put_user(&User {
                id: id.into(),
                name: id.into(),
                role: "installer".into(),
                region: String::new(),
                skills: Vec::new(),
            })?;
        }
        tx.set_work_schedule("u2", Some(&schedule))?;
        tx.set_work_schedule("u1", Some(&schedule))
    })
    .expect("write");
    let mut later = schedule.clone();
    later.week[5] = shift("09:00", "12:00");
    later.time_off.clear();
    write(store, |tx| tx.set_work_schedule("u1", Some(&later))).expect("replace");
    assert_eq!(
        read(store, |tx| tx.work_schedule("u1")).expect("read"),
        Some(later.clone())
    );
    assert_eq!(
        read(store, |tx| tx.work_schedules()).expect("read"),
        vec![("u1".to_owned(), later), ("u2".to_owned(), schedule)]
    );
    write(store, |tx| tx.set_work_schedule("u1", None)).expect("remove");
    assert_eq!(
        read(store, |tx| tx.work_schedule("u1")).expect("read"),
        None
    );
    assert_eq!(
        read(store, |tx| tx.work_schedule("nobody")).expect("read"),
        None
    );
}

/// [`DeviceStore`](crate::storage::DeviceStore): devices, actors and users.
pub fn devices_and_users_round_trip(store: &dyn Storage) {
    let device = DeviceRecord {
        device_id: "d1".into(),
        user_id: "u1".into(),
        actor: vec![7; 16],
        last_presented_cursor: 3,
        last_issued_cursor: 9,
        last_seen: 5,
    };
    let user = User {
        id: "u1".into(),
        name: "Una".into(),
        role: "installer".into(),
        region: "north".into(),
        skills: vec!["boilers".into()],
    };
    write(store, |tx| {
        tx.put_device(&device)?;
        tx.put_user(&user)
    })
    .expect("write");
    assert_eq!(
        read(store, |tx| tx.device("d1")).expect("read"),
        Some(device)
    );
    assert_eq!(read(store, |tx| tx.users()).expect("read"), vec![user]);
    write(store, |tx| {
        tx.record_actor(&[7; 16], "d1")?;
        tx.record_actor(&[7; 16], "d2")
    })
    .expect("actors");
    assert_eq!(
        read(store, |tx| tx.device_for_actor(&[7; 16]))
            .expect("read")
            .as_deref(),
        Some("d1")
    );
    assert_eq!(
        read(store, |tx| tx.device_for_actor(&[8; 16])).expect("read"),
        None
    );
}

/// [`DeviceStore`](crate::storage::DeviceStore): passwords, sessions, enrollment codes, credentials.
pub fn identities_round_trip(store: &dyn Storage) {
    let user = User {
        id: "u1".into(),
        name: "Una".into(),
        role: "dispatcher".into(),
        region: String::new(),
        skills: vec![],
    };
    let session = Session {
        user_id: "u1".into(),
        csrf: "c".into(),
        expires_at: 9,
    };
    let code = EnrollmentCode {
        user_id: "u1".into(),
        created_by: "admin".into(),
        expires_at: 9,
        used_at: None,
    };
    let credential = Credential {
        device_id: "d1".into(),
        user_id: "u1".into(),
        enrolled_at: 1,
        enrolled_by: "admin".into(),
        revoked_at: None,
        flagged_at: None,
    };
    write(store, |tx| {
        tx.put_user(&user)?;
        tx.set_password_hash("u1", "$argon2id$x")?;
        tx.put_session(b"s", &session)?;
        tx.put_enrollment_code(b"c", &code)?;
        tx.put_credential(b"t", &credential)
    })
    .expect("write");
    read(store, |tx| {
        assert_eq!(tx.user("u1")?, Some(user.clone()));
        assert_eq!(tx.password_hash("u1")?.as_deref(), Some("$argon2id$x"));
        assert_eq!(tx.password_hash("nobody")?, None);
        assert_eq!(tx.session(b"s")?, Some(session.clone()));
        assert_eq!(tx.enrollment_code(b"c")?, Some(code.clone()));
        assert_eq!(tx.credential_by_token(b"t")?, Some(credential.clone()));
        assert_eq!(tx.credential_by_token(b"x")?, None);
        assert_eq!(tx.credential("d1")?, Some(credential.clone()));
        assert_eq!(tx.credential("d9")?, None);
        Ok::<_, StorageError>(())
    })
    .expect("read");
    let (first, second, revoked, missing) = write(store, |tx| {
        let first = tx.use_enrollment_code(b"c", 5)?;
        let second = tx.use_enrollment_code(b"c", 6)?;
        let revoked = tx.revoke_device("d1", 7)?;
        let missing = tx.revoke_device("d9", 7)?;
        tx.flag_device("d1", 8)?;
        tx.flag_device("d1", 9)?;
        tx.put_session(b"s2", &session)?;
        tx.set_password_hash("u1", "$argon2id$y")?;
        tx.delete_session(b"s")?;
        Ok::<_, StorageError>((first, second, revoked, missing))
    })
    .expect("write");
    assert!(first && !second && revoked && !missing);
    read(store, |tx| {
        assert_eq!(tx.enrollment_code(b"c")?.and_then(|c| c.used_at), Some(5));
        let stored = tx.credentials()?;
        assert_eq!(stored.len(), 1);
        assert_eq!(
            (stored[0].revoked_at, stored[0].flagged_at),
            (Some(7), Some(8))
        );
        assert_eq!(tx.session(b"s")?, None);
        assert_eq!(tx.session(b"s2")?, None, "a new password ends the sessions");
        Ok::<_, StorageError>(())
    })
    .expect("read");
}

/// [`AuditLog`](crate::storage::AuditLog): entries in order, filtered by job and kind.
pub fn audit_is_ordered_and_filtered(store: &dyn Storage) {
    let entry = |job: &str, kind: AuditKind, device: Option<&str>| AuditEntry {
        id: 0,
        job_id: job.into(),
        kind,
        user: Some("u1".into()),
        device: device.map(str::to_owned),
        actor: Some("ab".into()),
        change: Some("cd".into()),
        fields: vec!["notes".into()],
        device_time: Some(1),
        server_time: 2,
        detail: "why".into(),
    };
    write(store, |tx| {
        tx.append_audit(&entry("j1", AuditKind::Change, Some("d1")))?;
        tx.append_audit(&entry("j1", AuditKind::Violation, Some("d1")))?;
        tx.append_audit(&entry("j2", AuditKind::Violation, Some("d1")))?;
        tx.append_audit(&entry("j2", AuditKind::Violation, None))
    })
    .expect("write");
    read(store, |tx| {
        let j1 = tx.audit(Some("j1"), None, 100)?;
        assert_eq!(j1.len(), 2);
        assert!(j1[0].id < j1[1].id);
        assert_eq!(
            AuditEntry {
                id: 0,
                ..j1[0].clone()
            },
            entry("j1", AuditKind::Change, Some("d1"))
        );
        assert_eq!(tx.audit(None, Some(AuditKind::Violation), 100)?.len(), 3);
        let newest = tx.audit(None, None, 2)?;
        assert_eq!(newest.len(), 2);
        assert_eq!(newest[1].job_id, "j2");
        assert_eq!(
            tx.violation_count("d1")?,
            1,
            "counted per change, not per field"
        );
        Ok::<_, StorageError>(())
    })
    .expect("read");
}

/// [`ServiceStore`](crate::storage::ServiceStore): the managed lists, each by code, kept
/// apart, replaced whole, and whose codes count as in use once a job or a user carries them.
pub fn managed_lists_round_trip(store: &dyn Storage) {
    let entry = |code: &str, zh: &str, en: &str| ListEntry {
        code: code.into(),
        name_zh: zh.into(),
        name_en: en.into(),
        retired: false,
    };
    let east = entry("华东", "华东", "East China");
    let north = entry("north", "北区", "North");
    let leak = entry("leak", "漏水", "Leak");
    write(store, |tx| {
        tx.put_list_entry(ListKind::Region, &east)?;
        tx.put_list_entry(ListKind::Region, &north)?;
        tx.put_list_entry(ListKind::Category, &leak)?;
        tx.put_user(&User {
            id: "u1".into(),
            name: "Una".into(),
            role: "installer".into(),
            region: "north".into(),
            skills: Vec::new(),
        })?;
        tx.put_job(&stored(summary("j1", None)), &[change(1)], None, 30)?;
        let mut facts = JobFacts::derive(
            &fieldsync_protocol::job::Job {
                id: "j1".into(),
                ..Default::default()
            },
            None,
            30,
        );
        facts.category = "leak".into();
        tx.put_job_facts(&facts)
    })
    .expect("write");
    let retired_east = ListEntry {
        name_en: "East".into(),
        retired: true,
        ..east.clone()
    };
    write(store, |tx| {
        tx.put_list_entry(ListKind::Region, &retired_east)
    })
    .expect("replace");
    read(store, |tx| {
        // By code, bytewise: ASCII before Chinese.
        assert_eq!(
            tx.list_entries(ListKind::Region)?,
            [north.clone(), retired_east.clone()]
        );
        assert_eq!(
            tx.list_entries(ListKind::Category)?,
            std::slice::from_ref(&leak)
        );
        assert!(
            tx.list_code_in_use(ListKind::Region, "north")?,
            "a user's region"
        );
        assert!(!tx.list_code_in_use(ListKind::Region, "华东")?);
        assert!(
            tx.list_code_in_use(ListKind::Category, "leak")?,
            "a job's category"
        );
        assert!(!tx.list_code_in_use(ListKind::Category, "north")?);
        Ok::<_, StorageError>(())
    })
    .expect("read");
    write(store, |tx| {
        assert!(tx.delete_list_entry(ListKind::Region, "华东")?);
        assert!(
            !tx.delete_list_entry(ListKind::Region, "华东")?,
            "deleted already"
        );
        assert!(
            !tx.delete_list_entry(ListKind::Region, "leak")?,
            "a category's code"
        );
        Ok::<_, StorageError>(())
    })
    .expect("delete");
    assert_eq!(
        read(store, |tx| tx.list_entries(ListKind::Region)).expect("read"),
        [north]
    );
}

/// [`ServiceStore`](crate::storage::ServiceStore): facts and reminders that fire once.
pub fn facts_and_reminders_round_trip(store: &dyn Storage) {
    let mut facts = JobFacts::derive(
        &fieldsync_protocol::job::Job {
            id: "j1".into(),
            call_received_at: 10,
            created_at: 20,
            ..Default::default()
        },
        None,
        30,
    );
    facts.assignee = Some("u1".into());
    facts.region = "north".into();
    facts.category = "leak".into();
    write(store, |tx| {
        tx.put_job(&stored(summary("j1", Some("u1"))), &[change(1)], None, 30)?;
        assert_eq!(tx.jobs_without_facts()?, ["j1"]);
        tx.put_job_facts(&facts)?;
        Ok::<_, StorageError>(())
    })
    .expect("write");
    read(store, |tx| {
        assert_eq!(tx.job_facts("j1")?.as_ref(), Some(&facts));
        assert_eq!(tx.open_job_facts()?, [facts.clone()]);
        assert!(tx.jobs_without_facts()?.is_empty());
        let (regions, categories) = tx.kpi_dimensions()?;
        assert_eq!(
            (regions, categories),
            (vec!["north".into()], vec!["leak".into()])
        );
        Ok::<_, StorageError>(())
    })
    .expect("read");

    let reminder = Reminder {
        id: 0,
        job_id: "j1".into(),
        rule: "resolve:owner".into(),
        to_user: Some("u1".into()),
        to_role: None,
        ring: 2,
        clock: "resolve".into(),
        message: "overdue".into(),
        created_at: 40,
        acknowledged_at: None,
        acknowledged_by: None,
    };
    let (first, again) = write(store, |tx| {
        Ok::<_, StorageError>((tx.add_reminder(&reminder)?, tx.add_reminder(&reminder)?))
    })
    .expect("add");
    let first = first.expect("a new rule fires");
    assert!(again.is_none(), "a rule fires once per job");
    assert_eq!(first.rule, "resolve:owner");
    let to = |user: &str| {
        read(store, |tx| tx.open_reminders_to(user))
            .expect("read")
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(to("u1"), [first.id], "addressed to u1 by name");
    assert!(to("u2").is_empty());
    write(store, |tx| {
        assert!(tx.acknowledge_reminder(first.id, "u1", 50)?);
        // The first acknowledgement stands.
        assert!(tx.acknowledge_reminder(first.id, "u2", 60)?);
        assert!(!tx.acknowledge_reminder(first.id + 100, "u1", 50)?);
        Ok::<_, StorageError>(())
    })
    .expect("ack");
    assert!(to("u1").is_empty(), "acknowledged: no longer open");
    read(store, |tx| {
        assert!(tx.reminders(true)?.is_empty());
        let all = tx.reminders(false)?;
        assert_eq!(
            (all[0].acknowledged_at, all[0].acknowledged_by.as_deref()),
            (Some(50), Some("u1"))
        );
        assert_eq!(tx.reminder(first.id)?.as_ref(), Some(&all[0]));
        assert_eq!(tx.reminder(first.id + 100)?, None);
        assert_eq!(tx.job_reminders("j1")?.len(), 1);
        Ok::<_, StorageError>(())
    })
    .expect("read");
}

/// [`ServiceStore::ladder_due`](crate::storage::ServiceStore::ladder_due): the ladder looks
/// at jobs whose facts changed or whose mark fell due, never at closed ones, and a mark made
/// for facts that changed since does not hide the change.
pub fn ladder_looks_at_changed_and_due_jobs(store: &dyn Storage) {
    let facts = |id: &str, status: Status| {
        let mut facts = JobFacts::derive(
            &fieldsync_protocol::job::Job {
                id: id.into(),
                call_received_at: 10,
                ..Default::default()
            },
            None,
            30,
        );
        facts.status = status;
        facts
    };
    let due = |store: &dyn Storage, until: Millis| {
        read(store, |tx| {
            let due = tx.ladder_due(until)?;
            let ids: Vec<(String, u64)> = due
                .into_iter()
                .map(|e| {
                    assert_eq!(e.facts.map(|f| f.job_id).as_ref(), Some(&e.job_id));
                    (e.job_id, e.revision)
                })
                .collect();
            Ok::<_, StorageError>((ids, tx.ladder_next()?))
        })
        .expect("read")
    };
    write(store, |tx| {
        for id in ["open", "quiet", "closed"] {
            tx.put_job(&stored(summary(id, None)), &[change(1)], None, 30)?;
        }
        tx.put_job_facts(&facts("open", Status::Assigned))?;
        tx.put_job_facts(&facts("quiet", Status::Assigned))?;
        tx.put_job_facts(&facts("closed", Status::Closed))?;
        Ok::<_, StorageError>(())
    })
    .expect("write");
    let (looked, next) = due(store, 100);
    assert_eq!(
        looked.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        ["open", "quiet"]
    );
    assert_eq!(next, Some(0), "new facts are looked at now");
    let revision = |id: &str| looked.iter().find(|(j, _)| j == id).expect("looked").1;
    let (open, quiet) = (revision("open"), revision("quiet"));

    write(store, |tx| {
        assert!(tx.set_ladder_at("open", open, Some(500))?);
        assert!(tx.set_ladder_at("quiet", quiet, None)?);
        Ok::<_, StorageError>(())
    })
    .expect("mark");
    assert_eq!(due(store, 100), (vec![], Some(500)));
    assert_eq!(due(store, 500).0, [("open".to_owned(), open)]);
    assert_eq!(due(store, Millis::MAX).0.len(), 2, "everything open");

    // The facts change after the ladder read them: its mark must not hide the change.
    write(store, |tx| {
        tx.put_job_facts(&facts("quiet", Status::EnRoute))?;
        assert!(!tx.set_ladder_at("quiet", quiet, None)?);
        Ok::<_, StorageError>(())
    })
    .expect("write");
    let (looked, next) = due(store, 100);
    assert_eq!(looked.len(), 1);
    assert_eq!(looked[0].0, "quiet");
    assert!(looked[0].1 > quiet, "the revision moved on");
    assert_eq!(next, Some(0));
}

/// [`BlobIndex`](crate::storage::BlobIndex): uploads, verified blobs and their jobs.
pub fn blob_index_round_trips(store: &dyn Storage) {
    let sha = "ab".repeat(32);
    let job = stored(summary("j1", Some("u1")));
    let blob = BlobRecord {
        sha256: sha.clone(),
        size: 10,
        mime: "image/png".into(),
        created_at: 5,
        created_by: "u1".into(),
    };
    write(store, |tx| {
        tx.put_job(&job, &[change(1)], None, 1)?;
        tx.put_upload(&PendingUpload {
            sha256: sha.clone(),
            size: 10,
            mime: "image/png".into(),
            started_at: 2,
            started_by: "u1".into(),
        })
    })
    .expect("write");
    assert_eq!(
        read(store, |tx| tx.upload(&sha))
            .expect("read")
            .map(|u| u.size),
        Some(10)
    );
    write(store, |tx| {
        tx.finish_upload(&blob)?;
        tx.link_job_blob("j1", &sha)
    })
    .expect("write");
    let (pending, held, jobs) = read(store, |tx| {
        Ok::<_, StorageError>((tx.upload(&sha)?, tx.blob(&sha)?, tx.blob_jobs(&sha)?))
    })
    .expect("read");
    assert_eq!(
        (pending, held, jobs),
        (None, Some(blob), vec!["j1".to_owned()])
    );
}

/// [`KnowledgeStore`](crate::storage::KnowledgeStore): manuals, cases with tombstones, tips, report links.
pub fn knowledge_round_trips(store: &dyn Storage) {
    let sha = "ab".repeat(32);
    let job = stored(summary("j1", Some("u1")));
    // A manual's attachments are blobs the server holds.
    write(store, |tx| {
        tx.put_job(&job, &[change(1)], None, 1)?;
        tx.finish_upload(&BlobRecord {
            sha256: sha.clone(),
            size: 10,
            mime: "image/png".into(),
            created_at: 5,
            created_by: "dispatch".into(),
        })
    })
    .expect("write");
    let manual = |version: u32, body: &str| Manual {
        model: "M-1".into(),
        version,
        title: "Manual".into(),
        published_at: i64::from(version),
        published_by: "dispatch".into(),
        sections: vec![
            Section {
                id: "intro".into(),
                title: "Intro".into(),
                body: body.into(),
            },
            Section {
                id: "faults".into(),
                title: "Faults".into(),
                body: "F1".into(),
            },
        ],
        attachments: vec![Attachment {
            sha256: sha.clone(),
            name: "a.png".into(),
            mime: "image/png".into(),
            size: 10,
        }],
    };
    write(store, |tx| {
        tx.put_manual(&manual(1, "one"))?;
        tx.put_manual(&manual(2, "two"))
    })
    .expect("write");
    let (latest, first, list, attached) = read(store, |tx| {
        Ok::<_, StorageError>((
            tx.manual("M-1", None)?,
            tx.manual("M-1", Some(1))?,
            tx.manual_summaries()?,
            tx.is_manual_attachment(&sha)?,
        ))
    })
    .expect("read");
    assert_eq!(latest, Some(manual(2, "two")));
    assert_eq!(
        read(store, |tx| tx.latest_manual_version("M-1")).expect("read"),
        Some(2)
    );
    assert_eq!(
        read(store, |tx| tx.latest_manual_version("none")).expect("read"),
        None
    );
    assert_eq!(first, Some(manual(1, "one")));
    assert_eq!(list.iter().map(|m| m.version).collect::<Vec<_>>(), [2, 1]);
    assert!(attached);

    let case = Case {
        job_id: "j1".into(),
        model: "M-1".into(),
        symptom: "cold".into(),
        cause: "valve".into(),
        fix: "new valve".into(),
        completed_at: 9,
        engineer: "u1".into(),
        cursor: 0,
        removed: false,
    };
    write(store, |tx| tx.put_job_product("j1", "M-1", Some(&case))).expect("write");
    // Writing the same case again does not move it; a changed case moves to the end.
    write(store, |tx| tx.put_job_product("j1", "M-1", Some(&case))).expect("write");
    let cases = read(store, |tx| tx.cases(Some("M-1"), 0, 10, false)).expect("read");
    assert_eq!(
        cases,
        vec![Case {
            cursor: 1,
            ..case.clone()
        }]
    );
    let changed = Case {
        fix: "new valve and seal".into(),
        ..case.clone()
    };
    write(store, |tx| tx.put_job_product("j1", "M-1", Some(&changed))).expect("write");
    let (cases, models, after) = read(store, |tx| {
        Ok::<_, StorageError>((
            tx.cases(None, 1, 10, false)?,
            tx.models_of("u1")?,
            tx.cases(None, 2, 10, false)?,
        ))
    })
    .expect("read");
    assert_eq!(
        cases,
        vec![Case {
            cursor: 2,
            ..changed
        }]
    );
    assert_eq!(models, vec!["M-1".to_owned()]);
    assert!(after.is_empty());
    // A job that stops being a case leaves a tombstone for phones, not for the office.
    write(store, |tx| tx.put_job_product("j1", "M-1", None)).expect("write");
    let (listed, tombstones) = read(store, |tx| {
        Ok::<_, StorageError>((tx.cases(None, 0, 10, false)?, tx.cases(None, 2, 10, true)?))
    })
    .expect("read");
    assert!(listed.is_empty());
    assert_eq!(
        tombstones
            .iter()
            .map(|c| (c.cursor, c.removed))
            .collect::<Vec<_>>(),
        [(3, true)]
    );

    let link = ReportLink {
        job_id: "j1".into(),
        expires_at: 100,
        created_at: 1,
        created_by: "dispatch".into(),
    };
    write(store, |tx| {
        tx.put_tips_doc("M-1", b"doc")?;
        tx.put_report_link(b"token-hash", &link)
    })
    .expect("write");
    let (tips, found, missing) = read(store, |tx| {
        Ok::<_, StorageError>((
            tx.tips_doc("M-1")?,
            tx.report_link(b"token-hash")?,
            tx.report_link(b"other")?,
        ))
    })
    .expect("read");
    assert_eq!(
        (tips, found, missing),
        (Some(b"doc".to_vec()), Some(link), None)
    );
}

/// [`FleetStore`](crate::storage::FleetStore): reports replace each other, syncs and logs keep
/// the newest, newest first.
pub fn fleet_round_trips(store: &dyn Storage) {
    use crate::storage::fleet::{KEPT_LOG, KEPT_SYNCS, StoredReport, SyncEntry};
    use fieldsync_protocol::wire::{DeviceReport, LogEntry};
    let report = |n: i64| StoredReport {
        report: DeviceReport {
            app_version: format!("1.{n}"),
            outbox_depth: 2,
            log: vec![LogEntry {
                at: n,
                level: "warn".into(),
                message: format!("problem {n}"),
            }],
            ..DeviceReport::default()
        },
        received_at: n,
        clock_skew_ms: -n,
    };
    let rounds = KEPT_SYNCS.max(KEPT_LOG) as i64 + 5;
    // Two devices syncing in turn: each keeps its own newest rows.
    for n in 1..=rounds {
        let entry = SyncEntry {
            at: n,
            pushed: 1,
            outbox_depth: Some(2),
        };
        let quiet = SyncEntry {
            outbox_depth: None,
            ..entry.clone()
        };
        write(store, |tx| {
            tx.record_sync("phone-1", &entry, Some(&report(n)))?;
            tx.record_sync("phone-2", &quiet, None)
        })
        .expect("write");
    }
    let (latest, syncs, log, other) = read(store, |tx| {
        Ok::<_, StorageError>((
            tx.device_report("phone-1")?,
            tx.device_syncs("phone-1", 1_000)?,
            tx.device_log("phone-1", 1_000)?,
            (
                tx.device_report("phone-2")?,
                tx.device_syncs("phone-2", 1_000)?,
            ),
        ))
    })
    .expect("read");
    assert_eq!(latest, Some(report(rounds)));
    assert_eq!(syncs.len() as u64, KEPT_SYNCS);
    assert_eq!(syncs[0].at, rounds, "newest first");
    assert_eq!(log.len() as u64, KEPT_LOG);
    assert_eq!(log[0].message, format!("problem {rounds}"));
    assert_eq!(other.0, None);
    assert_eq!(other.1.len() as u64, KEPT_SYNCS);
}

/// Customer records round-trip whole; `LIKE` finds a term anywhere in the search text, `%` and
/// `_` only as themselves, newest change first, never a merged record, which its target lists.
pub fn customers_are_found_and_merged(store: &dyn Storage) {
    use crate::storage::customers::{CustomerRecord, like_pattern};
    let record = |id: &str, name: &str, phone: &str, at: i64| CustomerRecord {
        v: 1,
        id: id.into(),
        name: name.into(),
        phones: vec![phone.into()],
        created_at: at,
        updated_at: at,
        ..CustomerRecord::default()
    };
    let ada = record("cus-ada", "Ada 100% Lovelace", "+44 20 7946 0001", 10);
    let grace = record("cus-grace", "Grace Hopper", "+44 20 7946 0002", 20);
    let twin = CustomerRecord {
        merged_into: Some("cus-grace".into()),
        ..record("cus-twin", "Grace H.", "+44 20 7946 0002", 30)
    };
    write(store, |tx| {
        for r in [&ada, &grace, &twin] {
            tx.put_customer(r)?;
        }
        Ok::<_, StorageError>(())
    })
    .expect("write");
    let found = |terms: &str| {
        let patterns: Vec<String> = terms.split(' ').map(like_pattern).collect();
        read(store, |tx| tx.customers_like(&patterns, 10))
            .expect("read")
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(found("442079460"), ["cus-grace", "cus-ada"], "newest first");
    assert_eq!(found("grace"), ["cus-grace"], "merged ones are not found");
    assert_eq!(found("ada 0001"), ["cus-ada"], "every pattern must match");
    assert!(found("ada 0002").is_empty());
    assert_eq!(found("100%"), ["cus-ada"]);
    assert!(found("0%l").is_empty(), "% is itself");
    assert!(found("a_a").is_empty(), "_ is itself");
    let (stored, merged) = read(store, |tx| {
        Ok::<_, StorageError>((tx.customer("cus-ada")?, tx.merged_into("cus-grace")?))
    })
    .expect("read");
    assert_eq!(stored, Some(ada.clone()));
    assert_eq!(merged, ["cus-twin"]);
    // Stored again, a record replaces itself.
    let renamed = CustomerRecord {
        name: "Ada King".into(),
        updated_at: 40,
        ..ada
    };
    write(store, |tx| tx.put_customer(&renamed)).expect("write");
    assert_eq!(found("king"), ["cus-ada"]);
    assert!(found("lovelace").is_empty());
}

/// A customer's history lines come newest call first, for any of several customer ids, at
/// most as many as asked; a job's line replaces its previous one; jobs without a line are found.
pub fn customer_history_is_found_by_customer(store: &dyn Storage) {
    use crate::storage::customers::CustomerJob;
    let line = |job: &str, customer: &str, at: i64| CustomerJob {
        v: 1,
        job_id: job.into(),
        customer_id: customer.into(),
        call_received_at: at,
        kind: "repair".into(),
        status: "new".into(),
        ..CustomerJob::default()
    };
    write(store, |tx| {
        tx.put_job(&stored(summary("j-old", None)), &[change(1)], None, 1)?;
        tx.put_job(&stored(summary("j-bare", None)), &[change(2)], None, 1)?;
        tx.put_customer_job(&line("j-old", "cus-a", 10))?;
        tx.put_customer_job(&line("j-new", "cus-a", 30))?;
        tx.put_customer_job(&line("j-twin", "cus-b", 20))?;
        tx.put_customer_job(&line("j-other", "cus-c", 40))
    })
    .expect("write");
    let jobs = |lines: Vec<CustomerJob>| -> Vec<String> {
        lines.into_iter().map(|line| line.job_id).collect()
    };
    let ids = |list: &[&str]| -> Vec<String> { list.iter().map(|id| (*id).to_owned()).collect() };
    let history = |customers: &[&str], limit| {
        jobs(read(store, |tx| tx.customer_jobs(&ids(customers), limit)).expect("read"))
    };
    assert_eq!(history(&["cus-a"], 10), ["j-new", "j-old"]);
    assert_eq!(
        history(&["cus-a", "cus-b"], 10),
        ["j-new", "j-twin", "j-old"]
    );
    assert_eq!(history(&["cus-a", "cus-b"], 2), ["j-new", "j-twin"]);
    assert!(history(&["cus-z"], 10).is_empty());
    assert!(history(&[], 10).is_empty());
    let of = read(store, |tx| {
        tx.customer_jobs_of(&ids(&["j-twin", "j-new", "j-none"]))
    })
    .expect("read");
    assert_eq!(jobs(of), ["j-new", "j-twin"]);
    // Moved to another customer and completed: the line replaces the old one.
    let moved = CustomerJob {
        status: "completed".into(),
        cause: "leak".into(),
        ..line("j-old", "cus-b", 10)
    };
    write(store, |tx| tx.put_customer_job(&moved)).expect("write");
    assert_eq!(history(&["cus-a"], 10), ["j-new"]);
    let stored_line = read(store, |tx| tx.customer_jobs(&ids(&["cus-b"]), 10)).expect("read");
    assert_eq!(stored_line[1], moved);
    assert_eq!(
        read(store, |tx| tx.jobs_without_customer_line(10)).expect("read"),
        ["j-bare"]
    );
}

/// The outbox stores a key once; new notifications are taken once; due deliveries come
/// soonest first with their notification; a delivery replaces itself; what is next is `0`
/// while a notification awaits its deliveries, then the earliest pending attempt.
pub fn notifications_are_queued_once_and_delivered(store: &dyn Storage) {
    use crate::storage::{Delivery, DeliveryStatus, StoredNotification};
    let notification = |id: &str, key: &str, at: i64| StoredNotification {
        id: id.into(),
        job_id: "job-1".into(),
        event: "completed".into(),
        key: key.into(),
        payload: format!(r#"{{"n":"{id}"}}"#),
        created_at: at,
        expires_at: at + 1_000,
    };
    let first = notification("n1", "job-1/completed/a", 10);
    let second = notification("n2", "job-1/completed/b", 20);
    let stored = write(store, |tx| {
        Ok::<_, StorageError>([
            tx.enqueue_notification(&first)?,
            tx.enqueue_notification(&second)?,
            tx.enqueue_notification(&notification("n3", "job-1/completed/a", 30))?,
        ])
    })
    .expect("enqueue");
    assert_eq!(stored, [true, true, false], "a key is stored once");
    assert_eq!(
        read(store, |tx| tx.next_outbox_work()).expect("next"),
        Some(0)
    );
    let taken = write(store, |tx| {
        Ok::<_, StorageError>((
            tx.take_new_notifications(10)?,
            tx.take_new_notifications(10)?,
        ))
    })
    .expect("take");
    assert_eq!(taken.0, [first.clone(), second.clone()]);
    assert!(taken.1.is_empty(), "taken once");
    assert_eq!(read(store, |tx| tx.next_outbox_work()).expect("next"), None);
    let delivery = |id: &str, channel: &str, next: i64| Delivery {
        notification_id: id.into(),
        channel: channel.into(),
        recipient: "ada@example.com".into(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: Some(next),
        last_error: String::new(),
        delivered_at: None,
    };
    write(store, |tx| {
        tx.put_delivery(&delivery("n2", "email", 50), 20)?;
        tx.put_delivery(&delivery("n1", "webhook", 40), 20)?;
        tx.put_delivery(&delivery("n1", "email", 40), 20)?;
        Ok::<_, StorageError>(())
    })
    .expect("deliveries");
    assert_eq!(
        read(store, |tx| tx.next_outbox_work()).expect("next"),
        Some(40)
    );
    let due = write(store, |tx| tx.due_deliveries(45, 10)).expect("due");
    let names: Vec<(&str, &str)> = due
        .iter()
        .map(|(d, n)| (d.channel.as_str(), n.id.as_str()))
        .collect();
    assert_eq!(names, [("email", "n1"), ("webhook", "n1")]);
    assert_eq!(due[0].1, first);
    let delivered = Delivery {
        status: DeliveryStatus::Delivered,
        attempts: 2,
        next_attempt_at: None,
        last_error: "connection refused".into(),
        delivered_at: Some(60),
        ..delivery("n1", "email", 40)
    };
    write(store, |tx| tx.put_delivery(&delivered, 60)).expect("delivered");
    let (deliveries, notifications) = read(store, |tx| {
        Ok::<_, StorageError>((tx.job_deliveries("job-1")?, tx.job_notifications("job-1")?))
    })
    .expect("read");
    assert_eq!(
        deliveries,
        [
            delivered,
            delivery("n1", "webhook", 40),
            delivery("n2", "email", 50)
        ]
    );
    assert_eq!(notifications, [first, second]);
    assert!(
        write(store, |tx| tx.due_deliveries(39, 10))
            .expect("due")
            .is_empty()
    );
}
