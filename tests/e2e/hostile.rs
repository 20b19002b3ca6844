//! A hostile client: an enrolled device whose app was modified to send anything. It speaks the
//! wire protocol itself and crafts raw Automerge changes by hand, never through client-core.
//! Each attack is compensated or rejected as specified, and the honest devices' data survives.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use fieldsync_client_core::protocol::access::{FIELD_RULES, PhoneAccess};
use fieldsync_client_core::protocol::wire::{self, JobChanges, SyncRequest, SyncResponse};
use fieldsync_tests::{Answer, Phone, TestServer};
use serde_json::{Value as Json, json};

/// A device enrolled like any other, driven by hand.
struct Hostile {
    url: String,
    agent: ureq::Agent,
    credential: String,
    device: String,
    user: String,
    actor: ActorId,
    cursor: u64,
    docs: BTreeMap<String, AutoCommit>,
}

impl Hostile {
    fn enroll(server: &TestServer, device: &str, user: &str) -> Self {
        let code = server
            .dispatcher()
            .post("/v1/enrollments", &json!({ "user": user }));
        let enrolled = server.anonymous().post(
            "/v1/devices/enroll",
            &json!({ "code": code.body["code"], "device": device }),
        );
        assert_eq!(enrolled.status, 201, "{:?}", enrolled.body);
        let mut hostile = Hostile {
            url: server.url(),
            agent: fieldsync_tests::agent(),
            credential: enrolled.body["credential"]
                .as_str()
                .expect("credential")
                .into(),
            device: device.into(),
            user: user.into(),
            actor: ActorId::from(device.as_bytes()),
            cursor: 0,
            docs: BTreeMap::new(),
        };
        hostile.round(Vec::new());
        hostile
    }

    fn request(&self, push: Vec<JobChanges>) -> SyncRequest {
        SyncRequest {
            v: wire::PROTOCOL_VERSION,
            device: self.device.clone(),
            user: self.user.clone(),
            actor: self.actor.to_bytes().to_vec().into(),
            cursor: self.cursor,
            push,
            resync: Vec::new(),
            report: None,
            acknowledged: Vec::new(),
            customers_token: None,
        }
    }

    /// Sends a request as is and returns the HTTP answer.
    fn send(&self, request: &SyncRequest) -> (u16, Vec<u8>) {
        let mut response = self
            .agent
            .post(format!("{}/v1/sync", self.url))
            .header("Authorization", format!("Bearer {}", self.credential))
            .header("Content-Type", wire::CONTENT_TYPE)
            .send(&wire::encode(request)[..])
            .expect("POST /v1/sync");
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_vec().expect("body");
        (status, body)
    }

    /// One round: pushes, applies what came back, acknowledges.
    fn round(&mut self, push: Vec<JobChanges>) -> SyncResponse {
        let (status, body) = self.send(&self.request(push));
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let response: SyncResponse = wire::decode(&body).expect("response");
        for document in &response.documents {
            let doc = AutoCommit::load(&document.doc)
                .expect("document")
                .with_actor(self.actor.clone());
            self.docs.insert(document.job.clone(), doc);
        }
        for changes in &response.changes {
            if let Some(doc) = self.docs.get_mut(&changes.job) {
                for bytes in &changes.changes {
                    doc.load_incremental(bytes).expect("change");
                }
            }
        }
        self.cursor = response.cursor;
        response
    }

    fn doc(&mut self, job: &str) -> &mut AutoCommit {
        self.docs.get_mut(job).expect("the job is on the device")
    }

    /// Commits what was written to `job` and pushes that one change.
    fn push_edit(&mut self, job: &str) -> SyncResponse {
        let change = committed(self.doc(job));
        self.push(job, vec![change])
    }

    /// Pushes raw changes for `job` in one round.
    fn push(&mut self, job: &str, changes: Vec<serde_bytes::ByteBuf>) -> SyncResponse {
        self.round(vec![JobChanges {
            job: job.into(),
            changes,
        }])
    }
}

/// Commits what was written to `doc` (any copy, under any actor) and returns that change.
fn committed(doc: &mut AutoCommit) -> serde_bytes::ByteBuf {
    doc.commit();
    let change = doc.get_last_local_change().expect("a change");
    change.raw_bytes().to_vec().into()
}

impl Hostile {}

/// Fills a transition entry by hand: the status moved to, in whose name and role.
fn write_transition(
    doc: &mut AutoCommit,
    entry: &automerge::ObjId,
    to: &str,
    by: &str,
    role: &str,
) {
    for (key, value) in [("to", to), ("by", by), ("role", role)] {
        doc.put(entry, key, value).expect("put");
    }
}

/// Appends a transition entry by hand and returns it.
fn append_transition(
    doc: &mut AutoCommit,
    list: &automerge::ObjId,
    to: &str,
    by: &str,
    role: &str,
) -> automerge::ObjId {
    let at = doc.length(list);
    let entry = doc.insert_object(list, at, ObjType::Map).expect("insert");
    write_transition(doc, &entry, to, by, role);
    entry
}

fn job_json(server: &TestServer, job: &str) -> Json {
    server.dispatcher().job(job)["job"].clone()
}

/// Writes a new value at a field path of the document (creating nothing on the way).
fn overwrite(doc: &mut AutoCommit, field: &str) {
    match field.split_once('.') {
        Some((parent, key)) => {
            let (_, obj) = doc.get(ROOT, parent).expect("get").expect("parent");
            doc.put(&obj, key, 3_i64).expect("put");
        }
        None => match doc.get(ROOT, field).expect("get") {
            Some((Value::Object(ObjType::Map), obj)) if field != "escalation" => {
                doc.put(&obj, "name", "Mallory").expect("put");
                doc.put(&obj, "injected", true).expect("put");
            }
            _ => doc.put(ROOT, field, "hacked").expect("put"),
        },
    }
}

fn assert_audited(server: &TestServer, job: &str, kind: &str, field: &str) {
    let trail = server
        .dispatcher()
        .get(&format!("/v1/jobs/{job}/audit"))
        .body;
    assert!(
        trail.as_array().expect("trail").iter().any(|entry| {
            entry["kind"] == kind
                && entry["fields"]
                    .as_array()
                    .is_some_and(|f| f.contains(&json!(field)))
        }),
        "no {kind} for {field} in {trail:#}"
    );
}

#[test]
fn every_protected_field_is_put_back_and_honest_work_survives() {
    let server = TestServer::start();
    let job = server.dispatcher().create_job("Ada");
    server.dispatcher().assign(&job, Some("anna"));
    let honest: Phone = server.phone("anna");
    honest.sync();
    let mut hostile = Hostile::enroll(&server, "modified-app", "anna");
    let protected: Vec<&str> = FIELD_RULES
        .iter()
        .filter(|rule| rule.phone == PhoneAccess::None)
        .map(|rule| rule.field)
        .chain(["bogus"])
        .collect();
    assert!(protected.contains(&"assignee") && protected.contains(&"sla"));

    for (n, field) in protected.iter().enumerate() {
        let before = job_json(&server, &job);
        // The honest phone works on the job at the same time.
        honest
            .store
            .append_note(&job, &format!("honest note {n}. "))
            .expect("note");
        overwrite(hostile.doc(&job), field);
        let response = hostile.push_edit(&job);
        assert_eq!(
            response.accepted,
            vec![job.clone()],
            "{field}: {response:?}"
        );
        assert!(
            response.violations.iter().any(|v| v.field == *field),
            "{field}: {:?}",
            response.violations
        );
        honest.sync();
        let after = job_json(&server, &job);
        for (key, value) in before.as_object().expect("object") {
            if key != "notes" {
                assert_eq!(&after[key], value, "{field} changed {key}");
            }
        }
        assert_eq!(after.get("bogus"), None);
        assert!(
            after["notes"]
                .as_str()
                .expect("notes")
                .contains(&format!("honest note {n}.")),
            "{field}"
        );
        assert_audited(&server, &job, "violation", field);
    }
    // The compensations came back to the hostile device too: its copy shows the truth again.
    hostile.round(Vec::new());
    let assignee = hostile.doc(&job).get(ROOT, "assignee").expect("get");
    assert!(
        matches!(&assignee, Some((Value::Scalar(s), _)) if **s == ScalarValue::Str("anna".into())),
        "{assignee:?}"
    );
    // The honest phone converged with the server and never saw a violation of its own.
    honest.sync();
    assert_eq!(
        crate::phone_heads(&honest, &job),
        crate::server_heads(&server, &job)
    );
    assert!(honest.store.refusals().expect("refusals").is_empty());
    // A device that keeps breaking rules is flagged for an admin; the honest one is not.
    let devices = server.office("admin").get("/v1/devices").body;
    let flagged = |device: &str| {
        devices
            .as_array()
            .expect("devices")
            .iter()
            .find(|d| d["device_id"] == device)
            .map(|d| !d["flagged_at"].is_null())
    };
    assert_eq!(flagged("modified-app"), Some(true), "{devices:#}");
    assert_eq!(
        flagged(&honest.store.identity().device_id),
        Some(false),
        "{devices:#}"
    );
}

#[test]
fn forged_status_moves_and_rewritten_history_are_undone() {
    let server = TestServer::start();
    let job = server.dispatcher().create_job("Ada");
    server.dispatcher().assign(&job, Some("anna"));
    let mut hostile = Hostile::enroll(&server, "modified-app", "anna");
    let (_, transitions) = hostile
        .doc(&job)
        .get(ROOT, "transitions")
        .expect("get")
        .expect("transitions");
    // A dispatch-only move, in the dispatcher's name.
    append_transition(
        hostile.doc(&job),
        &transitions,
        "closed",
        "dispatch",
        "dispatch",
    );
    let response = hostile.push_edit(&job);
    assert!(
        response
            .violations
            .iter()
            .any(|v| v.field == "transitions" && v.reason.contains("`dispatch`")),
        "{:?}",
        response.violations
    );
    assert_eq!(
        job_json(&server, &job)["transitions"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        server.dispatcher().job(&job)["summary"]["status"],
        "assigned"
    );

    // Rewriting the history: the first move edited, the assignment deleted.
    let doc = hostile.doc(&job);
    let (_, first) = doc.get(&transitions, 0).expect("get").expect("first");
    doc.put(&first, "to", "completed").expect("put");
    doc.delete(&transitions, 1).expect("delete");
    let response = hostile.push_edit(&job);
    assert!(!response.violations.is_empty());
    let after = job_json(&server, &job);
    assert_eq!(after["transitions"][0]["to"], "new");
    assert_eq!(
        server.dispatcher().job(&job)["summary"]["status"],
        "assigned"
    );

    // Entries replaced wholesale: a valid new entry overwritten in the same change by a
    // dispatch-role one, and the first entry of the history overwritten outright.
    let doc = hostile.doc(&job);
    let at = doc.length(&transitions);
    append_transition(doc, &transitions, "en_route", "anna", "installer");
    for index in [at, 0] {
        let forged = doc
            .put_object(&transitions, index, ObjType::Map)
            .expect("overwrite");
        write_transition(doc, &forged, "closed", "dispatch", "dispatch");
    }
    let response = hostile.push_edit(&job);
    assert!(response.violations.len() >= 2, "{:?}", response.violations);
    let after = job_json(&server, &job);
    let moves: Vec<&str> = after["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .map(|t| t["to"].as_str().expect("to"))
        .collect();
    assert_eq!(moves, ["new", "assigned"], "{after:#}");
    assert_eq!(
        server.dispatcher().job(&job)["summary"]["status"],
        "assigned"
    );

    // An honest forward move by the same device still counts (the list is still the same
    // object: restoring it never replaces it, so concurrent honest appends are kept).
    let doc = hostile.doc(&job);
    let (_, now) = doc
        .get(ROOT, "transitions")
        .expect("get")
        .expect("transitions");
    assert_eq!(now, transitions);
    append_transition(doc, &transitions, "en_route", "anna", "installer");
    let response = hostile.push_edit(&job);
    assert!(response.violations.is_empty(), "{:?}", response.violations);
    assert_eq!(
        server.dispatcher().job(&job)["summary"]["status"],
        "en_route"
    );
}

#[test]
fn forgeries_and_other_installers_jobs_are_rejected_with_nothing_stored() {
    let server = TestServer::start();
    let mine = server.dispatcher().create_job("Ada");
    let theirs = server.dispatcher().create_job("Grace");
    server.dispatcher().assign(&mine, Some("anna"));
    server.dispatcher().assign(&theirs, Some("ben"));
    let honest = server.phone("anna");
    honest.sync();
    honest.store.append_note(&mine, "honest").expect("note");
    honest.sync();
    let mut hostile = Hostile::enroll(&server, "modified-app", "anna");
    assert!(
        !hostile.docs.contains_key(&theirs),
        "ben's job never reaches anna"
    );

    // Another installer's job: built from the server's own copy, pushed as anna.
    let theirs_before = crate::server_heads(&server, &theirs);
    let theirs_doc = server.storage();
    let stored =
        fieldsync_server::storage::read(theirs_doc.as_ref(), |tx| tx.job_document(&theirs))
            .expect("read")
            .expect("job");
    let mut foreign = AutoCommit::load(&stored.into_bytes())
        .expect("load")
        .with_actor(hostile.actor.clone());
    foreign.put(ROOT, "assignee", "anna").expect("put");
    let response = hostile.push(&theirs, vec![committed(&mut foreign)]);
    assert_eq!(response.refused.len(), 1, "{response:?}");
    assert_eq!(response.refused[0].code, "out_of_scope");
    assert_eq!(crate::server_heads(&server, &theirs), theirs_before);

    // A change signed with the honest phone's actor.
    let mine_before = crate::server_heads(&server, &mine);
    let doc = hostile.doc(&mine);
    let mut forged = doc.fork().with_actor(honest.store.identity().actor.clone());
    forged.put(ROOT, "priority", "urgent").expect("put");
    let response = hostile.push(&mine, vec![committed(&mut forged)]);
    assert_eq!(response.refused.len(), 1, "{response:?}");
    assert_eq!(response.refused[0].code, "forged_actor");
    assert_eq!(crate::server_heads(&server, &mine), mine_before);

    // The request in another device's or user's name, or with another device's actor.
    let mut request = hostile.request(Vec::new());
    request.device = honest.store.identity().device_id.clone();
    let (status, body) = hostile.send(&request);
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("forged_identity"));
    let mut request = hostile.request(Vec::new());
    request.user = "ben".into();
    assert_eq!(hostile.send(&request).0, 403);
    let mut request = hostile.request(Vec::new());
    request.actor = honest.store.identity().actor.to_bytes().to_vec().into();
    let (status, body) = hostile.send(&request);
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("forged_actor"));

    // Replaying changes the server already has (the honest phone's, the hostile's own) is a
    // no-op: accepted, nothing new.
    let history: Vec<Vec<u8>> = hostile
        .doc(&mine)
        .get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    let response = hostile.push(&mine, history.into_iter().map(Into::into).collect());
    assert_eq!(response.accepted, vec![mine.clone()]);
    assert!(response.violations.is_empty());
    assert_eq!(crate::server_heads(&server, &mine), mine_before);
    assert_eq!(job_json(&server, &mine)["notes"], "honest");
}

#[test]
fn a_revoked_device_is_refused_at_once_and_wipes_its_jobs() {
    let server = TestServer::start();
    let job = server.dispatcher().create_job("Ada");
    server.dispatcher().assign(&job, Some("anna"));
    let phone = server.phone("anna");
    phone.sync();
    assert_eq!(
        phone.store.customer_cards().expect("cards").len(),
        1,
        "the customer came with the job"
    );
    phone.store.append_note(&job, "unsent").expect("note");
    let device = phone.store.identity().device_id.clone();
    let open_stream = fieldsync_tests::EventStream::open(&server.url(), &phone.credential);
    let answer: Answer = server
        .dispatcher()
        .post(&format!("/v1/devices/{device}/revoke"), &json!({}));
    assert_eq!(answer.status, 204, "{:?}", answer.body);
    // An event stream already open hears nothing more: it ends.
    server.dispatcher().create_job("After revocation");
    open_stream.expect_end();

    let error = phone.transport.sync(&phone.store).expect_err("revoked");
    assert!(
        matches!(error, fieldsync_client_core::Error::Revoked(_)),
        "{error:?}"
    );
    assert!(phone.store.job_ids().expect("ids").is_empty());
    let conn = rusqlite::Connection::open(phone.path()).expect("open phone file");
    for table in [
        "docs",
        "doc_chunks",
        "jobs",
        "outbox",
        "blobs",
        "job_blobs",
        "customer_cards",
        "reminders",
    ] {
        let rows: i64 = conn
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, 0, "{table}");
    }
    // Nothing the device could do with its credential works any more.
    let events = server.with_token(Some(&phone.credential)).get("/v1/events");
    assert_eq!(events.status, 401);
    assert_eq!(events.body["code"], "device_revoked");
}

#[test]
fn a_change_that_breaks_the_document_has_its_fields_put_back_and_the_rest_stands() {
    let server = TestServer::start();
    let job = server.dispatcher().create_job("Ada");
    server.dispatcher().assign(&job, Some("anna"));
    let mut hostile = Hostile::enroll(&server, "modified-app", "anna");
    let doc = hostile.doc(&job);
    // A field phones own, given a value of the wrong type: the document no longer reads.
    doc.put(ROOT, "notes", 42_i64).expect("put");
    let broken = committed(doc);
    // An honest edit after it, in the same push.
    let (_, checklist) = doc.get(ROOT, "checklist").expect("get").expect("checklist");
    let (_, power) = doc.get(&checklist, "power").expect("get").expect("power");
    doc.put(&power, "done", true).expect("put");
    let honest = committed(doc);
    let response = hostile.push(&job, vec![broken, honest]);
    assert_eq!(response.accepted, vec![job.clone()], "{response:?}");
    assert!(
        response
            .violations
            .iter()
            .any(|v| v.field == "notes" && v.reason.contains("breaks the job document")),
        "{:?}",
        response.violations
    );
    let after = job_json(&server, &job);
    assert_eq!(after["notes"], "");
    assert_eq!(after["checklist"]["power"]["done"], true);
}

/// Runs the fallback for `job` from `doc` (Automerge's sync protocol, a few rounds) and returns
/// the server's answers.
fn fallback(hostile: &mut Hostile, job: &str, doc: &mut AutoCommit) -> Vec<SyncResponse> {
    use automerge::sync::{Message, State, SyncDoc};
    let mut state = State::new();
    let mut answers = Vec::new();
    for _ in 0..6 {
        let Some(message) = doc.sync().generate_sync_message(&mut state) else {
            break;
        };
        let mut request = hostile.request(Vec::new());
        request.resync = vec![wire::ResyncMessage {
            job: job.into(),
            message: message.encode().into(),
        }];
        let (status, body) = hostile.send(&request);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let response: SyncResponse = wire::decode(&body).expect("response");
        for answer in &response.resync {
            let message = Message::decode(&answer.message).expect("message");
            doc.sync()
                .receive_sync_message(&mut state, message)
                .expect("apply");
        }
        let done = response.resync.is_empty() || !response.refused.is_empty();
        answers.push(response);
        if done {
            break;
        }
    }
    answers
}

#[test]
fn the_fallback_takes_no_forged_actor_and_tells_a_former_assignee_nothing_new() {
    let server = TestServer::start();
    let job = server.dispatcher().create_job("Ada");
    server.dispatcher().assign(&job, Some("anna"));
    let mut hostile = Hostile::enroll(&server, "modified-app", "anna");

    // A change under the server's own actor (any dispatch change shows it), sent through the
    // fallback rather than pushed.
    let before = crate::server_heads(&server, &job);
    let doc = hostile.doc(&job);
    let server_actor = doc
        .get_changes(&[])
        .first()
        .expect("creation")
        .actor_id()
        .clone();
    let mut forged = doc.fork().with_actor(server_actor);
    forged.put(ROOT, "priority", "urgent").expect("put");
    forged.commit();
    let answers = fallback(&mut hostile, &job, &mut forged);
    assert!(
        answers
            .iter()
            .any(|a| a.refused.iter().any(|r| r.code == "forged_actor")),
        "{answers:?}"
    );
    assert_eq!(crate::server_heads(&server, &job), before);

    // Reassigned: the new assignee's work never reaches the former one, even when it asks
    // from scratch.
    server.dispatcher().assign(&job, Some("ben"));
    let ben = server.phone("ben");
    ben.sync();
    ben.store
        .append_note(&job, "ben's private note")
        .expect("note");
    ben.sync();
    let mut nothing = AutoCommit::new();
    let answers = fallback(&mut hostile, &job, &mut nothing);
    assert!(answers.iter().all(|a| a.refused.is_empty()), "{answers:?}");
    assert!(
        nothing.get_changes(&[]).is_empty(),
        "the former assignee learned {} changes",
        nothing.get_changes(&[]).len()
    );
}
