//! Feeds arbitrary bytes to a sync round, as pushed Automerge changes and as a fallback sync
//! message, for a real job assigned to the pushing installer. The round may refuse the input,
//! but it must not panic, and the stored job must still load and read afterwards.

#![no_main]

use std::sync::OnceLock;

use fieldsync_protocol::Millis;
use fieldsync_protocol::automerge::AutoCommit;
use fieldsync_protocol::job::{Customer, NewJob, Problem, Site, read_job};
use fieldsync_protocol::wire::{JobChanges, PROTOCOL_VERSION, ResyncMessage, SyncRequest};
use fieldsync_server::domain::auth::put_user;
use fieldsync_server::domain::dispatch::Dispatch;
use fieldsync_server::storage::sqlite::SqliteStorage;
use fieldsync_server::storage::{self, User};
use fieldsync_server::domain::sync::{PageLimits, handle};
use libfuzzer_sys::fuzz_target;
use serde_bytes::ByteBuf;

/// A fixed server clock, so a failure reproduces from its input alone.
const NOW: Millis = 1_750_000_000_000;

/// At most this many changes in one push.
const MAX_CHANGES: usize = 4;

/// A store seeded once per process: an installer, a dispatcher and one job assigned to the
/// installer.
struct Fixture {
    storage: SqliteStorage,
    job: String,
    /// Holds the database's directory for as long as the store is open.
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let storage =
            SqliteStorage::open(dir.path().join("fuzz.sqlite3")).expect("the store opens");
        for (id, role) in [("anna", "installer"), ("dispatch", "dispatcher")] {
            let user = User {
                id: id.into(),
                name: id.into(),
                role: role.into(),
                region: String::new(),
                skills: Vec::new(),
            };
            put_user(&storage, &user, None).expect("the user is created");
        }
        let job = {
            let dispatch = Dispatch::new(&storage, "dispatch");
            let new = NewJob {
                customer: Customer {
                    name: "Fuzz Customer".into(),
                    ..Customer::default()
                },
                site: Site {
                    address: "1 Fuzz Road".into(),
                    region: "north".into(),
                },
                problem: Problem {
                    category: "no heat".into(),
                    description: "fuzzed".into(),
                },
                ..NewJob::default()
            };
            let (summary, _) = dispatch.create(new, NOW).expect("the job is created");
            dispatch
                .assign(&summary.id, Some("anna"), NOW)
                .expect("the job is assigned");
            summary.id
        };
        Fixture {
            storage,
            job,
            _dir: dir,
        }
    })
}

/// Splits the input into at most [`MAX_CHANGES`] changes: each but the last is prefixed by its
/// length (two bytes, little-endian); the last takes whatever remains.
fn split_changes(mut data: &[u8]) -> Vec<&[u8]> {
    let mut changes = Vec::new();
    while changes.len() < MAX_CHANGES - 1 {
        let Some((prefix, rest)) = data.split_first_chunk::<2>() else {
            break;
        };
        let len = usize::from(u16::from_le_bytes(*prefix)).min(rest.len());
        let (change, rest) = rest.split_at(len);
        changes.push(change);
        data = rest;
    }
    if !data.is_empty() {
        changes.push(data);
    }
    changes
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let request = SyncRequest {
        v: PROTOCOL_VERSION,
        device: "fuzz-device".into(),
        user: "anna".into(),
        actor: ByteBuf::from(vec![7u8; 16]),
        cursor: 0,
        push: vec![JobChanges {
            job: fixture.job.clone(),
            changes: split_changes(data)
                .into_iter()
                .map(|change| ByteBuf::from(change.to_vec()))
                .collect(),
        }],
        resync: vec![ResyncMessage {
            job: fixture.job.clone(),
            message: ByteBuf::from(data.to_vec()),
        }],
        report: None,
        acknowledged: Vec::new(),
    };

    // Refusing the input (or failing the round) is fine; panicking is not.
    let _ = handle(&fixture.storage, &request, PageLimits::default(), NOW);

    // Whatever the round did, the stored job is still a readable job document.
    let stored = storage::read(&fixture.storage, |tx| tx.job(&fixture.job))
        .expect("the store reads after a round")
        .expect("the job is still stored");
    let doc = AutoCommit::load(&stored.doc).expect("the stored job document loads");
    read_job(&doc).expect("the stored job document reads");
});
