//! The conformance suite every storage backend must pass. A backend's tests call [`run_all`]
//! with a function that makes a fresh, empty store.

use fieldsync_protocol::job::{JobKind, JobSummary, Priority, Tier};
use fieldsync_protocol::rules::Status;

use super::{
    DeviceRecord, EventKind, NewChange, Storage, StorageError, StoredJob, User, read, write,
};

fn summary(id: &str, assignee: Option<&str>) -> JobSummary {
    JobSummary {
        id: id.into(),
        kind: JobKind::Repair,
        status: Status::Assigned,
        assignee: assignee.map(str::to_owned),
        appointment_start: None,
        appointment_end: None,
        customer_name: "Ada".into(),
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

fn change(n: u8) -> NewChange {
    NewChange {
        hash: [n; 32],
        bytes: vec![n; 4],
    }
}

/// Runs every check against stores made by `fresh`.
pub fn run_all(fresh: &dyn Fn() -> Box<dyn Storage>) {
    identity_is_stable(fresh().as_ref());
    jobs_round_trip_and_history_is_ordered(fresh().as_ref());
    duplicate_changes_are_stored_once(fresh().as_ref());
    failed_write_leaves_nothing(fresh().as_ref());
    events_follow_current_scope(fresh().as_ref());
    devices_and_users_round_trip(fresh().as_ref());
}

fn identity_is_stable(store: &dyn Storage) {
    let (id, actor) = read(store, |tx| {
        Ok::<_, StorageError>((tx.server_id()?, tx.server_actor()?))
    })
    .expect("read");
    assert!(!id.is_empty() && !actor.is_empty());
    let again = read(store, |tx| tx.server_id()).expect("read");
    assert_eq!(id, again);
}

fn jobs_round_trip_and_history_is_ordered(store: &dyn Storage) {
    let job = StoredJob {
        doc: vec![1, 2, 3],
        summary: summary("j1", Some("u1")),
    };
    write(store, |tx| {
        tx.put_job(&job, Some("d1"), &[change(1), change(2)], 10)?;
        tx.record_scope("j1", "u1", EventKind::Enter, 10)
    })
    .expect("write");
    let (stored, max, history) = read(store, |tx| {
        Ok::<_, StorageError>((tx.job("j1")?, tx.max_seq()?, tx.job_history("j1")?))
    })
    .expect("read");
    assert_eq!(stored, Some(job));
    assert_eq!(max, 3);
    let seqs: Vec<u64> = history.iter().map(|h| h.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    assert_eq!(history[2].kind, EventKind::Enter);
    assert_eq!(read(store, |tx| tx.job("nope")).expect("read"), None);
    assert_eq!(read(store, |tx| tx.list_jobs()).expect("read").len(), 1);
}

fn duplicate_changes_are_stored_once(store: &dyn Storage) {
    let job = StoredJob {
        doc: vec![1],
        summary: summary("j1", Some("u1")),
    };
    write(store, |tx| {
        tx.put_job(&job, Some("d1"), &[change(1)], 10)?;
        tx.put_job(&job, Some("d2"), &[change(1), change(2)], 11)
    })
    .expect("write");
    // Sequence numbers may have gaps; what matters is one entry per change.
    assert_eq!(
        read(store, |tx| tx.job_history("j1")).expect("read").len(),
        2
    );
}

fn failed_write_leaves_nothing(store: &dyn Storage) {
    let job = StoredJob {
        doc: vec![1],
        summary: summary("j1", None),
    };
    let result: Result<(), StorageError> = write(store, |tx| {
        tx.put_job(&job, None, &[change(1)], 10)?;
        Err(StorageError::Corrupt("boom".into()))
    });
    assert!(result.is_err());
    assert_eq!(read(store, |tx| tx.job("j1")).expect("read"), None);
    assert_eq!(read(store, |tx| tx.max_seq()).expect("read"), 0);
}

fn events_follow_current_scope(store: &dyn Storage) {
    write(store, |tx| {
        tx.put_job(
            &StoredJob {
                doc: vec![1],
                summary: summary("mine", Some("u1")),
            },
            None,
            &[change(1)],
            1,
        )?;
        tx.record_scope("mine", "u1", EventKind::Enter, 1)?;
        tx.put_job(
            &StoredJob {
                doc: vec![1],
                summary: summary("theirs", Some("u2")),
            },
            None,
            &[change(2)],
            1,
        )?;
        tx.record_scope("theirs", "u2", EventKind::Enter, 1)?;
        tx.put_job(
            &StoredJob {
                doc: vec![2],
                summary: summary("mine", Some("u1")),
            },
            Some("d1"),
            &[change(3)],
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
}

fn devices_and_users_round_trip(store: &dyn Storage) {
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
