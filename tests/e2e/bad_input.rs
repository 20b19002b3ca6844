//! Bad input gets a clear 4xx that names the problem, and nothing is stored.

use std::io::Write;

use fieldsync_client_core::protocol::wire::{self, JobChanges, SyncRequest};
use fieldsync_tests::{Phone, TestServer};
use serde_json::json;

/// POSTs a raw body to `/v1/sync` with `phone`'s credential.
fn post_sync(
    server: &TestServer,
    phone: &Phone,
    body: &[u8],
    gzip: bool,
) -> (u16, serde_json::Value) {
    try_post_sync(server, phone, body, gzip).expect("POST /v1/sync")
}

fn try_post_sync(
    server: &TestServer,
    phone: &Phone,
    body: &[u8],
    gzip: bool,
) -> Result<(u16, serde_json::Value), ureq::Error> {
    let agent = fieldsync_tests::agent();
    let mut request = agent
        .post(format!("{}/v1/sync", server.url()))
        .header("Authorization", format!("Bearer {}", phone.credential))
        .header("Content-Type", wire::CONTENT_TYPE);
    if gzip {
        request = request.header("Content-Encoding", "gzip");
    }
    let mut response = request.send(body)?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    ))
}

/// Posts a sync request and returns the status and the response's bytes.
fn post_sync_raw(server: &TestServer, phone: &Phone, body: &[u8]) -> (u16, Vec<u8>) {
    let mut response = fieldsync_tests::agent()
        .post(format!("{}/v1/sync", server.url()))
        .header("Authorization", format!("Bearer {}", phone.credential))
        .header("Content-Type", wire::CONTENT_TYPE)
        .send(body)
        .expect("POST /v1/sync");
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_vec().expect("body"))
}

/// A request in `phone`'s name.
fn request(phone: &Phone) -> SyncRequest {
    SyncRequest {
        v: 1,
        device: phone.store.identity().device_id.clone(),
        user: "anna".into(),
        actor: vec![9; 16].into(),
        ..Default::default()
    }
}

#[test]
fn malformed_and_truncated_messages_are_400() {
    let server = TestServer::start();
    let phone = server.phone("anna");
    let (status, body) = post_sync(&server, &phone, b"not cbor at all", false);
    assert_eq!(status, 400);
    assert_eq!(body["code"], "malformed_message");
    let encoded = wire::encode(&request(&phone));
    let (status, body) = post_sync(&server, &phone, &encoded[..encoded.len() - 3], false);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .expect("message")
            .contains("malformed"),
        "{body}"
    );
    let (status, body) = post_sync(&server, &phone, b"\x1f\x8b\x08garbage", true);
    assert_eq!(status, 400, "a broken gzip body: {body}");
}

#[test]
fn unknown_protocol_versions_are_named() {
    let server = TestServer::start();
    let phone = server.phone("anna");
    let mut newer = request(&phone);
    newer.v = 7;
    let (status, body) = post_sync(&server, &phone, &wire::encode(&newer), false);
    assert_eq!(status, 400);
    assert_eq!(body["code"], "unsupported_version");
    assert!(
        body["error"]
            .as_str()
            .expect("message")
            .contains("version 7"),
        "{body}"
    );
}

/// A request acknowledging more reminders than any phone holds is refused, named; ids that
/// are not the installer's (unknown, or someone else's) acknowledge nothing and fail nothing.
#[test]
fn acknowledgements_are_bounded_and_only_the_installers_own_count() {
    let server = TestServer::start();
    let phone = server.phone("anna");
    let mut flood = request(&phone);
    flood.acknowledged = (1..=1_001).collect();
    let (status, body) = post_sync(&server, &phone, &wire::encode(&flood), false);
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("malformed_message")),
        "{body}"
    );
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("acknowledged")),
        "{body}"
    );
    let mut strangers = request(&phone);
    strangers.acknowledged = vec![1, 2, 3];
    let (status, body) = post_sync(&server, &phone, &wire::encode(&strangers), false);
    assert_eq!(status, 200, "{body}");
}

/// A customer-cards token longer than any the server issues is refused, named; one the server
/// did not issue reads as none, and the cards come whole.
#[test]
fn customer_tokens_are_bounded_and_a_strange_one_brings_every_card() {
    let server = TestServer::start();
    let job = server.dispatcher().create_job("Grace Hopper");
    server.dispatcher().assign(&job, Some("anna"));
    let phone = server.phone("anna");
    let mut long = request(&phone);
    long.customers_token = Some("x".repeat(201));
    let (status, body) = post_sync(&server, &phone, &wire::encode(&long), false);
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("malformed_message")),
        "{body}"
    );
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("customers_token")),
        "{body}"
    );
    let mut strange = request(&phone);
    strange.customers_token = Some("not.one.of.ours".into());
    let (status, bytes) = post_sync_raw(&server, &phone, &wire::encode(&strange));
    assert_eq!(status, 200);
    let response: wire::SyncResponse = wire::decode(&bytes).expect("a response");
    let cards = response.customers.expect("the server looked");
    assert!(!cards.unchanged);
    assert_eq!(cards.cards.len(), 1, "{cards:?}");
    assert_eq!(cards.cards[0].name, "Grace Hopper");
}

#[test]
fn oversized_bodies_are_413_even_when_compressed_small() {
    let server = TestServer::start();
    let phone = server.phone("anna");
    let huge = vec![0_u8; 17 << 20];
    // The server answers 413 as soon as the limit is passed and closes the connection, so a
    // client still sending the rest may see the connection closed instead of the answer.
    match try_post_sync(&server, &phone, &huge, false) {
        Ok((status, _)) => assert_eq!(status, 413),
        Err(ureq::Error::Io(e)) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ),
            "{e}"
        ),
        Err(e) => panic!("{e}"),
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&huge).expect("compress");
    let bomb = encoder.finish().expect("finish");
    assert!(bomb.len() < 100_000);
    let (status, _) = post_sync(&server, &phone, &bomb, true);
    assert_eq!(status, 413);
    // Refused, not hurt: the server still syncs.
    phone.sync();
}

#[test]
fn a_malformed_change_is_refused_alone_and_the_rest_goes_through() {
    let server = TestServer::start();
    let poisoned = server.dispatcher().create_job("Ada");
    let honest = server.dispatcher().create_job("Grace");
    server.dispatcher().assign(&poisoned, Some("anna"));
    server.dispatcher().assign(&honest, Some("anna"));
    let phone = server.phone("anna");
    phone.sync();
    let before = server.dispatcher().job(&poisoned)["heads"].clone();

    // The phone's honest request, with a corrupt change for the other job slipped in.
    phone.store.append_note(&honest, "real work").expect("note");
    let mut session = fieldsync_client_core::SyncSession::new(&phone.store);
    let mut request: SyncRequest =
        wire::decode(&session.next_request().expect("request").expect("some")).expect("decode");
    request.push.push(JobChanges {
        job: poisoned.clone(),
        changes: vec![vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3].into()],
    });
    let body = phone
        .transport
        .exchange(&wire::encode(&request))
        .expect("exchange");
    let response: wire::SyncResponse = wire::decode(&body).expect("decode");

    assert_eq!(response.refused.len(), 1, "{response:?}");
    assert_eq!(response.refused[0].job, poisoned);
    assert_eq!(response.refused[0].code, "malformed_change");
    assert!(
        response.refused[0]
            .reason
            .contains("not an Automerge change"),
        "{:?}",
        response.refused[0]
    );
    assert_eq!(response.accepted, vec![honest.clone()]);
    assert_eq!(
        server.dispatcher().job(&poisoned)["heads"],
        before,
        "nothing stored for the poisoned job"
    );
    session.receive(&body).expect("receive");
    assert_eq!(
        server.dispatcher().job(&honest)["job"]["notes"],
        "real work"
    );
}

#[test]
fn changes_for_unknown_jobs_are_refused_and_the_rest_goes_through() {
    let server = TestServer::start();
    let job = server.dispatcher().create_job("Ada");
    server.dispatcher().assign(&job, Some("anna"));
    let phone = server.phone("anna");
    phone.sync();
    phone.store.append_note(&job, "real work").expect("note");
    // A push for a job that does not exist.
    let mut forged = request(&phone);
    forged.push = vec![JobChanges {
        job: "job-does-not-exist".into(),
        changes: vec![],
    }];
    let body = phone
        .transport
        .exchange(&wire::encode(&forged))
        .expect("exchange");
    let response: wire::SyncResponse = wire::decode(&body).expect("decode");
    assert_eq!(response.refused.len(), 1);
    assert_eq!(response.refused[0].code, "unknown_job");
    assert!(response.refused[0].reason.contains("job-does-not-exist"));
    let listed = server.dispatcher().get("/v1/jobs").body;
    assert_eq!(
        listed.as_array().expect("jobs").len(),
        1,
        "nothing was created"
    );
    // The honest outbox still drains.
    phone.sync();
    assert_eq!(server.dispatcher().job(&job)["job"]["notes"], "real work");
}

#[test]
fn the_dispatch_api_names_bad_input() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let answer = dispatcher.post(
        "/v1/jobs",
        &json!({ "kind": "teleport", "customer": { "name": "x" } }),
    );
    assert_eq!(answer.status, 400);
    assert!(
        answer.body["error"]
            .as_str()
            .expect("message")
            .contains("teleport"),
        "{:?}",
        answer.body
    );
    // Each bad call names its field; nothing is stored.
    let good = json!({
        "kind": "repair",
        "customer": { "name": "Ada", "email": "ada@example.com" },
        "site": { "address": "1 Main Street", "region": "north" },
        "problem": { "category": "leak", "description": "water under the unit" },
    });
    let long = "x".repeat(4001);
    let bad_calls = [
        (
            "/customer/name",
            json!(" "),
            "customer.name",
            "name is required",
            "required",
        ),
        (
            "/site/address",
            json!(""),
            "site.address",
            "address is required",
            "required",
        ),
        (
            "/problem/category",
            json!(""),
            "problem.category",
            "category is required",
            "required",
        ),
        (
            "/problem/description",
            json!("  "),
            "problem.description",
            "description",
            "required",
        ),
        (
            "/customer/email",
            json!("ada.example.com"),
            "customer.email",
            "not an e-mail",
            "not_an_email",
        ),
        (
            "/problem/description",
            json!(long),
            "problem.description",
            "longer than 4000",
            "too_long",
        ),
        (
            "/call_received_at",
            json!(4_102_444_800_000_i64),
            "call_received_at",
            "future",
            "in_future",
        ),
    ];
    for (pointer, value, field, says, problem) in bad_calls {
        let mut call = good.clone();
        let (parent, key) = pointer.rsplit_once('/').expect("pointer");
        let target = if parent.is_empty() {
            &mut call
        } else {
            call.pointer_mut(parent).expect("parent")
        };
        target[key] = value;
        let answer = dispatcher.post("/v1/jobs", &call);
        assert_eq!(answer.status, 400, "{field}: {:?}", answer.body);
        assert_eq!(answer.body["code"], "invalid_field", "{field}");
        assert_eq!(answer.body["field"], field);
        // What a client needs to word it in its own language.
        assert_eq!(answer.body["params"]["field"], field);
        assert_eq!(answer.body["params"]["problem"], problem, "{field}");
        let message = answer.body["error"].as_str().expect("message");
        assert!(message.contains(says), "{field}: {message}");
    }
    assert_eq!(
        dispatcher
            .get("/v1/jobs")
            .body
            .as_array()
            .expect("jobs")
            .len(),
        0,
        "no partial job"
    );
    let missing = dispatcher.get("/v1/jobs/nope");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["code"], "not_found");
    assert_eq!(
        missing.body["params"],
        json!({ "thing": "job", "id": "nope" })
    );
    let job = dispatcher.create_job("Ada");
    let answer = dispatcher.post(
        &format!("/v1/jobs/{job}/assign"),
        &json!({ "assignee": "dispatch" }),
    );
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["code"], "unknown_installer");
    assert_eq!(answer.body["params"], json!({ "user": "dispatch" }));
    let answer = dispatcher.post(
        &format!("/v1/jobs/{job}/appointment"),
        &json!({ "start": 10, "end": 5 }),
    );
    assert_eq!(answer.status, 400);
    assert!(
        answer.body["error"]
            .as_str()
            .expect("message")
            .contains("must end after it starts")
    );
    assert_eq!(answer.body["field"], "end");
    assert_eq!(answer.body["params"]["problem"], "end_before_start");
    let answer = dispatcher.post(
        &format!("/v1/jobs/{job}/status"),
        &json!({ "to": "teleported" }),
    );
    assert_eq!(answer.status, 400);
    let answer = dispatcher.post(&format!("/v1/jobs/{job}/assign"), &json!("not an object"));
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["code"], "invalid_json");
    assert_eq!(dispatcher.get("/healthz").status, 200);
}

/// A call with several problems names every one at once (the first as the error, all of them
/// in `errors`), so a form marks them together; nothing is stored.
#[test]
fn a_bad_call_names_every_problem_at_once() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let answer = dispatcher.post(
        "/v1/jobs",
        &serde_json::json!({
            "kind": "repair",
            "customer": { "name": " ", "email": "nobody" },
            "site": { "address": "1 Test Road" },
            "problem": { "category": "", "description": "cold" },
        }),
    );
    assert_eq!(answer.status, 400, "{:?}", answer.body);
    assert_eq!(answer.body["field"], "customer.name");
    let fields: Vec<&str> = answer.body["params"]["errors"]
        .as_array()
        .expect("every problem")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(
        fields,
        ["customer.name", "problem.category", "customer.email"]
    );
    assert_eq!(
        answer.body["params"]["errors"][2]["params"]["problem"],
        "not_an_email"
    );
    assert_eq!(dispatcher.get("/v1/jobs").body, serde_json::json!([]));
}
