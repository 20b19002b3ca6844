//! A deterministic simulation over random schedules: several devices and the server's sync core
//! exchanging bytes in memory, with requests dropped, responses lost and requests duplicated,
//! and phones restored from older copies of themselves. After the faults stop and everyone
//! syncs, all replicas converge and no edit the server accepted is lost. It runs on one SQLite
//! server, and on three server nodes sharing one PostgreSQL database, each round and each
//! dispatch action going to the next node in turn.

use fieldsync_client_core::protocol::job::Appointment;
use fieldsync_client_core::protocol::wire::{self, SyncRequest};
use fieldsync_client_core::{Store, SyncSession};
use fieldsync_server::domain::dispatch::Dispatch;
use fieldsync_server::domain::sync::{self, PageLimits};
use fieldsync_server::storage::postgres::PostgresStorage;
use fieldsync_server::storage::sqlite::SqliteStorage;
use fieldsync_server::storage::{Storage, User, write};
use fieldsync_tests::PostgresSchema;
use proptest::prelude::*;

/// The reason dispatch gives for booking over another visit in a random schedule.
const RANDOM_SCHEDULE: &str = "a random schedule";

/// Devices: two phones of Anna, one of Ben.
const DEVICES: [&str; 3] = ["anna", "anna", "ben"];
const JOBS: usize = 3;

#[derive(Debug, Clone, Copy)]
enum Fault {
    None,
    DropRequest,
    LoseResponse,
    Duplicate,
}

#[derive(Debug, Clone)]
enum Step {
    PhoneEdit {
        device: usize,
        job: usize,
    },
    DispatchAppointment {
        job: usize,
        start: i64,
    },
    Reassign {
        job: usize,
        to_ben: bool,
    },
    Sync {
        device: usize,
        fault: Fault,
    },
    /// The phone's store is copied (a backup).
    Backup {
        device: usize,
    },
    /// The phone is restored from its latest backup: what it did since is gone from it.
    Restore {
        device: usize,
    },
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::None),
        Just(Fault::DropRequest),
        Just(Fault::LoseResponse),
        Just(Fault::Duplicate)
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..DEVICES.len(), 0..JOBS).prop_map(|(device, job)| Step::PhoneEdit { device, job }),
        1 => (0..JOBS, 0..1_000_i64).prop_map(|(job, start)| Step::DispatchAppointment { job, start }),
        1 => (0..JOBS, any::<bool>()).prop_map(|(job, to_ben)| Step::Reassign { job, to_ben }),
        4 => (0..DEVICES.len(), fault()).prop_map(|(device, fault)| Step::Sync { device, fault }),
        1 => (0..DEVICES.len()).prop_map(|device| Step::Backup { device }),
        1 => (0..DEVICES.len()).prop_map(|device| Step::Restore { device }),
    ]
}

struct World {
    _dir: tempfile::TempDir,
    /// The server's nodes (one on SQLite; three sharing a PostgreSQL schema), used in turn.
    nodes: Vec<Box<dyn Storage>>,
    next_node: std::cell::Cell<usize>,
    _schema: Option<PostgresSchema>,
    devices: Vec<Store>,
    jobs: Vec<String>,
    clock: std::cell::Cell<i64>,
    /// Every note token a device wrote, per job: the token, the device, and when (step count).
    written: Vec<Vec<(String, usize, usize)>>,
    /// Each device's latest backup and when it was taken (step count).
    backups: Vec<Option<(std::path::PathBuf, usize)>>,
    /// Steps applied so far.
    steps: usize,
}

impl World {
    /// A world served by one SQLite server.
    fn on_sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = SqliteStorage::open(dir.path().join("server.db")).expect("server");
        Self::new(dir, vec![Box::new(server)], None)
    }

    /// A world served by three nodes on one PostgreSQL schema, each with its own connections,
    /// document cache and actor.
    fn on_three_postgres_nodes() -> Self {
        let schema = PostgresSchema::create();
        let nodes = (0..3)
            .map(|_| {
                Box::new(PostgresStorage::connect(&schema.url()).expect("node")) as Box<dyn Storage>
            })
            .collect();
        Self::new(tempfile::tempdir().expect("tempdir"), nodes, Some(schema))
    }

    fn new(
        dir: tempfile::TempDir,
        nodes: Vec<Box<dyn Storage>>,
        schema: Option<PostgresSchema>,
    ) -> Self {
        let server = nodes[0].as_ref();
        write(server, |tx| {
            for id in ["anna", "ben"] {
                tx.put_user(&User {
                    id: id.into(),
                    name: id.into(),
                    role: "installer".into(),
                    region: String::new(),
                    skills: vec![],
                })?;
            }
            Ok::<_, fieldsync_server::http::error::AppError>(())
        })
        .expect("users");
        let dispatch = Dispatch::new(server, "dispatch");
        let jobs = (0..JOBS)
            .map(|i| {
                let new = fieldsync_tests::new_call(&format!("c{i}"));
                let (summary, _) = dispatch.create(new, 1).expect("create");
                dispatch
                    .assign(
                        &summary.id,
                        Some(if i == 2 { "ben" } else { "anna" }),
                        None,
                        None,
                        1,
                    )
                    .expect("assign");
                summary.id
            })
            .collect();
        let devices = DEVICES
            .iter()
            .enumerate()
            .map(|(i, user)| {
                Store::open(dir.path().join(format!("device-{i}.db")), user).expect("store")
            })
            .collect();
        World {
            _dir: dir,
            nodes,
            next_node: std::cell::Cell::new(0),
            _schema: schema,
            devices,
            jobs,
            clock: std::cell::Cell::new(10),
            written: vec![Vec::new(); JOBS],
            backups: vec![None; DEVICES.len()],
            steps: 0,
        }
    }

    /// The node that serves the next request.
    fn server(&self) -> &dyn Storage {
        let node = self.next_node.get();
        self.next_node.set((node + 1) % self.nodes.len());
        self.nodes[node].as_ref()
    }

    fn tick(&self) -> i64 {
        self.clock.set(self.clock.get() + 1);
        self.clock.get()
    }

    fn round(&self, request: &[u8]) -> Vec<u8> {
        let now = self.tick();
        let request: SyncRequest = wire::decode(request).expect("device sent a valid request");
        let limits = PageLimits {
            bytes: 2_000,
            events: 8,
        };
        let outcome = sync::handle(self.server(), &request, limits, now).expect("round");
        wire::encode(&outcome.response)
    }

    fn sync(&self, device: usize, fault: Fault) {
        let mut session = SyncSession::new(&self.devices[device]);
        let mut first = true;
        while let Some(request) = session.next_request().expect("next request") {
            let fault = if first { fault } else { Fault::None };
            first = false;
            let response = match fault {
                Fault::DropRequest => return,
                Fault::LoseResponse => {
                    self.round(&request);
                    return;
                }
                Fault::Duplicate => {
                    self.round(&request);
                    self.round(&request)
                }
                Fault::None => self.round(&request),
            };
            session.receive(&response).expect("receive");
        }
    }

    fn apply(&mut self, step: &Step) {
        self.steps += 1;
        match *step {
            Step::PhoneEdit { device, job } => {
                let token = format!("[d{device}-n{}]", self.written[job].len());
                // A device edits only jobs it holds.
                if self.devices[device]
                    .append_note(&self.jobs[job], &token)
                    .is_ok()
                {
                    self.written[job].push((token, device, self.steps));
                }
            }
            Step::Backup { device } => {
                let path = self
                    ._dir
                    .path()
                    .join(format!("backup-{device}-{}.db", self.steps));
                self.devices[device].backup_to(&path).expect("backup");
                self.backups[device] = Some((path, self.steps));
            }
            Step::Restore { device } => {
                let Some((backup, taken)) = self.backups[device].clone() else {
                    return;
                };
                // What the phone wrote after the backup and never got to the server is gone
                // with the restore; what the server accepted must come back.
                for job in 0..JOBS {
                    let (_, notes) = self.server_job(job);
                    self.written[job].retain(|(token, by, at)| {
                        *by != device || *at <= taken || notes.contains(token.as_str())
                    });
                }
                let restored = self
                    ._dir
                    .path()
                    .join(format!("device-{device}-{}.db", self.steps));
                std::fs::copy(&backup, &restored).expect("restore");
                self.devices[device] =
                    Store::open(&restored, DEVICES[device]).expect("restored store");
            }
            Step::DispatchAppointment { job, start } => {
                let now = self.tick();
                Dispatch::new(self.server(), "dispatch")
                    .set_appointment(
                        &self.jobs[job],
                        Appointment {
                            start,
                            end: start + 10,
                        },
                        // Random times overlap; the schedule is not what is tested here.
                        Some(RANDOM_SCHEDULE),
                        now,
                    )
                    .expect("appointment");
            }
            Step::Reassign { job, to_ben } => {
                let now = self.tick();
                let to = if to_ben { "ben" } else { "anna" };
                Dispatch::new(self.server(), "dispatch")
                    .assign(&self.jobs[job], Some(to), None, Some(RANDOM_SCHEDULE), now)
                    .expect("assign");
            }
            Step::Sync { device, fault } => self.sync(device, fault),
        }
    }

    fn server_job(&self, job: usize) -> (Vec<String>, String) {
        let view = Dispatch::new(self.server(), "dispatch")
            .get(&self.jobs[job], 0)
            .expect("job");
        let mut heads = view.heads;
        heads.sort();
        (heads, view.job.notes)
    }
}

/// Runs `steps`, lets the network heal, and checks that every replica converged and no edit
/// the server accepted was lost.
fn check(mut world: World, steps: &[Step]) -> Result<(), TestCaseError> {
    for step in steps {
        world.apply(step);
    }
    // The network heals: everyone syncs until quiet (twice round, so each device sees what
    // the others pushed).
    for _ in 0..2 {
        for device in 0..DEVICES.len() {
            world.sync(device, Fault::None);
        }
    }
    for job in 0..JOBS {
        let (heads, notes) = world.server_job(job);
        for (token, _, _) in &world.written[job] {
            prop_assert!(
                notes.contains(token.as_str()),
                "edit {} lost from job {}: {:?}",
                token,
                job,
                notes
            );
        }
        let assignee = Dispatch::new(world.server(), "dispatch")
            .get(&world.jobs[job], 0)
            .expect("job")
            .summary
            .assignee;
        for (device, store) in world.devices.iter().enumerate() {
            let holds = store.job_ids().expect("ids").contains(&world.jobs[job]);
            let in_scope = assignee.as_deref() == Some(DEVICES[device]);
            prop_assert_eq!(holds, in_scope, "device {} scope of job {}", device, job);
            if holds {
                let mut device_heads: Vec<String> = store
                    .heads(&world.jobs[job])
                    .expect("heads")
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                device_heads.sort();
                prop_assert_eq!(
                    &device_heads,
                    &heads,
                    "device {} diverged on job {}",
                    device,
                    job
                );
            }
            prop_assert_eq!(store.outbox_status().expect("outbox").depth, 0);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn random_schedules_converge_and_lose_no_edit(steps in proptest::collection::vec(step(), 1..40)) {
        check(World::on_sqlite(), &steps)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    #[test]
    fn random_schedules_across_three_postgresql_nodes_converge_and_lose_no_edit(
        steps in proptest::collection::vec(step(), 1..40)
    ) {
        check(World::on_three_postgres_nodes(), &steps)?;
    }
}
