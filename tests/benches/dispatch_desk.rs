//! The dispatch desk's reads under a realistic history: the demo organisation's work over one
//! month and over a year (about 250 and 3,000 jobs), served over HTTP on loopback. Reported:
//! median latency of the KPI report (by week, unfiltered and filtered), the queues, the day
//! board, ranked suggestions, and one escalation tick over every open job. Medians of 25 calls.
//!
//! Run with `cargo bench -p fieldsync-tests --bench dispatch_desk` (add `-- --quick` for the
//! month only). With `FIELDSYNC_TEST_DATABASE_URL` set (`bash scripts/with-services.sh cargo
//! bench …` starts a cluster and sets it) every row is measured on SQLite and on PostgreSQL,
//! side by side.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed expectation is a failed test

use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldsync_client_core::protocol::now_millis;
use fieldsync_server::BackgroundServer;
use fieldsync_server::domain::sla::SlaPolicy;
use fieldsync_server::domain::{Language, auth, demo, escalation};
use fieldsync_server::storage::Storage;
use fieldsync_server::storage::postgres::PostgresStorage;
use fieldsync_server::storage::sqlite::SqliteStorage;
use fieldsync_tests::{PostgresSchema, TEST_DATABASE};
use serde_json::Value;

const CALLS: usize = 25;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn timed(mut f: impl FnMut()) -> Duration {
    f();
    median(
        (0..CALLS)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let spans: &[i64] = if quick { &[30] } else { &[30, 365] };
    println!("dispatch desk reads, medians of {CALLS} calls");
    let backends: &[&str] = if std::env::var_os(TEST_DATABASE).is_some() {
        &["SQLite", "PostgreSQL"]
    } else {
        &["SQLite"]
    };
    println!(
        "| days of history | jobs | storage | KPIs by week | KPIs, one region and kind | queues | day board | suggestions | escalation tick |"
    );
    println!("|---:|---:|---|---:|---:|---:|---:|---:|---:|");
    for (&days, &backend) in spans
        .iter()
        .flat_map(|days| backends.iter().map(move |backend| (days, backend)))
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let schema;
        let storage: Arc<dyn Storage> = if backend == "PostgreSQL" {
            schema = PostgresSchema::create();
            Arc::new(PostgresStorage::connect(&schema.url()).expect("db"))
        } else {
            Arc::new(SqliteStorage::open(dir.path().join("desk.sqlite3")).expect("db"))
        };
        auth::ensure_admin(storage.as_ref(), Some("bench-admin-password")).expect("admin");
        let now = now_millis();
        let jobs = demo::seed_days(
            storage.as_ref(),
            &SlaPolicy::default(),
            now,
            days,
            Language::English,
        )
        .expect("seed");
        let server =
            BackgroundServer::start(storage.clone(), &dir.path().join("blobs"), "127.0.0.1:0")
                .expect("server");
        let url = server.url();
        let agent = fieldsync_tests::agent();
        let token = format!(
            "Bearer {}",
            fieldsync_tests::sign_in(&url, demo::DISPATCHER, demo::DISPATCHER_PASSWORD)
        );
        let get = |path: &str| {
            let mut response = agent
                .get(format!("{url}{path}"))
                .header("Authorization", &token)
                .call()
                .expect("get");
            assert_eq!(response.status(), 200, "{path}");
            response.body_mut().read_to_string().expect("body");
        };
        let job: Value = {
            let mut response = agent
                .get(format!("{url}/v1/queues"))
                .header("Authorization", &token)
                .call()
                .expect("queues");
            serde_json::from_str(&response.body_mut().read_to_string().expect("body"))
                .expect("json")
        };
        let some_job = job["unassigned"][0]["job"]["id"]
            .as_str()
            .expect("an unassigned job")
            .to_owned();
        let from = fieldsync_server::domain::planning::day_label(now - days * 86_400_000);
        let kpis = timed(|| get(&format!("/v1/kpis?period=week&from={from}")));
        let filtered = timed(|| {
            get(&format!(
                "/v1/kpis?period=week&from={from}&region=north&kind=repair"
            ))
        });
        let queues = timed(|| get("/v1/queues"));
        let board = timed(|| get("/v1/board"));
        let suggestions = timed(|| get(&format!("/v1/jobs/{some_job}/suggestions")));
        let policy = SlaPolicy::default();
        let tick = timed(|| {
            escalation::tick(storage.as_ref(), &policy, now, escalation::Look::Everything)
                .expect("tick");
        });
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
        println!(
            "| {days} | {jobs} | {backend} | {} | {} | {} | {} | {} | {} |",
            ms(kpis),
            ms(filtered),
            ms(queues),
            ms(board),
            ms(suggestions),
            ms(tick)
        );
    }
}
