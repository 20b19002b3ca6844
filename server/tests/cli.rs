//! The `fieldsync` command as a user types it: every `--help`, unknown options refused, every
//! documented `serve` option taking effect, and a graceful stop on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed expectation is a failed test

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FIELDSYNC: &str = env!("CARGO_BIN_EXE_fieldsync");

fn run(args: &[&str]) -> std::process::Output {
    Command::new(FIELDSYNC)
        .args(args)
        .output()
        .expect("run fieldsync")
}

#[test]
fn every_help_is_generated_and_names_the_documented_options() {
    for (args, expected) in [
        (
            &["--help"][..],
            &["serve", "enroll-code", "migrate", "--log-format"][..],
        ),
        (
            &["serve", "--help"],
            &[
                "--db",
                "--database",
                "--blobs",
                "--addr",
                "--sla",
                "--demo",
                "--tls-cert",
                "--tls-key",
                "--metrics-from",
                "--trusted-proxy",
                "--log-format",
                "--lease-lock-days",
                "--lease-wipe-days",
                "--keep-closed-days",
                "--time-zone",
                "--demo-locale",
                "--language",
                "--phone-region",
                "--public-url",
                "--smtp",
                "--mail-from",
                "--webhook",
                "--webhook-secret-file",
                "--notify-log",
                "--travel-kmh",
                "--map-tiles",
            ],
        ),
        (
            &["enroll-code", "--help"],
            &["--db", "--database", "--user"],
        ),
        (&["migrate", "--help"], &["--from", "--to"]),
    ] {
        let out = run(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        for option in expected {
            assert!(text.contains(option), "{args:?} lacks {option}:\n{text}");
        }
    }
}

#[test]
fn unknown_options_and_missing_values_are_refused_by_name() {
    let out = run(&["serve", "--blob", "x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--blob"));
    let out = run(&["serve", "--tls-cert", "server.crt"]);
    assert!(!out.status.success(), "a certificate without its key");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
    let out = run(&[
        "serve",
        "--lease-lock-days",
        "20",
        "--lease-wipe-days",
        "10",
    ]);
    assert!(!out.status.success(), "a wipe before the lock");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--lease-wipe-days"));
    let out = run(&["serve", "--keep-closed-days", "0"]);
    assert!(
        !out.status.success(),
        "closed jobs must stay at least a day"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--keep-closed-days"));
    let out = run(&["serve", "--time-zone", "Mars/Olympus"]);
    assert!(!out.status.success(), "an unknown time zone");
    assert!(String::from_utf8_lossy(&out.stderr).contains("`Mars/Olympus`"));
    let out = run(&["serve", "--demo", "--demo-locale", "fr"]);
    assert!(!out.status.success(), "a demo in a language it lacks");
    assert!(String::from_utf8_lossy(&out.stderr).contains("`fr`"));
    let out = run(&["serve", "--phone-region", "Narnia"]);
    assert!(!out.status.success(), "a country that does not exist");
    assert!(String::from_utf8_lossy(&out.stderr).contains("`Narnia`"));
    let out = run(&["serve", "--language", "fr"]);
    assert!(!out.status.success(), "a language the server lacks");
    assert!(String::from_utf8_lossy(&out.stderr).contains("`fr`"));
    let out = run(&["serve", "--demo-locale", "zh-CN"]);
    assert!(!out.status.success(), "a demo language without the demo");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--demo"));
    let out = run(&["serve", "--smtp", "smtp://localhost:25"]);
    assert!(!out.status.success(), "e-mail without a sender");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--mail-from"));
    let out = run(&["serve", "--webhook", "https://gateway.example.com/hook"]);
    assert!(!out.status.success(), "a webhook without its secret");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--webhook-secret-file"));
    for speed in ["0", "fast", "250"] {
        let out = run(&["serve", "--travel-kmh", speed]);
        assert!(!out.status.success(), "a travel speed of {speed}");
        let error = String::from_utf8_lossy(&out.stderr);
        assert!(error.contains("--travel-kmh"), "{error}");
    }
    for tiles in [
        "https://tiles.example.com/map.png",
        "ftp://tiles.example.com/{z}/{x}/{y}.png",
    ] {
        let out = run(&["serve", "--map-tiles", tiles]);
        assert!(!out.status.success(), "map tiles at {tiles}");
        let error = String::from_utf8_lossy(&out.stderr);
        assert!(
            error.contains("--map-tiles") && error.contains(tiles),
            "{error}"
        );
    }
    let out = run(&["enroll-code"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--user"));
}

#[test]
fn a_bad_sla_file_stops_the_start_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sla = dir.path().join("sla.json");
    std::fs::write(&sla, r#"{"rules": "nope"}"#).expect("write");
    let db = dir.path().join("f.sqlite3");
    let out = run(&[
        "serve",
        "--db",
        db.to_str().expect("path"),
        "--sla",
        sla.to_str().expect("path"),
    ]);
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
}

/// Notification settings that cannot work stop the start, each named, before anything is
/// stored.
#[test]
fn bad_notification_settings_stop_the_start_and_say_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("f.sqlite3");
    let db = db.to_str().expect("path");
    let serve = |extra: &[&str]| {
        let mut args = vec!["serve", "--db", db, "--addr", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        run(&args)
    };
    let missing = dir.path().join("no-such-secret");
    for (extra, needle) in [
        (
            &["--public-url", "service.example.com"][..],
            "--public-url `service.example.com`",
        ),
        (
            &[
                "--public-url",
                "https://service.example.com",
                "--webhook",
                "https://gateway.example.com/hook",
                "--webhook-secret-file",
                missing.to_str().expect("path"),
            ][..],
            "cannot read the webhook secret",
        ),
        (
            &[
                "--public-url",
                "https://service.example.com",
                "--smtp",
                "smtp://localhost:25",
                "--mail-from",
                "nobody",
            ][..],
            "--mail-from `nobody`",
        ),
        (
            &[
                "--smtp",
                "smtp://localhost:25",
                "--mail-from",
                "Service <s@example.com>",
            ][..],
            "give --public-url",
        ),
    ] {
        let out = serve(extra);
        let error = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && error.contains(needle),
            "{extra:?}: {error}"
        );
        assert!(
            !std::path::Path::new(db).exists(),
            "{extra:?}: refused before the database is made"
        );
    }
}

/// `serve` with every documented option: the demo is seeded (in Chinese, in the zone asked
/// for), blobs go where `--blobs` says,
/// the SLA file is read, the address is the one asked for; SIGTERM ends it cleanly.
#[test]
fn serve_takes_every_documented_option_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("f.sqlite3");
    let blobs = dir.path().join("media");
    let sla = dir.path().join("sla.json");
    // The defaults, as a file (every tier and kind once).
    let policy = serde_json::to_string(&fieldsync_server::domain::sla::SlaPolicy::default())
        .expect("policy");
    std::fs::write(&sla, policy).expect("write");
    let secret = dir.path().join("webhook-secret");
    std::fs::write(&secret, "a-secret-of-32-characters-------\n").expect("write");
    let mut child = Command::new(FIELDSYNC)
        .args([
            "--log-format",
            "json",
            "serve",
            "--db",
            db.to_str().expect("path"),
            "--blobs",
            blobs.to_str().expect("path"),
            "--addr",
            "127.0.0.1:0",
            "--sla",
            sla.to_str().expect("path"),
            "--demo",
            "--demo-locale",
            "zh-CN",
            "--time-zone",
            "Asia/Shanghai",
            "--language",
            "zh-CN",
            "--metrics-from",
            "127.0.0.1",
            "--public-url",
            "https://service.example.com",
            "--webhook",
            "http://127.0.0.1:9/hook",
            "--webhook-secret-file",
            secret.to_str().expect("path"),
            "--smtp",
            "smtp://127.0.0.1:9",
            "--mail-from",
            "Service <service@example.com>",
            "--notify-log",
            "--travel-kmh",
            "25",
            "--map-tiles",
            "https://tiles.example.com:8443/{z}/{x}/{y}.png",
        ])
        .env("FIELDSYNC_ADMIN_PASSWORD", "admin-password-1")
        .env_remove("MALLOC_ARENA_MAX")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let (url, seen) = wait_until_serving(&mut child);
    assert!(
        seen.iter()
            .any(|l| l.starts_with("demo data:") && l.contains("wangfang")),
        "the Chinese demo was seeded: {seen:?}"
    );
    // The server asks glibc for two memory arenas, in the process that was started.
    assert_eq!(malloc_arena_max(&child).as_deref(), Some("2"));
    assert!(
        seen.iter()
            .any(|l| l.contains("time zone Asia/Shanghai, language zh-CN")
                && l.contains("notifications by email, webhook, log")),
        "{seen:?}"
    );
    assert!(blobs.is_dir(), "--blobs names the blob folder");
    assert!(url.starts_with("http://127.0.0.1:"));
    let health = ureq_get(&format!("{url}/healthz"));
    assert_eq!(health, "ok");
    // --metrics-from lets this address read the metrics without signing in.
    let metrics = ureq_get(&format!("{url}/metrics"));
    assert!(metrics.contains("fieldsync_database_bytes"), "{metrics}");
    // --map-tiles: the console's page admits images from the tile server, and from no other.
    let console = get_answer(&format!("{url}/"));
    let policy = console
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("content-security-policy:")
        })
        .unwrap_or_default();
    assert!(
        policy.contains("img-src 'self' data: https://tiles.example.com:8443;"),
        "{policy}"
    );
    let status = terminate(&mut child);
    assert!(status.success(), "a graceful stop on SIGTERM: {status:?}");
    // --log-format json: every log line is one JSON object.
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut logs)
        .expect("logs");
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON log line"))
        .collect();
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "serving"),
        "{logs}"
    );

    // The month of demo work moves to PostgreSQL, compared table by table; once only.
    let schema = Schema::create();
    let from = format!("sqlite:{}", db.display());
    let out = run(&["migrate", "--from", &from, "--to", &schema.url]);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("both hold the same rows in every table"),
        "{said}"
    );
    assert!(said.contains("events"), "{said}");
    let out = run(&["migrate", "--from", &from, "--to", &schema.url]);
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && error.contains("already holds data"),
        "{error}"
    );
    let out = run(&[
        "migrate",
        "--from",
        db.to_str().expect("path"),
        "--to",
        &schema.url,
    ]);
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && error.contains("--from takes sqlite:PATH"),
        "{error}"
    );
}

/// A schema of its own on the tests' PostgreSQL, dropped at the end of the test.
struct Schema {
    admin: postgres::Client,
    name: String,
    /// The URL a command is given.
    url: String,
}

impl Schema {
    fn create() -> Self {
        let admin_url = std::env::var("FIELDSYNC_TEST_DATABASE_URL")
            .expect("FIELDSYNC_TEST_DATABASE_URL: run the tests with scripts/test.sh");
        let name = format!("cli_{}", uuid::Uuid::new_v4().simple());
        let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).expect("connect");
        admin
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .expect("schema");
        let url = format!("{admin_url}?options=-c%20search_path%3D{name}");
        Schema { admin, name, url }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = self
            .admin
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name));
    }
}

/// `serve --database` on PostgreSQL: the demo is seeded there, the node is ready, and
/// `enroll-code --database` issues a code from the same database. A database that cannot be
/// reached, or one without `--blobs`, stops the start with a message that says so.
#[test]
fn serve_and_enroll_code_run_on_postgresql() {
    let schema = Schema::create();
    let url = schema.url.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let blobs = dir.path().join("media");
    let blobs = blobs.to_str().expect("path");

    let out = run(&["serve", "--database", &url]);
    assert!(!out.status.success());
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("--database needs --blobs"), "{error}");
    let out = run(&[
        "serve",
        "--database",
        "postgres://nobody:secret@127.0.0.1:1/none",
        "--blobs",
        blobs,
    ]);
    assert!(!out.status.success());
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(
        error.contains(
            "cannot open the PostgreSQL database at postgres://nobody:***@127.0.0.1:1/none"
        ),
        "{error}"
    );
    assert!(
        !error.contains("secret"),
        "the password is never printed: {error}"
    );
    let out = run(&[
        "serve",
        "--database",
        "host=127.0.0.1 port=1 user=nobody password=secret",
        "--blobs",
        blobs,
    ]);
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && error.contains("password=***") && !error.contains("secret"),
        "{error}"
    );
    let out = run(&[
        "serve",
        "--database",
        &format!("{url}&sslmode=require"),
        "--blobs",
        blobs,
    ]);
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && error.contains("does not speak TLS to PostgreSQL"),
        "{error}"
    );
    let out = run(&["serve", "--db", "x.sqlite3", "--database", &url]);
    assert!(
        !out.status.success(),
        "--db and --database are one or the other"
    );

    let mut child = Command::new(FIELDSYNC)
        .args([
            "serve",
            "--database",
            &url,
            "--blobs",
            blobs,
            "--addr",
            "127.0.0.1:0",
            "--demo",
        ])
        .env("FIELDSYNC_ADMIN_PASSWORD", "admin-password-1")
        .env("MALLOC_ARENA_MAX", "4")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let (url_served, seen) = wait_until_serving(&mut child);
    assert!(seen.iter().any(|l| l.starts_with("demo data:")), "{seen:?}");
    assert_eq!(
        malloc_arena_max(&child).as_deref(),
        Some("4"),
        "the operator's choice stands"
    );
    let ready = ureq_get(&format!("{url_served}/readyz"));
    assert!(ready.contains(r#""ready":true"#), "{ready}");
    let out = Command::new(FIELDSYNC)
        .args(["enroll-code", "--user", "anna"])
        .env("FIELDSYNC_DATABASE_URL", &url)
        .output()
        .expect("enroll-code");
    assert!(out.status.success(), "{out:?}");
    let code = String::from_utf8_lossy(&out.stdout);
    assert!(code.trim().len() >= 8, "a code: {code}");
    assert!(terminate(&mut child).success());
}

/// The `MALLOC_ARENA_MAX` in a running process's environment, as Linux shows it.
fn malloc_arena_max(child: &std::process::Child) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{}/environ", child.id())).expect("environ");
    environ
        .split(|b| *b == 0)
        .filter_map(|entry| std::str::from_utf8(entry).ok())
        .find_map(|entry| entry.strip_prefix("MALLOC_ARENA_MAX=").map(str::to_owned))
}

/// Reads a starting server's output until it says where it serves: that URL, and every line
/// before it. The rest is read on a thread of its own, so the server never writes to a closed
/// pipe.
fn wait_until_serving(child: &mut std::process::Child) -> (String, Vec<String>) {
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let started = Instant::now();
    let mut seen = Vec::new();
    let url = loop {
        let line = lines
            .next()
            .expect("a line before the server runs")
            .expect("read");
        seen.push(line.clone());
        if let Some(rest) = line.strip_prefix("Fieldsync server on ") {
            break rest.split(' ').next().expect("url").to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{seen:?}");
    };
    std::thread::spawn(move || lines.for_each(drop));
    (url, seen)
}

/// Sends the server SIGTERM (what systemd sends) and waits for it to end.
fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    child.wait().expect("wait")
}

/// The body of a GET of `url`, trimmed.
fn ureq_get(url: &str) -> String {
    get_answer(url)
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The whole answer to a plain HTTP GET of `url` over a socket (no client library needed for
/// one line): status line, headers and body.
fn get_answer(url: &str) -> String {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://");
    let (host, path) = address.split_once('/').unwrap_or((address, ""));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
}
