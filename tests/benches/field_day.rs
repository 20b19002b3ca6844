//! The field-day reconnect benchmark (the workload of the baselines we measure against).
//!
//! The phone holds N jobs (30 fields, a 20-item checklist, 3 notes each). While it is offline it
//! changes 20 jobs (8 changes each) and dispatch changes 20 others (1 change each); then the app
//! restarts and reconnects. Reported: round trips, bytes on the wire against the raw Automerge
//! change bytes, time until both sides hold the same heads, jobs that exchanged any message, and
//! the first download of all jobs to an empty phone. Medians of 3 runs.
//!
//! Run with `cargo bench -p fieldsync-tests --bench field_day` (add `-- --quick` for one run
//! of 200 jobs). With `FIELDSYNC_TEST_DATABASE_URL` set (`bash scripts/with-services.sh cargo
//! bench …`) every size runs on SQLite and on PostgreSQL, side by side.
//!
//! To profile the reconnect alone, start `perf record -D -1 --control=fifo:CTL,ACK …` on the
//! bench with `FIELD_DAY_PERF_CONTROL=CTL,ACK` (two FIFOs made with `mkfifo`): the bench
//! switches the recording on just before each reconnect and off just after it (and waits for
//! perf at each, so set the variable only while perf is recording).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed expectation is a failed test

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use fieldsync_client_core::protocol::job::{
    Appointment, ChecklistUpdate, Customer, JobKind, NewJob, Problem, Product, Site, SlaDeadlines,
    Tier,
};
use fieldsync_client_core::protocol::rules::Status;
use fieldsync_client_core::protocol::wire::{self, SyncRequest, SyncResponse};
use fieldsync_client_core::transport::HttpTransport;
use fieldsync_client_core::{Store, SyncSession};
use fieldsync_server::domain::dispatch::Dispatch;
use fieldsync_server::storage::{EventKind, read};
use fieldsync_tests::{TEST_DATABASE, TestServer};

/// When the benchmark's jobs are opened: now, so their SLA clocks are running, not overdue (the
/// escalation ladder would otherwise climb every job during the run).
static T0: std::sync::LazyLock<i64> =
    std::sync::LazyLock::new(fieldsync_client_core::protocol::now_millis);

const CHANGED_ON_PHONE: usize = 20;
const CHANGED_BY_DISPATCH: usize = 20;

struct Run {
    first_download: Duration,
    /// Of the first download: the server handling its sync rounds.
    first_download_in_server: Duration,
    first_download_bytes: u64,
    reconnect: Duration,
    /// Of the reconnect: the phone preparing requests and applying answers.
    on_phone: Duration,
    /// Of the reconnect: the server handling its sync rounds.
    in_server: Duration,
    round_trips: u64,
    wire_bytes: u64,
    raw_change_bytes: u64,
    jobs_exchanged: usize,
}

fn new_job(i: usize) -> NewJob {
    NewJob {
        kind: JobKind::Repair,
        customer: Customer {
            id: format!("cust-{i}"),
            name: format!("Customer {i}"),
            tier: if i.is_multiple_of(5) {
                Tier::Vip
            } else {
                Tier::Standard
            },
            phone: "+1 555 0100".into(),
            email: format!("c{i}@example.com"),
        },
        site: Site {
            address: format!("{i} Long Street, Springfield"),
            region: "north".into(),
            ..Site::default()
        },
        product: Product {
            model: "HP-300".into(),
            serial: format!("SN{i:08}"),
            install_date: Some(1_600_000_000_000),
            purchase_ref: format!("PO-{i}"),
            warranty_end: Some(1_900_000_000_000),
        },
        problem: Problem {
            category: "no heat".into(),
            description: "The heat pump stops after a few minutes and shows error E42.".into(),
        },
        sla: SlaDeadlines::default(),
        checklist: (0..20)
            .map(|k| (format!("item-{k:02}"), format!("Checklist step number {k}")))
            .collect(),
        ..NewJob::default()
    }
}

fn run(jobs: usize, backend: &str) -> Run {
    let server = if backend == "PostgreSQL" {
        TestServer::start_on_postgres()
    } else {
        TestServer::start()
    };
    let storage = server.storage();
    let dispatch = Dispatch::new(storage.as_ref(), "dispatch");
    let mut ids = Vec::with_capacity(jobs);
    for i in 0..jobs {
        let (summary, _) = dispatch.create(new_job(i), *T0).expect("create");
        dispatch
            .set_appointment(
                &summary.id,
                // One visit after another: dispatch does not book an engineer twice at once.
                Appointment {
                    start: *T0 + i as i64 * 400_000,
                    end: *T0 + i as i64 * 400_000 + 360_000,
                },
                None,
                *T0,
            )
            .expect("appointment");
        dispatch
            .assign(&summary.id, Some("anna"), None, None, *T0)
            .expect("assign");
        ids.push(summary.id);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("phone.sqlite3");

    // First download to an empty phone. The three notes are the installer's, written once the
    // jobs are on the phone, and synced before the field day starts.
    let store = Store::open(&path, "anna").expect("store");
    let credential = server.enroll(&store);
    let transport = HttpTransport::new(&server.url())
        .expect("transport")
        .with_credential(&credential);
    let server_before = server_round_seconds(&server);
    let started = Instant::now();
    transport.sync(&store).expect("first sync");
    let first_download = started.elapsed();
    let first_download_in_server =
        Duration::from_secs_f64(server_round_seconds(&server) - server_before);
    let first_download_bytes = transport.stats().bytes_received;
    for id in &ids {
        for n in 0..3 {
            store
                .append_note(
                    id,
                    &format!("Note {n}: customer prefers a call before arrival."),
                )
                .expect("note");
        }
    }
    transport.sync(&store).expect("notes sync");
    let cursor_before = read(storage.as_ref(), |tx| tx.max_seq()).expect("seq");

    // Offline: 20 jobs × 8 changes on the phone, 20 other jobs × 1 change by dispatch.
    for id in &ids[..CHANGED_ON_PHONE] {
        store
            .move_status(id, Status::EnRoute, None)
            .expect("en route");
        store
            .move_status(id, Status::OnSite, None)
            .expect("on site");
        for k in 0..4 {
            store
                .update_checklist_item(
                    id,
                    &format!("item-{k:02}"),
                    &ChecklistUpdate {
                        done: Some(true),
                        ..Default::default()
                    },
                )
                .expect("tick");
        }
        store.append_note(id, "Replaced the filter.").expect("note");
        store.add_part(id, "FLT-9", 1, true).expect("part");
    }
    for (n, id) in (0..).zip(&ids[CHANGED_ON_PHONE..CHANGED_ON_PHONE + CHANGED_BY_DISPATCH]) {
        dispatch
            .set_appointment(
                id,
                Appointment {
                    start: *T0 + 1_000_000_000 + n * 400_000,
                    end: *T0 + 1_000_360_000 + n * 400_000,
                },
                None,
                *T0 + 100_000,
            )
            .expect("move");
    }
    let phone_raw = fieldsync_tests::outbox_bytes(&path);
    let dispatch_raw: u64 = read(storage.as_ref(), |tx| {
        let events = tx.events_for_user("anna", cursor_before, usize::MAX >> 1)?;
        Ok::<_, fieldsync_server::storage::StorageError>(
            events
                .iter()
                .filter(|e| e.kind == EventKind::Change)
                .filter_map(|e| e.change.as_ref())
                .map(|c| c.len() as u64)
                .sum(),
        )
    })
    .expect("dispatch changes");

    // The app restarts and reconnects.
    drop(store);
    let store = Store::open(&path, "anna").expect("reopen");
    let transport = HttpTransport::new(&server.url())
        .expect("transport")
        .with_credential(&credential);
    let server_before = server_round_seconds(&server);
    perf_control("enable");
    let started = Instant::now();
    // Where the time goes: the phone's own work (preparing each request, applying each answer)
    // and the server's rounds (from its metrics); the rest is HTTP on loopback.
    let mut on_phone = Duration::ZERO;
    let mut session = SyncSession::new(&store);
    let mut rounds = Vec::new();
    loop {
        let phone_started = Instant::now();
        let Some(request) = session.next_request().expect("request") else {
            on_phone += phone_started.elapsed();
            break;
        };
        on_phone += phone_started.elapsed();
        let response = transport.exchange(&request).expect("exchange");
        let phone_started = Instant::now();
        session.receive(&response).expect("receive");
        on_phone += phone_started.elapsed();
        rounds.push((request, response));
    }
    let reconnect = started.elapsed();
    perf_control("disable");
    let in_server = Duration::from_secs_f64(server_round_seconds(&server) - server_before);
    // What was exchanged, read once the clock has stopped.
    let mut exchanged = BTreeSet::new();
    for (request, response) in &rounds {
        let request: SyncRequest = wire::decode(request).expect("request");
        exchanged.extend(request.push.iter().map(|p| p.job.clone()));
        let response: SyncResponse = wire::decode(response).expect("response");
        exchanged.extend(response.changes.iter().map(|c| c.job.clone()));
        exchanged.extend(response.documents.iter().map(|d| d.job.clone()));
    }
    for id in &ids[..CHANGED_ON_PHONE + CHANGED_BY_DISPATCH] {
        let mut phone: Vec<String> = store
            .heads(id)
            .expect("heads")
            .iter()
            .map(ToString::to_string)
            .collect();
        phone.sort();
        let mut server_heads = dispatch.get(id, 0).expect("job").heads;
        server_heads.sort();
        assert_eq!(phone, server_heads, "job {id} did not converge");
    }
    let stats = transport.stats();
    Run {
        first_download,
        first_download_in_server,
        first_download_bytes,
        reconnect,
        on_phone,
        in_server,
        round_trips: stats.round_trips,
        wire_bytes: stats.bytes_sent + stats.bytes_received,
        raw_change_bytes: phone_raw + dispatch_raw,
        jobs_exchanged: exchanged.len(),
    }
}

/// Sends `command` to a `perf record --control` FIFO named by `FIELD_DAY_PERF_CONTROL`
/// (`CTL,ACK`), and waits for perf to acknowledge it; nothing without the variable.
fn perf_control(command: &str) {
    use std::io::{Read, Write};
    let Ok(fifos) = std::env::var("FIELD_DAY_PERF_CONTROL") else {
        return;
    };
    let (control, ack) = fifos
        .split_once(',')
        .expect("FIELD_DAY_PERF_CONTROL is CTL,ACK: two FIFOs");
    std::fs::OpenOptions::new()
        .write(true)
        .open(control)
        .and_then(|mut fifo| fifo.write_all(format!("{command}\n").as_bytes()))
        .expect("perf's control FIFO");
    let mut answer = [0u8; 5];
    let _ = std::fs::File::open(ack)
        .and_then(|mut fifo| fifo.read(&mut answer))
        .expect("perf's acknowledgement FIFO");
}

/// The server's total time in sync rounds so far, from its metrics.
fn server_round_seconds(server: &TestServer) -> f64 {
    let (status, text) = server.office("admin").get_bytes("/metrics");
    assert_eq!(status, 200, "metrics");
    String::from_utf8_lossy(&text)
        .lines()
        .find_map(|line| line.strip_prefix("fieldsync_sync_round_seconds_sum "))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

fn median<T: Copy + Ord>(mut values: Vec<T>) -> T {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes: &[usize] = if quick { &[200] } else { &[200, 1_000] };
    let repeats = if quick { 1 } else { 3 };
    println!("field-day reconnect, medians of {repeats} run(s)");
    let backends: &[&str] = if std::env::var_os(TEST_DATABASE).is_some() {
        &["SQLite", "PostgreSQL"]
    } else {
        &["SQLite"]
    };
    println!(
        "| jobs | storage | round trips | wire bytes | raw change bytes | wire / raw | reconnect | jobs exchanged | first download | first download bytes |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut splits = Vec::new();
    for (&jobs, &backend) in sizes
        .iter()
        .flat_map(|jobs| backends.iter().map(move |backend| (jobs, backend)))
    {
        let runs: Vec<Run> = (0..repeats).map(|_| run(jobs, backend)).collect();
        let wire = median(runs.iter().map(|r| r.wire_bytes).collect());
        let raw = median(runs.iter().map(|r| r.raw_change_bytes).collect());
        println!(
            "| {jobs} | {backend} | {} | {wire} | {raw} | {:.2}× | {:.1} ms | {} of {jobs} | {:.0} ms | {} |",
            median(runs.iter().map(|r| r.round_trips).collect()),
            wire as f64 / raw as f64,
            median(runs.iter().map(|r| r.reconnect).collect()).as_secs_f64() * 1e3,
            median(runs.iter().map(|r| r.jobs_exchanged).collect()),
            median(runs.iter().map(|r| r.first_download).collect()).as_secs_f64() * 1e3,
            median(runs.iter().map(|r| r.first_download_bytes).collect()),
        );
        let ms = |f: fn(&Run) -> Duration| median(runs.iter().map(f).collect()).as_secs_f64() * 1e3;
        let (total, phone, server) = (ms(|r| r.reconnect), ms(|r| r.on_phone), ms(|r| r.in_server));
        splits.push(format!(
            "| {jobs} | {backend} | reconnect | {total:.1} ms | {phone:.1} ms | {server:.1} ms | {:.1} ms |",
            total - phone - server
        ));
        let (total, server) = (ms(|r| r.first_download), ms(|r| r.first_download_in_server));
        splits.push(format!(
            "| {jobs} | {backend} | first download | {total:.1} ms | {:.1} ms, with HTTP | {server:.1} ms | |",
            total - server
        ));
    }
    println!();
    println!("where the time goes (medians)");
    println!(
        "| jobs | storage | phase | total | on the phone | in the server's rounds | HTTP on loopback and the rest |"
    );
    println!("|---:|---|---|---:|---:|---:|---:|");
    for line in splits {
        println!("{line}");
    }
}
