//! Running the server in production: readiness that tells the truth (a read-only database, a
//! blob store that is gone) while liveness holds; metrics; request ids; a sign-in flood from
//! several addresses; a runaway device held to its limits.

use std::sync::Arc;
use std::time::Duration;

use fieldsync_server::state::limits::DeviceQuotas;
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

/// A sign-in sent from the local address `source` (any of 127.0.0.0/8), raw over TCP so the
/// server sees that address. Returns the status.
fn sign_in_from(source: &str, server: &str, user: &str, password: &str) -> u16 {
    sign_in_forwarded(source, None, server, user, password)
}

/// [`sign_in_from`], with an `X-Forwarded-For` header when given.
fn sign_in_forwarded(
    source: &str,
    forwarded_for: Option<&str>,
    server: &str,
    user: &str,
    password: &str,
) -> u16 {
    use std::io::{Read, Write};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // tokio's socket binds the source address before connecting; the bytes go over std's.
    let mut stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(format!("{source}:0").parse().expect("source"))
            .expect("bind");
        socket
            .connect(server.parse().expect("server"))
            .await
            .expect("connect")
            .into_std()
            .expect("std stream")
    });
    stream.set_nonblocking(false).expect("blocking");
    {
        let body = serde_json::json!({ "user": user, "password": password }).to_string();
        let forwarded = forwarded_for
            .map(|client| format!("X-Forwarded-For: {client}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "POST /v1/auth/login HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/json\r\n\
             {forwarded}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        answer
            .split(' ')
            .nth(1)
            .and_then(|status| status.parse().ok())
            .unwrap_or(0)
    }
}

/// CPU time this process has used (user + system), from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // The kernel's USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

#[test]
fn a_sign_in_flood_neither_locks_out_the_dispatcher_nor_burns_the_cpu() {
    let server = fieldsync_tests::TestServer::start();
    let addr = server.addr();
    let hashes_before = server.state().logins.hashes();
    let (cpu_before, started) = (cpu_time(), std::time::Instant::now());
    let flooders: Vec<_> = (2..=6)
        .map(|n| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                (0..40)
                    .map(|i| {
                        let user = if i % 2 == 0 { "dispatch" } else { "nobody" };
                        sign_in_from(&format!("127.0.0.{n}"), &addr, user, "wrong-password-1")
                    })
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    // The real dispatcher, at her own desk, gets in while the flood runs.
    std::thread::sleep(Duration::from_millis(200));
    let status = sign_in_from(
        "127.0.0.1",
        &addr,
        "dispatch",
        &fieldsync_tests::password_of("dispatch"),
    );
    assert_eq!(status, 200, "the dispatcher signs in during the flood");
    let answers: Vec<u16> = flooders
        .into_iter()
        .flat_map(|f| f.join().expect("flooder"))
        .collect();
    let limited = answers.iter().filter(|s| **s == 429).count();
    let hashed = server.state().logins.hashes() - hashes_before;
    let (cpu, wall) = (cpu_time() - cpu_before, started.elapsed());
    println!(
        "sign-in flood: {} attempts from 5 addresses, {limited} refused with 429, {hashed} \
         passwords hashed, {} ms CPU over {} ms",
        answers.len(),
        cpu.as_millis(),
        wall.as_millis()
    );
    assert!(
        answers.iter().all(|s| *s == 401 || *s == 429),
        "{answers:?}"
    );
    // Past each address's budget nothing more is hashed: the CPU a flood costs is bounded.
    let per_address = u64::from(
        fieldsync_server::domain::auth::LoginLimiter::ATTEMPTS_PER_ADDRESS_PER_MINUTE.get(),
    );
    assert!(hashed <= 5 * per_address + 1, "{hashed} hashes");
    assert!(limited >= answers.len() - 5 * per_address as usize);
    // And an admin can lift a lock-out at once (each call on a connection of its own: the
    // server may close one whose request body it did not read).
    let unlock = |user: &str| {
        server
            .office("admin")
            .post(&format!("/v1/users/{user}/unlock"), &serde_json::json!({}))
            .status
    };
    assert_eq!(unlock("dispatch"), 204);
    assert_eq!(unlock("nobody"), 404);
}

#[test]
fn a_runaway_device_is_held_to_its_sync_and_upload_limits() {
    let server = fieldsync_tests::TestServer::start_with_quotas(DeviceQuotas {
        syncs_per_minute: std::num::NonZeroU32::new(5).expect("5"),
        sync_burst: std::num::NonZeroU32::new(5).expect("5"),
        upload_bytes_per_second: Some(1 << 20),
    });
    let runaway = server.phone("anna");
    let mut refused = None;
    for _ in 0..10 {
        if let Err(e) = runaway.transport.sync(&runaway.store) {
            refused = Some(e);
            break;
        }
    }
    // The phone takes it like being offline: local work is safe, a later sync goes through.
    match refused {
        Some(fieldsync_client_core::Error::Offline(message)) => {
            assert!(message.contains("too many requests"), "{message}");
        }
        other => panic!("the runaway loop was not stopped: {other:?}"),
    }
    // Another device is not held back by it.
    let other = server.phone("ben");
    other.sync();

    // Uploads: a second's worth at once, then 1 MiB/s.
    let job = server.dispatcher().create_job("Ada");
    server.dispatcher().assign(&job, Some("ben"));
    other.sync();
    let photo = fieldsync_tests::pseudo_random_bytes(3, 3 << 20);
    other
        .store
        .attach_photo(&job, &photo, "image/jpeg", "valve")
        .expect("photo");
    let started = std::time::Instant::now();
    let report = other.transport.upload_media(&other.store).expect("upload");
    assert_eq!(report.uploaded, 1);
    // 3 MiB with 1 MiB at once and 1 MiB/s after: at least two seconds, however fast the machine.
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn behind_a_trusted_proxy_sign_in_limits_follow_the_forwarded_client() {
    let per_address =
        fieldsync_server::domain::auth::LoginLimiter::ATTEMPTS_PER_ADDRESS_PER_MINUTE.get();
    // Each guess names another account, so only the per-address budget counts.
    let guesses = std::sync::atomic::AtomicU32::new(0);
    let guess = |server: &fieldsync_tests::TestServer, source: &str, client: &str| {
        let n = guesses.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        sign_in_forwarded(
            source,
            Some(client),
            &server.addr(),
            &format!("nobody{n}"),
            "guess-guess-1",
        )
    };
    // Behind the proxy at 127.0.0.1: each forwarded client has its own budget.
    let proxied = fieldsync_tests::TestServer::start_behind_proxy("127.0.0.1".parse().expect("ip"));
    for _ in 0..per_address {
        assert_eq!(guess(&proxied, "127.0.0.1", "198.51.100.1"), 401);
    }
    assert_eq!(guess(&proxied, "127.0.0.1", "198.51.100.1"), 429);
    assert_eq!(
        guess(&proxied, "127.0.0.1", "198.51.100.2"),
        401,
        "another client is not held back"
    );
    // Not from the proxy: a forged header changes nothing, the connection's address counts.
    for n in 0..per_address {
        assert_eq!(guess(&proxied, "127.0.0.9", &format!("192.0.2.{n}")), 401);
    }
    assert_eq!(guess(&proxied, "127.0.0.9", "192.0.2.200"), 429);
}

#[test]
fn a_lost_phone_locks_then_wipes_what_the_server_holds_and_a_sync_restores_it() {
    use fieldsync_client_core::LeaseState;
    const DAY: i64 = 24 * 60 * 60 * 1000;
    let server = fieldsync_tests::TestServer::start();
    let phone = server.phone("anna");
    let kept = server.dispatcher().create_job("Ada");
    let sent = server.dispatcher().create_job("Grace");
    for job in [&kept, &sent] {
        server.dispatcher().assign(job, Some("anna"));
    }
    phone.sync();
    let now = fieldsync_protocol::now_millis();
    assert!(phone.store.enforce_lease(now).expect("lease").is_usable());
    // Offline: work captured on one job and never sent.
    phone.arrive(&kept);
    // The phone stays away: on its own clock it locks at 14 days, wipes at 30 (the defaults).
    let locked = phone.store.enforce_lease(now + 15 * DAY).expect("lease");
    assert!(matches!(locked, LeaseState::Locked { .. }), "{locked:?}");
    let wiped = phone.store.enforce_lease(now + 31 * DAY).expect("lease");
    assert!(matches!(wiped, LeaseState::Wiped { .. }), "{wiped:?}");
    assert!(
        phone.store.job(&sent).is_err(),
        "what the server holds is gone"
    );
    assert!(phone.store.job(&kept).is_ok(), "unsent work stays");
    // The phone comes back: its work goes up, its jobs come down again, the lease starts over.
    phone.sync();
    assert!(phone.store.job(&sent).is_ok(), "the job came back");
    let job = server.dispatcher().job(&kept);
    assert_eq!(job["summary"]["status"], "on_site", "{job}");
    assert!(
        phone
            .store
            .enforce_lease(fieldsync_protocol::now_millis())
            .expect("lease")
            .is_usable()
    );
}

#[test]
fn the_fleet_view_shows_what_phones_report_most_trouble_first() {
    use fieldsync_server::storage::fleet::{StoredReport, SyncEntry};
    let mut server = fieldsync_tests::TestServer::start();
    let phone = server.phone("anna");
    let job = server.dispatcher().create_job("Ada");
    server.dispatcher().assign(&job, Some("anna"));
    phone.sync();
    // Work done in a basement; the first sync attempt fails and is logged on the phone.
    phone.arrive(&job);
    server.stop();
    assert!(phone.transport.sync(&phone.store).is_err());
    server.restart_with(|_| {});
    phone.sync();

    let device = phone.store.identity().device_id.clone();
    let detail = server
        .dispatcher()
        .get(&format!("/v1/devices/{device}"))
        .body;
    let report = &detail["report"]["report"];
    assert_eq!(
        report["library_version"],
        env!("CARGO_PKG_VERSION"),
        "{detail}"
    );
    // En route and on site, both waiting when the report was made.
    assert_eq!(
        report["outbox_depth"], 2,
        "the arrival was waiting: {detail}"
    );
    assert!(
        detail["report"]["clock_skew_ms"]
            .as_i64()
            .is_some_and(|s| s.abs() < 60_000)
    );
    assert!(
        detail["syncs"].as_array().is_some_and(|s| s.len() >= 2),
        "{detail}"
    );
    let log = detail["log"].as_array().expect("log");
    assert!(
        log.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.contains("sync failed"))),
        "the phone's own error reached the office: {detail}"
    );
    assert_eq!(
        phone.store.outbox_status().expect("outbox").depth,
        0,
        "the arrival went up"
    );

    // A second phone whose outbox has been stuck for hours comes first.
    let stuck = server.phone("ben");
    let stuck_id = stuck.store.identity().device_id.clone();
    let now = fieldsync_protocol::now_millis();
    let report = StoredReport {
        report: fieldsync_protocol::wire::DeviceReport {
            device_time: now,
            outbox_depth: 12,
            oldest_outbox_at: Some(now - 3 * 3_600_000),
            ..Default::default()
        },
        received_at: now,
        clock_skew_ms: 0,
    };
    let entry = SyncEntry {
        at: now,
        pushed: 0,
        outbox_depth: Some(12),
    };
    fieldsync_server::storage::write(server.storage().as_ref(), |tx| {
        tx.record_sync(&stuck_id, &entry, Some(&report))
    })
    .expect("report");
    let fleet = server.dispatcher().get("/v1/devices").body;
    let fleet = fleet.as_array().expect("devices");
    assert_eq!(fleet[0]["device_id"], stuck_id.as_str(), "{fleet:?}");
    assert_eq!(fleet[0]["troubles"][0], "stuck_outbox");
    assert!(fleet.iter().any(|d| d["device_id"] == device.as_str()));
}
