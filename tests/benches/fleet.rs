//! The fleet benchmark: many phones online at once, each making one small edit a second, and a
//! dispatcher who should see each edit at once.
//!
//! N installers, each with an enrolled phone (its own store and credential) holding its 20
//! jobs, listening to its live event stream. Each phone ticks a checklist item once a second,
//! staggered across the second, and syncs at once, as an online phone does. One dispatcher
//! listens to the office event stream and, for every tenth `changed`, reads the job as the
//! console does. The server runs in a process of its own, so its CPU time, peak memory and disk
//! writes (`/proc/<pid>/…`) are its alone; the phones share the benchmark's process and a pool of
//! threads, and the benchmark reports its own timer lag so that its limits are never taken for
//! the server's.
//!
//! Run with `cargo bench -p fieldsync-tests --bench fleet` (N = 100, 300, 1,000 for 30 s each;
//! `-- --quick` for 100 phones and 10 s; `-- --phones 100,300 --seconds 20` to choose). With
//! `AUTOMERGE_REPO_HARNESS` naming a ready automerge-repo fleet harness (a directory with a
//! `run.sh` taking `PROBE_NS`, `PROBE_SECONDS` and `OUT`), the same workload runs on it after
//! each N and both are printed side by side with ratios.
//!
//! `-- --nodes 1,3` runs the same workload on PostgreSQL and a bucket instead, once with each
//! number of `fieldsync` processes (phone `i` talks to node `i mod k`; the dispatcher listens
//! on the first node, so with several nodes every edit it hears crossed nodes), and prints the
//! runs side by side: CPU per accepted edit on all nodes and on PostgreSQL, each node's share of
//! a core, and the dispatcher's latency. It needs the services:
//! `bash scripts/with-services.sh cargo bench -p fieldsync-tests --bench fleet -- --nodes 1,3`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code: a failed expectation is a failed run

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fieldsync_client_core::protocol::job::{ChecklistUpdate, Customer, NewJob, Problem, Site};
use fieldsync_client_core::transport::HttpTransport;
use fieldsync_client_core::{Error as PhoneError, Store};
use fieldsync_server::domain::{auth, dispatch::Dispatch};
use fieldsync_server::state::AppState;
use fieldsync_server::storage::blobs::BlobLocation;
use fieldsync_server::storage::postgres::PostgresStorage;
use fieldsync_server::storage::sqlite::SqliteStorage;
use fieldsync_server::storage::{Storage, User};
use fieldsync_tests::{PostgresSchema, fresh_bucket};

/// Set in the child process that serves: the database (an SQLite path or a PostgreSQL URL).
const SERVE: &str = "FIELDSYNC_FLEET_SERVER";
/// Set in the child process that serves: its blob store, as `--blobs` takes it.
const SERVE_BLOBS: &str = "FIELDSYNC_FLEET_BLOBS";
const JOBS_PER_PHONE: usize = 20;
const DISPATCHER_PASSWORD: &str = "fleet-dispatcher-password";

fn main() {
    if let (Ok(db), Ok(blobs)) = (std::env::var(SERVE), std::env::var(SERVE_BLOBS)) {
        // The server process starts as `fieldsync` does.
        fieldsync_server::limit_malloc_arenas();
        serve(&db, &blobs);
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let quick = args.iter().any(|a| a == "--quick");
    let phones: Vec<usize> = value("--phones").map_or_else(
        || {
            if quick {
                vec![100]
            } else {
                vec![100, 300, 1_000]
            }
        },
        |list| {
            list.split(',')
                .map(|n| n.parse().expect("--phones"))
                .collect()
        },
    );
    let seconds: u64 = value("--seconds").map_or(if quick { 10 } else { 30 }, |s| {
        s.parse().expect("--seconds")
    });
    if let Some(nodes) = value("--nodes") {
        let nodes: Vec<usize> = nodes
            .split(',')
            .map(|k| k.parse().expect("--nodes"))
            .collect();
        assert!(
            !nodes.contains(&0),
            "--nodes counts server processes: 1 or more"
        );
        println!("fleet on PostgreSQL: each phone makes one edit a second for {seconds} s");
        for &n in &phones {
            let runs: Vec<(usize, Figures)> = nodes
                .iter()
                .map(|&k| (k, run(n, seconds, Deployment::Postgres { nodes: k })))
                .collect();
            print_nodes_table(n, &runs);
        }
        return;
    }
    let harness = std::env::var_os("AUTOMERGE_REPO_HARNESS").map(PathBuf::from);
    let (fresh, long, tail) = history_cost(if quick { 2_000 } else { 10_000 });
    println!(
        "one edit committed by the server (median of {HISTORY_SAMPLES}): {fresh:.2} ms on a fresh job, \
         {long:.2} ms after {} earlier changes ({:.2}×; tail after the last snapshot {tail} bytes)",
        if quick { 2_000 } else { 10_000 },
        long / fresh
    );
    println!("fleet: each phone makes one edit a second for {seconds} s");
    for &n in &phones {
        let ours = run(n, seconds, Deployment::Sqlite);
        let peer = harness.as_deref().and_then(|h| match peer(h, n, seconds) {
            Ok(figures) => Some(figures),
            Err(e) => {
                println!("automerge-repo with {n} phones did not finish: {e}");
                None
            }
        });
        print_table(n, &ours, peer.as_ref());
    }
}

/// How many edits each median of [`history_cost`] takes.
const HISTORY_SAMPLES: usize = 200;

/// The server's cost of committing one edit (a checklist tick, as dispatch makes it) on a fresh
/// job and on the same job after `history` more changes: medians of [`HISTORY_SAMPLES`] each,
/// every one its own durable transaction on a SQLite file. Also returns the bytes of the
/// document's tail (the changes after its snapshot) at the end.
fn history_cost(history: usize) -> (f64, f64, u64) {
    use fieldsync_server::domain::jobs::{self, Author, NO_FIELDS};
    use fieldsync_server::storage::{read, write};
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = SqliteStorage::open(dir.path().join("history.sqlite3")).expect("open");
    let now = fieldsync_client_core::protocol::now_millis();
    let (job, _) = Dispatch::new(&storage, "dispatch")
        .create(new_job(0, 0), now)
        .expect("create");
    let job = job.id;
    let actor = read(&storage as &dyn Storage, |tx| tx.server_actor()).expect("actor");
    let editor = fieldsync_client_core::protocol::job::Editor {
        user: "dispatch".into(),
        device: "server".into(),
        role: fieldsync_client_core::protocol::job::Role::Dispatch,
    };
    let mut k = 0usize;
    let mut edit = || {
        k += 1;
        let started = Instant::now();
        write(&storage as &dyn Storage, |tx| {
            let author = Author {
                user: "dispatch",
                device: None,
                fields: NO_FIELDS,
                binds_actors: false,
                note: "",
            };
            let actor = fieldsync_client_core::protocol::automerge::ActorId::from(actor.as_slice());
            jobs::edit(tx, &job, actor, &editor, author, now, |doc, _| {
                doc.update_checklist_item(
                    &format!("item-{:02}", k % 20),
                    &ChecklistUpdate {
                        // Each pass over the 20 items flips them all: every edit changes.
                        done: Some((k / 20).is_multiple_of(2)),
                        ..Default::default()
                    },
                    now,
                )
            })
        })
        .expect("edit");
        millis(started.elapsed())
    };
    let fresh: Vec<f64> = (0..HISTORY_SAMPLES).map(|_| edit()).collect();
    for _ in 0..history {
        edit();
    }
    let long: Vec<f64> = (0..HISTORY_SAMPLES).map(|_| edit()).collect();
    let tail = read(&storage as &dyn Storage, |tx| tx.job(&job))
        .expect("read")
        .expect("job")
        .tail_bytes;
    (quantile(&fresh, 0.5), quantile(&long, 0.5), tail)
}

/// The server process: serves the database until its standard input closes.
fn serve(db: &str, blobs: &str) {
    let storage: Arc<dyn Storage> = if db.starts_with("postgres://") {
        Arc::new(PostgresStorage::connect(db).expect("open"))
    } else {
        Arc::new(SqliteStorage::open(db).expect("open"))
    };
    let blobs = BlobLocation::parse(blobs)
        .and_then(|location| location.open())
        .expect("blobs");
    let server = fieldsync_server::BackgroundServer::start_with(
        AppState::new(storage, blobs),
        "127.0.0.1:0",
    )
    .expect("start the server");
    println!("listening {}", server.url());
    let mut rest = String::new();
    while std::io::stdin().read_line(&mut rest).is_ok_and(|n| n > 0) {}
    server.stop();
}

/// What the phones talk to.
#[derive(Debug, Clone, Copy)]
enum Deployment {
    /// One process on an SQLite file.
    Sqlite,
    /// `nodes` processes on one PostgreSQL database and one bucket.
    Postgres { nodes: usize },
}

/// What one run measured.
#[derive(Debug, Default)]
struct Figures {
    /// CPU time of each server process during the edits, in milliseconds.
    node_cpu_ms: Vec<f64>,
    /// CPU time of PostgreSQL's processes during the edits, in milliseconds.
    database_cpu_ms: Option<f64>,
    edits: u64,
    accepted: u64,
    failed: u64,
    sync_requests: u64,
    nudges: u64,
    server_cpu_ms: f64,
    server_written: u64,
    server_rss_peak: u64,
    server_threads: u64,
    edit_seconds: f64,
    to_dispatcher: Vec<f64>,
    unheard: usize,
    sync_latency: Vec<f64>,
    job_reads: Vec<f64>,
    lag: Vec<f64>,
}

/// The same workload's figures from the automerge-repo harness.
#[derive(Debug, Default)]
struct PeerFigures {
    cpu_ms_per_edit: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    rss_mb: f64,
    edits: u64,
}

fn new_job(installer: usize, j: usize) -> NewJob {
    NewJob {
        customer: Customer {
            name: format!("Customer {installer}-{j}"),
            ..Customer::default()
        },
        site: Site {
            address: format!("{j} Long Street"),
            region: "north".into(),
            ..Site::default()
        },
        problem: Problem {
            category: "no heat".into(),
            description: "The heat pump stops after a few minutes.".into(),
        },
        checklist: (0..20)
            .map(|k| (format!("item-{k:02}"), format!("Checklist step {k}")))
            .collect(),
        ..NewJob::default()
    }
}

/// A phone of the fleet.
struct Phone {
    store: Store,
    transport: HttpTransport,
    credential: String,
    jobs: Vec<String>,
}

/// Seeds the organisation straight into the database (one transaction) and enrolls a phone
/// per installer; returns the phones, whose stores live under `dir`.
fn seed(storage: &dyn Storage, dir: &Path, n: usize) -> Vec<(Store, String, Vec<String>)> {
    let now = fieldsync_client_core::protocol::now_millis();
    let user = |id: &str, role: &str| User {
        id: id.into(),
        name: id.into(),
        role: role.into(),
        region: "north".into(),
        skills: Vec::new(),
    };
    auth::put_user(
        storage,
        &user("dispatch", "dispatcher"),
        Some(DISPATCHER_PASSWORD),
    )
    .expect("dispatcher");
    let mut phones = Vec::with_capacity(n);
    fieldsync_server::storage::atomically(storage, || {
        let dispatch = Dispatch::new(storage, "dispatch");
        for i in 0..n {
            let installer = format!("installer-{i:04}");
            auth::put_user(storage, &user(&installer, "installer"), None)?;
            let mut jobs = Vec::with_capacity(JOBS_PER_PHONE);
            for j in 0..JOBS_PER_PHONE {
                let (summary, _) = dispatch.create(new_job(i, j), now)?;
                dispatch.assign(&summary.id, Some(&installer), None, None, now)?;
                jobs.push(summary.id);
            }
            let store = Store::open(dir.join(format!("{installer}.sqlite3")), &installer)
                .expect("phone store");
            let code = auth::issue_enrollment_code(storage, "admin", &installer, now)?;
            let device = store.identity().device_id.clone();
            let enrolled = auth::enroll(storage, &code.code, &device, Some(&installer), now)?;
            phones.push((store, enrolled.credential, jobs));
        }
        Ok::<_, fieldsync_server::domain::error::DomainError>(())
    })
    .expect("seed");
    phones
}

/// The server process and its address.
struct ServerProcess {
    child: Child,
    url: String,
}

impl ServerProcess {
    fn start(db: &str, blobs: &str) -> Self {
        let mut child = Command::new(std::env::current_exe().expect("exe"))
            .env(SERVE, db)
            .env(SERVE_BLOBS, blobs)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server process");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the server's address");
        let url = line
            .trim()
            .strip_prefix("listening ")
            .expect("listening")
            .to_owned();
        ServerProcess { child, url }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time so far (user + system), in milliseconds.
    fn cpu_ms(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("stat");
        stat_cpu_ms(&stat).expect("stat")
    }

    /// A field of `/proc/<pid>/<file>` (`name: value …`), as a number.
    fn proc_field(&self, file: &str, name: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/{file}", self.pid())).expect(file);
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim_start_matches(':').split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn written_bytes(&self) -> u64 {
        self.proc_field("io", "write_bytes")
    }

    fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// The CPU time (user + system) in a `/proc/<pid>/stat` line, in milliseconds.
fn stat_cpu_ms(stat: &str) -> Option<f64> {
    let after_name = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 1000.0 / clock_ticks_per_second())
}

/// The CPU time of every PostgreSQL process on the machine (the benchmark's cluster is the
/// only one), in milliseconds. Backends that exit take theirs with them; the nodes' pools keep
/// theirs open for the whole run.
fn postgres_cpu_ms() -> f64 {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter(|stat| stat.contains("(postgres)"))
        .filter_map(|stat| stat_cpu_ms(&stat))
        .sum()
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Runs `f(i)` for every `i` in `0..n` on `threads` threads.
fn parallel(n: usize, threads: usize, f: impl Fn(usize) + Sync) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    f(i);
                }
            });
        }
    });
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn run(n: usize, seconds: u64, deployment: Deployment) -> Figures {
    let dir = tempfile::tempdir().expect("tempdir");
    let setup = Instant::now();
    // The schema lives as long as the run.
    let (_schema, storage, targets): (_, Box<dyn Storage>, Vec<(String, String)>) = match deployment
    {
        Deployment::Sqlite => {
            let db = dir.path().join("server.sqlite3");
            let blobs = dir.path().join("server.blobs");
            let target = (db.display().to_string(), blobs.display().to_string());
            let storage = SqliteStorage::open(&db).expect("open");
            (None, Box::new(storage), vec![target])
        }
        Deployment::Postgres { nodes } => {
            let schema = PostgresSchema::create();
            let storage = PostgresStorage::connect(&schema.url()).expect("open");
            let target = (schema.url(), fresh_bucket());
            (Some(schema), Box::new(storage), vec![target; nodes])
        }
    };
    let seeded = seed(storage.as_ref(), dir.path(), n);
    drop(storage);
    let servers: Vec<ServerProcess> = targets
        .iter()
        .map(|(db, blobs)| ServerProcess::start(db, blobs))
        .collect();
    // The dispatcher's node.
    let url = servers[0].url.clone();
    let phones: Vec<Phone> = seeded
        .into_iter()
        .enumerate()
        .map(|(i, (store, credential, jobs))| Phone {
            transport: HttpTransport::new(&servers[i % servers.len()].url)
                .expect("transport")
                .with_credential(&credential),
            store,
            credential,
            jobs,
        })
        .collect();
    parallel(n, 8, |i| {
        phones[i]
            .transport
            .sync(&phones[i].store)
            .expect("first download");
    });
    eprintln!(
        "{n} phones seeded, enrolled and holding their jobs in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    // Edits made and not yet heard by the dispatcher: job → when each was made.
    let pending: Arc<Mutex<HashMap<String, Vec<Instant>>>> = Arc::default();
    let heard: Arc<Mutex<Vec<f64>>> = Arc::default();
    let job_reads: Arc<Mutex<Vec<f64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let token = fieldsync_tests::sign_in(&url, "dispatch", DISPATCHER_PASSWORD);
    let office = fieldsync_tests::EventStream::open(&url, &token);
    let dispatcher = {
        let (pending, heard, job_reads, stop, url) = (
            pending.clone(),
            heard.clone(),
            job_reads.clone(),
            stop.clone(),
            url.clone(),
        );
        std::thread::spawn(move || {
            let agent = fieldsync_tests::agent();
            let mut events = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let Some((name, data)) = office.next(Duration::from_millis(200)) else {
                    continue;
                };
                if name != "changed" {
                    continue;
                }
                let now = Instant::now();
                let named: Vec<String> = serde_json::from_str::<serde_json::Value>(&data)
                    .ok()
                    .and_then(|v| serde_json::from_value(v["jobs"].clone()).ok())
                    .unwrap_or_default();
                let mut made = pending.lock().unwrap();
                let jobs: Vec<String> = if named.is_empty() {
                    made.keys().cloned().collect()
                } else {
                    named
                };
                let mut latencies = heard.lock().unwrap();
                for job in &jobs {
                    for at in made.remove(job).unwrap_or_default() {
                        latencies.push(millis(now.saturating_duration_since(at)));
                    }
                }
                drop((made, latencies));
                events += 1;
                if events.is_multiple_of(10)
                    && let Some(job) = jobs.first()
                {
                    let started = Instant::now();
                    let status = agent
                        .get(format!("{url}/v1/jobs/{job}"))
                        .header("Authorization", format!("Bearer {token}"))
                        .call()
                        .map(|r| r.status().as_u16());
                    assert!(
                        matches!(status, Ok(200)),
                        "the dispatcher reads job {job}: {status:?}"
                    );
                    job_reads.lock().unwrap().push(millis(started.elapsed()));
                }
            }
        })
    };

    // Every phone listens for its nudges on one long-lived stream, as an online phone does; a
    // nudge would cost it a sync. The streams end when the server stops.
    let listen_for = Duration::from_secs(seconds + 120);
    let nudges = Arc::new(AtomicU64::new(0));
    let listeners: Vec<_> = phones
        .iter()
        .enumerate()
        .map(|(i, phone)| {
            let transport = HttpTransport::new(&servers[i % servers.len()].url)
                .expect("transport")
                .with_credential(&phone.credential);
            let (nudges, stop) = (nudges.clone(), stop.clone());
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if matches!(transport.wait_for_nudge(listen_for), Ok(true)) {
                            nudges.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
                .expect("listener")
        })
        .collect();

    // The edit phase.
    let threads = n.clamp(1, 32);
    let cpu_before: Vec<f64> = servers.iter().map(ServerProcess::cpu_ms).collect();
    let written_before: u64 = servers.iter().map(ServerProcess::written_bytes).sum();
    let database_before = postgres_cpu_ms();
    let started = Instant::now() + Duration::from_millis(500);
    let lag = Mutex::new(Vec::new());
    let sync_latency = Mutex::new(Vec::new());
    let (edits, accepted, failed, requests) = (
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
    );
    std::thread::scope(|s| {
        for worker in 0..threads {
            let (phones, pending) = (&phones, &pending);
            let (lag, sync_latency) = (&lag, &sync_latency);
            let (edits, accepted, failed, requests) = (&edits, &accepted, &failed, &requests);
            s.spawn(move || {
                let (mut lags, mut latencies) = (Vec::new(), Vec::new());
                for k in 0..seconds as usize {
                    for i in (worker..n).step_by(threads) {
                        let due = started
                            + Duration::from_millis(
                                (k as u64) * 1000 + (i as u64) * 1000 / n as u64,
                            );
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                        lags.push(millis(Instant::now().saturating_duration_since(due)));
                        let phone = &phones[i];
                        let job = &phone.jobs[k % JOBS_PER_PHONE];
                        let item = format!("item-{:02}", (k / JOBS_PER_PHONE) % 20);
                        let made = Instant::now();
                        phone
                            .store
                            .update_checklist_item(
                                job,
                                &item,
                                &ChecklistUpdate {
                                    done: Some((k / 400).is_multiple_of(2)),
                                    ..Default::default()
                                },
                            )
                            .expect("tick");
                        edits.fetch_add(1, Ordering::Relaxed);
                        pending
                            .lock()
                            .unwrap()
                            .entry(job.clone())
                            .or_default()
                            .push(made);
                        let sent = Instant::now();
                        match phone.transport.sync(&phone.store) {
                            Ok(report) => {
                                latencies.push(millis(sent.elapsed()));
                                requests
                                    .fetch_add(u64::from(report.round_trips), Ordering::Relaxed);
                                accepted.fetch_add(report.accepted_jobs as u64, Ordering::Relaxed);
                            }
                            Err(PhoneError::Offline(_) | PhoneError::Server { .. }) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => panic!("phone {i}: {e}"),
                        }
                    }
                }
                lag.lock().unwrap().extend(lags);
                sync_latency.lock().unwrap().extend(latencies);
            });
        }
    });
    let edit_seconds = started.elapsed().as_secs_f64();
    // The dispatcher may still be hearing the last edits.
    let drain = Instant::now();
    while !pending.lock().unwrap().is_empty() && drain.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let node_cpu_ms: Vec<f64> = servers
        .iter()
        .zip(cpu_before)
        .map(|(server, before)| server.cpu_ms() - before)
        .collect();
    let figures = Figures {
        server_cpu_ms: node_cpu_ms.iter().sum(),
        node_cpu_ms,
        database_cpu_ms: matches!(deployment, Deployment::Postgres { .. })
            .then(|| postgres_cpu_ms() - database_before),
        edits: edits.into_inner(),
        accepted: accepted.into_inner(),
        failed: failed.into_inner(),
        sync_requests: requests.into_inner(),
        nudges: nudges.load(Ordering::Relaxed),
        server_written: servers
            .iter()
            .map(ServerProcess::written_bytes)
            .sum::<u64>()
            - written_before,
        server_rss_peak: servers
            .iter()
            .map(|server| server.proc_field("status", "VmHWM") * 1024)
            .max()
            .unwrap_or(0),
        server_threads: servers
            .iter()
            .map(|server| server.proc_field("status", "Threads"))
            .sum(),
        edit_seconds,
        to_dispatcher: std::mem::take(&mut *heard.lock().unwrap()),
        unheard: pending.lock().unwrap().values().map(Vec::len).sum(),
        sync_latency: sync_latency.into_inner().unwrap(),
        job_reads: std::mem::take(&mut *job_reads.lock().unwrap()),
        lag: lag.into_inner().unwrap(),
    };
    stop.store(true, Ordering::Relaxed);
    for server in servers {
        server.stop();
    }
    dispatcher.join().expect("dispatcher");
    for listener in listeners {
        listener.join().expect("listener");
    }
    figures
}

/// Runs the automerge-repo harness's fleet probe on the same workload; an error says why it
/// gave no figures (at a few hundred phones it can fall over on this workload).
fn peer(harness: &Path, n: usize, seconds: u64) -> Result<PeerFigures, String> {
    let out = tempfile::tempdir().expect("tempdir");
    let output = Command::new("bash")
        .arg("run.sh")
        .current_dir(harness)
        .env("STUDIES", "")
        .env("PROBE_NS", n.to_string())
        .env("PROBE_SECONDS", seconds.to_string())
        .env("OUT", out.path())
        .output()
        .map_err(|e| format!("cannot run its harness: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(format!("its harness failed ({}): {last}", output.status));
    }
    let results: serde_json::Value = std::fs::read(out.path().join("results.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or("its harness wrote no readable results.json")?;
    let probe = &results["probe"][0];
    let f = |k: &str| probe[k].as_f64().unwrap_or(f64::NAN);
    Ok(PeerFigures {
        cpu_ms_per_edit: f("server_cpu_ms_per_edit"),
        p50: f("dispatcher_latency_p50_ms"),
        p90: f("dispatcher_latency_p90_ms"),
        p99: f("dispatcher_latency_p99_ms"),
        rss_mb: f("server_rss_mb_end"),
        edits: probe["edits_at_server"].as_u64().unwrap_or(0),
    })
}

/// The `q` quantile (0..=1) of `values`.
fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn print_table(n: usize, f: &Figures, peer: Option<&PeerFigures>) {
    println!();
    let accepted = f.accepted.max(1) as f64;
    let cpu = f.server_cpu_ms / accepted;
    let written = f.server_written as f64 / accepted;
    let heard = &f.to_dispatcher;
    println!("### {n} phones, {:.0} s of edits", f.edit_seconds);
    println!("| | Fieldsync | automerge-repo | Fieldsync ÷ peer |");
    println!("|---|---:|---:|---:|");
    let row = |what: &str, ours: f64, theirs: Option<f64>, unit: &str| {
        let (theirs, ratio) = match theirs {
            Some(t) if t.is_finite() => (format!("{t:.1} {unit}"), format!("{:.2}×", ours / t)),
            _ => ("—".to_owned(), String::new()),
        };
        println!("| {what} | {ours:.1} {unit} | {theirs} | {ratio} |");
    };
    row(
        "server CPU per accepted edit",
        cpu,
        peer.map(|p| p.cpu_ms_per_edit),
        "ms",
    );
    row(
        "server CPU, share of one core",
        f.server_cpu_ms / (f.edit_seconds * 10.0),
        None,
        "%",
    );
    for (label, q, theirs) in [
        ("edit → dispatcher hears it, p50", 0.5, peer.map(|p| p.p50)),
        ("edit → dispatcher, p90", 0.9, peer.map(|p| p.p90)),
        ("edit → dispatcher, p99", 0.99, peer.map(|p| p.p99)),
        ("edit → dispatcher, max", 1.0, None),
    ] {
        row(label, quantile(heard, q), theirs, "ms");
    }
    row(
        "server RSS peak (automerge-repo: at the end)",
        f.server_rss_peak as f64 / 1_048_576.0,
        peer.map(|p| p.rss_mb),
        "MB",
    );
    row(
        "server bytes written to disk per edit",
        written / 1024.0,
        None,
        "KB",
    );
    println!(
        "| edits made / accepted / failed | {} / {} / {} | {} at the server | |",
        f.edits,
        f.accepted,
        f.failed,
        peer.map_or("—".into(), |p| p.edits.to_string())
    );
    println!(
        "| sync requests per accepted edit (nudges included) | {:.2} | | |",
        (f.sync_requests + f.nudges) as f64 / accepted
    );
    println!("| edits the dispatcher never heard | {} | | |", f.unheard);
    println!(
        "| sync request p50 / p99 | {:.1} / {:.1} ms | | |",
        quantile(&f.sync_latency, 0.5),
        quantile(&f.sync_latency, 0.99)
    );
    println!(
        "| dispatcher's job read p50 ({} reads) | {:.1} ms | | |",
        f.job_reads.len(),
        quantile(&f.job_reads, 0.5)
    );
    println!("| server threads at the end | {} | | |", f.server_threads);
    println!(
        "| load generator's timer lag p50 / p99 / max | {:.1} / {:.1} / {:.1} ms | | |",
        quantile(&f.lag, 0.5),
        quantile(&f.lag, 0.99),
        quantile(&f.lag, 1.0)
    );
    println!();
}

/// The runs of one fleet size on PostgreSQL with different numbers of nodes, side by side.
fn print_nodes_table(n: usize, runs: &[(usize, Figures)]) {
    println!();
    println!("### {n} phones on PostgreSQL");
    let header: Vec<String> = runs.iter().map(|(k, _)| format!("{k} node(s)")).collect();
    println!("| | {} |", header.join(" | "));
    println!("|---|{}", "---:|".repeat(runs.len()));
    let row = |what: &str, cell: &dyn Fn(&Figures) -> String| {
        let cells: Vec<String> = runs.iter().map(|(_, f)| cell(f)).collect();
        println!("| {what} | {} |", cells.join(" | "));
    };
    let accepted = |f: &Figures| f.accepted.max(1) as f64;
    row("accepted edits per second", &|f| {
        format!("{:.0}", f.accepted as f64 / f.edit_seconds)
    });
    row("CPU per accepted edit, all nodes", &|f| {
        format!("{:.2} ms", f.server_cpu_ms / accepted(f))
    });
    row("CPU per accepted edit, PostgreSQL", &|f| {
        format!(
            "{:.2} ms",
            f.database_cpu_ms.unwrap_or(f64::NAN) / accepted(f)
        )
    });
    row("each node's share of one core", &|f| {
        let shares: Vec<String> = f
            .node_cpu_ms
            .iter()
            .map(|ms| format!("{:.0}%", ms / (f.edit_seconds * 10.0)))
            .collect();
        shares.join(" / ")
    });
    row("PostgreSQL's share of one core", &|f| {
        format!(
            "{:.0}%",
            f.database_cpu_ms.unwrap_or(f64::NAN) / (f.edit_seconds * 10.0)
        )
    });
    row("edit → dispatcher hears it, p50 / p99", &|f| {
        format!(
            "{:.1} / {:.1} ms",
            quantile(&f.to_dispatcher, 0.5),
            quantile(&f.to_dispatcher, 0.99)
        )
    });
    row("sync request p50 / p99", &|f| {
        format!(
            "{:.1} / {:.1} ms",
            quantile(&f.sync_latency, 0.5),
            quantile(&f.sync_latency, 0.99)
        )
    });
    row("edits made / accepted / failed / never heard", &|f| {
        format!(
            "{} / {} / {} / {}",
            f.edits, f.accepted, f.failed, f.unheard
        )
    });
    row("load generator's timer lag p50 / p99", &|f| {
        format!(
            "{:.1} / {:.1} ms",
            quantile(&f.lag, 0.5),
            quantile(&f.lag, 0.99)
        )
    });
    println!();
}
