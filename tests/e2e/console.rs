//! The dispatch desk end to end: SLA clocks per tier, queues, the day board, ranked
//! suggestions, the escalation ladder on a clock the test moves (reminders stored, pushed,
//! surviving a restart), help requests from the field, device times, live updates, the KPIs,
//! and customer records found as the call taker types.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldsync_client_core::protocol::job::Outcome;
use fieldsync_client_core::protocol::now_millis;
use fieldsync_client_core::protocol::rules::Status;
use fieldsync_server::domain::clock::ManualClock;
use fieldsync_tests::{Dispatcher, EventStream, TestServer};

use crate::{phone_heads, server_heads};
use serde_json::{Value, json};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

fn call(tier: &str, kind: &str, region: &str, model: &str) -> Value {
    json!({
        "kind": kind,
        "customer": { "name": format!("{tier} customer"), "tier": tier },
        "site": { "address": "1 Harbour Road", "region": region },
        "product": { "model": model },
        "problem": { "category": "no heat", "description": "radiators cold" },
    })
}

fn create(server: &TestServer, body: &Value) -> String {
    let answer = server.dispatcher().post("/v1/jobs", body);
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    answer.body["id"].as_str().expect("id").to_owned()
}

fn queue_ids(server: &TestServer, queue: &str) -> Vec<String> {
    let answer = server.dispatcher().get("/v1/queues");
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body[queue]
        .as_array()
        .expect("queue")
        .iter()
        .map(|item| item["job"]["id"].as_str().expect("id").to_owned())
        .collect()
}

fn clock_of(view: &Value, clock: &str) -> Value {
    view["clocks"]
        .as_array()
        .expect("clocks")
        .iter()
        .find(|c| c["clock"] == clock)
        .cloned()
        .unwrap_or(Value::Null)
}

fn reminder_rules(server: &TestServer, job: &str) -> Vec<String> {
    let answer = server.dispatcher().get("/v1/reminders");
    assert_eq!(answer.status, 200);
    let mut rules: Vec<String> = answer
        .body
        .as_array()
        .expect("reminders")
        .iter()
        .filter(|r| r["job_id"] == job)
        .map(|r| r["rule"].as_str().expect("rule").to_owned())
        .collect();
    rules.sort();
    rules
}

#[test]
fn clocks_queues_and_the_ladder_run_on_the_servers_clock_and_survive_a_restart() {
    let start = now_millis();
    let clock = Arc::new(ManualClock::new(start));
    let mut server = TestServer::start_with_clock(clock.clone());
    let standard = create(&server, &call("standard", "repair", "north", "HP-200"));
    let vip = create(&server, &call("vip", "repair", "north", "HP-200"));

    // Deadlines per tier, from the call's received time.
    let view = server.dispatcher().job(&vip);
    assert_eq!(clock_of(&view, "dispatch")["due"], start + 2 * MINUTE);
    assert_eq!(clock_of(&view, "resolve")["due"], start + 24 * HOUR);
    assert_eq!(clock_of(&view, "respond")["state"], "met");
    let view = server.dispatcher().job(&standard);
    assert_eq!(clock_of(&view, "dispatch")["due"], start + 5 * MINUTE);
    assert_eq!(clock_of(&view, "resolve")["due"], start + 48 * HOUR);
    assert_eq!(clock_of(&view, "feedback"), Value::Null, "not a complaint");

    // VIP first in every queue, though called second.
    assert_eq!(
        queue_ids(&server, "unassigned"),
        [vip.as_str(), standard.as_str()]
    );
    assert!(queue_ids(&server, "overdue").is_empty());

    // Three minutes on: the VIP dispatch clock ran out; dispatch is reminded.
    clock.advance(3 * MINUTE);
    server.escalate_now();
    assert_eq!(queue_ids(&server, "overdue"), [vip.as_str()]);
    assert_eq!(reminder_rules(&server, &vip), ["dispatch:owner"]);
    assert!(reminder_rules(&server, &standard).is_empty());
    assert_eq!(
        clock_of(&server.dispatcher().job(&vip), "dispatch")["state"],
        "overdue"
    );

    // Dispatched late: the clock is missed, the reminder stays acknowledged-able.
    server.dispatcher().assign(&vip, Some("anna"));
    server.dispatcher().assign(&standard, Some("anna"));
    assert_eq!(
        clock_of(&server.dispatcher().job(&vip), "dispatch")["state"],
        "missed"
    );
    assert_eq!(
        clock_of(&server.dispatcher().job(&standard), "dispatch")["state"],
        "met"
    );

    // The engineer's phone is online and hears its reminders.
    let phone = server.phone("anna");
    phone.sync();
    let device_events = EventStream::open(&server.url(), &phone.credential);

    // A day on, the VIP job is past its resolution deadline: ring 2, the engineer and the
    // supervisor are reminded, and the phone is told.
    clock.advance(24 * HOUR);
    server.sign_in_again();
    server.escalate_now();
    let pushed: Value = serde_json::from_str(&device_events.expect("reminder")).expect("json");
    assert_eq!(pushed["job_id"], vip);
    assert_eq!(pushed["to_user"], "anna");
    assert_eq!(server.dispatcher().job(&vip)["summary"]["ring"], 2);
    assert_eq!(
        reminder_rules(&server, &vip),
        ["dispatch:owner", "resolve:owner", "resolve:ring2"]
    );
    assert_eq!(queue_ids(&server, "escalated"), [vip.as_str()]);
    phone.sync();
    assert_eq!(
        phone.store.job(&vip).expect("job").ring(),
        2,
        "the phone sees the ring"
    );

    // Reminders are stored: a restart keeps them, and ticking again repeats none.
    server.restart_with(|_| {});
    server.escalate_now();
    assert_eq!(
        reminder_rules(&server, &vip),
        ["dispatch:owner", "resolve:owner", "resolve:ring2"]
    );
    // Still overdue an hour later: ring 3, the head of engineering is reminded.
    clock.advance(HOUR);
    server.escalate_now();
    assert_eq!(server.dispatcher().job(&vip)["summary"]["ring"], 3);
    assert!(reminder_rules(&server, &vip).contains(&"resolve:ring3".to_owned()));
    assert_eq!(server.dispatcher().job(&standard)["summary"]["ring"], 1);

    // Acknowledged reminders leave the open list; the head of engineering acknowledges hers.
    let open = server.dispatcher().get("/v1/reminders").body;
    let hers = open
        .as_array()
        .expect("reminders")
        .iter()
        .find(|r| r["to_role"] == "head_of_engineering")
        .expect("the ring-3 reminder");
    let first = hers["id"].as_u64().expect("id");
    let answer = server
        .office("hana")
        .post(&format!("/v1/reminders/{first}/ack"), &json!({}));
    assert_eq!(answer.status, 204);
    let after = server.dispatcher().get("/v1/reminders").body;
    assert_eq!(
        after.as_array().map(Vec::len),
        open.as_array().map(|a| a.len() - 1)
    );
    assert_eq!(
        server
            .dispatcher()
            .post("/v1/reminders/999999/ack", &json!({}))
            .status,
        404
    );
}

#[test]
fn a_complaint_unresolved_for_24_hours_reaches_the_supervisor() {
    let start = now_millis();
    let clock = Arc::new(ManualClock::new(start));
    let server = TestServer::start_with_clock(clock.clone());
    let complaint = create(&server, &call("standard", "complaint", "south", "BX-9"));
    server.dispatcher().assign(&complaint, Some("ben"));
    let view = server.dispatcher().job(&complaint);
    assert_eq!(clock_of(&view, "feedback")["due"], start + 48 * HOUR);
    clock.advance(24 * HOUR - MINUTE);
    server.sign_in_again();
    server.escalate_now();
    assert_eq!(server.dispatcher().job(&complaint)["summary"]["ring"], 1);
    clock.advance(2 * MINUTE);
    server.escalate_now();
    assert_eq!(server.dispatcher().job(&complaint)["summary"]["ring"], 2);
    assert_eq!(reminder_rules(&server, &complaint), ["complaint:ring2"]);
    let supervisor = server.office("sam").get("/v1/reminders").body;
    assert_eq!(supervisor[0]["to_role"], "supervisor");
    assert_eq!(supervisor[0]["customer_name"], "standard customer");
    // Each ring's inbox: the supervisor's holds it, dispatch's does not.
    let inbox = |user: &str| {
        let answer = server.office(user).get("/v1/reminders?mine=true");
        assert_eq!(answer.status, 200);
        answer.body.as_array().map_or(0, Vec::len)
    };
    assert_eq!((inbox("sam"), inbox("dispatch")), (1, 0));

    // Only its recipients acknowledge it, and the job says who did.
    let id = supervisor[0]["id"].as_u64().expect("id");
    let ack = |user: &str| {
        server
            .office(user)
            .post(&format!("/v1/reminders/{id}/ack"), &json!({}))
    };
    let refused = ack("dispatch");
    assert_eq!(
        (
            refused.status,
            refused.body["code"].as_str(),
            refused.body["params"]["recipient"].as_str()
        ),
        (403, Some("not_recipient"), Some("supervisor")),
        "{:?}",
        refused.body
    );
    assert_eq!(ack("sam").status, 204);
    let reminders = server.dispatcher().job(&complaint)["reminders"].clone();
    assert_eq!(reminders[0]["acknowledged_by"], "sam", "{reminders}");
}

#[test]
fn help_asked_offline_escalates_when_it_arrives() {
    let server = TestServer::start();
    let job = server.dispatcher().create_job("Roof");
    server.dispatcher().assign(&job, Some("anna"));
    let phone = server.phone("anna");
    phone.sync();
    // No signal on the roof: the request waits in the outbox.
    phone.arrive(&job);
    phone
        .store
        .request_help(&job, "controller fault I have not seen")
        .expect("help");
    assert_eq!(server.dispatcher().job(&job)["summary"]["ring"], 1);
    phone.sync();
    // The request wakes the server's own scheduler: no one has to run the ladder.
    let waited = Instant::now();
    // (Its reminders are stored after the ring is raised: wait for them.)
    while reminder_rules(&server, &job).is_empty() {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "the ladder never answered the help request"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.dispatcher().job(&job)["summary"]["ring"], 2);
    assert_eq!(reminder_rules(&server, &job), ["help:1"]);
    let escalated = server.dispatcher().get("/v1/queues").body["escalated"].clone();
    assert_eq!(escalated[0]["job"]["id"], job);
    assert!(
        escalated[0]["note"]
            .as_str()
            .expect("note")
            .contains("asked for help")
    );
    // A second request climbs to ring 3.
    phone.store.request_help(&job, "still stuck").expect("help");
    phone.sync();
    server.escalate_now();
    assert_eq!(server.dispatcher().job(&job)["summary"]["ring"], 3);

    // The supervisor answers the first request in the job; the answer reaches the phone.
    let supervisor = server.office("sam");
    let answer = |index: usize, text: &str| {
        supervisor.post(
            &format!("/v1/jobs/{job}/help/{index}/answer"),
            &json!({ "answer": text }),
        )
    };
    assert_eq!(answer(7, "reset it").status, 404, "no such request");
    assert_eq!(answer(0, "  ").status, 400, "an answer needs words");
    let answered = answer(0, "Hold reset for ten seconds, then check the fuse");
    assert_eq!(answered.status, 200, "{:?}", answered.body);
    phone.sync();
    let on_phone = phone.store.job(&job).expect("job");
    let first = &on_phone.escalation.help_requests[0];
    assert_eq!(first.reason, "controller fault I have not seen");
    assert_eq!(
        first.answer,
        "Hold reset for ten seconds, then check the fuse"
    );
    assert_eq!(first.answered_by, "sam");
    assert!(on_phone.escalation.help_requests[1].answer.is_empty());
    assert_eq!(phone_heads(&phone, &job), server_heads(&server, &job));
}

/// The office escalates a job by hand with a reason (the ring's people are reminded), and
/// handles a complaint: its owner, severity, the answer to the customer (which stops the
/// feedback clock) and its outcome (a rejection needs the reason).
#[test]
fn the_office_escalates_by_hand_and_handles_a_complaint() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let job = dispatcher.create_job("Slow job");
    let escalate = |ring: u8, reason: &str| {
        dispatcher.post(
            &format!("/v1/jobs/{job}/escalate"),
            &json!({ "ring": ring, "reason": reason }),
        )
    };
    assert_eq!(escalate(2, "").status, 400, "a reason is required");
    assert_eq!(escalate(4, "why not").status, 400);
    let raised = escalate(2, "the customer is a hospital");
    assert_eq!(raised.status, 200, "{:?}", raised.body);
    assert_eq!(raised.body["ring"], 2);
    assert_eq!(reminder_rules(&server, &job), ["manual:ring2"]);
    let inbox = server.office("sam").get("/v1/reminders?mine=true").body;
    assert!(
        inbox
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["job_id"] == job))
    );
    let history = dispatcher.job(&job)["history"].to_string();
    assert!(history.contains("the customer is a hospital"), "{history}");
    let lower = escalate(1, "calm now");
    assert_eq!(lower.status, 400, "never lowered");
    assert_eq!(escalate(2, "again").status, 400, "only upwards");
    let reminders = dispatcher.get("/v1/reminders").body;
    let manual = reminders
        .as_array()
        .expect("reminders")
        .iter()
        .find(|r| r["rule"] == "manual:ring2")
        .expect("the ring was reminded");
    assert_eq!(
        manual["message"], "the customer is a hospital",
        "it carries the reason"
    );

    // A complaint taken on a call about the job: the job lists it; a job that does not exist
    // is refused.
    let about = |job: &str| {
        json!({
            "kind": "complaint",
            "customer": { "name": "Slow job", "tier": "standard" },
            "site": { "address": "1 Test Road" },
            "problem": { "category": "delay", "description": "nobody came" },
            "complaint": { "about_job": job, "kind": "delay", "source": "forged", "owner": "anna" },
        })
    };
    let refused = dispatcher.post("/v1/jobs", &about("job-nope"));
    assert_eq!(
        refused.body["params"]["field"], "complaint.about_job",
        "{:?}",
        refused.body
    );
    let taken = dispatcher.post("/v1/jobs", &about(&job));
    assert_eq!(taken.status, 201, "{:?}", taken.body);
    let taken = dispatcher.job(taken.body["id"].as_str().expect("id"));
    assert_eq!(
        taken["job"]["complaint"]["source"], "office",
        "what was sent is not taken"
    );
    assert!(taken["job"]["complaint"]["owner"].is_null());
    assert_eq!(
        dispatcher.job(&job)["job"]["complaints"][0]["job_id"],
        taken["summary"]["id"]
    );

    // A complaint taken on a call.
    let complaint = create(&server, &call("vip", "complaint", "north", "HP-200"));
    let handle = |body: Value| dispatcher.post(&format!("/v1/jobs/{complaint}/complaint"), &body);
    assert_eq!(
        dispatcher
            .post(
                &format!("/v1/jobs/{job}/complaint"),
                &json!({ "severity": "serious" })
            )
            .status,
        400,
        "not a complaint"
    );
    let refused = handle(json!({ "owner": "anna", "outcome": "rejected" }));
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    let fields: Vec<&str> = refused.body["params"]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        ["owner", "outcome_note"],
        "an installer owns no complaint"
    );
    let handled = handle(json!({
        "kind": "delay",
        "severity": "serious",
        "owner": "sam",
        "answer": "We are sorry: a supervisor will call you today.",
    }));
    assert_eq!(handled.status, 200, "{:?}", handled.body);
    let view = dispatcher.job(&complaint);
    assert_eq!(view["job"]["complaint"]["owner"], "sam");
    assert_eq!(view["job"]["complaint"]["severity"], "serious");
    assert_eq!(
        clock_of(&view, "feedback")["state"],
        "met",
        "the answer is the feedback"
    );
    let first_answer = view["job"]["complaint"]["answered_at"].clone();
    assert_eq!(handle(json!({ "answer": "And a voucher." })).status, 200);
    assert_eq!(
        dispatcher.job(&complaint)["job"]["complaint"]["answered_at"],
        first_answer,
        "the first answer stays the feedback"
    );
    let closed = handle(
        json!({ "outcome": "rejected", "outcome_note": "the delay was the customer's own" }),
    );
    assert_eq!(closed.status, 200, "{:?}", closed.body);
    assert_eq!(
        dispatcher.job(&complaint)["job"]["complaint"]["outcome"],
        "rejected"
    );
}

#[test]
fn suggestions_rank_by_skill_region_and_load_and_say_why() {
    let server = TestServer::start();
    let admin = server.office("admin");
    for (id, region, skills) in [
        ("anna", "north", json!(["HP", "no heat"])),
        ("ben", "south", json!(["HP"])),
        ("cleo", "north", json!(["AC"])),
    ] {
        let answer = admin.post(
            "/v1/users",
            &json!({ "id": id, "name": id, "role": "installer", "region": region, "skills": skills }),
        );
        assert_eq!(answer.status, 201, "{:?}", answer.body);
    }
    let dispatcher = server.dispatcher();
    let day = "2026-11-23";
    let nine = 1_795_424_400_000_i64; // 2026-11-23 09:00 UTC
    let job = create(&server, &call("standard", "repair", "north", "HP-200"));
    let ranked = dispatcher
        .get(&format!("/v1/jobs/{job}/suggestions?day={day}"))
        .body;
    let order: Vec<&str> = ranked
        .as_array()
        .expect("ranked")
        .iter()
        .map(|s| s["user"].as_str().expect("user"))
        .collect();
    // anna: two skills and the region (8); ben: one skill (3); cleo: the region (2).
    assert_eq!(order, ["anna", "ben", "cleo"]);
    assert_eq!(ranked[0]["score"], 8);
    let reasons: Vec<&str> = ranked[0]["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| r.as_str().expect("reason"))
        .collect();
    assert_eq!(
        reasons,
        ["knows HP, no heat", "works in north", "free on 2026-11-23"]
    );

    // Three jobs that day make anna the busier choice: ben comes first.
    for n in 0..3 {
        let other = create(&server, &call("standard", "repair", "north", "HP-200"));
        dispatcher.set_appointment(&other, nine + n * 2 * HOUR, nine + (n * 2 + 1) * HOUR);
        dispatcher.assign(&other, Some("anna"));
    }
    let ranked = dispatcher
        .get(&format!("/v1/jobs/{job}/suggestions?day={day}"))
        .body;
    assert_eq!(ranked[0]["user"], "anna", "8 - 3 = 5 still beats 3");
    assert_eq!(ranked[0]["load"], 3);
    assert!(
        ranked[0]["reasons"][2]
            .as_str()
            .expect("load reason")
            .contains("3 jobs on 2026-11-23")
    );

    // The day board shows anna's three appointments and what is left to plan.
    let board = dispatcher.get(&format!("/v1/board?day={day}")).body;
    let anna = board["engineers"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["user"] == "anna")
        .expect("anna's row");
    assert_eq!(anna["jobs"].as_array().map(Vec::len), Some(3));
    let unplanned: Vec<&str> = board["unplanned"]
        .as_array()
        .expect("unplanned")
        .iter()
        .map(|j| j["id"].as_str().expect("id"))
        .collect();
    assert_eq!(unplanned, [job.as_str()]);
    assert_eq!(dispatcher.get("/v1/board?day=23-11-2026").status, 400);
    assert_eq!(dispatcher.get("/v1/jobs/nope/suggestions").status, 404);
}

#[test]
fn offline_work_is_timed_by_the_device_when_plausible_and_the_kpis_move() {
    // The office is an hour behind the phone's real time at intake and two hours ahead when
    // the phone's work finally arrives: done offline, synced late.
    let real = now_millis();
    let clock = Arc::new(ManualClock::new(real - HOUR));
    let server = TestServer::start_with_clock(clock.clone());
    let job = server.dispatcher().create_job("Basement");
    server.dispatcher().assign(&job, Some("anna"));
    let phone = server.phone("anna");
    phone.sync();
    let kpis = |server: &TestServer| server.dispatcher().get("/v1/kpis?period=day").body;
    assert_eq!(kpis(&server)["total"]["first_time_fix"]["of"], 0);

    phone.arrive(&job);
    let done_at = now_millis();
    let outcome = Outcome {
        first_visit_success: Some(true),
        cause: "worn seal".into(),
        fix: "replaced the seal".into(),
        summary: "fixed".into(),
    };
    phone
        .store
        .finish_visit(&job, &outcome, true)
        .expect("done");
    phone.store.set_rating(&job, 5, "great").expect("rating");
    clock.set(real + 2 * HOUR);
    phone.sync();

    let facts = server.dispatcher().job(&job)["facts"].clone();
    let resolved = facts["resolved_at"].as_i64().expect("resolved");
    assert!(
        resolved >= done_at && resolved < real + HOUR,
        "the device's time"
    );
    assert_eq!(facts["resolved_device_at"], resolved);
    assert_eq!(
        facts["resolved_server_at"],
        real + 2 * HOUR,
        "and when it arrived"
    );

    let total = kpis(&server)["total"].clone();
    assert_eq!(
        total["first_time_fix"],
        json!({ "hits": 1, "of": 1, "rate": 1.0 })
    );
    assert_eq!(total["satisfaction"]["hits"], 1);
    assert_eq!(total["sla"]["resolve"]["hits"], 1);
    assert_eq!(
        total["time_to_resolve"]["median_ms"].as_i64(),
        Some(resolved - (real - HOUR))
    );
    let star = kpis(&server)["engineers"][0].clone();
    assert_eq!(
        (star["user"].clone(), star["jobs_done"].clone()),
        (json!("anna"), json!(1))
    );

    // Bad filters are named.
    let dispatcher = server.dispatcher();
    for (query, says) in [
        ("period=year", "period"),
        ("from=yesterday", "YYYY-MM-DD"),
        ("kind=teleport", "teleport"),
        ("from=2026-11-02&to=2026-11-01", "before"),
    ] {
        let answer = dispatcher.get(&format!("/v1/kpis?{query}"));
        assert_eq!(answer.status, 400, "{query}");
        let message = answer.body["error"].as_str().expect("message");
        assert!(message.contains(says), "{query}: {message}");
    }
}

#[test]
fn the_console_hears_every_change_live() {
    let server = TestServer::start();
    let console = server.office("sam");
    let events = EventStream::open(&server.url(), console.token().expect("token"));
    // Another dispatcher takes a call: no installer involved, the console still hears it.
    let job = server.dispatcher().create_job("Live");
    let data: Value = serde_json::from_str(&events.expect("changed")).expect("json");
    assert_eq!(data["jobs"], json!([job]));
    // A phone's sync is heard too.
    server.dispatcher().assign(&job, Some("anna"));
    events.expect("changed");
    let phone = server.phone("anna");
    phone.sync();
    phone
        .store
        .move_status(&job, Status::EnRoute, None)
        .expect("en route");
    phone.sync();
    events.expect("changed");
}

#[test]
fn the_console_and_its_api_description_are_served() {
    let server = TestServer::start();
    let page = fieldsync_tests::agent()
        .get(format!("{}/", server.url()))
        .call()
        .expect("page");
    assert_eq!(page.status(), 200);
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let spec = server.anonymous().get("/v1/openapi.json").body;
    assert_eq!(spec["openapi"], "3.1.0");
    assert!(spec["paths"]["/v1/kpis"]["get"].is_object());
    let config = server.dispatcher().get("/v1/config/sla").body;
    assert_eq!(config["targets"].as_array().map(Vec::len), Some(10));
    let me = server.dispatcher().get("/v1/me").body;
    assert_eq!(me["role"], "dispatcher");
}

#[test]
fn an_incomplete_visit_asks_dispatch_for_a_follow_up() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let job = dispatcher.create_job("Follow-up");
    dispatcher.assign(&job, Some("anna"));
    let phone = server.phone("anna");
    phone.sync();
    phone.arrive(&job);
    let outcome = Outcome {
        first_visit_success: Some(false),
        summary: "part on order".into(),
        ..Outcome::default()
    };
    phone
        .store
        .finish_visit(&job, &outcome, false)
        .expect("incomplete");
    phone.sync();
    let flagged = dispatcher.get("/v1/queues").body["flagged"].clone();
    assert_eq!(flagged[0]["job"]["id"], job);
    assert!(
        flagged[0]["note"]
            .as_str()
            .expect("note")
            .contains("follow-up")
    );
    // Dispatch books the second visit: the job leaves the flagged queue and stays open.
    let tomorrow = now_millis() + 24 * HOUR;
    dispatcher.set_appointment(&job, tomorrow, tomorrow + 2 * HOUR);
    let answer = dispatcher.post(
        &format!("/v1/jobs/{job}/status"),
        &json!({ "to": "assigned", "reason": "second visit booked" }),
    );
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert!(queue_ids(&server, "flagged").is_empty());
    phone.sync();
    phone.arrive(&job);
    phone
        .store
        .finish_visit(&job, &Outcome::default(), true)
        .expect("completed");
    phone.sync();
    let view = dispatcher.job(&job);
    assert_eq!(view["visits"], 2);
    assert_eq!(
        view["facts"]["first_visit_fixed"], false,
        "not a first-time fix"
    );
    assert_eq!(clock_of(&view, "resolve")["state"], "met");
}

/// Dispatch cannot book an engineer twice at once by accident: an assignment or an appointment
/// that overlaps another visit of theirs is refused, naming the other visit, with nothing
/// stored; given a reason it is booked, and the history keeps the reason. Visits that only
/// touch, or that ended, do not clash; the board's drop sets engineer and time in one change.
#[test]
fn a_double_booking_is_refused_unless_dispatch_gives_a_reason() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let at = |hour: i64| 1_900_000_000_000 + hour * HOUR;
    let first = dispatcher.create_job("Ada Lovelace");
    dispatcher.set_appointment(&first, at(10), at(12));
    dispatcher.assign(&first, Some("anna"));

    // Assigned over her 10:00 visit: refused, named, nothing stored.
    let second = dispatcher.create_job("Grace Hopper");
    dispatcher.set_appointment(&second, at(11), at(13));
    let assign = |body: Value| dispatcher.post(&format!("/v1/jobs/{second}/assign"), &body);
    let refused = assign(json!({ "assignee": "anna" }));
    assert_eq!(
        (refused.status, refused.body["params"]["problem"].as_str()),
        (409, Some("double_booked")),
        "{:?}",
        refused.body
    );
    assert_eq!(refused.body["params"]["job"], first.as_str());
    assert_eq!(refused.body["params"]["customer"], "Ada Lovelace");
    assert_eq!(refused.body["params"]["start"], at(10));
    assert!(dispatcher.job(&second)["summary"]["assignee"].is_null());

    // The same through the appointment of a job she already has.
    let third = dispatcher.create_job("Barbara Liskov");
    dispatcher.set_appointment(&third, at(12), at(13));
    dispatcher.assign(&third, Some("anna"));
    let moved = dispatcher.post(
        &format!("/v1/jobs/{third}/appointment"),
        &json!({ "start": at(9), "end": at(11) }),
    );
    assert_eq!(moved.status, 409, "{:?}", moved.body);
    assert_eq!(
        dispatcher.job(&third)["summary"]["appointment_start"],
        at(12),
        "a visit that only touches hers is no clash, and the refused move changed nothing"
    );

    // With a reason it is booked, and the history says over what and why.
    let booked = assign(json!({ "assignee": "anna", "override_reason": "customer insists" }));
    assert_eq!(booked.status, 200, "{:?}", booked.body);
    let expected = format!("booked over job {first}: customer insists");
    assert_history_says(&dispatcher, &second, &expected);

    // A cancelled visit frees its time; engineer and time are set in one change.
    let cancel = dispatcher.post(
        &format!("/v1/jobs/{first}/status"),
        &json!({ "to": "cancelled", "reason": "customer away" }),
    );
    assert_eq!(cancel.status, 200, "{:?}", cancel.body);
    let fourth = dispatcher.create_job("Edsger Dijkstra");
    let dropped = dispatcher.post(
        &format!("/v1/jobs/{fourth}/assign"),
        &json!({ "assignee": "anna", "appointment": { "start": at(10), "end": at(11) } }),
    );
    assert_eq!(dropped.status, 200, "{:?}", dropped.body);
    assert_eq!(
        (
            dropped.body["assignee"].as_str(),
            dropped.body["appointment_start"].as_i64(),
            dropped.body["status"].as_str()
        ),
        (Some("anna"), Some(at(10)), Some("assigned"))
    );
    let long = "x".repeat(501);
    let too_long = dispatcher.post(
        &format!("/v1/jobs/{fourth}/appointment"),
        &json!({ "start": at(11), "end": at(12), "override_reason": long }),
    );
    assert_eq!(
        (too_long.status, too_long.body["params"]["problem"].as_str()),
        (400, Some("too_long")),
        "{:?}",
        too_long.body
    );
}

/// Planning knows where its visits are: a visit next to another of the engineer's too far
/// away to travel between them in the time left (a straight line at 30 km/h) is refused,
/// naming the other visit, the distance and the minutes, before or after it, unless dispatch
/// gives a reason, which the history keeps. Coordinates are checked at intake and in a
/// correction, a job without them is never refused for travel, the suggestions say how far
/// each engineer's nearest visit is, and the day's map places jobs by their site or by where
/// the engineer arrived, and the engineer there.
#[test]
fn a_visit_without_time_to_travel_is_refused_unless_dispatch_gives_a_reason() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let day = now_millis() / (24 * HOUR) * (24 * HOUR);
    let at = |minutes: i64| day + minutes * 60_000;
    let (pudong, xuhui) = ((31.2286, 121.5265), (31.1920, 121.4370));

    // Coordinates that cannot be are named, and nothing is stored.
    let jobs_before = dispatcher.get("/v1/jobs").body.as_array().map(Vec::len);
    for (site, field, problem) in [
        (
            json!({ "lat": 91.0, "lon": 121.0 }),
            "site.lat",
            "out_of_range",
        ),
        (
            json!({ "lat": 31.0, "lon": -180.5 }),
            "site.lon",
            "out_of_range",
        ),
        (json!({ "lat": 31.0 }), "site.lon", "required"),
    ] {
        let mut call = json!({
            "kind": "repair",
            "customer": { "name": "Nobody", "tier": "standard" },
            "site": { "address": "1 Test Road", "region": "north" },
            "problem": { "category": "no heat", "description": "cold" },
        });
        for (key, value) in site.as_object().expect("object") {
            call["site"][key] = value.clone();
        }
        let refused = dispatcher.post("/v1/jobs", &call);
        assert_eq!(refused.status, 400, "{:?}", refused.body);
        let errors = refused.body["params"]["errors"].clone();
        let named = errors
            .as_array()
            .into_iter()
            .flatten()
            .chain([&refused.body])
            .any(|e| e["params"]["field"] == field && e["params"]["problem"] == problem);
        assert!(named, "{field} {problem}: {}", refused.body);
    }
    assert_eq!(
        dispatcher.get("/v1/jobs").body.as_array().map(Vec::len),
        jobs_before
    );

    // Anna is in Pudong from 10:00 to 11:00; Xuhui is 9.3 km away, 19 minutes at 30 km/h.
    let first = dispatcher.create_job_at("浦东张先生", pudong.0, pudong.1);
    dispatcher.set_appointment(&first, at(600), at(660));
    dispatcher.assign(&first, Some("anna"));
    let second = dispatcher.create_job_at("徐汇李女士", xuhui.0, xuhui.1);
    dispatcher.set_appointment(&second, at(675), at(720));
    let assign = |body: Value| dispatcher.post(&format!("/v1/jobs/{second}/assign"), &body);
    let refused = assign(json!({ "assignee": "anna" }));
    assert_eq!(
        (refused.status, refused.body["params"]["problem"].as_str()),
        (409, Some("no_travel_time")),
        "{:?}",
        refused.body
    );
    let params = &refused.body["params"];
    assert_eq!(params["job"], first.as_str());
    assert_eq!(params["customer"], "浦东张先生");
    assert_eq!(
        (params["needed"].as_i64(), params["free"].as_i64()),
        (Some(19), Some(15))
    );
    assert_eq!(params["before"], true);
    assert!(
        (9.0..9.6).contains(&params["km"].as_f64().expect("km")),
        "{params}"
    );
    assert!(
        dispatcher.job(&second)["summary"]["assignee"].is_null(),
        "nothing stored"
    );

    // Half an hour after her visit there is time.
    dispatcher.set_appointment(&second, at(690), at(750));
    assert_eq!(assign(json!({ "assignee": "anna" })).status, 200);

    // A visit before hers that leaves ten minutes is refused the other way round; with a
    // reason it is booked, and the history says next to what and why.
    let early = dispatcher.create_job_at("徐汇王先生", xuhui.0 + 0.001, xuhui.1);
    let book = |reason: Option<&str>| {
        dispatcher.post(
            &format!("/v1/jobs/{early}/assign"),
            &json!({ "assignee": "anna", "appointment": { "start": at(530), "end": at(590) },
                     "override_reason": reason }),
        )
    };
    let refused = book(None);
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    assert_eq!(
        (
            refused.body["params"]["before"].as_bool(),
            refused.body["params"]["job"].as_str()
        ),
        (Some(false), Some(first.as_str()))
    );
    assert_eq!(book(Some("the customer opens at 8:50")).status, 200);
    let expected =
        format!("booked without travel time next to job {first}: the customer opens at 8:50");
    assert_history_says(&dispatcher, &early, &expected);

    // Without coordinates nobody can say, so nothing is refused for travel.
    let nowhere = dispatcher.create_job("Somewhere Unknown");
    let booked = dispatcher.post(
        &format!("/v1/jobs/{nowhere}/assign"),
        &json!({ "assignee": "anna", "appointment": { "start": at(700), "end": at(720) } }),
    );
    assert_eq!(
        booked.status, 409,
        "it overlaps the 11:30 visit: {:?}",
        booked.body
    );
    assert_eq!(booked.body["params"]["problem"], "double_booked");
    let booked = dispatcher.post(
        &format!("/v1/jobs/{nowhere}/assign"),
        &json!({ "assignee": "anna", "appointment": { "start": at(755), "end": at(760) } }),
    );
    assert_eq!(booked.status, 200, "{:?}", booked.body);

    // A correction sets, keeps in pairs and clears the coordinates.
    let patch = |body: Value| dispatcher.patch(&format!("/v1/jobs/{nowhere}"), &body);
    assert_eq!(
        patch(json!({ "site": { "lat": 31.2, "lon": 121.45 } })).status,
        200
    );
    assert_eq!(dispatcher.job(&nowhere)["job"]["site"]["lat"], 31.2);
    let half = patch(json!({ "site": { "lat": null } }));
    assert_eq!(
        (half.status, half.body["params"]["field"].as_str()),
        (400, Some("site.lat")),
        "{:?}",
        half.body
    );
    assert_eq!(
        patch(json!({ "site": { "lat": null, "lon": null } })).status,
        200
    );
    assert!(dispatcher.job(&nowhere)["job"]["site"]["lat"].is_null());

    // The suggestions for a job in Xuhui that day say how far each engineer's nearest visit is.
    let third = dispatcher.create_job_at("徐汇赵女士", xuhui.0, xuhui.1 + 0.002);
    // The day the visits were booked on, whenever the test runs (UTC, the server's zone).
    let day_label = fieldsync_server::domain::planning::day_label(day);
    let ranked = dispatcher.get(&format!("/v1/jobs/{third}/suggestions?day={day_label}"));
    let anna = ranked
        .body
        .as_array()
        .expect("suggestions")
        .iter()
        .find(|s| s["user"] == "anna")
        .expect("anna")
        .clone();
    assert_eq!(anna["km"].as_f64().map(|km| km < 0.5), Some(true), "{anna}");
    assert!(
        anna["reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .any(|r| r
                .as_str()
                .is_some_and(|r| r.contains("km from their nearest visit"))),
        "{anna}"
    );

    // On the map: jobs by their sites; once Anna arrives at the job without coordinates, it
    // is placed where she arrived, and she is there.
    let phone = server.phone("anna");
    phone.sync();
    phone
        .store
        .move_status(&nowhere, Status::EnRoute, None)
        .expect("en route");
    phone
        .store
        .move_status(&nowhere, Status::OnSite, Some((31.21, 121.46)))
        .expect("on site");
    phone.sync();
    let map = dispatcher.get(&format!("/v1/map?day={day_label}")).body;
    let placed = |id: &str| {
        map["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .find(|j| j["job"]["id"] == id)
            .cloned()
    };
    assert_eq!(placed(&first).expect("first")["located_by"], "site");
    assert_eq!(placed(&first).expect("first")["position"]["lat"], pudong.0);
    let arrived = placed(&nowhere).expect("placed by the arrival");
    assert_eq!(arrived["located_by"], "arrival");
    assert_eq!(arrived["position"], json!({ "lat": 31.21, "lon": 121.46 }));
    assert!(
        placed(&third).is_some(),
        "a job still to plan is on the map"
    );
    let anna = map["engineers"]
        .as_array()
        .expect("engineers")
        .iter()
        .find(|e| e["user"] == "anna")
        .expect("anna")
        .clone();
    assert_eq!(
        (anna["job"].as_str(), anna["position"]["lon"].as_f64()),
        (Some(nowhere.as_str()), Some(121.46))
    );
    assert_eq!(map["travel_kmh"], 30.0);
    assert!(map["tiles"].is_null());
}

/// An engineer's working week and time off hold every booking: a visit on a day away, on a
/// weekday off or outside the day's hours is refused, saying which, unless dispatch gives a
/// reason, which the history keeps; the board and the suggestions say who works when. A
/// schedule that cannot be is refused whole, naming every problem, and nothing is stored.
#[test]
fn an_engineers_hours_and_time_off_hold_bookings_unless_dispatch_gives_a_reason() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let path = "/v1/users/anna/schedule";
    assert_eq!(dispatcher.get(path).body, Value::Null, "none yet");
    let day = |d: &str| json!({ "start": "08:00", "end": d });
    let week = json!([
        day("17:00"),
        day("17:00"),
        day("17:00"),
        day("17:00"),
        day("12:00"),
        null,
        null
    ]);

    // Whole or not at all.
    let refused = dispatcher.put(
        path,
        &json!({ "week": [day("17:00"), { "start": "17:00", "end": "08:00" }, null, null, null, null],
                 "time_off": [{ "from": "2030-01-10", "to": "2030-01-09" }] }),
    );
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert_eq!(
        problems_named(&refused),
        [
            "week invalid_value",
            "week start_after_end",
            "time_off start_after_end"
        ]
    );
    assert_eq!(dispatcher.get(path).body, Value::Null, "nothing stored");
    let not_an_installer = dispatcher.put("/v1/users/dispatch/schedule", &json!({ "week": week }));
    assert_eq!(
        not_an_installer.body["code"], "unknown_installer",
        "{:?}",
        not_an_installer.body
    );
    assert_eq!(
        dispatcher
            .put("/v1/users/nobody/schedule", &json!({ "week": week }))
            .status,
        404
    );

    let stored = dispatcher.put(
        path,
        &json!({ "week": week, "time_off": [{ "from": "2030-01-09", "to": "2030-01-10", "reason": "training" }] }),
    );
    assert_eq!(stored.status, 200, "{:?}", stored.body);
    assert_eq!(
        dispatcher.get(path).body["time_off"][0]["reason"],
        "training"
    );

    // Monday 7 January 2030 (UTC, the test organisation's zone).
    let monday = 1_893_974_400_000_i64;
    let at = |days: i64, hour: i64| monday + days * 24 * HOUR + hour * HOUR;
    let job = dispatcher.create_job("Ada Lovelace");
    let book = |start: i64, end: i64, reason: Option<&str>| {
        dispatcher.post(
            &format!("/v1/jobs/{job}/assign"),
            &json!({ "assignee": "anna", "appointment": { "start": start, "end": end },
                     "override_reason": reason }),
        )
    };
    let problem = |answer: &fieldsync_tests::Answer| {
        (
            answer.status,
            answer.body["params"]["problem"].as_str().map(str::to_owned),
        )
    };
    let late = book(at(0, 16), at(0, 18), None);
    assert_eq!(
        problem(&late),
        (409, Some("outside_working_hours".into())),
        "{:?}",
        late.body
    );
    assert_eq!(
        (
            late.body["params"]["shift_start"].as_str(),
            late.body["params"]["shift_end"].as_str()
        ),
        (Some("08:00"), Some("17:00"))
    );
    assert_eq!(
        problem(&book(at(4, 11), at(4, 13), None)).1.as_deref(),
        Some("outside_working_hours"),
        "Friday ends at noon"
    );
    assert_eq!(
        problem(&book(at(5, 10), at(5, 11), None)).1.as_deref(),
        Some("day_off"),
        "Saturday"
    );
    let away = book(at(2, 10), at(2, 11), None);
    assert_eq!(problem(&away).1.as_deref(), Some("time_off"));
    assert_eq!(
        (
            away.body["params"]["from"].as_str(),
            away.body["params"]["to"].as_str()
        ),
        (Some("2030-01-09"), Some("2030-01-10"))
    );
    assert!(
        away.body["params"].get("reason").is_none() && !away.body.to_string().contains("training"),
        "why she is away stays with her schedule: {:?}",
        away.body
    );
    assert!(
        dispatcher.job(&job)["summary"]["assignee"].is_null(),
        "nothing stored"
    );
    assert_eq!(
        book(at(0, 9), at(0, 11), None).status,
        200,
        "within her Monday"
    );

    // A visit over hers that also runs past her hours is refused for both, and one reason
    // books it over both.
    let both = dispatcher.create_job("Barbara Liskov");
    let over = |reason: Option<&str>| {
        dispatcher.post(
            &format!("/v1/jobs/{both}/assign"),
            &json!({ "assignee": "anna", "appointment": { "start": at(0, 10), "end": at(0, 18) },
                     "override_reason": reason }),
        )
    };
    let refused = over(None);
    let conflicts: Vec<&str> = refused.body["params"]["conflicts"]
        .as_array()
        .expect("every conflict")
        .iter()
        .filter_map(|c| c["problem"].as_str())
        .collect();
    assert_eq!(
        conflicts,
        ["double_booked", "outside_working_hours"],
        "{:?}",
        refused.body
    );
    assert_eq!(over(Some("all hands")).status, 200);
    let expected = format!("booked over job {job}; booked outside anna's hours: all hands");
    assert_history_says(&dispatcher, &both, &expected);
    // Cancelled and reopened, the visit comes back with its conflicts named in the history.
    let status = |body: Value| dispatcher.post(&format!("/v1/jobs/{both}/status"), &body);
    assert_eq!(
        status(json!({ "to": "cancelled", "reason": "customer away" })).status,
        200
    );
    assert_eq!(
        status(json!({ "to": "assigned", "reason": "back home" })).status,
        200
    );
    let expected = format!("back home (booked over job {job}; booked outside anna's hours)");
    assert_history_says(&dispatcher, &both, &expected);

    // With a reason it is booked, and the history says so.
    assert_eq!(
        book(at(2, 10), at(2, 11), Some("she asked to do this one")).status,
        200
    );
    assert_history_says(
        &dispatcher,
        &job,
        "booked while anna is away: she asked to do this one",
    );

    // The board says who works when; the suggestions put her last on her day off.
    let board = |day: &str| dispatcher.get(&format!("/v1/board?day={day}")).body;
    let row = |board: &Value, user: &str| {
        board["engineers"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["user"] == user)
            .cloned()
            .expect("row")
    };
    assert_eq!(
        row(&board("2030-01-07"), "anna")["shift"],
        json!({ "start": "08:00", "end": "17:00" })
    );
    assert_eq!(
        row(&board("2030-01-09"), "anna")["away"]["kind"],
        "time_off"
    );
    assert_eq!(row(&board("2030-01-12"), "anna")["away"]["kind"], "day_off");
    assert!(
        row(&board("2030-01-07"), "ben")["shift"].is_null(),
        "no schedule, no limits"
    );
    let saturday = dispatcher.create_job("Grace Hopper");
    dispatcher.set_appointment(&saturday, at(5, 10), at(5, 11));
    let ranked = dispatcher
        .get(&format!("/v1/jobs/{saturday}/suggestions?day=2030-01-12"))
        .body;
    let order: Vec<&str> = ranked
        .as_array()
        .expect("ranked")
        .iter()
        .filter_map(|s| s["user"].as_str())
        .collect();
    assert_eq!(order, ["ben", "anna"]);
    assert_eq!(ranked[1]["unavailable"]["kind"], "day_off");

    // Without a schedule she may be booked at any time again.
    assert_eq!(dispatcher.delete(path).status, 204);
    assert_eq!(dispatcher.get(path).body, Value::Null);
    let sat = dispatcher.post(
        &format!("/v1/jobs/{saturday}/assign"),
        &json!({ "assignee": "anna" }),
    );
    assert_eq!(sat.status, 200, "{:?}", sat.body);
}

/// Asserts that the history of `job` has an entry whose words are `detail`.
fn assert_history_says(dispatcher: &Dispatcher, job: &str, detail: &str) {
    let history = dispatcher.job(job)["history"].clone();
    assert!(
        history
            .as_array()
            .expect("history")
            .iter()
            .any(|entry| entry["detail"] == detail),
        "no `{detail}` in {history}"
    );
}

/// Any job is found again from what the caller says: words of the customer's name in any case
/// (Chinese too), the engineer, the job id; narrowed by status, in the order asked; a bad
/// filter is named.
#[test]
fn the_job_list_finds_any_job_by_what_the_dispatcher_types() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let hotel = dispatcher.create_job("Hotel Tanaka");
    dispatcher.set_appointment(&hotel, 1_900_000_000_000, 1_900_000_360_000);
    dispatcher.assign(&hotel, Some("anna"));
    let bakery = dispatcher.create_job("Tanaka Bakery");
    let shanghai = dispatcher.create_job("上海和平饭店");
    let cancel = dispatcher.post(
        &format!("/v1/jobs/{bakery}/status"),
        &json!({ "to": "cancelled", "reason": "closed for the winter" }),
    );
    assert_eq!(cancel.status, 200, "{:?}", cancel.body);
    let found = |query: &str| -> Vec<String> {
        let answer = dispatcher.get(&format!("/v1/jobs?{query}"));
        assert_eq!(answer.status, 200, "{query}: {:?}", answer.body);
        answer
            .body
            .as_array()
            .expect("jobs")
            .iter()
            .map(|j| j["id"].as_str().expect("id").to_owned())
            .collect()
    };
    assert_eq!(
        found("q=TANAKA&sort=customer"),
        vec![hotel.as_str(), bakery.as_str()]
    );
    assert_eq!(
        found("q=tanaka%20anna"),
        vec![hotel.as_str()],
        "every word must match"
    );
    assert_eq!(found("q=tanaka&status=open"), vec![hotel.as_str()]);
    assert_eq!(
        found("q=tanaka&status=cancelled,closed"),
        vec![bakery.as_str()]
    );
    assert_eq!(
        found(&format!("q={}", &shanghai[4..12])),
        vec![shanghai.as_str()]
    );
    assert_eq!(
        found("q=%E5%92%8C%E5%B9%B3"),
        vec![shanghai.as_str()],
        "和平"
    );
    assert_eq!(
        found("sort=call&limit=1"),
        vec![shanghai.as_str()],
        "the newest call first"
    );
    assert_eq!(found("sort=appointment&limit=1"), vec![hotel.as_str()]);

    for (query, field) in [
        ("status=lost", "status"),
        ("sort=price", "sort"),
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
    ] {
        let refused = dispatcher.get(&format!("/v1/jobs?{query}"));
        assert_eq!(
            (refused.status, refused.body["params"]["field"].as_str()),
            (400, Some(field)),
            "{query}: {:?}",
            refused.body
        );
    }
    // An engineer is found by name as well as by login.
    let admin = server.office("admin");
    let created = admin.post(
        "/v1/users",
        &json!({ "id": "zhaomin", "name": "赵敏", "role": "installer" }),
    );
    assert_eq!(created.status, 201, "{:?}", created.body);
    dispatcher.assign(&shanghai, Some("zhaomin"));
    assert_eq!(
        found("q=%E8%B5%B5%E6%95%8F"),
        vec![shanghai.as_str()],
        "赵敏"
    );

    // Without parameters the list is every job, as before.
    assert_eq!(found("").len(), 3);
}

/// A returning customer is found by their phone number however it is typed, with their sites,
/// products and every job; a duplicate typed as someone new is merged into their record.
#[test]
fn a_call_taker_finds_a_returning_customer_by_phone_and_sees_their_history() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let open = |name: &str, phone: &str, address: &str, serial: &str| {
        let answer = dispatcher.post(
            "/v1/jobs",
            &json!({
                "kind": "repair",
                "customer": { "name": name, "phone": phone, "tier": "vip" },
                "site": { "address": address, "city": "Leith" },
                "product": { "model": "HP-200", "serial": serial, "warranty_end": 1_900_000_000_000_i64 },
                "problem": { "category": "no heat", "description": "cold radiators" },
            }),
        );
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        answer.body
    };
    let first = open(
        "Grace Hopper",
        "+44 20 7946 0958",
        "12 Harbour Road",
        "SN-77",
    );
    let customer = first["customer_id"].as_str().expect("linked").to_owned();
    assert!(customer.starts_with("cus-"), "{customer}");
    // The same person calls again; the number is typed another way.
    let second = open(
        "Grace Hopper",
        "+44 (20) 7946-0958",
        "3 Shore Lane",
        "SN-78",
    );
    assert_eq!(second["customer_id"], customer.as_str(), "the same record");

    // The call taker types the number as the caller says it.
    let found = dispatcher.get("/v1/customers?q=7946%200958");
    assert_eq!(found.status, 200);
    assert_eq!(
        found.body.as_array().map(Vec::len),
        Some(1),
        "{:?}",
        found.body
    );
    let record = &found.body[0];
    assert_eq!(record["id"], customer.as_str());
    assert_eq!(
        record["sites"][0]["address"], "3 Shore Lane",
        "the latest site first"
    );
    assert_eq!(record["sites"][1]["address"], "12 Harbour Road");
    assert_eq!(record["products"].as_array().map(Vec::len), Some(2));
    assert_eq!(record["products"][1]["warranty_end"], 1_900_000_000_000_i64);
    for query in ["sn-77", "harbour%20LEITH", "grace"] {
        let found = dispatcher.get(&format!("/v1/customers?q={query}"));
        assert_eq!(found.body[0]["id"], customer.as_str(), "{query}");
    }
    assert_eq!(
        dispatcher.get("/v1/customers?q=nobody%20here").body,
        json!([])
    );

    // Their history: both jobs, newest call first.
    let view = dispatcher.get(&format!("/v1/customers/{customer}"));
    assert_eq!(view.status, 200);
    let jobs: Vec<&str> = view.body["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["id"].as_str())
        .collect();
    assert_eq!(
        jobs,
        [
            second["id"].as_str().unwrap_or_default(),
            first["id"].as_str().unwrap_or_default()
        ]
    );

    // Typed with a misspelt name, the caller became a duplicate; it is merged into the record.
    let third = open(
        "Grace Hoper",
        "+44 20 7946 0958",
        "12 Harbour Road",
        "SN-77",
    );
    let duplicate = third["customer_id"].as_str().expect("linked").to_owned();
    assert_ne!(duplicate, customer);
    let merged = dispatcher.post(
        &format!("/v1/customers/{duplicate}/merge"),
        &json!({ "into": customer }),
    );
    assert_eq!(merged.status, 200, "{:?}", merged.body);
    let view = dispatcher.get(&format!("/v1/customers/{customer}"));
    assert_eq!(view.body["jobs"].as_array().map(Vec::len), Some(3));
    assert_eq!(view.body["merged"], json!([duplicate]));
    assert_eq!(dispatcher.get("/v1/customers?q=hoper").body, json!([]));
    let again = dispatcher.post(
        &format!("/v1/customers/{duplicate}/merge"),
        &json!({ "into": customer }),
    );
    assert_eq!(again.status, 409);
    assert_eq!(again.body["params"]["problem"], "already_merged");

    // A call picked from the record keeps it; a call naming the duplicate lands on the record.
    let picked = dispatcher.post(
        "/v1/jobs",
        &json!({
            "customer": { "id": duplicate, "name": "Grace Hopper", "tier": "vip" },
            "site": { "address": "12 Harbour Road" },
            "problem": { "category": "leak", "description": "water on the floor" },
        }),
    );
    assert_eq!(picked.status, 201, "{:?}", picked.body);
    assert_eq!(picked.body["customer_id"], customer.as_str());

    // Bad input is named, and nothing is stored.
    for (path, status) in [
        ("/v1/customers?limit=0", 400),
        ("/v1/customers?limit=51", 400),
        ("/v1/customers/cus-nobody", 404),
    ] {
        assert_eq!(dispatcher.get(path).status, status, "{path}");
    }
    let itself = dispatcher.post(
        &format!("/v1/customers/{customer}/merge"),
        &json!({ "into": customer }),
    );
    assert_eq!(itself.status, 400);
    let bad_id = dispatcher.post(
        "/v1/jobs",
        &json!({
            "customer": { "id": "a\u{7}b", "name": "Bell" },
            "site": { "address": "1 Bell Street" },
            "problem": { "category": "leak", "description": "drip" },
        }),
    );
    assert_eq!(bad_id.status, 400);
    assert_eq!(bad_id.body["params"]["field"], "customer.id");
    assert_eq!(dispatcher.get("/v1/customers?q=bell").body, json!([]));

    // Correcting the name on one of the record's jobs leaves the shared record alone.
    let patch = |job: &Value, body: Value| {
        let id = job["id"].as_str().expect("id");
        dispatcher.patch(&format!("/v1/jobs/{id}"), &body)
    };
    let renamed = patch(&first, json!({ "customer": { "name": "Grace B. Hopper" } }));
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    let record = dispatcher.get(&format!("/v1/customers/{customer}")).body;
    assert_eq!(record["customer"]["name"], "Grace Hopper");
    // A customer with one job: the correction follows into the record, and the misspelt
    // address is no longer found.
    let lone = open("Ada Lovelace", "+44 20 7946 0001", "1 Harbor Rd", "SN-90");
    let fixed = patch(
        &lone,
        json!({ "customer": { "name": "Ada King" }, "site": { "address": "1 Harbour Road" } }),
    );
    assert_eq!(fixed.status, 200, "{:?}", fixed.body);
    let ada = lone["customer_id"].as_str().expect("linked");
    let record = dispatcher.get(&format!("/v1/customers/{ada}")).body;
    assert_eq!(record["customer"]["name"], "Ada King");
    assert_eq!(
        record["customer"]["sites"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(record["customer"]["sites"][0]["address"], "1 Harbour Road");
    assert_eq!(dispatcher.get("/v1/customers?q=harbor").body, json!([]));
    // A job is moved only to a record that exists.
    let nowhere = patch(&lone, json!({ "customer": { "id": "cus-nobody" } }));
    assert_eq!(
        (nowhere.status, nowhere.body["params"]["field"].as_str()),
        (400, Some("customer.id"))
    );
}

/// Customer service calls the customer back after the job is completed: the job waits in the
/// return-visit queue with its clock running, a call that reaches the customer stops the clock
/// and moves the return-visit satisfaction KPI (kept apart from the phone's rating), and a job
/// nobody called back reminds dispatch once the clock runs out.
#[test]
fn a_return_visit_is_recorded_and_moves_the_satisfaction_kpi() {
    let start = now_millis();
    let clock = Arc::new(ManualClock::new(start));
    let server = TestServer::start_with_clock(clock.clone());
    let dispatcher = server.dispatcher();
    let called = create(&server, &call("vip", "repair", "north", "HP-200"));
    let forgotten = create(&server, &call("standard", "repair", "north", "HP-200"));
    let record = |job: &str, body: Value| {
        server
            .dispatcher()
            .post(&format!("/v1/jobs/{job}/return-visits"), &body)
    };
    let refused = record(&called, json!({ "outcome": "reached", "score": 5 }));
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    assert_eq!(refused.body["params"]["problem"], "not_completed");

    let phone = server.phone("anna");
    for job in [&called, &forgotten] {
        dispatcher.assign(job, Some("anna"));
    }
    phone.sync();
    for job in [&called, &forgotten] {
        phone.arrive(job);
        phone
            .store
            .finish_visit(job, &Outcome::default(), true)
            .expect("completed");
        phone.store.set_rating(job, 5, "lovely").expect("rated");
    }
    phone.sync();
    let kpis = |server: &TestServer| server.dispatcher().get("/v1/kpis").body["total"].clone();
    assert_eq!(kpis(&server)["customer_satisfaction"]["of"], 0);
    assert_eq!(
        kpis(&server)["satisfaction"]["of"],
        2,
        "the phone's ratings"
    );
    let view = dispatcher.job(&called);
    let resolved = view["facts"]["resolved_at"].as_i64().expect("resolved");
    let due = clock_of(&view, "return_visit");
    assert_eq!(due["state"], "running");
    assert_eq!(due["due"], resolved + 24 * HOUR, "VIP: within 24 hours");
    let mut waiting = queue_ids(&server, "return_visits");
    waiting.sort();
    let mut both = vec![called.clone(), forgotten.clone()];
    both.sort();
    assert_eq!(waiting, both);

    // Bad calls are refused with every problem named, and nothing is stored.
    let refused = record(&called, json!({ "outcome": "call_again", "score": 9 }));
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    let fields: Vec<&str> = refused.body["params"]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["score", "call_again_at"]);
    assert_eq!(record(&called, json!({ "outcome": "hung_up" })).status, 400);
    assert!(
        dispatcher.job(&called)["job"]["return_visits"]
            .as_array()
            .expect("calls")
            .is_empty()
    );

    // Nobody answers; the customer asks to be called back; then the call that counts.
    clock.advance(2 * HOUR);
    server.sign_in_again();
    assert_eq!(
        record(&called, json!({ "outcome": "not_reached" })).status,
        200
    );
    let later = start + 5 * HOUR;
    let answer = record(
        &called,
        json!({ "outcome": "call_again", "call_again_at": later, "comment": "after lunch" }),
    );
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(
        clock_of(&server.dispatcher().job(&called), "return_visit")["state"],
        "running"
    );
    let queue = server.dispatcher().get("/v1/queues").body;
    let waiting = queue["return_visits"]
        .as_array()
        .expect("queue")
        .iter()
        .find(|item| item["job"]["id"] == called.as_str())
        .expect("still waiting");
    assert_eq!(
        waiting["call_again_at"], later,
        "the time the customer asked for"
    );
    clock.advance(4 * HOUR);
    server.sign_in_again();
    let answer = record(
        &called,
        json!({ "outcome": "reached", "score": 3, "comment": "the engineer was late" }),
    );
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let view = server.dispatcher().job(&called);
    assert_eq!(clock_of(&view, "return_visit")["state"], "met");
    let calls = view["job"]["return_visits"].as_array().expect("calls");
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[1]["call_again_at"], later);
    assert_eq!(calls[2]["by"], "dispatch");
    let total = kpis(&server);
    assert_eq!(
        total["customer_satisfaction"],
        json!({ "hits": 0, "of": 1, "rate": 0.0 })
    );
    assert_eq!(total["customer_mean_rating"], 3.0);
    assert_eq!(
        total["satisfaction"]["hits"], 2,
        "the phone's 5s stay apart"
    );
    assert_eq!(queue_ids(&server, "return_visits"), [forgotten.as_str()]);

    // The other job's 48 hours run out: dispatch is reminded.
    clock.advance(48 * HOUR);
    server.sign_in_again();
    server.escalate_now();
    assert_eq!(reminder_rules(&server, &forgotten), ["return_visit:owner"]);
    assert!(reminder_rules(&server, &called).is_empty());
    assert_eq!(kpis(&server)["sla"]["return_visit"]["of"], 2);
    assert_eq!(kpis(&server)["sla"]["return_visit"]["hits"], 1);
}

/// The customer's link: a page without sign-in where the customer rates the service and
/// complains. The rating counts in the satisfaction KPI, the complaint becomes a complaint job
/// that climbs to the supervisor after 24 hours unresolved; bad input is named and stores
/// nothing, one network is limited, and the link expires.
#[test]
fn a_customer_rates_and_complains_through_their_link_and_the_complaint_climbs() {
    let start = now_millis();
    let clock = Arc::new(ManualClock::new(start));
    let server = TestServer::start_with_clock(clock.clone());
    let dispatcher = server.dispatcher();
    let job = create(&server, &call("standard", "repair", "north", "HP-200"));
    dispatcher.assign(&job, Some("anna"));
    let early = dispatcher.post(&format!("/v1/jobs/{job}/report-link"), &json!({}));
    assert_eq!(early.status, 409, "a link follows a completed job");
    let phone = server.phone("anna");
    phone.sync();
    phone.arrive(&job);
    phone
        .store
        .finish_visit(&job, &Outcome::default(), true)
        .expect("completed");
    phone.sync();
    let link = dispatcher.post(&format!("/v1/jobs/{job}/report-link"), &json!({}));
    assert_eq!(link.status, 201, "{:?}", link.body);
    let page_url = link.body["page"].as_str().expect("page").to_owned();
    let token = page_url.trim_start_matches("/r/").to_owned();
    let customer = server.anonymous();
    let (status, html) = customer.get_bytes(&page_url);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&html).contains("/js/link.js"));
    let page = customer.get(&format!("/v1/reports/{token}/page"));
    assert_eq!(page.status, 200, "{:?}", page.body);
    assert_eq!(page.body["status"], "completed");
    assert_eq!(page.body["report"], false, "not signed on this visit");
    assert!(
        page.body["engineer"]
            .as_str()
            .is_some_and(|name| !name.is_empty())
    );
    let (status, _) = customer.get_bytes(&format!("/v1/reports/{token}"));
    assert_eq!(status, 404, "no report to download yet");

    // Bad ratings and complaints are named and store nothing.
    let rate = |body: Value| customer.post(&format!("/v1/reports/{token}/rating"), &body);
    let complain = |body: Value| customer.post(&format!("/v1/reports/{token}/complaints"), &body);
    let refused = rate(json!({ "score": 7 }));
    assert_eq!(
        (refused.status, refused.body["params"]["field"].as_str()),
        (400, Some("score"))
    );
    let refused = complain(json!({ "kind": "rudeness", "description": "x" }));
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    let refused = complain(json!({ "kind": "delay", "description": "  " }));
    assert_eq!(
        (refused.status, refused.body["params"]["field"].as_str()),
        (400, Some("description"))
    );
    let view = dispatcher.job(&job);
    assert!(view["job"]["surveys"].as_array().is_none_or(Vec::is_empty));

    // The rating is the customer's word on the KPIs, apart from the phone's.
    let rated = rate(json!({ "score": 2, "comment": "the engineer was late" }));
    assert_eq!(rated.status, 200, "{:?}", rated.body);
    assert_eq!(rated.body["rating"]["score"], 2);
    let total = dispatcher.get("/v1/kpis").body["total"].clone();
    assert_eq!(total["customer_satisfaction"]["of"], 1);
    assert_eq!(total["customer_satisfaction"]["hits"], 0);
    let history = dispatcher.job(&job)["history"].clone();
    assert!(
        history
            .as_array()
            .expect("history")
            .iter()
            .any(|e| e["user"] == "@customer"),
        "audited as the customer's"
    );

    // The complaint opens a complaint job that the job lists.
    let raised = complain(json!({ "kind": "delay", "description": "two hours late" }));
    assert_eq!(raised.status, 201, "{:?}", raised.body);
    let complaint = raised.body["complaints"][0]["job_id"]
        .as_str()
        .expect("complaint job")
        .to_owned();
    let opened = dispatcher.job(&complaint);
    assert_eq!(opened["summary"]["kind"], "complaint");
    assert_eq!(opened["summary"]["priority"], "high");
    assert_eq!(opened["job"]["complaint"]["source"], "customer");
    assert_eq!(
        opened["job"]["customer"]["name"],
        view["job"]["customer"]["name"]
    );
    assert!(queue_ids(&server, "unassigned").contains(&complaint));

    // Unresolved for 24 hours, it reaches the supervisor.
    clock.advance(24 * HOUR + MINUTE);
    server.sign_in_again();
    server.escalate_now();
    assert_eq!(server.dispatcher().job(&complaint)["summary"]["ring"], 2);
    assert!(reminder_rules(&server, &complaint).contains(&"complaint:ring2".to_owned()));

    // One network sends only so much; an expired link opens nothing.
    let limited = (0..5)
        .map(|n| rate(json!({ "score": 3, "comment": format!("again {n}") })).status)
        .collect::<Vec<_>>();
    assert!(limited.contains(&429), "{limited:?}");
    clock.advance(31 * 24 * HOUR);
    assert_eq!(
        customer.get(&format!("/v1/reports/{token}/page")).status,
        404
    );
}

/// `field problem` of every problem a refusal names, in its order.
fn problems_named(refused: &fieldsync_tests::Answer) -> Vec<String> {
    refused.body["params"]["errors"]
        .as_array()
        .expect("every problem")
        .iter()
        .map(|e| {
            let text = |name: &str| e["params"][name].as_str().unwrap_or_default().to_owned();
            format!("{} {}", text("field"), text("problem"))
        })
        .collect()
}

/// Regions and problem categories come from the organisation's lists once it keeps them:
/// names in both languages, bad entries refused whole, intake, corrections and engineers held
/// to the codes not retired, a province's region only when listed, and an entry in use kept.
#[test]
fn regions_and_categories_come_from_the_organisations_lists() {
    let server = TestServer::start();
    let admin = server.office("admin");
    let dispatcher = server.dispatcher();
    // Not managed yet: any value goes.
    let early = create(&server, &call("standard", "repair", "north", "HP-200"));
    assert_eq!(
        dispatcher.get("/v1/lists").body,
        json!({ "regions": [], "categories": [] })
    );

    // Bad entries: every problem at once, nothing stored.
    let refused = admin.put(
        "/v1/lists/regions/%20",
        &json!({ "name_zh": " ", "name_en": "x".repeat(101) }),
    );
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert_eq!(
        problems_named(&refused),
        ["code required", "name_zh required", "name_en too_long"]
    );
    let refused = admin.put(
        "/v1/lists/towns/leith",
        &json!({ "name_zh": "利斯", "name_en": "Leith" }),
    );
    assert_eq!(
        (refused.status, refused.body["code"].as_str()),
        (400, Some("invalid_path"))
    );
    assert!(
        refused.body["error"]
            .as_str()
            .expect("message")
            .contains("`towns`")
    );
    let refused = admin.put("/v1/lists/regions/leith", &json!({ "name_zh": "利斯" }));
    assert_eq!(
        (refused.status, refused.body["code"].as_str()),
        (400, Some("invalid_json"))
    );
    assert_eq!(
        dispatcher.get("/v1/lists").body,
        json!({ "regions": [], "categories": [] })
    );

    // The office's lists, names trimmed.
    for (path, zh, en) in [
        ("regions/north", " 北区 ", "North "),
        ("regions/%E5%8D%8E%E4%B8%9C", "华东", "East China"),
        ("categories/no%20heat", "不制热", "No heat"),
    ] {
        let answer = admin.put(
            &format!("/v1/lists/{path}"),
            &json!({ "name_zh": zh, "name_en": en }),
        );
        assert_eq!(answer.status, 200, "{path}: {:?}", answer.body);
    }
    let lists = dispatcher.get("/v1/lists").body;
    assert_eq!(
        lists["regions"],
        json!([
            { "code": "north", "name_zh": "北区", "name_en": "North", "retired": false },
            { "code": "华东", "name_zh": "华东", "name_en": "East China", "retired": false },
        ])
    );
    assert_eq!(lists["categories"][0]["name_en"], "No heat");

    // Intake takes codes of the lists only, naming both problems at once.
    let count = || dispatcher.get("/v1/jobs").body.as_array().map(Vec::len);
    let jobs_before = count();
    let mut stranger = call("standard", "repair", "south", "HP-200");
    stranger["problem"]["category"] = json!("leak");
    let refused = dispatcher.post("/v1/jobs", &stranger);
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert_eq!(
        problems_named(&refused),
        ["site.region not_in_list", "problem.category not_in_list",]
    );
    assert_eq!(
        refused.body["params"]["errors"][0]["params"]["value"],
        "south"
    );
    assert_eq!(count(), jobs_before, "nothing stored");

    // A province gives its region only when the list has it.
    let mut shanghai = call("standard", "repair", "", "HP-200");
    shanghai["site"]["province"] = json!("上海市");
    let in_shanghai = create(&server, &shanghai);
    assert_eq!(
        dispatcher.get(&format!("/v1/jobs/{in_shanghai}")).body["job"]["site"]["region"],
        "华东"
    );
    let mut sichuan = call("standard", "repair", "", "HP-200");
    sichuan["site"]["province"] = json!("四川");
    let in_sichuan = create(&server, &sichuan);
    assert_eq!(
        dispatcher.get(&format!("/v1/jobs/{in_sichuan}")).body["job"]["site"]["region"],
        ""
    );

    // A retired region: refused for new jobs, kept on the job that carries it, which can
    // still be corrected otherwise, and on the engineer whose home it is.
    let answer = admin.post(
        "/v1/users",
        &json!({ "id": "nora", "name": "Nora", "role": "installer", "region": "north" }),
    );
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let retire = admin.put(
        "/v1/lists/regions/north",
        &json!({ "name_zh": "北区", "name_en": "North", "retired": true }),
    );
    assert_eq!(retire.body["retired"], true);
    let refused = dispatcher.post("/v1/jobs", &call("standard", "repair", "north", "HP-200"));
    assert_eq!(problems_named(&refused), ["site.region not_in_list"]);
    assert_eq!(
        refused.body["params"]["errors"][0]["params"]["retired"],
        true
    );
    let corrected = dispatcher.patch(
        &format!("/v1/jobs/{early}"),
        &json!({ "problem": { "description": "radiators cold upstairs" } }),
    );
    assert_eq!(corrected.status, 200, "{:?}", corrected.body);
    let moved = dispatcher.patch(
        &format!("/v1/jobs/{early}"),
        &json!({ "site": { "region": "south" } }),
    );
    assert_eq!(problems_named(&moved), ["site.region not_in_list"]);
    let renamed = admin.post(
        "/v1/users",
        &json!({ "id": "nora", "name": "Nora Li", "role": "installer", "region": "north" }),
    );
    assert_eq!(renamed.status, 201, "kept: {:?}", renamed.body);
    let refused = admin.post(
        "/v1/users",
        &json!({ "id": "olga", "name": "Olga", "role": "installer", "region": "north" }),
    );
    assert_eq!(
        (refused.status, refused.body["params"]["problem"].as_str()),
        (400, Some("not_in_list"))
    );

    // An entry in use stays (retire it instead); one nothing carries goes.
    let kept = admin.delete("/v1/lists/regions/north");
    assert_eq!(
        (kept.status, kept.body["params"]["problem"].as_str()),
        (409, Some("in_use"))
    );
    let missing = admin.delete("/v1/lists/regions/west");
    assert_eq!(
        (missing.status, missing.body["params"]["thing"].as_str()),
        (404, Some("list_entry"))
    );
    admin.put(
        "/v1/lists/regions/west",
        &json!({ "name_zh": "西区", "name_en": "West" }),
    );
    assert_eq!(admin.delete("/v1/lists/regions/west").status, 204);
    let codes: Vec<Value> = dispatcher.get("/v1/lists").body["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .map(|e| e["code"].clone())
        .collect();
    assert_eq!(codes, [json!("north"), json!("华东")]);
}
