//! Who may see and change what: the authorization matrix, office sign-in, the audit trail of a
//! job reassigned while its installer was offline, and arbitrary bytes against the sync round.

use fieldsync_client_core::protocol::wire::{self, JobChanges, ResyncMessage, SyncRequest};
use fieldsync_server::domain::sync::{self, PageLimits};
use fieldsync_server::storage::sqlite::SqliteStorage;
use fieldsync_server::storage::{Storage, read};
use fieldsync_tests::{Dispatcher, TestServer, password_of};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Who calls, in the order of the matrix columns.
/// A well-formed SHA-256 no blob has.
const UNKNOWN_SHA: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const CALLERS: [&str; 7] = [
    "nobody", "device", "revoked", "dispatch", "sam", "hana", "admin",
];

#[test]
fn authorization_matrix_has_no_leaks() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let in_scope = dispatcher.create_job("Ada");
    let out_of_scope = dispatcher.create_job("Grace");
    let spare = dispatcher.create_job("Hedy");
    dispatcher.assign(&in_scope, Some("anna"));
    dispatcher.assign(&out_of_scope, Some("ben"));
    let phone = server.phone("anna");
    let revoked = server.phone("anna");
    let spare_device = server.phone("ben");
    let revoked_id = revoked.store.identity().device_id.clone();
    assert_eq!(
        dispatcher
            .post(&format!("/v1/devices/{revoked_id}/revoke"), &json!({}))
            .status,
        204
    );
    let sync_body = |phone: &fieldsync_tests::Phone| {
        let identity = phone.store.identity();
        wire::encode(&SyncRequest {
            v: wire::PROTOCOL_VERSION,
            device: identity.device_id.clone(),
            user: identity.user_id.clone(),
            actor: identity.actor.to_bytes().to_vec().into(),
            ..SyncRequest::default()
        })
    };
    let callers: Vec<Dispatcher> = CALLERS
        .iter()
        .map(|caller| match *caller {
            "nobody" => server.anonymous(),
            "device" => server.with_token(Some(&phone.credential)),
            "revoked" => server.with_token(Some(&revoked.credential)),
            office => server.office(office),
        })
        .collect();
    let spare_device_id = spare_device.store.identity().device_id.clone();
    let new_job = json!({
        "customer": { "name": "Matrix", "tier": "standard" },
        "site": { "address": "1 Matrix Road" },
        "problem": { "category": "no heat", "description": "cold" },
    });
    let new_user = json!({ "id": "zoe", "name": "Zoe", "role": "installer" });
    // One row per endpoint; one expected status per caller, in `CALLERS` order.
    let rows: Vec<(&str, String, Option<Value>, [u16; 7])> = vec![
        (
            "GET",
            "/v1/jobs".into(),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        (
            "GET",
            format!("/v1/jobs/{in_scope}"),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        (
            "GET",
            format!("/v1/jobs/{out_of_scope}"),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        (
            "GET",
            format!("/v1/jobs/{in_scope}/audit"),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        (
            "GET",
            format!("/v1/jobs/{in_scope}/notifications"),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        (
            "GET",
            "/v1/audit?kind=violation".into(),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        (
            "POST",
            "/v1/jobs".into(),
            Some(new_job),
            [401, 403, 401, 201, 201, 201, 403],
        ),
        (
            "GET",
            "/v1/customers?q=ada".into(),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        (
            "GET",
            "/v1/customers/cus-nobody".into(),
            None,
            [401, 403, 401, 404, 404, 404, 404],
        ),
        (
            "POST",
            "/v1/customers/cus-nobody/merge".into(),
            Some(json!({ "into": "cus-other" })),
            [401, 403, 401, 404, 404, 404, 403],
        ),
        (
            "PATCH",
            format!("/v1/jobs/{in_scope}"),
            Some(json!({ "priority": "high" })),
            [401, 403, 401, 200, 200, 200, 403],
        ),
        (
            "POST",
            format!("/v1/jobs/{in_scope}/appointment"),
            Some(json!({ "start": 1_000, "end": 2_000 })),
            [401, 403, 401, 200, 200, 200, 403],
        ),
        (
            "POST",
            format!("/v1/jobs/{spare}/assign"),
            Some(json!({ "assignee": "ben" })),
            [401, 403, 401, 200, 200, 200, 403],
        ),
        (
            "GET",
            "/v1/users".into(),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        (
            "POST",
            "/v1/users".into(),
            Some(new_user),
            [401, 403, 401, 403, 403, 403, 201],
        ),
        (
            "GET",
            "/v1/users/anna/schedule".into(),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        (
            "PUT",
            "/v1/users/anna/schedule".into(),
            Some(json!({ "week": vec![json!({ "start": "00:00", "end": "24:00" }); 7] })),
            [401, 403, 401, 200, 200, 200, 403],
        ),
        (
            "DELETE",
            "/v1/users/anna/schedule".into(),
            None,
            [401, 403, 401, 204, 204, 204, 403],
        ),
        (
            "POST",
            "/v1/enrollments".into(),
            Some(json!({ "user": "ben" })),
            [401, 403, 401, 201, 403, 403, 201],
        ),
        (
            "GET",
            "/v1/devices".into(),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        (
            "POST",
            format!("/v1/devices/{spare_device_id}/revoke"),
            Some(json!({})),
            [401, 403, 401, 204, 403, 403, 204],
        ),
        (
            "SYNC",
            "/v1/sync".into(),
            None,
            [401, 200, 401, 403, 403, 403, 403],
        ),
        // The dispatch desk: office only; acknowledging takes the right to change jobs.
        (
            "GET",
            "/v1/queues".into(),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        (
            "GET",
            "/v1/board".into(),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        (
            "GET",
            "/v1/map".into(),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        (
            "GET",
            format!("/v1/jobs/{in_scope}/suggestions"),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        (
            "GET",
            "/v1/kpis".into(),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        (
            "GET",
            "/v1/reminders".into(),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        (
            "POST",
            "/v1/reminders/424242/ack".into(),
            Some(json!({})),
            [401, 403, 401, 404, 404, 404, 403],
        ),
        (
            "GET",
            "/v1/config/sla".into(),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        // The managed lists: the office reads them, admins keep them (the entry the admin
        // puts is deleted again, so the matrix's own calls stay unmanaged).
        (
            "GET",
            "/v1/lists".into(),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        (
            "PUT",
            "/v1/lists/categories/matrix".into(),
            Some(json!({ "name_zh": "矩阵", "name_en": "Matrix" })),
            [401, 403, 401, 403, 403, 403, 200],
        ),
        (
            "DELETE",
            "/v1/lists/categories/matrix".into(),
            None,
            [401, 403, 401, 403, 403, 403, 204],
        ),
        (
            "GET",
            "/v1/me".into(),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        // Manuals and the case library: the office reads, dispatch roles publish; the
        // knowledge exchange is for phones; blob progress is for those who may upload.
        (
            "GET",
            "/v1/manuals".into(),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        (
            "POST",
            "/v1/manuals".into(),
            Some(json!({ "model": "M", "version": 0 })),
            [401, 403, 401, 400, 400, 400, 403],
        ),
        (
            "GET",
            "/v1/manuals/M/1".into(),
            None,
            [401, 403, 401, 404, 404, 404, 404],
        ),
        (
            "GET",
            "/v1/cases".into(),
            None,
            [401, 403, 401, 200, 200, 200, 200],
        ),
        (
            "POST",
            "/v1/knowledge".into(),
            Some(json!({ "v": 1 })),
            [401, 200, 401, 403, 403, 403, 403],
        ),
        (
            "GET",
            format!("/v1/blobs/{UNKNOWN_SHA}/upload"),
            None,
            [401, 200, 401, 200, 200, 200, 403],
        ),
        (
            "GET",
            format!("/v1/blobs/{UNKNOWN_SHA}"),
            None,
            [401, 404, 401, 404, 404, 404, 404],
        ),
        (
            "GET",
            format!("/v1/jobs/{in_scope}/report"),
            None,
            [401, 403, 401, 404, 404, 404, 404],
        ),
        (
            "POST",
            format!("/v1/jobs/{in_scope}/report-link"),
            Some(json!({})),
            [401, 403, 401, 409, 409, 409, 403],
        ),
        ("GET", "/v1/reports/unknown-token".into(), None, [404; 7]),
        // The customer's page: the shell is public, what it shows needs a working link.
        ("GET", "/r/unknown-token".into(), None, [200; 7]),
        (
            "GET",
            "/v1/reports/unknown-token/page".into(),
            None,
            [404; 7],
        ),
        // Public: the console's page and the API description.
        ("GET", "/v1/openapi.json".into(), None, [200; 7]),
        ("GET", "/healthz".into(), None, [200; 7]),
        (
            "POST",
            "/v1/users/dispatch/unlock".into(),
            Some(json!({})),
            [401, 403, 401, 403, 403, 403, 204],
        ),
        ("GET", "/readyz".into(), None, [200; 7]),
        // Metrics: admins (or an allowed scraper address, tested in `operations`).
        (
            "GET",
            "/metrics".into(),
            None,
            [401, 403, 401, 403, 403, 403, 200],
        ),
    ];
    let mut wrong = Vec::new();
    for (method, path, body, expected) in &rows {
        for ((caller, client), want) in CALLERS.iter().zip(&callers).zip(expected) {
            let got = match *method {
                "GET" => client.get(path).status,
                "SYNC" => {
                    client
                        .post_bytes(path, wire::CONTENT_TYPE, &sync_body(&phone))
                        .status
                }
                // A stream that never ends: the status is all there is to read.
                "EVENTS" => client.status_of(path),
                "PATCH" => {
                    client
                        .patch(path, body.as_ref().unwrap_or(&Value::Null))
                        .status
                }
                "PUT" => {
                    client
                        .put(path, body.as_ref().unwrap_or(&Value::Null))
                        .status
                }
                "DELETE" => client.delete(path).status,
                _ => {
                    client
                        .post(path, body.as_ref().unwrap_or(&Value::Null))
                        .status
                }
            };
            if got != *want {
                wrong.push(format!(
                    "{method} {path} as {caller}: {got}, expected {want}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Through sync, the device holds exactly its installer's jobs.
    phone.sync();
    assert_eq!(phone.store.job_ids().expect("ids"), vec![in_scope.clone()]);
    // A device credential works only as a bearer token: sent as the session cookie (where a
    // browser would send it), it is refused.
    let office_cookie = fieldsync_tests::agent()
        .post(format!("{}/v1/sync", server.url()))
        .header("Cookie", format!("fieldsync_session={}", phone.credential))
        .send(&sync_body(&phone)[..])
        .expect("POST");
    assert_eq!(office_cookie.status().as_u16(), 401);
}

#[test]
fn office_sign_in_uses_safe_cookies_csrf_and_a_rate_limit() {
    let server = TestServer::start();
    let login = |user: &str, password: &str| {
        fieldsync_tests::agent()
            .post(format!("{}/v1/auth/login", server.url()))
            .header("Content-Type", "application/json")
            .send(
                json!({ "user": user, "password": password })
                    .to_string()
                    .as_bytes(),
            )
            .expect("POST")
    };
    let mut ok = login("dispatch", &password_of("dispatch"));
    assert_eq!(ok.status().as_u16(), 200);
    let cookie = ok
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session: Value =
        serde_json::from_str(&ok.body_mut().read_to_string().expect("body")).expect("json");
    let token = session["token"].as_str().expect("token");
    let csrf = session["csrf"].as_str().expect("csrf");

    // A browser request authenticated by the cookie must carry the CSRF token to change
    // anything; reading needs no token.
    let with_cookie = |path: &str, csrf: Option<&str>| {
        let mut request = fieldsync_tests::agent()
            .post(format!("{}{path}", server.url()))
            .header("Content-Type", "application/json")
            .header("Cookie", format!("fieldsync_session={token}"));
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request
            .send(
                json!({
                    "customer": { "name": "Cookie" },
                    "site": { "address": "1 Cookie Lane" },
                    "problem": { "category": "leak", "description": "drips" },
                })
                .to_string()
                .as_bytes(),
            )
            .expect("POST")
            .status()
            .as_u16()
    };
    assert_eq!(with_cookie("/v1/jobs", None), 403);
    assert_eq!(with_cookie("/v1/jobs", Some("forged")), 403);
    assert_eq!(with_cookie("/v1/jobs", Some(csrf)), 201);
    let read = fieldsync_tests::agent()
        .get(format!("{}/v1/jobs", server.url()))
        .header("Cookie", format!("fieldsync_session={token}"))
        .call()
        .expect("GET");
    assert_eq!(read.status().as_u16(), 200);

    // Installers work from enrolled devices, never an office session.
    server.office("admin").post(
        "/v1/users",
        &json!({ "id": "ivy", "name": "Ivy", "role": "installer", "password": "ivy-password-1" }),
    );
    assert_eq!(login("ivy", "ivy-password-1").status().as_u16(), 403);

    // Guessing is limited per account; the answer says when to try again.
    for _ in 0..5 {
        assert_eq!(login("sam", "guess").status().as_u16(), 401);
    }
    let limited = login("sam", &password_of("sam"));
    assert_eq!(limited.status().as_u16(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(login("hana", &password_of("hana")).status().as_u16(), 200);

    // Signing out ends the session at once.
    let out = fieldsync_tests::agent()
        .post(format!("{}/v1/auth/logout", server.url()))
        .header("Authorization", format!("Bearer {token}"))
        .send(&b""[..])
        .expect("POST");
    assert_eq!(out.status().as_u16(), 204);
    assert_eq!(server.with_token(Some(token)).get("/v1/jobs").status, 401);
}

#[test]
fn enrollment_codes_are_one_time_and_bound_to_an_installer() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let code = dispatcher.post("/v1/enrollments", &json!({ "user": "anna" }));
    assert_eq!(code.status, 201);
    let enroll = |device: &str| {
        server.anonymous().post(
            "/v1/devices/enroll",
            &json!({ "code": code.body["code"], "device": device }),
        )
    };
    assert_eq!(enroll("phone-a").status, 201);
    let again = enroll("phone-b");
    assert_eq!(again.status, 401);
    assert_eq!(again.body["code"], "invalid_enrollment_code");
    let guessed = server.anonymous().post(
        "/v1/devices/enroll",
        &json!({ "code": "0".repeat(64), "device": "phone-c" }),
    );
    assert_eq!(guessed.status, 401);
    let office = dispatcher.post("/v1/enrollments", &json!({ "user": "sam" }));
    assert_eq!(office.status, 400, "only installers' devices are enrolled");
    // The code lives only as its hash in the database.
    let conn = rusqlite::Connection::open(server.db_path()).expect("open");
    let plain: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM enrollment_codes WHERE code_hash = CAST(?1 AS BLOB)",
            [code.body["code"].as_str().expect("code")],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(plain, 0);
}

#[test]
fn work_from_a_previous_assignee_is_merged_attributed_flagged_then_purged() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let job = dispatcher.create_job("Hedy Lamarr");
    dispatcher.assign(&job, Some("anna"));
    let anna = server.phone("anna");
    anna.sync();
    let device = anna.store.identity().device_id.clone();

    anna.store
        .append_note(&job, "wiring checked")
        .expect("note");
    anna.store
        .update_checklist_item(
            &job,
            "power",
            &fieldsync_client_core::protocol::job::ChecklistUpdate {
                done: Some(true),
                ..Default::default()
            },
        )
        .expect("check");
    dispatcher.assign(&job, Some("ben"));
    let report = anna.sync();
    assert_eq!(report.purged_jobs, 1, "{report:?}");

    let trail = dispatcher.get(&format!("/v1/jobs/{job}/audit")).body;
    let entries = trail.as_array().expect("trail");
    let of_kind = |kind: &'static str| entries.iter().filter(move |e| e["kind"] == kind);
    let anna_changes: Vec<&Value> = of_kind("change")
        .filter(|e| e["device"] == device)
        .collect();
    assert_eq!(anna_changes.len(), 2, "{trail:#}");
    for change in &anna_changes {
        assert_eq!(change["user"], "anna");
        assert!(change["device_time"].as_i64().is_some_and(|t| t > 0));
        assert!(change["server_time"].as_i64().is_some_and(|t| t > 0));
        assert!(change["actor"].as_str().is_some_and(|a| !a.is_empty()));
    }
    let fields: Vec<&Value> = anna_changes.iter().map(|c| &c["fields"]).collect();
    assert!(fields.contains(&&json!(["notes"])) && fields.contains(&&json!(["checklist"])));
    let assignments: Vec<&Value> = of_kind("change")
        .filter(|e| e["fields"] == json!(["assignee"]))
        .collect();
    assert!(
        assignments
            .iter()
            .all(|e| e["user"] == "dispatch" && e["device"].is_null())
    );
    assert_eq!(
        of_kind("flag").count(),
        1,
        "dispatch is told work arrived: {trail:#}"
    );
    assert!(of_kind("flag").all(|e| {
        e["detail"]
            .as_str()
            .is_some_and(|d| d.contains("previous assignee"))
    }));
    assert!(of_kind("purge").any(|e| e["device"] == device));
    assert!(of_kind("leave").any(|e| e["user"] == "anna"));
    // The flag is on the queue of flags across jobs too.
    let flags = dispatcher.get("/v1/audit?kind=flag").body;
    assert_eq!(flags.as_array().map(Vec::len), Some(1));

    // Nothing of the job is left in the phone's file.
    let conn = rusqlite::Connection::open(anna.path()).expect("open phone file");
    for table in [
        "docs",
        "doc_chunks",
        "jobs",
        "outbox",
        "job_blobs",
        "refusals",
    ] {
        let rows: i64 = conn
            .query_row(
                &format!("SELECT COUNT(*) FROM {table} WHERE job_id = ?1"),
                [&job],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(rows, 0, "{table}");
    }
    assert_eq!(dispatcher.job(&job)["job"]["notes"], "wiring checked");
}

#[test]
fn a_cancelled_job_leaves_the_phone_once_its_work_is_safe_and_a_reopened_one_returns() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let job = dispatcher.create_job("Ada");
    dispatcher.assign(&job, Some("anna"));
    let phone = server.phone("anna");
    phone.sync();
    phone
        .store
        .append_note(&job, "arrived, customer cancelled")
        .expect("note");
    let answer = dispatcher.post(
        &format!("/v1/jobs/{job}/status"),
        &json!({ "to": "cancelled", "reason": "the customer called it off" }),
    );
    assert_eq!(answer.status, 200, "{:?}", answer.body);

    let report = phone.sync();
    assert_eq!(report.purged_jobs, 1, "{report:?}");
    assert!(phone.store.job_ids().expect("ids").is_empty());
    assert_eq!(
        dispatcher.job(&job)["job"]["notes"],
        "arrived, customer cancelled",
        "the captured work reached the server first"
    );
    // Dispatch changing the cancelled job does not reach the phone.
    dispatcher.set_appointment(&job, 1_000, 2_000);
    let report = phone.sync();
    assert!(!report.reset, "{report:?}");
    assert!(phone.store.job_ids().expect("ids").is_empty());

    let answer = dispatcher.post(
        &format!("/v1/jobs/{job}/status"),
        &json!({ "to": "assigned", "reason": "the customer rebooked" }),
    );
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    phone.sync();
    assert_eq!(phone.store.job_ids().expect("ids"), vec![job.clone()]);
    assert_eq!(
        crate::phone_heads(&phone, &job),
        crate::server_heads(&server, &job)
    );
}

/// A server store with one installer job, for the in-process property test.
fn seeded() -> (tempfile::TempDir, SqliteStorage, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = SqliteStorage::open(dir.path().join("server.db")).expect("open");
    let anna = fieldsync_server::storage::User {
        id: "anna".into(),
        name: "Anna".into(),
        role: "installer".into(),
        region: String::new(),
        skills: Vec::new(),
    };
    fieldsync_server::domain::auth::put_user(&storage, &anna, None).expect("user");
    let dispatch = fieldsync_server::domain::dispatch::Dispatch::new(&storage, "dispatch");
    let (job, _) = dispatch
        .create(fieldsync_tests::new_call("Ada"), 1)
        .expect("job");
    dispatch
        .assign(&job.id, Some("anna"), None, None, 2)
        .expect("assign");
    (dir, storage, job.id)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Arbitrary bytes as a sync message, as pushed changes and as a fallback message: never a
    /// panic, and the stored job still reads.
    #[test]
    fn arbitrary_bytes_never_panic_or_corrupt_the_store(
        message in proptest::collection::vec(any::<u8>(), 0..512),
        changes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..256), 0..4),
        flip in any::<(usize, u8)>(),
    ) {
        let _ = wire::decode::<SyncRequest>(&message);
        let (_dir, storage, job) = seeded();
        let stored = read(&storage as &dyn Storage, |tx| tx.job_document(&job)).expect("read").expect("job");
        // A real change with one byte flipped, beside the random ones.
        let mut doc = fieldsync_client_core::protocol::automerge::AutoCommit::load(&stored.into_bytes())
            .expect("load");
        let mut real = doc.get_changes(&[]).last().expect("change").raw_bytes().to_vec();
        let at = flip.0 % real.len();
        real[at] ^= flip.1.max(1);
        let mut pushed: Vec<Vec<u8>> = changes;
        pushed.push(real);
        let request = SyncRequest {
            v: wire::PROTOCOL_VERSION,
            device: "fuzz".into(),
            user: "anna".into(),
            actor: vec![7; 16].into(),
            cursor: 0,
            push: vec![JobChanges { job: job.clone(), changes: pushed.into_iter().map(Into::into).collect() }],
            resync: vec![ResyncMessage { job: job.clone(), message: message.into() }],
            report: None,
            acknowledged: vec![],
            customers_token: None,
        };
        let _ = sync::handle(&storage, &request, PageLimits::default(), 3);
        let after = read(&storage as &dyn Storage, |tx| tx.job_document(&job)).expect("read").expect("job");
        let doc = fieldsync_client_core::protocol::automerge::AutoCommit::load(&after.into_bytes())
            .expect("the stored document still loads");
        fieldsync_client_core::protocol::job::read_job(&doc).expect("and still reads");
    }
}
