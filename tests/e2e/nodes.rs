//! Several server nodes on one PostgreSQL database and one S3-compatible bucket: any node
//! answers any phone and any office user at any moment, two nodes merging the same job at once
//! converge, live events cross nodes, the escalation ladder fires each reminder once however
//! many nodes run it (ADR 0014), an upload begun on one node finishes on another, a node
//! process killed with SIGKILL while phones sync and upload through a balancer loses nothing,
//! and an installation moved from SQLite keeps its phones.

use std::sync::Arc;
use std::time::Duration;

use fieldsync_client_core::Store;
use fieldsync_client_core::protocol::now_millis;
use fieldsync_client_core::transport::HttpTransport;
use fieldsync_server::domain::clock::ManualClock;
use fieldsync_server::storage::blobs::BlobLocation;
use fieldsync_tests::{
    BalancingProxy, Dispatcher, EventStream, Phone, PostgresSchema, ServerProcess, TestServer,
    fieldsync_binary, fresh_bucket, password_of, pseudo_random_bytes, sha256_hex, sign_in,
};
use serde_json::json;

use crate::{office_heads, phone_heads, server_heads, store_heads};

/// `phone`'s device, talking to `node` instead of the node it was enrolled on.
fn through(node: &TestServer, phone: &Phone) -> HttpTransport {
    HttpTransport::new(&node.url())
        .expect("transport")
        .with_credential(&phone.credential)
}

#[test]
fn a_phone_and_the_office_move_between_nodes_freely() {
    let a = TestServer::start_on_postgres();
    let b = a.another_node();

    // The office takes the call on node B; the phone, enrolled on A, receives it there.
    let office_b = b.dispatcher();
    let job = office_b.create_job("Ada Lovelace");
    office_b.assign(&job, Some("anna"));
    let phone = a.phone("anna");
    phone.sync();
    assert_eq!(phone.store.job_ids().expect("jobs"), vec![job.clone()]);

    // A session opened on B is good on A: sessions live in the database.
    let same_session_on_a = a.with_token(office_b.token());
    assert_eq!(
        same_session_on_a.job(&job)["summary"]["customer_name"],
        "Ada Lovelace"
    );

    // The installer's note goes up through B; A's office reads it at once.
    phone
        .store
        .append_note(&job, "Replaced the pressure valve.")
        .expect("note");
    let report = through(&b, &phone).sync(&phone.store).expect("sync via B");
    assert_eq!(report.accepted_jobs, 1, "{report:?}");
    let seen_on_a = a.dispatcher().job(&job);
    assert!(
        seen_on_a["job"]["notes"]
            .as_str()
            .is_some_and(|notes| notes.contains("pressure valve")),
        "{seen_on_a}"
    );
    assert_eq!(server_heads(&a, &job), phone_heads(&phone, &job));
    assert_eq!(server_heads(&b, &job), phone_heads(&phone, &job));
}

#[test]
fn two_nodes_merging_the_same_job_at_once_both_succeed_and_converge() {
    let a = TestServer::start_on_postgres();
    let b = a.another_node();
    let office = a.dispatcher();
    let job = office.create_job("Grace Hopper");
    office.assign(&job, Some("anna"));
    // One installer with two phones, each talking to its own node.
    let on_a = a.phone("anna");
    let on_b = b.phone("anna");
    on_a.sync();
    on_b.sync();

    const EDITS: usize = 15;
    let job = job.as_str();
    std::thread::scope(|scope| {
        for (name, phone, node) in [("a", &on_a, &a), ("b", &on_b, &b)] {
            scope.spawn(move || {
                let transport = through(node, phone);
                for n in 0..EDITS {
                    phone
                        .store
                        .append_note(job, &format!("<{name}{n}>"))
                        .expect("note");
                    let report = transport.sync(&phone.store).expect("sync");
                    assert_eq!(report.refused_jobs, 0, "{report:?}");
                }
            });
        }
        // The office edits the same job through both nodes meanwhile.
        scope.spawn(|| {
            for (n, node) in [&a, &b].into_iter().cycle().take(6).enumerate() {
                let start = 1_900_000_000_000 + n as i64 * 3_600_000;
                node.dispatcher()
                    .set_appointment(job, start, start + 3_600_000);
            }
        });
    });

    // Once each phone has heard of the other's work, all four copies are one document.
    for _ in 0..2 {
        through(&a, &on_a).sync(&on_a.store).expect("sync");
        through(&b, &on_b).sync(&on_b.store).expect("sync");
    }
    let heads = server_heads(&a, job);
    assert_eq!(server_heads(&b, job), heads);
    assert_eq!(phone_heads(&on_a, job), heads);
    assert_eq!(phone_heads(&on_b, job), heads);
    let notes = on_a.store.job(job).expect("job").notes;
    for name in ["a", "b"] {
        for n in 0..EDITS {
            // Concurrent first lines may share a line; every edit is there.
            assert!(
                notes.contains(&format!("<{name}{n}>")),
                "{name}{n} missing from {notes:?}"
            );
        }
    }
    assert_eq!(
        a.dispatcher().job(job)["job"]["appointment"]["start"],
        1_900_000_000_000_i64 + 5 * 3_600_000,
        "the office's last appointment wins"
    );
}

/// Waits for a `changed` event that names `job` (a stream may hear of other changes first).
fn hears(stream: &EventStream, job: &str) {
    for _ in 0..10 {
        if stream.expect("changed").contains(job) {
            return;
        }
    }
    panic!("no `changed` event named {job}");
}

#[test]
fn live_events_cross_nodes() {
    let a = TestServer::start_on_postgres();
    let b = a.another_node();
    let job = b.dispatcher().create_job("Ada Lovelace");
    b.dispatcher().assign(&job, Some("anna"));
    let phone = a.phone("anna");
    phone.sync();
    let device_on_a = EventStream::open(&a.url(), &phone.credential);
    let office_on_a = EventStream::open(&a.url(), a.dispatcher().token().expect("token"));

    // The dispatcher works on node B; the phone and the console on node A hear it.
    b.dispatcher()
        .set_appointment(&job, 1_900_000_000_000, 1_900_000_360_000);
    hears(&device_on_a, &job);
    hears(&office_on_a, &job);

    // The phone's own edit through B does not nudge it back on A; the console on A hears it.
    phone.store.append_note(&job, "on my way").expect("note");
    through(&b, &phone).sync(&phone.store).expect("sync via B");
    hears(&office_on_a, &job);
    if let Some((event, data)) = device_on_a.next(Duration::from_millis(500)) {
        panic!("the phone was nudged by its own edit: {event} {data}");
    }

    // Revoked on B, the device's stream on A ends.
    let device = phone.store.identity().device_id.clone();
    let answer = b
        .dispatcher()
        .post(&format!("/v1/devices/{device}/revoke"), &json!({}));
    assert_eq!(answer.status, 204, "{:?}", answer.body);
    device_on_a.expect_end();
}

#[test]
fn three_schedulers_fire_each_reminder_once() {
    const MINUTE: i64 = 60_000;
    let clock = Arc::new(ManualClock::new(now_millis()));
    let nodes = {
        let first = TestServer::start_on_postgres_with_clock(clock.clone());
        let second = first.another_node();
        let third = first.another_node();
        [first, second, third]
    };
    let answer = nodes[0].dispatcher().post(
        "/v1/jobs",
        &json!({
            "kind": "repair",
            "customer": { "name": "VIP customer", "tier": "vip" },
            "site": { "address": "1 Harbour Road", "region": "north" },
            "problem": { "category": "no heat", "description": "radiators cold" },
        }),
    );
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let job = answer.body["id"].as_str().expect("id").to_owned();
    let consoles: Vec<EventStream> = nodes
        .iter()
        .map(|node| EventStream::open(&node.url(), node.dispatcher().token().expect("token")))
        .collect();

    // The VIP dispatch clock runs out; every node's ladder looks at once.
    clock.advance(3 * MINUTE);
    std::thread::scope(|scope| {
        for node in &nodes {
            scope.spawn(|| node.escalate_now());
        }
    });

    let reminders = nodes[2].dispatcher().get("/v1/reminders").body;
    let fired: Vec<&str> = reminders
        .as_array()
        .expect("reminders")
        .iter()
        .filter(|r| r["job_id"] == job.as_str())
        .map(|r| r["rule"].as_str().expect("rule"))
        .collect();
    assert_eq!(fired, ["dispatch:owner"]);
    // Every console hears it once, whichever node fired it.
    for console in &consoles {
        let heard = console.expect("reminder");
        assert!(heard.contains(job.as_str()), "{heard}");
        while let Some((event, data)) = console.next(Duration::from_millis(300)) {
            assert_ne!(event, "reminder", "a second reminder: {data}");
        }
    }
}

#[test]
fn an_installation_moved_to_postgresql_keeps_its_phones() {
    let mut old = TestServer::start();
    let job = old.dispatcher().create_job("Ada Lovelace");
    old.dispatcher().assign(&job, Some("anna"));
    let phone = old.phone("anna");
    phone.sync();
    phone
        .store
        .append_note(&job, "before the move")
        .expect("note");
    let photo = pseudo_random_bytes(5, 300_000);
    phone
        .store
        .attach_photo(&job, &photo, "image/jpeg", "before")
        .expect("photo");
    phone.sync();
    through(&old, &phone)
        .upload_media(&phone.store)
        .expect("upload");
    // Work made while the server is down for the move.
    phone
        .store
        .append_note(&job, "during the move")
        .expect("note");
    old.stop();

    // The database into PostgreSQL, the media into a bucket, as the README says.
    let schema = Arc::new(PostgresSchema::create());
    let bucket = fresh_bucket();
    let migrate = std::process::Command::new(fieldsync_binary())
        .arg("migrate")
        .args(["--from", &format!("sqlite:{}", old.db_path().display())])
        .args(["--to", &schema.url()])
        .arg("--blobs-from")
        .arg(old.blob_dir())
        .args(["--blobs-to", &bucket])
        .output()
        .expect("run fieldsync migrate");
    let said = String::from_utf8_lossy(&migrate.stdout);
    assert!(
        migrate.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    assert!(said.contains("copied 1 blobs (300000 bytes)"), "{said}");
    let moved = TestServer::open_on_postgres(schema, BlobLocation::parse(&bucket).expect("bucket"));
    assert!(
        moved
            .dispatcher()
            .get_bytes(&format!("/v1/blobs/{}", sha256_hex(&photo)))
            .1
            == photo,
        "the photo moved with the installation"
    );

    // The same credential, the new address: no enrollment, no reset, the work goes up.
    let report = through(&moved, &phone).sync(&phone.store).expect("sync");
    assert!(!report.reset, "{report:?}");
    assert_eq!(report.accepted_jobs, 1, "{report:?}");
    // The office signs in with the passwords it had and edits; the phone hears it.
    moved
        .dispatcher()
        .set_appointment(&job, 1_900_000_000_000, 1_900_000_360_000);
    let report = through(&moved, &phone).sync(&phone.store).expect("sync");
    assert_eq!(report.updated_jobs, 1, "{report:?}");
    assert_eq!(server_heads(&moved, &job), phone_heads(&phone, &job));
    let notes = moved.dispatcher().job(&job)["job"]["notes"].clone();
    assert_eq!(notes, "before the move\nduring the move");
}

#[test]
fn an_upload_begun_on_one_node_is_finished_on_another() {
    let a = TestServer::start_on_postgres();
    let b = a.another_node();
    let job = a
        .dispatcher()
        .create_job_on("Ada Lovelace", "HP-200", "anna");
    let phone = a.phone("anna");
    let photo = fieldsync_tests::pseudo_random_bytes(7, 10_000);
    let sha = fieldsync_tests::sha256_hex(&photo);
    let put = |node: &TestServer, range: &str, body: &[u8]| {
        node.with_token(Some(&phone.credential)).put_bytes(
            &format!("/v1/blobs/{sha}?job={job}"),
            &[("Content-Type", "image/jpeg"), ("Content-Range", range)],
            body,
        )
    };

    let first = put(&a, "bytes 0-3999/10000", &photo[..4000]);
    assert_eq!(first.status, 200, "{:?}", first.body);
    // The connection drops; the phone's retry lands on the other node, which knows how far
    // the upload got.
    let progress = b
        .with_token(Some(&phone.credential))
        .get(&format!("/v1/blobs/{sha}/upload"));
    assert_eq!(progress.body["received"].as_u64(), Some(4000));
    let rest = put(&b, "bytes 4000-9999/10000", &photo[4000..]);
    assert_eq!(
        (rest.status, rest.body["complete"].as_bool()),
        (201, Some(true)),
        "{:?}",
        rest.body
    );
    assert!(a.dispatcher().get_bytes(&format!("/v1/blobs/{sha}")).1 == photo);
}

/// Three `fieldsync serve` processes on one database and one bucket, behind a balancer that
/// sends each connection to any node; two installers work, sync and upload a large photo all
/// along while one node is killed with SIGKILL mid-way. Every note either phone made reaches
/// the server, every copy converges, and each photo arrives whole: parts staged through the
/// dead node are carried on by the others.
#[test]
fn a_node_killed_mid_round_loses_nothing() {
    const EDITS: usize = 25;
    let schema = PostgresSchema::create();
    let blobs = fresh_bucket();
    // The first node makes the schema and the admin; the others join it.
    let mut nodes = vec![ServerProcess::start(&schema.url(), &blobs)];
    for _ in 0..2 {
        nodes.push(ServerProcess::start(&schema.url(), &blobs));
    }
    let balancer = BalancingProxy::start(nodes.iter().map(|n| n.addr().to_owned()).collect());
    let url = balancer.url();
    let admin_token = sign_in(&url, "admin", &password_of("admin"));
    let admin = Dispatcher::at(&url, Some(&admin_token));
    for (id, role, password) in [
        ("anna", "installer", None),
        ("ben", "installer", None),
        ("dispatch", "dispatcher", Some(password_of("dispatch"))),
    ] {
        let answer = admin.post(
            "/v1/users",
            &json!({ "id": id, "name": id, "role": role, "password": password }),
        );
        assert_eq!(answer.status, 201, "{:?}", answer.body);
    }
    let office = Dispatcher::at(
        &url,
        Some(&sign_in(&url, "dispatch", &password_of("dispatch"))),
    );
    let dir = tempfile::tempdir().expect("phones");
    // Past the size a bucket takes in one request: finished as a multipart upload.
    let photos = [
        pseudo_random_bytes(11, 9 << 20),
        pseudo_random_bytes(12, 9 << 20),
    ];
    let phones: Vec<(String, Store, HttpTransport)> = ["anna", "ben"]
        .into_iter()
        .zip(&photos)
        .map(|(user, photo)| {
            let job = office.create_job(&format!("customer of {user}"));
            office.assign(&job, Some(user));
            let store =
                Store::open(dir.path().join(format!("{user}.sqlite3")), user).expect("phone store");
            let code = office.post("/v1/enrollments", &json!({ "user": user }));
            let code = code.body["code"].as_str().expect("code").to_owned();
            let transport = HttpTransport::new(&url).expect("transport");
            let credential = transport.enroll(&store, &code).expect("enroll");
            let transport = HttpTransport::new(&url)
                .expect("transport")
                .with_credential(&credential)
                .with_upload_part_bytes(512 << 10);
            transport.sync(&store).expect("first sync");
            store
                .attach_photo(&job, photo, "image/jpeg", "meter")
                .expect("photo");
            (job, store, transport)
        })
        .collect();

    std::thread::scope(|scope| {
        for (job, store, transport) in &phones {
            scope.spawn(move || {
                for n in 0..EDITS {
                    store.append_note(job, &format!("<{n}>")).expect("note");
                    // A sync cut by the dying node fails; the next one carries its work.
                    let _ = transport.sync(store);
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
            // An upload cut by the dying node stops; the next pass resumes it.
            scope.spawn(move || {
                for _ in 0..EDITS {
                    if matches!(transport.upload_media(store), Ok(r) if r.uploaded > 0) {
                        return;
                    }
                }
            });
        }
        // Killed once the photos are on their way, some of their parts staged.
        let sha = sha256_hex(&photos[0]);
        let started = (0..500).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            let status = office.get(&format!("/v1/blobs/{sha}/upload"));
            status.body["received"].as_u64() > Some(0)
        });
        assert!(started, "the upload begins");
        nodes[0].kill();
    });

    for ((job, store, transport), photo) in phones.iter().zip(&photos) {
        let settled = (0..10).any(|_| {
            transport.sync(store).is_ok()
                && store.outbox_status().expect("outbox").depth == 0
                && transport.sync(store).is_ok()
                && transport.upload_media(store).is_ok()
                && store.pending_media().expect("pending").is_empty()
        });
        assert!(settled, "the phone settles through the living nodes");
        assert!(
            office
                .get_bytes(&format!("/v1/blobs/{}", sha256_hex(photo)))
                .1
                == *photo,
            "the photo arrives whole"
        );
        let notes = office.job(job)["job"]["notes"]
            .as_str()
            .expect("notes")
            .to_owned();
        for n in 0..EDITS {
            assert!(
                notes.contains(&format!("<{n}>")),
                "<{n}> lost from {notes:?}"
            );
        }
        assert_eq!(store_heads(store, job), office_heads(&office, job));
    }
}
