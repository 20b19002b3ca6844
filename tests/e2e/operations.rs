//! Running the server in production: readiness that tells the truth (a read-only database, a
//! blob store that is gone) while liveness holds.

use std::sync::Arc;

use fieldsync_server::storage::blobs::FsBlobStore;
use fieldsync_server::storage::sqlite::SqliteStorage;
use fieldsync_server::{AppState, BackgroundServer};
use serde_json::Value;

/// Status and JSON body of a GET.
fn get(url: &str) -> (u16, Value) {
    let mut response = fieldsync_tests::agent().get(url).call().expect("answer");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().expect("body");
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

#[test]
fn readiness_fails_on_a_read_only_database_while_liveness_holds() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("server.sqlite3");
    drop(SqliteStorage::open(&path).expect("create"));
    let storage = SqliteStorage::open_read_only(&path).expect("read only");
    let blobs = FsBlobStore::open(dir.path().join("blobs")).expect("blobs");
    let server = BackgroundServer::start_with(
        AppState::new(Arc::new(storage), Arc::new(blobs)),
        "127.0.0.1:0",
    )
    .expect("start");
    let (status, body) = get(&format!("{}/readyz", server.url()));
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ready"], false);
    assert!(
        body["database"]
            .as_str()
            .is_some_and(|d| d.contains("refuses writes")),
        "{body}"
    );
    assert_eq!(body["blobs"], "ok");
    let (status, body) = get(&format!("{}/healthz", server.url()));
    assert_eq!((status, body), (200, Value::String("ok".into())));
}

#[test]
fn readiness_follows_the_blob_store() {
    let server = fieldsync_tests::TestServer::start();
    let readyz = format!("{}/readyz", server.url());
    let (status, body) = get(&readyz);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ready"], true);
    // The blob volume goes away (unmounted, replaced): readiness fails, liveness holds.
    let blobs = server.blob_dir();
    let kept = server.dir.path().join("blobs-kept");
    std::fs::rename(&blobs, &kept).expect("move");
    std::fs::write(&blobs, b"not a directory").expect("file");
    let (status, body) = get(&readyz);
    assert_eq!(status, 503, "{body}");
    assert!(
        body["blobs"]
            .as_str()
            .is_some_and(|b| b.contains("refuses writes")),
        "{body}"
    );
    assert_eq!(body["database"], "ok");
    assert_eq!(get(&format!("{}/healthz", server.url())).0, 200);
    // It comes back: ready again.
    std::fs::remove_file(&blobs).expect("remove");
    std::fs::rename(&kept, &blobs).expect("restore");
    assert_eq!(get(&readyz).0, 200);
}

/// One sample's value from a scrape.
fn sample(text: &str, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| label.is_none_or(|(key, value)| s.labels.get(key) == Some(value)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .reduce(|a, b| a + b)
}

#[test]
fn metrics_are_prometheus_text_for_admins_and_allowed_scrapers_only() {
    let server = fieldsync_tests::TestServer::start();
    assert_eq!(server.anonymous().status_of("/metrics"), 401);
    assert_eq!(server.dispatcher().status_of("/metrics"), 403);
    let scrape = || {
        let (status, bytes) = server.office("admin").get_bytes("/metrics");
        assert_eq!(status, 200);
        String::from_utf8(bytes).expect("text")
    };
    let phone = server.phone("anna");
    let job = server.dispatcher().create_job("Ada");
    server.dispatcher().assign(&job, Some("anna"));
    phone.sync();
    let before = scrape();
    let rounds = sample(&before, "fieldsync_sync_rounds_total", None).expect("sync rounds");
    assert!(rounds >= 1.0, "{before}");
    assert!(sample(&before, "fieldsync_database_bytes", None).is_some_and(|b| b > 0.0));
    assert!(sample(&before, "fieldsync_sync_round_seconds_count", None).is_some());
    assert!(
        sample(&before, "fieldsync_sign_ins_total", Some(("outcome", "ok"))).is_some(),
        "{before}"
    );
    phone.arrive(&job);
    phone.sync();
    let after = scrape();
    let later = sample(&after, "fieldsync_sync_rounds_total", None).expect("sync rounds");
    assert!(later > rounds, "{rounds} → {later}");
    let accepted = sample(
        &after,
        "fieldsync_pushed_jobs_total",
        Some(("outcome", "accepted")),
    );
    assert!(accepted.is_some_and(|n| n >= 1.0), "{after}");

    // A scraper at an allowed address needs no credential.
    let dir = tempfile::tempdir().expect("dir");
    let storage = SqliteStorage::open(dir.path().join("s.sqlite3")).expect("open");
    let blobs = FsBlobStore::open(dir.path().join("blobs")).expect("blobs");
    let state = AppState {
        metrics_from: vec!["127.0.0.1".parse().expect("ip")].into(),
        ..AppState::new(Arc::new(storage), Arc::new(blobs))
    };
    let scraped = BackgroundServer::start_with(state, "127.0.0.1:0").expect("start");
    let (status, _) = get(&format!("{}/metrics", scraped.url()));
    assert_eq!(status, 200);
}

#[test]
fn every_answer_names_its_request_and_errors_carry_the_id() {
    let server = fieldsync_tests::TestServer::start();
    let call = |id: Option<&str>| {
        let mut request = fieldsync_tests::agent().get(format!("{}/v1/jobs", server.url()));
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        let mut response = request.call().expect("answer");
        let header = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body: Value =
            serde_json::from_str(&response.body_mut().read_to_string().expect("body"))
                .expect("json");
        (response.status().as_u16(), header, body)
    };
    // The caller's id is kept, in the header and the error body.
    let (status, header, body) = call(Some("support-case-42"));
    assert_eq!(status, 401);
    assert_eq!(header, "support-case-42");
    assert_eq!(body["request_id"], "support-case-42");
    // An unusable one is replaced by the server's own.
    let (_, header, body) = call(Some("<script>"));
    assert_eq!(header.len(), 32, "{header}");
    assert_eq!(body["request_id"], header.as_str());
    let (_, first, _) = call(None);
    let (_, second, _) = call(None);
    assert_ne!(first, second);
}
