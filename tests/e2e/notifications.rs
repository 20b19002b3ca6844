//! The customer hears what happens to their job: by e-mail through a real SMTP sink (started by
//! `scripts/test.sh`, kept in a Maildir) and by a signed webhook to a local gateway that is
//! down at first, so its delivery is retried after the backoff.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use fieldsync_client_core::protocol::job::Outcome;
use fieldsync_client_core::protocol::now_millis;
use fieldsync_server::domain::clock::{Clock, ManualClock};
use fieldsync_server::state::outbox::{DELIVERY_HEADER, OutboxSettings, SIGNATURE_HEADER};
use fieldsync_tests::{Dispatcher, TestServer};
use serde_json::{Value, json};

const SECRET: &str = "gateway-secret-0123456789";
const HOUR: i64 = 3_600_000;
const PUBLIC_URL: &str = "https://service.example.com";

/// What the gateway received: each request's headers and body.
type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A webhook receiver on `port` answering 200, on its own runtime thread.
fn start_gateway(port: u16) -> Received {
    let received: Received = Arc::default();
    let keep = received.clone();
    let (ready, listening) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .expect("the gateway's port is free again");
            ready.send(()).expect("ready");
            let app = axum::Router::new().route(
                "/hook",
                axum::routing::post(move |headers: HeaderMap, body: String| {
                    let keep = keep.clone();
                    async move {
                        keep.lock().expect("lock").push((headers, body));
                        "ok"
                    }
                }),
            );
            axum::serve(listener, app).await.expect("serve");
        });
    });
    listening.recv().expect("the gateway listens");
    received
}

/// HMAC-SHA256 of `message` under [`SECRET`], in hex, as a receiver checks the signature.
fn hmac_hex(message: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut key = [0u8; 64];
    key[..SECRET.len()].copy_from_slice(SECRET.as_bytes());
    let pad = |byte: u8| key.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message.as_bytes())
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

/// The job's notifications, waiting (up to a generous deadline) until `done` holds.
fn notifications_until(
    dispatcher: &Dispatcher,
    job: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = dispatcher.get(&format!("/v1/jobs/{job}/notifications"));
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        let list = answer.body.as_array().expect("notifications").clone();
        if done(&list) {
            return list;
        }
        assert!(Instant::now() < deadline, "{what}: {list:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The delivery of `event` by `channel` in `list`.
fn delivery<'a>(list: &'a [Value], event: &str, channel: &str) -> Option<&'a Value> {
    list.iter()
        .filter(|n| n["event"] == event)
        .flat_map(|n| n["deliveries"].as_array().into_iter().flatten())
        .find(|d| d["channel"] == channel)
}

fn delivered(list: &[Value], event: &str, channel: &str) -> bool {
    delivery(list, event, channel).is_some_and(|d| d["status"] == "delivered")
}

/// A received e-mail as a person reads it: folded header lines joined, a quoted-printable
/// body decoded.
fn readable(raw: &str) -> String {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let head = head.replace("\n ", " ");
    if !head.contains("Content-Transfer-Encoding: quoted-printable") {
        return format!("{head}\n\n{body}");
    }
    let joined = body.replace("=\n", "");
    let mut bytes = Vec::new();
    let mut rest = joined.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        let hex = tail
            .get(..2)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (first, hex) {
            (b'=', Some(byte)) => {
                bytes.push(byte);
                rest = &tail[2..];
            }
            _ => {
                bytes.push(first);
                rest = tail;
            }
        }
    }
    format!("{head}\n\n{}", String::from_utf8_lossy(&bytes))
}

/// The messages in the Maildir `dir` sent to `to`.
fn mails_to(dir: &Path, to: &str) -> Vec<String> {
    let mut mails = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries {
            let raw = std::fs::read_to_string(entry.expect("entry").path()).unwrap_or_default();
            let text = readable(&raw);
            if text.contains(&format!("To: {to}")) {
                mails.push(text);
            }
        }
    }
    mails
}

#[test]
fn the_customer_is_told_by_email_and_by_a_gateway_that_was_down() {
    let smtp = std::env::var("FIELDSYNC_TEST_SMTP")
        .expect("FIELDSYNC_TEST_SMTP: run under scripts/test.sh, which starts the SMTP sink");
    let maildir = PathBuf::from(
        std::env::var("FIELDSYNC_TEST_MAILDIR").expect("FIELDSYNC_TEST_MAILDIR, with the sink"),
    );
    // The gateway's port, free: nothing listens there yet (the gateway is down).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let clock = Arc::new(ManualClock::new(now_millis()));
    let server = TestServer::start_notifying(
        clock.clone(),
        OutboxSettings {
            smtp: Some(smtp),
            mail_from: Some("Service <service@fieldsync.test>".into()),
            webhook: Some(format!("http://127.0.0.1:{port}/hook")),
            webhook_secret: Some(SECRET.into()),
            log: false,
            public_url: PUBLIC_URL.into(),
        },
    );
    let dispatcher = server.dispatcher();
    let email = format!("wang-{}@example.com", uuid::Uuid::new_v4().simple());

    // 1. A job gets tomorrow's appointment: the customer hears it is booked, by
    //    e-mail at once; the gateway is down, so its delivery waits for a retry.
    let tomorrow = clock.now() + 24 * HOUR;
    let opened = dispatcher.post(
        "/v1/jobs",
        &json!({
            "kind": "repair",
            "customer": { "name": "Wang Fang", "tier": "standard", "phone": "+86 138 0013 8000", "email": email },
            "site": { "address": "100 Century Avenue", "region": "east" },
            "problem": { "category": "no heat", "description": "cold radiators" },
        }),
    );
    assert_eq!(opened.status, 201, "{:?}", opened.body);
    let job = opened.body["id"].as_str().expect("id").to_owned();
    dispatcher.set_appointment(&job, tomorrow, tomorrow + 2 * HOUR);
    let list = notifications_until(&dispatcher, &job, "booked, e-mailed", |l| {
        delivered(l, "appointment_booked", "email")
            && delivery(l, "appointment_booked", "webhook").is_some_and(|d| d["attempts"] == 1)
    });
    let booked = &list[0];
    assert_eq!(list.len(), 1, "{list:#?}");
    let webhook = delivery(&list, "appointment_booked", "webhook").expect("webhook");
    assert_eq!(
        (&webhook["status"], &webhook["recipient"]),
        (&json!("pending"), &json!("+86 138 0013 8000")),
        "{webhook:#?}"
    );
    assert!(
        webhook["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("webhook")),
        "the refusal is recorded: {webhook:#?}"
    );
    let retry_at = webhook["next_attempt_at"].as_i64().expect("next attempt");
    assert_eq!(retry_at - clock.now(), 30_000, "the first retry is 30 s on");
    let mails = mails_to(&maildir, &email);
    assert_eq!(mails.len(), 1, "one e-mail");
    let mail = &mails[0];
    assert!(
        mail.contains(&format!(
            "Subject: Your service visit is booked (job {job})"
        )),
        "{mail}"
    );
    assert!(mail.contains("Dear Wang Fang,"), "{mail}");
    assert!(
        mail.contains(&format!(
            "Message-ID: <{}@fieldsync.test>",
            booked["id"].as_str().expect("id")
        )),
        "the notification's id names the e-mail: {mail}"
    );

    // 2. The gateway comes up; 30 s later (on the server's clock) the retry reaches it,
    //    signed, under the notification's id.
    let received = start_gateway(port);
    clock.advance(31_000);
    server.wake_outbox();
    let list = notifications_until(&dispatcher, &job, "the retry", |l| {
        delivered(l, "appointment_booked", "webhook")
    });
    let webhook = delivery(&list, "appointment_booked", "webhook").expect("webhook");
    assert_eq!(webhook["attempts"], 2, "{webhook:#?}");
    {
        let received = received.lock().expect("lock");
        assert_eq!(received.len(), 1);
        let (headers, body) = &received[0];
        let header = |name: &str| headers[name].to_str().expect("ascii").to_owned();
        assert_eq!(header(DELIVERY_HEADER), booked["id"].as_str().expect("id"));
        let signature = header(SIGNATURE_HEADER);
        let (t, v1) = signature
            .strip_prefix("t=")
            .and_then(|rest| rest.split_once(",v1="))
            .expect("t=…,v1=…");
        assert_eq!(v1, hmac_hex(&format!("{t}.{body}")), "the signature checks");
        let sent: Value = serde_json::from_str(body).expect("json");
        assert_eq!(sent["v"], 1);
        assert_eq!(sent["event"], "appointment_booked");
        assert_eq!(sent["job_id"], job.as_str());
        assert_eq!(sent["to"]["phone"], "+86 138 0013 8000");
        assert_eq!(sent["attempt"], 2);
        assert!(
            sent["text"]
                .as_str()
                .is_some_and(|t| t.contains("100 Century Avenue"))
        );
    }

    // 3. The same appointment set again tells nothing; a moved one is told.
    dispatcher.assign(&job, Some("anna"));
    dispatcher.set_appointment(&job, tomorrow, tomorrow + 2 * HOUR);
    dispatcher.set_appointment(&job, tomorrow + 4 * HOUR, tomorrow + 6 * HOUR);
    let list = notifications_until(&dispatcher, &job, "moved", |l| {
        delivered(l, "appointment_moved", "email") && delivered(l, "appointment_moved", "webhook")
    });
    assert_eq!(list.len(), 2, "{list:#?}");

    // 4. Anna sets off and finishes: on the way, then completed with the customer's link.
    let anna = server.phone("anna");
    anna.sync();
    anna.store
        .move_status(
            &job,
            fieldsync_client_core::protocol::rules::Status::EnRoute,
            None,
        )
        .expect("en route");
    anna.sync();
    let list = notifications_until(&dispatcher, &job, "on the way", |l| {
        delivered(l, "on_the_way", "webhook")
    });
    assert_eq!(list.len(), 3, "{list:#?}");
    anna.store
        .move_status(
            &job,
            fieldsync_client_core::protocol::rules::Status::OnSite,
            None,
        )
        .expect("on site");
    anna.store
        .finish_visit(&job, &Outcome::default(), true)
        .expect("completed");
    anna.sync();
    notifications_until(&dispatcher, &job, "completed", |l| {
        delivered(l, "completed", "email") && delivered(l, "completed", "webhook")
    });
    let completed = received
        .lock()
        .expect("lock")
        .iter()
        .map(|(_, body)| serde_json::from_str::<Value>(body).expect("json"))
        .find(|sent| sent["event"] == "completed")
        .expect("completed was posted");
    let link = completed["link"].as_str().expect("a link");
    let path = link.strip_prefix(PUBLIC_URL).expect("under the public URL");
    let token = path.strip_prefix("/r/").expect("/r/{token}");
    let page = server.anonymous().get(&format!("/v1/reports/{token}/page"));
    assert_eq!(
        page.status, 200,
        "the link opens the customer's page: {page:?}"
    );
    assert_eq!(page.body["job_id"], job.as_str());

    // 5. The return-visit call does not reach them: a survey by link, once.
    for _ in 0..2 {
        let call = dispatcher.post(
            &format!("/v1/jobs/{job}/return-visits"),
            &json!({ "outcome": "not_reached" }),
        );
        assert_eq!(call.status, 200, "{:?}", call.body);
    }
    let list = notifications_until(&dispatcher, &job, "survey", |l| {
        delivered(l, "survey", "email")
    });
    let events: Vec<&str> = list.iter().filter_map(|n| n["event"].as_str()).collect();
    assert_eq!(
        events,
        [
            "appointment_booked",
            "appointment_moved",
            "on_the_way",
            "completed",
            "survey"
        ]
    );

    // 6. A complaint about the job is answered: the customer is told the answer.
    let taken = dispatcher.post(
        "/v1/jobs",
        &json!({
            "kind": "complaint",
            "customer": { "name": "Wang Fang", "tier": "standard", "phone": "+86 138 0013 8000", "email": email },
            "site": { "address": "100 Century Avenue", "region": "east" },
            "problem": { "category": "delay", "description": "came late" },
            "complaint": { "about_job": job, "kind": "delay" },
        }),
    );
    assert_eq!(taken.status, 201, "{:?}", taken.body);
    let complaint = taken.body["id"].as_str().expect("id").to_owned();
    let answer = "We are sorry: your next service is free.";
    let handled = dispatcher.post(
        &format!("/v1/jobs/{complaint}/complaint"),
        &json!({ "answer": answer }),
    );
    assert_eq!(handled.status, 200, "{:?}", handled.body);
    notifications_until(&dispatcher, &complaint, "answered", |l| {
        delivered(l, "complaint_answered", "email")
    });
    let mails = mails_to(&maildir, &email);
    let told = mails
        .iter()
        .find(|m| m.contains("Subject: Our answer to your complaint"))
        .expect("the answer was e-mailed");
    assert!(told.contains(answer), "{told}");
    assert_eq!(mails.len(), 6, "one e-mail per notification");

    // Every notification reached the gateway once, under its own id.
    let ids: std::collections::BTreeSet<String> = received
        .lock()
        .expect("lock")
        .iter()
        .map(|(headers, _)| headers[DELIVERY_HEADER].to_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 6, "{ids:?}");
    assert_eq!(received.lock().expect("lock").len(), 6);
}
