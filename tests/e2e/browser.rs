//! The dispatch console in a real browser: headless Chromium (Debian's `chromium`, or the
//! binary named by `FIELDSYNC_CHROMIUM`) driven over the Chrome DevTools Protocol. A dispatcher
//! signs in, is told what is wrong with a bad call, takes a good one, assigns it from the day
//! board's suggestions, watches a simulated phone complete it and sees the KPI move live; a
//! second test opens the demo month and keeps screenshots of the dashboard and the board.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use fieldsync_client_core::protocol::job::Outcome;
use fieldsync_client_core::protocol::now_millis;
use fieldsync_client_core::protocol::rules::Status;
use fieldsync_server::domain::sla::SlaPolicy;
use fieldsync_server::domain::{Language, auth, demo, dispatch, planning, schedule};
use fieldsync_server::state::OrganisationZone;
use fieldsync_server::storage::blobs::FsBlobStore;
use fieldsync_server::storage::sqlite::SqliteStorage;
use fieldsync_server::{AppState, BackgroundServer};
use fieldsync_tests::{TestServer, artifacts_dir, password_of};
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// A headless Chromium with one page, spoken to over the DevTools protocol.
struct Browser {
    child: Child,
    socket: WebSocket<TcpStream>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

fn chromium_binary() -> String {
    if let Ok(path) = std::env::var("FIELDSYNC_CHROMIUM") {
        return path;
    }
    for candidate in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ] {
        if std::path::Path::new(candidate).exists() {
            return candidate.to_owned();
        }
    }
    panic!(
        "no Chromium found for the browser tests: install Debian's `chromium` package (the \
         README's test command does) or set FIELDSYNC_CHROMIUM"
    );
}

impl Browser {
    fn launch() -> Self {
        Self::launch_in(None, None)
    }

    /// A browser whose clock runs in `time_zone` (IANA), as a dispatcher's desk there would;
    /// the machine's zone when `None`.
    fn launch_in(time_zone: Option<&str>, language: Option<&str>) -> Self {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut command = Command::new(chromium_binary());
        if let Some(zone) = time_zone {
            command.env("TZ", zone);
        }
        if let Some(language) = language {
            command
                .arg(format!("--lang={language}"))
                .arg(format!("--accept-lang={language}"));
        }
        let mut child = command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1440,1000",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        // Chromium prints its DevTools endpoint on stderr; the port is then in the profile.
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("chromium exited before listening")
                .expect("read stderr");
            if let Some(rest) = line.split("ws://127.0.0.1:").nth(1) {
                break rest.split('/').next().expect("port").to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let targets: Value = serde_json::from_str(
            &fieldsync_tests::agent()
                .get(format!("http://127.0.0.1:{port}/json/list"))
                .call()
                .expect("list targets")
                .body_mut()
                .read_to_string()
                .expect("targets"),
        )
        .expect("targets json");
        let page = targets
            .as_array()
            .expect("targets")
            .iter()
            .find(|t| t["type"] == "page")
            .expect("a page target");
        let ws_url = page["webSocketDebuggerUrl"].as_str().expect("ws url");
        let stream = TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect devtools");
        let (socket, _) = tungstenite::client(ws_url, stream).expect("devtools handshake");
        let mut browser = Browser {
            child,
            socket,
            next_id: 0,
            _profile: profile,
        };
        browser.call("Page.enable", json!({}));
        browser.call("Runtime.enable", json!({}));
        browser
    }

    /// Sends one command and waits for its answer (events in between are skipped).
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .unwrap_or_else(|error| panic!("{method}: {error}"))
    }

    /// Sends one command: its result, or the error Chromium answered with.
    fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({ "id": id, "method": method, "params": params });
        self.socket
            .send(Message::text(message.to_string()))
            .expect("send to chromium");
        loop {
            let Message::Text(text) = self.socket.read().expect("read from chromium") else {
                continue;
            };
            let reply: Value = serde_json::from_str(&text).expect("devtools json");
            if reply["id"] == id {
                return match reply["error"] {
                    Value::Null => Ok(reply["result"].clone()),
                    ref error => Err(error.clone()),
                };
            }
        }
    }

    /// Evaluates JavaScript in the page (awaiting a promise) and returns its value.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
        );
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression}: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
    }

    /// Waits until `condition` (a JavaScript expression) is true; panics with `what` after a
    /// generous time (this is a wait for the page, not a timing assertion).
    fn wait_for(&mut self, condition: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let expression = format!("!!({condition})");
        while Instant::now() < deadline {
            // A page that is navigating (a reload) answers with an error: not yet.
            let answer = self.try_call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true }),
            );
            if answer.is_ok_and(|result| result["result"]["value"] == json!(true)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let body = self.eval("document.body ? document.body.innerText.slice(0, 2000) : ''");
        panic!("the page never showed {what}; it shows:\n{body}");
    }

    /// The text of the first element matching `selector`.
    fn text(&mut self, selector: &str) -> String {
        let js = format!(
            "(document.querySelector({s}) || {{}}).textContent || ''",
            s = json!(selector)
        );
        self.eval(&js)
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// Types into an input, select or textarea as a user would (input and change events).
    fn fill(&mut self, selector: &str, value: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({s}); if (!e) throw new Error('no ' + {s});
               e.focus(); e.value = {v};
               e.dispatchEvent(new Event('input', {{ bubbles: true }}));
               e.dispatchEvent(new Event('change', {{ bubbles: true }})); return true; }})()",
            s = json!(selector),
            v = json!(value)
        );
        self.eval(&js);
    }

    fn click(&mut self, selector: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({s}); if (!e) throw new Error('no ' + {s});
               e.click(); return true; }})()",
            s = json!(selector)
        );
        self.eval(&js);
    }

    /// Saves a PNG of the page to the test artifacts folder and returns its path.
    fn screenshot(&mut self, name: &str) -> PathBuf {
        let shot = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("png data"))
            .expect("base64");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).expect("artifacts dir");
        let path = dir.join(name);
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    fn sign_in(&mut self, url: &str, user: &str, password: &str) {
        self.goto(&format!("{url}/"));
        self.wait_for("document.querySelector('#login-form')", "the sign-in form");
        self.fill("#login-user", user);
        self.fill("#login-password", password);
        self.submit("#login-form");
        self.wait_for("document.querySelector('#nav')", "the signed-in console");
    }

    /// Submits the form `selector` names, as its submit button would.
    fn submit(&mut self, selector: &str) {
        self.eval(&format!(
            "document.querySelector({}).requestSubmit(), true",
            json!(selector)
        ));
    }

    /// Picks `value` in the menu `selector` names. The change may reload the page, so it is
    /// made after the evaluation returns.
    fn choose(&mut self, selector: &str, value: &str) {
        self.eval(&format!(
            "(() => {{ const s = document.querySelector({}); s.value = {}; \
             setTimeout(() => s.dispatchEvent(new Event('change'))); return true; }})()",
            json!(selector),
            json!(value)
        ));
    }

    /// Waits for the page of the job just opened and returns its id.
    fn opened_job(&mut self) -> String {
        self.wait_for("location.hash.startsWith('#/jobs/')", "the new job's page");
        let hash = self.eval("location.hash");
        hash.as_str()
            .and_then(|h| h.strip_prefix("#/jobs/"))
            .expect("job id")
            .to_owned()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn today() -> String {
    let now = now_millis();
    fieldsync_server::domain::planning::day_label(
        now - now.rem_euclid(fieldsync_server::domain::planning::DAY),
    )
}

#[test]
fn a_dispatcher_takes_a_call_assigns_it_and_sees_the_kpi_move() {
    let server = TestServer::start();
    let url = server.url();
    let mut browser = Browser::launch();
    browser.sign_in(&url, "dispatch", &password_of("dispatch"));
    assert!(browser.text("#whoami").contains("dispatch"));

    // A bad call: the page names every problem at once on its field, the API said 400, nothing
    // is stored. The required fields are marked.
    browser.eval("location.hash = '#/intake', true");
    browser.wait_for("document.querySelector('#intake-form')", "the intake form");
    assert_eq!(
        browser.eval(
            "[...document.querySelectorAll('#intake-form [aria-required=\"true\"]')].map((e) => e.id).join()"
        ),
        json!("customer_name,site_address,category,description")
    );
    browser.fill("#customer_name", "");
    browser.fill("#customer_email", "frontdesk-at-tanaka");
    browser.fill("#site_address", "12 Harbour Road");
    browser.fill("#region", "north");
    browser.fill("#description", "Radiators cold since this morning");
    browser.fill("#site_position", "95.1, -3.17");
    browser.submit("#intake-form");
    browser.wait_for(
        "(document.querySelector('#intake-error') || {}).textContent",
        "an intake error",
    );
    let errors = browser.text("#intake-error");
    assert!(
        errors.contains("name is required")
            && errors.contains("category is required")
            && errors.contains("not an email address")
            && errors.contains("Latitude is out of range"),
        "{errors}"
    );
    assert_eq!(
        browser.eval(
            "[...document.querySelectorAll('#intake-form .invalid')].map((e) => e.id).join()"
        ),
        json!("customer_name,customer_email,site_position,category")
    );
    assert_eq!(server.dispatcher().get("/v1/jobs").body, json!([]));
    browser.screenshot("intake-every-error.png");

    // The dispatcher looks at the board while the caller waits; the call is still there.
    browser.eval("location.hash = '#/board', true");
    browser.wait_for("document.querySelector('#board-unplanned')", "the board");
    browser.eval("location.hash = '#/intake', true");
    browser.wait_for(
        "document.querySelector('#intake-form')",
        "the intake form again",
    );
    assert_eq!(
        browser.eval("document.querySelector('#site_address').value"),
        json!("12 Harbour Road"),
        "the draft is kept"
    );

    // The call, taken properly; a position that is not two numbers is said so at once.
    browser.fill("#customer_email", "");
    browser.fill("#category", "no heat");
    browser.fill("#customer_name", "Hotel Tanaka");
    browser.fill("#tier", "vip");
    browser.fill("#kind", "repair");
    browser.fill("#product_model", "HP-200");
    browser.fill("#site_position", "by the harbour");
    browser.submit("#intake-form");
    browser.wait_for(
        "(document.querySelector('#intake-error') || {}).textContent.includes('two numbers') \
         && document.querySelector('#site_position').classList.contains('invalid')",
        "the position refused on the form",
    );
    assert_eq!(server.dispatcher().get("/v1/jobs").body, json!([]));
    browser.fill("#site_position", "55.9755, -3.1710");
    browser.submit("#intake-form");
    let job = browser.opened_job();
    let stored = server.dispatcher().job(&job);
    assert_eq!(stored["job"]["customer"]["tier"], "vip");
    assert_eq!(stored["job"]["problem"]["category"], "no heat");
    assert_eq!(
        (&stored["job"]["site"]["lat"], &stored["job"]["site"]["lon"]),
        (&json!(55.9755), &json!(-3.171))
    );

    // Assign it on today's board, from the ranked suggestions.
    let day = today();
    browser.eval(&format!("location.hash = '#/board?day={day}', true"));
    let on_board = format!("document.querySelector('#board-unplanned [data-job-id=\"{job}\"]')");
    browser.wait_for(&on_board, "the call among the unplanned jobs");
    browser.click(&format!("#board-unplanned [data-job-id=\"{job}\"]"));
    browser.wait_for(
        "document.querySelector('#suggestions button.assign-btn[data-user=\"anna\"]')",
        "anna among the suggestions",
    );
    browser.click("#suggestions button.assign-btn[data-user=\"anna\"]");
    let assigned = || server.dispatcher().job(&job)["summary"]["assignee"].clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    while assigned() != json!("anna") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(assigned(), json!("anna"), "assigned from the board");

    // The dashboard before the phone reports back.
    browser.eval("location.hash = '#/dashboard', true");
    browser.wait_for(
        "document.querySelector('#kpi-first-time-fix .value')",
        "the first-time fix tile",
    );
    let before = browser.text("#kpi-first-time-fix .value");
    assert!(!before.contains("100"), "nothing resolved yet: {before}");

    // The installer's phone completes the job (offline, then syncs); the dashboard updates
    // by itself.
    let phone = server.phone("anna");
    phone.sync();
    phone.arrive(&job);
    let outcome = Outcome {
        first_visit_success: Some(true),
        cause: "air in the system".into(),
        fix: "bled the radiators".into(),
        summary: "warm again".into(),
    };
    phone
        .store
        .finish_visit(&job, &outcome, true)
        .expect("complete");
    phone
        .store
        .set_rating(&job, 5, "quick and kind")
        .expect("rating");
    phone.sync();
    browser.wait_for(
        "(document.querySelector('#kpi-first-time-fix .value') || {}).textContent === '100%'",
        "first-time fix at 100% after the phone's sync",
    );
    let shot = browser.screenshot("dashboard-one-job.png");
    assert!(shot.exists());

    // The job page shows the field record and who did what from which device.
    browser.eval(&format!("location.hash = '#/jobs/{job}', true"));
    browser.wait_for(
        "(document.querySelector('#job-status') || {}).textContent",
        "the job page",
    );
    browser.wait_for(
        "/completed/i.test(document.querySelector('#job-status').textContent)",
        "the completed status",
    );
    let history = browser.text("#job-history");
    assert!(history.contains("anna"), "{history}");
    assert!(
        browser
            .eval("document.body.innerText")
            .as_str()
            .unwrap_or_default()
            .contains("bled the radiators")
    );

    // A completed job is closed, not cancelled. A new one can be cancelled, only with a reason,
    // which the history keeps; it offers no close, since it was never worked.
    let offered = |browser: &mut Browser, to: &str| {
        browser.eval(&format!(
            "!!document.querySelector('.status-btn[data-to=\"{to}\"]')"
        )) == json!(true)
    };
    assert!(offered(&mut browser, "closed") && !offered(&mut browser, "cancelled"));

    // Customer service calls the customer back: the call, the score and the words are kept on
    // the job, and the return-visit clock stops.
    browser.wait_for(
        "document.querySelector('#return-visit-form')",
        "the return-visit form on the completed job",
    );
    browser.fill("#rv-outcome", "reached");
    browser.fill("#rv-score", "4");
    browser.fill("#rv-comment", "happy, the radiators are warm");
    browser.submit("#return-visit-form");
    browser.wait_for(
        "document.querySelector('#job-return-visits tr[data-outcome=\"reached\"]') && \
         (document.querySelector('#job-clocks [data-clock=\"return_visit\"]') || {}).className.includes('met')",
        "the call recorded and the return-visit clock met",
    );
    assert!(browser.text("#job-return-visits").contains("4/5"));
    // The customer was told the work is done (through the server's log on this server).
    browser.wait_for(
        "document.querySelector('#job-notifications tr[data-event=\"completed\"][data-status=\"delivered\"]')",
        "the completion told to the customer",
    );
    browser.screenshot("job-return-visit.png");
    let call = server
        .dispatcher()
        .create_job("A caller who changed their mind");
    browser.eval(&format!("location.hash = '#/jobs/{call}', true"));
    browser.wait_for(
        &format!(
            "/{call}/.test(document.body.innerText) && \
             document.querySelector('.status-btn[data-to=\"cancelled\"]')"
        ),
        "the new job's page",
    );
    assert!(
        !offered(&mut browser, "closed"),
        "a job never worked offers no close"
    );
    browser.click(".status-btn[data-to=\"cancelled\"]");
    browser.wait_for(
        "(document.activeElement || {}).id === 'job-status-reason'",
        "the reason asked for, focused",
    );
    browser.screenshot("job-cancel-asks-a-reason.png");
    assert_eq!(
        browser.eval("document.querySelector('#job-status-reason').matches(':invalid')"),
        json!(true),
        "no cancel without a reason"
    );
    browser.fill("#job-status-reason", "the customer fixed it themselves");
    browser.submit(".status-reason");
    browser.wait_for(
        "/cancelled/i.test((document.querySelector('#job-status') || {}).textContent)",
        "the cancelled status",
    );
    let history = browser.text("#job-history");
    assert!(
        history.contains("the customer fixed it themselves"),
        "{history}"
    );
    browser.screenshot("job-cancelled-with-reason.png");

    // A misspelt address is corrected on the job page: a refused value is marked on its
    // field, only what changed is sent, and the history shows the old and the new value.
    let misspelt = server.dispatcher().create_job("Hedy Lamarr");
    browser.eval(&format!("location.hash = '#/jobs/{misspelt}', true"));
    browser.wait_for(
        &format!(
            "/{misspelt}/.test(document.body.innerText) && document.querySelector('#job-correct')"
        ),
        "the job page with its correct button",
    );
    browser.click("#job-correct");
    browser.wait_for(
        "(document.activeElement || {}).id === 'fix-customer_name'",
        "the correction form, its first field focused",
    );
    browser.fill("#fix-customer_name", " ");
    browser.fill("#fix-site_address", "1 Test Road, Flat 2");
    browser.submit("#correct-form");
    browser.wait_for(
        "document.querySelector('#fix-customer_name[aria-invalid=\"true\"]') && !document.querySelector('#fix-error').hidden",
        "the emptied name marked",
    );
    browser.fill("#fix-customer_name", "Hedy Lamarr");
    browser.fill("#fix-customer_tier", "vip");
    browser.fill("#fix-reason", "the caller spelt it out again");
    browser.screenshot("job-correcting.png");
    browser.submit("#correct-form");
    browser.wait_for(
        "!document.querySelector('#correct-form') && document.querySelector('#job-history ul.corrections')",
        "the corrected job with the correction in its history",
    );
    let history = browser.text("#job-history");
    assert!(
        history.contains("1 Test Road → 1 Test Road, Flat 2")
            && history.contains("the caller spelt it out again"),
        "{history}"
    );
    let corrected = server.dispatcher().job(&misspelt);
    assert_eq!(corrected["job"]["site"]["address"], "1 Test Road, Flat 2");
    assert_eq!(corrected["job"]["customer"]["tier"], "vip");
    assert_eq!(corrected["job"]["customer"]["name"], "Hedy Lamarr");
    browser.screenshot("job-corrected.png");

    // A returning customer: typing the number offers the record, picking it fills the call,
    // and the customer's page lists both jobs.
    let earlier = server.dispatcher().post(
        "/v1/jobs",
        &json!({
            "customer": { "name": "Katherine Johnson", "phone": "+44 20 7946 0101", "tier": "vip" },
            "site": { "address": "7 Orbit Close", "city": "Leith" },
            "product": { "model": "HP-200", "serial": "SN-4242" },
            "problem": { "category": "no heat", "description": "cold radiators" },
        }),
    );
    assert_eq!(earlier.status, 201, "{:?}", earlier.body);
    browser.eval("location.hash = '#/intake', true");
    browser.wait_for("document.querySelector('#intake-form')", "the intake form");
    browser.click("#intake-clear");
    browser.fill("#customer_phone", "7946 0101");
    browser.wait_for(
        "document.querySelector('#intake-customers .pick-customer')",
        "the known customer offered",
    );
    browser.screenshot("intake-known-customer.png");
    browser.click("#intake-customers .pick-customer");
    browser.wait_for(
        "!document.querySelector('#intake-linked').hidden",
        "the call linked to the record",
    );
    assert_eq!(
        browser.eval("[document.querySelector('#customer_name').value, document.querySelector('#site_address').value, document.querySelector('#product_serial').value, document.querySelector('#tier').value]"),
        json!(["Katherine Johnson", "7 Orbit Close", "SN-4242", "vip"])
    );
    browser.fill("#category", "leak");
    browser.fill("#description", "water under the unit");
    browser.submit("#intake-form");
    let again = browser.opened_job();
    browser.wait_for(
        "document.querySelector('#job-customer-link')",
        "the job page naming the customer's record",
    );
    browser.click("#job-customer-link");
    browser.wait_for(
        "document.querySelectorAll('#customer-jobs tr[data-job-id]').length === 2",
        "the customer's page with both jobs",
    );
    assert_eq!(
        browser.eval(&format!(
            "!!document.querySelector('#customer-jobs tr[data-job-id=\"{again}\"]')"
        )),
        json!(true),
        "the new call is in the customer's history"
    );
    assert!(browser.text("#customer-products").contains("SN-4242"));
    browser.screenshot("customer.png");

    // A visit moved over another of the engineer's is refused with the other visit named; the
    // error asks for a reason, and with one the visit is booked.
    // On the hour: the inputs take minutes.
    let tomorrow = (now_millis() / 3_600_000 + 24) * 3_600_000;
    let busy = server.dispatcher().create_job("Ada Lovelace");
    server
        .dispatcher()
        .set_appointment(&busy, tomorrow, tomorrow + 2 * 3_600_000);
    server.dispatcher().assign(&busy, Some("ben"));
    let later = server.dispatcher().create_job("Grace Hopper");
    server
        .dispatcher()
        .set_appointment(&later, tomorrow + 4 * 3_600_000, tomorrow + 5 * 3_600_000);
    server.dispatcher().assign(&later, Some("ben"));
    browser.eval(&format!("location.hash = '#/jobs/{later}', true"));
    browser.wait_for(
        &format!(
            "/{later}/.test(document.body.innerText) && document.querySelector('#job-appt-start')"
        ),
        "the later job's page",
    );
    // The page's own local time, as its inputs take it.
    let local = |browser: &mut Browser, ms: i64| {
        browser
            .eval(&format!(
                "(() => {{ const d = new Date({ms}); const p = (n) => String(n).padStart(2, '0');
                   return `${{d.getFullYear()}}-${{p(d.getMonth() + 1)}}-${{p(d.getDate())}}T${{p(d.getHours())}}:${{p(d.getMinutes())}}`; }})()"
            ))
            .as_str()
            .expect("a local time")
            .to_owned()
    };
    let (start, end) = (
        local(&mut browser, tomorrow + 3_600_000),
        local(&mut browser, tomorrow + 3 * 3_600_000),
    );
    browser.fill("#job-appt-start", &start);
    browser.fill("#job-appt-end", &end);
    browser.click("#job-appt-save");
    browser.wait_for(
        "document.querySelector('#job-error-override')",
        "the double booking, refused with a reason asked for",
    );
    let refusal = browser.text("#job-error");
    assert!(
        refusal.contains("Ada Lovelace") && refusal.contains("ben"),
        "{refusal}"
    );
    browser.screenshot("job-double-booking-refused.png");
    browser.fill("#job-error-override", "the customer can only do mornings");
    browser.submit("#job-error .override");
    let start_of = || server.dispatcher().job(&later)["summary"]["appointment_start"].clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    while start_of() != json!(tomorrow + 3_600_000) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        start_of(),
        json!(tomorrow + 3_600_000),
        "booked with the reason"
    );
    browser.wait_for(
        "/the customer can only do mornings/.test(document.querySelector('#job-history').textContent)",
        "the reason in the history",
    );

    // Any job is found again in three steps: Jobs, a few letters of the customer, Enter.
    browser.click("#nav a[href=\"#/jobs\"]");
    browser.wait_for(
        "(document.activeElement || {}).id === 'jobs-q'",
        "the job search, focused",
    );
    browser.fill("#jobs-q", "grace hop");
    browser.wait_for(
        &format!(
            "document.querySelector('#jobs-table tr[data-job-id=\"{later}\"]') && \
             document.querySelectorAll('#jobs-table tbody tr').length === 1"
        ),
        "Grace Hopper's job, alone",
    );
    browser.screenshot("jobs-found-by-typing.png");
    // The search saved as a view comes back with one click.
    browser.fill("#jobs-sort", "customer");
    browser.fill("#jobs-view-name", "Grace");
    browser.click("#jobs-view-save");
    browser.wait_for(
        "document.querySelector('.view-chip[data-view=\"Grace\"]') && document.querySelector('#jobs-view-name').value === ''",
        "the saved view",
    );
    browser.fill("#jobs-q", "");
    browser.fill("#jobs-sort", "call");
    browser.wait_for(
        "document.querySelectorAll('#jobs-table tbody tr').length > 1",
        "every open job",
    );
    browser.click(".view-chip[data-view=\"Grace\"] button");
    browser.wait_for(
        "document.querySelector('#jobs-q').value === 'grace hop' && document.querySelector('#jobs-sort').value === 'customer' \
         && document.querySelectorAll('#jobs-table tbody tr').length === 1",
        "the view's search again",
    );
    browser.eval(
        "document.querySelector('#jobs-q').dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true })), true",
    );
    browser.wait_for(
        &format!("location.hash === '#/jobs/{later}'"),
        "the job, opened with Enter",
    );

    // At a phone's width (a supervisor reading an escalation) the pages fit the screen: the
    // bar wraps and wide tables scroll inside their card.
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 412, "height": 915, "deviceScaleFactor": 2, "mobile": true }),
    );
    for (hash, ready, shot) in [
        (
            format!("#/jobs/{later}"),
            "document.querySelector('#job-history')",
            "job-at-412px.png",
        ),
        (
            "#/jobs".to_owned(),
            "document.querySelector('#jobs-table')",
            "jobs-at-412px.png",
        ),
    ] {
        browser.eval(&format!("location.hash = '{hash}', true"));
        browser.wait_for(ready, &hash);
        assert_eq!(
            browser.eval(
                "document.documentElement.scrollWidth <= window.innerWidth \
                 && !!document.querySelector('#nav a[href=\"#/reminders\"], .reminders-link') \
                 && document.querySelector('#logout').getBoundingClientRect().right <= window.innerWidth"
            ),
            json!(true),
            "{hash} fits 412 px with sign-out in reach"
        );
        browser.screenshot(shot);
    }
    browser.call("Emulation.clearDeviceMetricsOverride", json!({}));
}

/// Every string value in `value` (not its keys), joined by spaces.
fn strings_in(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(strings_in).collect::<Vec<_>>().join(" "),
        Value::Object(members) => members
            .values()
            .map(strings_in)
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// The words of four or more Latin letters in `text`.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 4)
}

/// The JSON answer to an office user's GET of `path`.
fn office_get(url: &str, token: &str, path: &str) -> Value {
    let text = fieldsync_tests::agent()
        .get(format!("{url}{path}"))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .expect("get")
        .body_mut()
        .read_to_string()
        .expect("body");
    serde_json::from_str(&text).expect("json")
}

/// A database in `dir` seeded with `days` of the demo organisation's work up to `now`; the
/// storage and how many jobs it holds.
fn demo_storage(
    dir: &std::path::Path,
    now: i64,
    days: i64,
    locale: Language,
) -> (SqliteStorage, usize) {
    let storage = SqliteStorage::open(dir.join("demo.sqlite3")).expect("open");
    auth::ensure_admin(&storage, Some("demo-admin-password")).expect("admin");
    let created =
        demo::seed_days(&storage, &SlaPolicy::default(), now, days, locale).expect("seed");
    (storage, created)
}

/// A dispatcher in Shanghai whose browser reads Chinese: the whole desk speaks Chinese without a
/// setting, takes a call with a Chinese name and address, assigns it, reads the board, a job and
/// the dashboard; switching to English sticks for this user across reloads.
#[test]
fn a_chinese_dispatcher_takes_a_call_assigns_it_and_reads_the_desk_in_chinese() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = now_millis();
    let (storage, _) = demo_storage(dir.path(), now, 7, Language::Chinese);
    let blobs = FsBlobStore::open(dir.path().join("blobs")).expect("blobs");
    let mut state = AppState::new(Arc::new(storage), Arc::new(blobs));
    let shanghai = OrganisationZone::named("Asia/Shanghai").expect("zone");
    let today = planning::local_date(now, shanghai.zone()).to_string();
    let shanghai_zone = shanghai.zone().clone();
    state.time_zone = Arc::new(shanghai);
    state.language = Language::Chinese;
    state.phone_region = dispatch::default_phone_region(Language::Chinese);
    let server = BackgroundServer::start_with(state, "127.0.0.1:0").expect("server");
    let url = server.url();
    let token = fieldsync_tests::sign_in(&url, demo::DISPATCHER, demo::DISPATCHER_PASSWORD);
    let body = |browser: &mut Browser| {
        let text = browser.eval("document.body.innerText");
        text.as_str().unwrap_or_default().to_owned()
    };

    // The browser's language decides, from the sign-in page on. The dispatcher's computer keeps
    // UTC: the console still shows and reads times on the organisation's clock.
    let mut browser = Browser::launch_in(Some("UTC"), Some("zh-CN"));
    browser.goto(&format!("{url}/"));
    browser.wait_for("document.querySelector('#login-form')", "the sign-in form");
    assert!(browser.text("#login-form").contains("登录"));
    assert_eq!(
        browser.eval("document.documentElement.lang"),
        json!("zh-CN")
    );
    browser.sign_in(&url, demo::DISPATCHER, demo::DISPATCHER_PASSWORD);
    let nav = browser.text("#nav");
    assert!(nav.contains("队列") && nav.contains("派工看板"), "{nav}");

    // A call missing the customer's name: the server's code and field, worded in Chinese.
    browser.eval("location.hash = '#/intake', true");
    browser.wait_for("document.querySelector('#intake-form')", "the intake form");
    browser.fill("#customer_name", "");
    browser.fill("#site_province", "上海市");
    browser.fill("#site_district", "浦东新区");
    browser.fill("#site_address", "世纪大道 100 号");
    // The demo keeps its lists: the category is a choice of them, not free text.
    assert_eq!(
        browser.eval("document.querySelector('#category').tagName"),
        json!("SELECT")
    );
    browser.fill("#category", "不制热");
    assert_eq!(
        browser.eval("document.querySelector('#category').value"),
        json!("不制热")
    );
    browser.fill("#description", "空调开机后不制热，室外机不转");
    browser.submit("#intake-form");
    browser.wait_for(
        "(document.querySelector('#intake-error') || {}).textContent",
        "an intake error",
    );
    assert_eq!(browser.text("#intake-error"), "请填写客户名称");
    // A number that is not a Chinese one: the organisation is in China.
    browser.fill("#customer_name", "张伟");
    browser.fill("#customer_phone", "138 0013");
    browser.submit("#intake-form");
    browser.wait_for(
        "(document.querySelector('#intake-error') || {}).textContent.includes('电话')",
        "the phone number refused",
    );
    assert_eq!(
        browser.text("#intake-error"),
        "“138 0013”不是有效的电话号码"
    );
    browser.fill("#customer_phone", "+86 138 0013 8000");
    browser.submit("#intake-form");
    let job = browser.opened_job();
    browser.wait_for(
        "(document.querySelector('#job-status') || {}).textContent === '新建'",
        "the new job, in Chinese",
    );

    // Assigned from the job's suggestions, which explain themselves in Chinese.
    browser.wait_for(
        "document.querySelector('#suggestions button.assign-btn')",
        "the suggestions",
    );
    let reasons = browser.text("#suggestions");
    assert!(
        reasons.contains("空闲") || reasons.contains("已有"),
        "{reasons}"
    );
    browser.click("#suggestions button.assign-btn");
    browser.wait_for(
        "(document.querySelector('#job-status') || {}).textContent === '已派工'",
        "the assigned status",
    );
    let stored = office_get(&url, &token, &format!("/v1/jobs/{job}"));
    assert_eq!(stored["job"]["customer"]["name"], "张伟");
    // The region followed from the province.
    assert_eq!(stored["job"]["site"]["region"], "华东");
    assert_eq!(stored["job"]["site"]["district"], "浦东新区");
    assert!(stored["summary"]["assignee"].is_string(), "{stored}");
    let received = stored["job"]["call_received_at"]
        .as_i64()
        .expect("received");
    let in_shanghai = jiff::Timestamp::from_millisecond(received)
        .expect("time")
        .to_zoned(shanghai_zone.clone())
        .strftime("%H:%M")
        .to_string();
    let meta = browser.text(".job-meta");
    assert!(meta.contains(&in_shanghai), "{meta} shows {in_shanghai}");
    browser.screenshot("job-assigned-zh.png");

    // The day board: the engineers and the words around them.
    browser.eval(&format!("location.hash = '#/board?day={today}', true"));
    browser.wait_for(
        "document.querySelectorAll('.board-row[data-engineer]').length >= 5",
        "the day board",
    );
    let board = body(&mut browser);
    for engineer in ["王芳", "李强", "陈伟", "赵敏", "刘洋"] {
        assert!(board.contains(engineer), "{engineer} on the board");
    }
    browser.screenshot("board-zh.png");

    // A finished job: its customer, address, checklist and notes as the organisation wrote them.
    let jobs = office_get(&url, &token, "/v1/jobs");
    let done = jobs
        .as_array()
        .and_then(|jobs| jobs.iter().find(|j| j["status"] == "closed"))
        .expect("a closed job");
    let id = done["id"].as_str().expect("id");
    browser.eval(&format!("location.hash = '#/jobs/{id}', true"));
    browser.wait_for(
        "document.body.innerText.includes('号') && document.body.innerText.includes('试机')",
        "the job's address and notes",
    );
    let customer = done["customer_name"].as_str().expect("customer");
    assert!(body(&mut browser).contains(customer));
    assert_eq!(browser.text("#job-status"), "已关闭");
    browser.screenshot("job-zh.png");

    // The dashboard: tiles, charts and their captions in Chinese.
    browser.eval("location.hash = '#/dashboard', true");
    browser.wait_for(
        "document.querySelector('#kpi-first-time-fix .value') && document.querySelector('svg')",
        "the dashboard",
    );
    let dashboard = body(&mut browser);
    assert!(dashboard.contains("一次修复率"), "{dashboard}");
    browser.screenshot("dashboard-zh.png");

    // No word of the console's English is left on any page (the data may hold Latin script:
    // user ids, product models).
    let catalog =
        |json: &str| -> BTreeMap<String, Value> { serde_json::from_str(json).expect("catalog") };
    let catalog_text = |catalog: &BTreeMap<String, Value>| {
        let text = catalog.values().map(Value::to_string).collect::<Vec<_>>();
        text.join(" ").to_lowercase()
    };
    let english_catalog = catalog(include_str!("../../server/console/i18n/en.json"));
    let english = catalog_text(&english_catalog);
    // Names the Chinese texts keep too (Markdown, Fieldsync) are not English left behind.
    let chinese = catalog_text(&catalog(include_str!(
        "../../server/console/i18n/zh-CN.json"
    )));
    let kept: BTreeSet<&str> = words(&chinese).collect();
    // Nor is the data people typed or the ids the server made (`customer4@example.cn`, a
    // device called `demo-phone-chenwei`, the user `dispatch`).
    let data = [
        "/v1/jobs".to_owned(),
        "/v1/devices".to_owned(),
        "/v1/users".to_owned(),
        format!("/v1/jobs/{id}"),
        format!("/v1/jobs/{job}"),
    ]
    .map(|path| strings_in(&office_get(&url, &token, &path)).to_lowercase())
    .join(" ");
    // Values the server sends as codes (statuses, kinds…) are not data: they must be worded.
    let coded: String = english_catalog
        .keys()
        .filter_map(|k| {
            k.strip_prefix("value.")
                .or_else(|| k.strip_prefix("clock."))
        })
        .collect::<Vec<_>>()
        .join(" ");
    let coded: BTreeSet<&str> = words(&coded).collect();
    let data: BTreeSet<&str> = words(&data)
        .filter(|w| !coded.contains(w) || *w == demo::DISPATCHER)
        .collect();
    let console_english: BTreeSet<&str> = words(&english)
        .filter(|w| !kept.contains(w) && !data.contains(w))
        .collect();
    let mut english_left = BTreeMap::new();
    let pages = [
        "#/queues".to_owned(),
        "#/board".to_owned(),
        "#/dashboard".to_owned(),
        "#/manuals".to_owned(),
        "#/fleet".to_owned(),
        "#/people".to_owned(),
        "#/week".to_owned(),
        "#/map".to_owned(),
        "#/reminders".to_owned(),
        format!("#/jobs/{id}"),
        format!("#/jobs/{job}"),
    ];
    for page in &pages {
        browser.eval(&format!("location.hash = '{page}', true"));
        browser.wait_for(
            "!document.querySelector('#view .loading')",
            "the page to load",
        );
        std::thread::sleep(Duration::from_millis(300));
        // The view, not the top bar: it names the signed-in user by id (`dispatch`).
        let text = browser.text("#view").to_lowercase();
        let english: BTreeSet<String> = words(&text)
            .filter(|w| console_english.contains(w))
            .map(str::to_owned)
            .collect();
        if !english.is_empty() {
            english_left.insert(page.clone(), english);
        }
    }
    assert!(english_left.is_empty(), "English left: {english_left:?}");

    // English on request, for this user on this browser, across reloads.
    browser.choose("#language", "en");
    browser.wait_for(
        "(document.querySelector('#nav') || {}).textContent && document.querySelector('#nav').textContent.includes('Queues')",
        "the console in English",
    );
    browser.eval("window.reloading = true; setTimeout(() => location.reload()), true");
    browser.wait_for(
        "!window.reloading && document.documentElement.lang === 'en' \
         && (document.querySelector('#nav') || {}).textContent.includes('Queues')",
        "English after a reload",
    );

    // Signed out, the sign-in page follows the browser again; English chosen there becomes the
    // language of whoever signs in next, and stays theirs.
    browser.eval("document.querySelector('#logout').click(), true");
    browser.wait_for("document.querySelector('#login-form')", "the sign-in form");
    assert!(browser.text("#login-form").contains("登录"));
    browser.choose("#login-language", "en");
    browser.wait_for(
        "(document.querySelector('#login-form') || {}).textContent && document.querySelector('#login-form').textContent.includes('Sign in')",
        "the sign-in page in English",
    );
    let (supervisor, password) = ("zhouli", "supervisor-demo");
    browser.sign_in(&url, supervisor, password);
    assert!(browser.text("#nav").contains("Queues"));
    let theirs = browser.eval(&format!(
        "localStorage.getItem('fieldsync.language.{supervisor}')"
    ));
    assert_eq!(theirs, json!("en"));
}

#[test]
fn the_demo_month_fills_the_dashboard_board_and_queues() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = now_millis();
    let (storage, created) = demo_storage(dir.path(), now, 30, Language::English);
    assert!(created > 150, "a month of work: {created} jobs");
    let server =
        BackgroundServer::start(Arc::new(storage), &dir.path().join("blobs"), "127.0.0.1:0")
            .expect("server");
    let url = server.url();

    // What the demo must show a newcomer, checked through the API.
    let token = fieldsync_tests::sign_in(&url, demo::DISPATCHER, demo::DISPATCHER_PASSWORD);
    let get = |path: &str| office_get(&url, &token, path);
    let jobs = get("/v1/jobs");
    let jobs = jobs.as_array().expect("jobs");
    let count = |f: &dyn Fn(&Value) -> bool| jobs.iter().filter(|j| f(j)).count();
    assert!(count(&|j| j["tier"] == "vip") > 10, "VIP customers");
    assert!(count(&|j| j["kind"] == "complaint") > 5, "complaints");
    assert!(
        count(&|j| j["ring"].as_u64() >= Some(2)) >= 2,
        "escalations"
    );
    assert!(count(&|j| j["status"] == "closed") > 50, "closed work");
    assert_eq!(
        get("/v1/manuals").as_array().map(Vec::len),
        Some(5),
        "a manual per model"
    );
    assert!(
        get("/v1/cases").as_array().map_or(0, Vec::len) > 20,
        "completed work with a cause and a fix makes the case library"
    );
    let kpis = get("/v1/kpis?period=week");
    assert!(kpis["buckets"].as_array().map_or(0, Vec::len) >= 4, "weeks");
    let total = &kpis["total"];
    let ftf = total["first_time_fix"]["rate"].as_f64().expect("ftf");
    assert!((0.75..0.97).contains(&ftf), "first-time fix {ftf}");
    assert!(total["satisfaction"]["of"].as_u64() > Some(50), "ratings");
    assert!(kpis["service_star"].is_string(), "a service star");
    let queues = get("/v1/queues");
    for queue in ["unassigned", "escalated", "overdue"] {
        assert!(
            !queues[queue].as_array().expect("queue").is_empty(),
            "the {queue} queue has work"
        );
    }
    let visits = get("/v1/audit?kind=change");
    assert!(visits.as_array().is_some_and(|a| !a.is_empty()));

    let mut browser = Browser::launch();
    browser.sign_in(&url, demo::DISPATCHER, demo::DISPATCHER_PASSWORD);
    browser.eval("location.hash = '#/dashboard', true");
    browser.wait_for(
        "document.querySelector('#chart-rates svg') && document.querySelectorAll('#kpi-engineers tr[data-engineer]').length >= 5",
        "the dashboard's charts and engineers",
    );
    assert!(browser.eval("document.querySelectorAll('#kpi-engineers tr.star').length") == json!(1));
    let dashboard = browser.screenshot("dashboard.png");
    browser.eval(&format!("location.hash = '#/board?day={}', true", today()));
    browser.wait_for(
        "document.querySelectorAll('.board-row[data-engineer]').length >= 5",
        "the day board",
    );
    browser.screenshot("board.png");
    console_load_under_a_busy_fleet(&mut browser, &url, &token, jobs);
    browser.eval("location.hash = '#/queues', true");
    browser.wait_for(
        "document.querySelectorAll('#queue-unassigned .queue-item').length > 0",
        "the queues",
    );
    browser.screenshot("queues.png");
    assert!(dashboard.exists());

    // Dispatch's own inbox is narrower than everybody's (the rings' reminders go elsewhere).
    browser.eval("location.hash = '#/reminders', true");
    browser.wait_for(
        "document.querySelectorAll('li.reminder').length > 0",
        "the open reminders",
    );
    let all = browser.eval("document.querySelectorAll('li.reminder').length");
    // Grouped per job under its customer's name, and the texts name the customer, not the id.
    let heading = browser.text(".reminder-group h2 a");
    let first_text = browser.text(".reminder-group li.reminder .rm-body");
    assert!(
        !heading.is_empty() && !heading.starts_with("job-") && first_text.contains(&heading),
        "{heading}: {first_text}"
    );
    browser.screenshot("reminders-by-job.png");
    browser.click("#reminders-mine");
    browser.wait_for(
        &format!(
            "document.querySelector('#reminders-mine').checked && document.querySelectorAll('li.reminder').length < {all}"
        ),
        "only dispatch's reminders",
    );
    // All of them acknowledged at once: the open list of dispatch's own is empty, and the
    // badge follows.
    browser.click("#ack-all-mine");
    browser.wait_for(
        "document.querySelectorAll('li.reminder').length === 0 && !document.querySelector('#ack-all-mine')",
        "dispatch's reminders acknowledged",
    );
    let open: Vec<Value> =
        serde_json::from_value(office_get(&url, &token, "/v1/reminders?mine=true"))
            .expect("reminders");
    assert!(open.is_empty(), "{open:?}");

    // An admin reads the same pages but is offered no planning controls.
    let mut admin = Browser::launch();
    admin.sign_in(&url, "admin", "demo-admin-password");
    admin.eval("location.hash = '#/queues', true");
    admin.wait_for(
        "document.querySelector('#queue-unassigned .queue-item')",
        "the queues for the admin",
    );
    admin.click("#queue-unassigned .queue-item");
    admin.wait_for(
        "document.querySelector('#suggestions button.assign-btn')",
        "the job page's suggestions",
    );
    let shown =
        "[...document.querySelectorAll('.assign-btn, .status-btn, #nav a[href=\"#/intake\"]')]
        .filter((e) => e.offsetParent !== null).length";
    assert_eq!(
        admin.eval(shown),
        json!(0),
        "no planning controls for an admin"
    );
}

/// The console's own load while the fleet is busy: office edits pour in at up to 100 a second
/// and the board, open in the browser, still refreshes at most four times a second, each
/// refresh costing what one costs when the fleet is quiet.
fn console_load_under_a_busy_fleet(browser: &mut Browser, url: &str, token: &str, jobs: &[Value]) {
    const RATE: u32 = 100;
    const SECONDS: u64 = 3;
    let movable: Vec<&str> = jobs
        .iter()
        .filter(|j| {
            !["completed", "closed", "cancelled"].contains(&j["status"].as_str().unwrap_or(""))
        })
        .filter_map(|j| j["id"].as_str())
        .take(20)
        .collect();
    assert!(movable.len() >= 5, "jobs to reschedule: {movable:?}");
    let office = fieldsync_tests::agent();
    let day = 86_400_000;
    let start = now_millis() + 3 * day;
    let reschedule = |n: usize| {
        let job = movable[n % movable.len()];
        let at = start + (n % 7) as i64 * 3_600_000;
        let answer = office
            .post(format!("{url}/v1/jobs/{job}/appointment"))
            .header("Content-Type", "application/json")
            .header("Authorization", format!("Bearer {token}"))
            // Several visits at one hour may fall to one engineer: booked anyway, the load is
            // what is measured.
            .send(
                json!({ "start": at, "end": at + 7_200_000, "override_reason": "load test" })
                    .to_string(),
            )
            .expect("reschedule");
        assert_eq!(answer.status(), 200, "reschedule {job}");
    };
    let requests = "window.consoleRequests";
    browser.eval(&format!(
        "if (!window.countingFetch) {{ const f = window.fetch; window.fetch = (...a) => {{ {requests} += 1; return f(...a); }}; window.countingFetch = true; }} {requests} = 0; true"
    ));
    let settle = Duration::from_millis(800);
    reschedule(0);
    std::thread::sleep(settle);
    let one_refresh = browser.eval(requests).as_u64().expect("count");
    assert!(one_refresh >= 1, "an edit refreshes the board");

    browser.eval(&format!("{requests} = 0; true"));
    let started = Instant::now();
    let mut made = 0;
    while started.elapsed() < Duration::from_secs(SECONDS) {
        made += 1;
        reschedule(made);
        // Paced to RATE a second; a slower server simply gets fewer.
        let due = Duration::from_secs(1) * made as u32 / RATE;
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    std::thread::sleep(settle);
    let busy = browser.eval(requests).as_u64().expect("count");
    println!(
        "console under {:.0} edits/s for {elapsed:.1} s: {busy} requests ({one_refresh} per refresh when quiet)",
        made as f64 / elapsed
    );
    // At most one refresh per 250 ms, plus the one pending when the edits stop and a margin
    // for timers (a refresh per event would be hundreds).
    let most = one_refresh * ((elapsed * 4.0).ceil() as u64 + 3);
    assert!(
        busy <= most,
        "{busy} requests for {made} edits in {elapsed:.1} s: more than {most}"
    );
    assert!(busy >= one_refresh * 2, "the board kept refreshing");
}

#[test]
fn a_manual_is_published_from_the_console_and_a_signed_job_shows_its_media() {
    let server = TestServer::start();
    let url = server.url();
    let mut browser = Browser::launch();
    browser.sign_in(&url, "dispatch", &password_of("dispatch"));
    browser.eval("location.hash = '#/manuals', true");
    browser.wait_for(
        "document.querySelector('#manual-form')",
        "the manual upload form",
    );

    // A diagram to attach, chosen in the file picker as a user would.
    let dir = tempfile::tempdir().expect("tempdir");
    let diagram = fieldsync_tests::pseudo_random_bytes(50, 300_000);
    let diagram_path = dir.path().join("wiring.png");
    std::fs::write(&diagram_path, &diagram).expect("write diagram");
    let root = browser.call("DOM.getDocument", json!({}))["root"]["nodeId"].clone();
    let input = browser.call(
        "DOM.querySelector",
        json!({ "nodeId": root, "selector": "#manual-files" }),
    )["nodeId"]
        .clone();
    browser.call(
        "DOM.setFileInputFiles",
        json!({ "nodeId": input, "files": [diagram_path.to_string_lossy()] }),
    );
    browser.fill("#manual-model", "HX-200");
    browser.fill("#manual-version", "1");
    browser.fill("#manual-title", "HX-200 heat pump");
    browser.fill(
        "#manual-markdown",
        "Read this first.\n\n# Wiring\nConnect the sensor cable.\n\n## Faults\nE4 means low pressure.",
    );
    browser.submit("#manual-form");
    browser.wait_for(
        "(document.querySelector('#manual-result') || {}).textContent",
        "the publish result",
    );
    assert!(
        browser.text("#manual-result").contains("HX-200"),
        "{}",
        browser.text("#manual-result")
    );
    let dispatcher = server.dispatcher();
    let manual = dispatcher.get("/v1/manuals/HX-200/1").body;
    let ids: Vec<&str> = manual["sections"]
        .as_array()
        .expect("sections")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, ["intro", "wiring", "faults"]);
    let sha = manual["attachments"][0]["sha256"]
        .as_str()
        .expect("attachment")
        .to_owned();
    assert!(
        dispatcher.get_bytes(&format!("/v1/blobs/{sha}")).1 == diagram,
        "the upload is byte-identical"
    );
    browser.wait_for(
        "document.querySelector('tr.manual-row')",
        "the manual in the list",
    );
    browser.screenshot("manuals.png");

    // Publishing the same version again is refused next to the version field.
    browser.fill("#manual-model", "HX-200");
    browser.fill("#manual-version", "1");
    browser.fill("#manual-title", "HX-200 heat pump");
    browser.fill("#manual-markdown", "# Wiring\nConnect the sensor cable.");
    browser.submit("#manual-form");
    browser.wait_for(
        "(document.querySelector('#manual-version-error') || {}).textContent",
        "a version error",
    );
    assert!(
        browser.text("#manual-version-error").contains("version"),
        "{}",
        browser.text("#manual-version-error")
    );

    // A job a phone worked on and the customer signed: its photo, signature and report.
    let job = dispatcher.create_job_on("Ada", "HX-200", "anna");
    let phone = server.phone("anna");
    phone.sync();
    phone.arrive(&job);
    let photo = fieldsync_tests::pseudo_random_bytes(51, 20_000);
    phone
        .store
        .attach_photo(&job, &photo, "image/jpeg", "sensor")
        .expect("photo");
    phone
        .store
        .sign(&job, &photo[..5_000], "image/png", "Ada")
        .expect("sign");
    phone.sync();
    phone.transport.upload_media(&phone.store).expect("upload");
    browser.eval(&format!("location.hash = '#/jobs/{job}', true"));
    browser.wait_for(
        "document.querySelectorAll('#media-list li.media-item').length === 3",
        "the job's three media",
    );
    browser.wait_for("document.querySelector('#report-pdf')", "the report link");
    assert!(browser.text("#report-signed-by").contains("Ada"));
    browser.screenshot("job-media.png");

    // The customer's page, on a phone, in Chinese: the signed report, a rating, a complaint.
    phone
        .store
        .finish_visit(&job, &Outcome::default(), true)
        .expect("completed");
    phone.sync();
    let link = server
        .dispatcher()
        .post(&format!("/v1/jobs/{job}/report-link"), &json!({}));
    assert_eq!(link.status, 201, "{:?}", link.body);
    let page = link.body["page"].as_str().expect("page").to_owned();
    let mut customer = Browser::launch_in(Some("Asia/Shanghai"), Some("zh-CN"));
    customer.call(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 412, "height": 915, "deviceScaleFactor": 2, "mobile": true }),
    );
    customer.goto(&format!("{url}{page}"));
    customer.wait_for(
        "document.querySelector('#link-rating-form') && document.querySelector('a#link-report')",
        "the customer's page with the signed report",
    );
    assert!(
        customer.text("h1").contains("您的服务"),
        "{}",
        customer.text("h1")
    );
    customer.click("#link-score-4");
    customer.fill("#link-rating-comment", "工程师很专业");
    customer.submit("#link-rating-form");
    customer.wait_for(
        "/4/.test((document.querySelector('#link-rate-h + .link-done') || {}).textContent)",
        "the thanks for a 4",
    );
    customer.fill("#link-complaint-kind", "delay");
    customer.fill("#link-complaint-description", "工程师迟到了两个小时");
    customer.submit("#link-complaint-form");
    customer.wait_for(
        "document.querySelectorAll('#link-complaints li').length === 1",
        "the complaint received",
    );
    assert_eq!(
        customer.eval("document.documentElement.scrollWidth <= window.innerWidth"),
        json!(true),
        "the page fits a phone"
    );
    customer.screenshot("customer-page-zh-412px.png");
    let view = server.dispatcher().job(&job);
    assert_eq!(view["job"]["surveys"][0]["score"], 4);
    let complaint = view["job"]["complaints"][0]["job_id"]
        .as_str()
        .expect("complaint job")
        .to_owned();
    let complaint = server.dispatcher().job(&complaint);
    assert_eq!(complaint["summary"]["kind"], "complaint");
    assert_eq!(complaint["job"]["complaint"]["about_job"], job.as_str());
    assert_eq!(
        complaint["job"]["problem"]["description"],
        "工程师迟到了两个小时"
    );

    // The office handles the complaint on its job page: owner, severity, the answer.
    let complaint_id = complaint["summary"]["id"].as_str().expect("id").to_owned();
    browser.eval(&format!("location.hash = '#/jobs/{complaint_id}', true"));
    browser.wait_for(
        "document.querySelector('#complaint-form') && document.querySelectorAll('#complaint-owner option').length > 1",
        "the complaint form with the office's people",
    );
    assert!(
        browser.text("body").contains(&job),
        "it links the job complained about"
    );
    browser.fill("#complaint-owner", "dispatch");
    browser.fill("#complaint-severity", "serious");
    browser.fill(
        "#complaint-answer",
        "We are sorry; the engineer will call you to apologise.",
    );
    browser.submit("#complaint-form");
    browser.wait_for(
        "document.querySelector('#complaint-answered') && (document.querySelector('#job-clocks [data-clock=\"feedback\"]') || {}).className.includes('met')",
        "the answer recorded and the feedback clock met",
    );
    browser.screenshot("complaint-handling.png");

    // The fleet: the phone that did the work, with what it reported, and its own page.
    let device = phone.store.identity().device_id.clone();
    browser.eval("location.hash = '#/fleet', true");
    browser.wait_for(
        &format!("document.querySelector('#fleet-table') && document.querySelector('#fleet-table').textContent.includes({})", json!(device)),
        "the phone in the fleet table",
    );
    assert!(browser.text("#fleet-table").contains("anna"));
    browser.screenshot("fleet.png");
    browser.eval(&format!("location.hash = '#/devices/{device}', true"));
    browser.wait_for(
        "document.querySelector('#device-syncs')",
        "the phone's syncs",
    );
    assert!(browser.text("#device-syncs").contains("Changes sent"));
    browser.screenshot("device.png");
}

/// An admin adds an installer on the people page (a weak password for an office user is named,
/// nothing stored), enrolls the installer's phone with the QR code the page shows, and the
/// phone, given only the link, enrolls and syncs; at a phone's width the page still fits.
#[test]
fn an_admin_adds_an_installer_and_enrolls_their_phone_from_the_page() {
    let server = TestServer::start();
    let url = server.url();
    let mut browser = Browser::launch();
    browser.sign_in(&url, "admin", &password_of("admin"));
    browser.eval("location.hash = '#/people', true");
    browser.wait_for(
        "document.querySelector('#people-table') && document.querySelector('#user-form')",
        "the people page with the admin's form",
    );
    assert!(browser.text("#people-table").contains("anna"));

    // A dispatcher with a short password is refused by name; nothing is stored.
    browser.fill("#user-id", "dora");
    browser.fill("#user-name", "Dora");
    browser.fill("#user-role", "dispatcher");
    browser.fill("#user-password", "short");
    browser.submit("#user-form");
    browser.wait_for(
        "!document.querySelector('#user-form-error').hidden",
        "the password refused",
    );
    assert!(
        browser.text("#user-form-error").contains("10"),
        "{}",
        browser.text("#user-form-error")
    );
    assert!(!browser.text("#people-table").contains("dora"));

    // Carla, a new installer in the south with two skills.
    browser.fill("#user-id", "carla");
    browser.fill("#user-name", "Carla Gomez");
    browser.fill("#user-role", "installer");
    browser.fill("#user-region", "south");
    browser.fill("#user-skills", "HP-200, boilers");
    browser.fill("#user-password", "");
    browser.submit("#user-form");
    browser.wait_for(
        "document.querySelector('#people-table tr[data-user=\"carla\"]')",
        "Carla in the list",
    );
    let row = browser.text("#people-table tr[data-user=\"carla\"]");
    assert!(
        row.contains("Carla Gomez") && row.contains("HP-200, boilers") && row.contains("south"),
        "{row}"
    );

    // Changed later: only what is changed changes, her skills stay.
    browser.click("button[data-edit=\"carla\"]");
    assert_eq!(
        browser.eval("document.querySelector('#user-skills').value"),
        json!("HP-200, boilers")
    );
    browser.fill("#user-region", "north");
    browser.submit("#user-form");
    browser.wait_for(
        "(document.querySelector('#people-table tr[data-user=\"carla\"]') || {}).textContent.includes('north')",
        "Carla moved north",
    );
    assert!(
        browser
            .text("#people-table tr[data-user=\"carla\"]")
            .contains("HP-200, boilers")
    );
    assert_eq!(
        browser.eval("document.querySelectorAll('#user-form [data-dirty]').length"),
        json!(0),
        "nothing left unsaved"
    );

    // Her phone: a one-time code as a QR code and as a link.
    browser.click("button[data-enroll=\"carla\"]");
    browser.wait_for(
        "document.querySelector('#invitation-qr rect + g rect')",
        "the QR code",
    );
    browser.screenshot("people-enroll.png");
    let link = browser
        .eval("document.querySelector('#invitation-link').value")
        .as_str()
        .expect("the link")
        .to_owned();
    let link = fieldsync_client_core::parse_enrollment_link(&link).expect("a link that reads");
    assert_eq!(
        (link.server.as_str(), link.user.as_str()),
        (url.as_str(), "carla")
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let store = fieldsync_client_core::Store::open(dir.path().join("phone.sqlite3"), &link.user)
        .expect("store");
    let transport =
        fieldsync_client_core::transport::HttpTransport::new(&link.server).expect("transport");
    let credential = transport.enroll(&store, &link.code).expect("enrolled");
    let transport = transport.with_credential(&credential);
    transport.sync(&store).expect("the phone syncs");
    // The code works once.
    let again = fieldsync_client_core::Store::open(dir.path().join("again.sqlite3"), "carla")
        .expect("store");
    assert!(transport.enroll(&again, &link.code).is_err(), "spent");

    // The page at a phone's width: the table scrolls in its card, the QR code fits.
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 412, "height": 915, "deviceScaleFactor": 2, "mobile": true }),
    );
    browser.eval("location.hash = '#/fleet', true");
    browser.wait_for("document.querySelector('#fleet-table')", "the fleet");
    browser.eval("location.hash = '#/people', true");
    browser.wait_for("document.querySelector('#people-table')", "the people");
    assert_eq!(
        browser.text("#people-table tr[data-user=\"carla\"] td:nth-child(6)"),
        "1",
        "Carla's phone counted"
    );
    assert!(
        browser.eval("!document.querySelector('#invitation')") == json!(true),
        "the code was shown once: gone after leaving the page"
    );
    browser.click("button[data-enroll=\"anna\"]");
    browser.wait_for(
        "(document.querySelector('#invitation-title') || {}).textContent.includes('anna')",
        "Anna's QR code",
    );
    assert_eq!(
        browser.eval(
            "document.documentElement.scrollWidth <= window.innerWidth \
             && document.querySelector('#invitation-qr').getBoundingClientRect().right <= window.innerWidth"
        ),
        json!(true),
        "the people page fits 412 px"
    );
    browser.screenshot("people-at-412px.png");
    browser.call("Emulation.clearDeviceMetricsOverride", json!({}));
}

/// An admin keeps the regions and problem categories with both names; a bad entry is marked
/// field by field; intake, corrections and the people page then offer the entries not retired,
/// and every page names them in the reader's language.
#[test]
fn an_admin_keeps_the_lists_and_the_desk_names_them_in_each_language() {
    let server = TestServer::start();
    let url = server.url();
    let early = server.dispatcher().create_job("Ada"); // region north, category "no heat"
    // The admin's page passes the accessibility check too (the office's pages do below).
    let axe = axe_source();
    let mut browser = Browser::launch();
    browser.sign_in(&url, "admin", &password_of("admin"));
    browser.eval("location.hash = '#/lists', true");
    browser.wait_for("document.querySelector('#regions-form')", "the lists page");
    assert!(
        browser
            .text("#list-regions")
            .contains("any text is accepted")
    );

    // A region without names: each missing name is marked, nothing is stored.
    browser.fill("#regions-code", "north");
    browser.submit("#regions-form");
    browser.wait_for(
        "!document.querySelector('#regions-error').hidden",
        "the entry refused",
    );
    assert_eq!(
        browser.eval(
            "[...document.querySelectorAll('#regions-form .invalid')].map((e) => e.id).join()"
        ),
        json!("regions-zh,regions-en")
    );
    assert!(
        browser
            .text("#regions-error")
            .contains("Chinese name is required")
    );
    assert_eq!(
        server.dispatcher().get("/v1/lists").body["regions"],
        json!([])
    );

    for (list, code, zh, en) in [
        ("regions", "north", "北区", "North"),
        ("regions", "south", "南区", "South"),
        ("categories", "no heat", "不制热", "No heat"),
        ("categories", "leak", "漏水", "Leak"),
    ] {
        browser.fill(&format!("#{list}-code"), code);
        browser.fill(&format!("#{list}-zh"), zh);
        browser.fill(&format!("#{list}-en"), en);
        browser.submit(&format!("#{list}-form"));
        browser.wait_for(
            &format!("document.querySelector('#list-{list}-table tr[data-code=\"{code}\"]')"),
            "the new entry",
        );
    }
    // Renamed, and one category retired.
    browser.click("#list-regions-table button[data-edit=\"south\"]");
    assert_eq!(
        browser.eval("document.querySelector('#regions-code').value"),
        json!("south")
    );
    browser.fill("#regions-en", "South Coast");
    browser.submit("#regions-form");
    browser.wait_for(
        "document.querySelector('#list-regions-table').textContent.includes('South Coast')",
        "the region renamed",
    );
    browser.click("#list-categories-table button[data-retire=\"leak\"]");
    browser.wait_for(
        "(document.querySelector('#list-categories-table tr[data-code=\"leak\"]') || {}).className === 'retired'",
        "the category retired",
    );
    // Deleting a region a job carries is refused with the reason.
    browser.click("#list-regions-table button[data-delete=\"north\"]");
    browser.wait_for(
        "!document.querySelector('#lists-error').hidden",
        "the delete refused",
    );
    assert!(
        browser.text("#lists-error").contains("retire it instead"),
        "{}",
        browser.text("#lists-error")
    );
    browser.screenshot("lists.png");
    browser.eval(&format!("{axe}\n; true"));
    assert_eq!(axe_violations(&mut browser), json!([]), "the lists page");
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 412, "height": 915, "deviceScaleFactor": 2, "mobile": true }),
    );
    browser.eval("location.hash = '#/people', true");
    browser.wait_for("document.querySelector('#people-table')", "the people");
    browser.eval("location.hash = '#/lists', true");
    browser.wait_for(
        "document.querySelector('#list-categories-table')",
        "the lists",
    );
    assert_eq!(
        browser.eval("document.documentElement.scrollWidth <= window.innerWidth"),
        json!(true),
        "the lists page fits 412 px"
    );
    browser.screenshot("lists-at-412px.png");
    browser.call("Emulation.clearDeviceMetricsOverride", json!({}));

    // The people page offers the regions by name. An engineer whose region is retired keeps
    // it through the form, even when a live refresh rebuilds the form mid-edit.
    let admin = server.office("admin");
    let answer = admin.post(
        "/v1/users",
        &json!({ "id": "nora", "name": "Nora", "role": "installer", "region": "north" }),
    );
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    admin.put(
        "/v1/lists/regions/north",
        &json!({ "name_zh": "北区", "name_en": "North", "retired": true }),
    );
    browser.eval("location.hash = '#/people', true");
    browser.wait_for(
        "document.querySelector('#user-form') && document.querySelector('#people-table tr[data-user=\"nora\"]')",
        "the admin's form",
    );
    assert_eq!(
        browser.eval("[...document.querySelector('#user-region').options].map((o) => o.textContent).join('|')"),
        json!("— choose —|South Coast")
    );
    assert!(
        browser
            .text("#people-table tr[data-user=\"nora\"]")
            .contains("North")
    );
    browser.click("button[data-edit=\"nora\"]");
    assert_eq!(
        browser.eval("document.querySelector('#user-region').selectedOptions[0].textContent"),
        json!("North (not offered)")
    );
    browser.fill("#user-name", "Nora Li");
    browser.eval("document.querySelector('#user-form').dataset.before = 'refresh', true");
    admin.put(
        "/v1/lists/categories/noise",
        &json!({ "name_zh": "噪音", "name_en": "Noise" }),
    );
    browser.wait_for(
        "document.querySelector('#user-form') && !document.querySelector('#user-form').dataset.before",
        "the form rebuilt by a live refresh",
    );
    assert_eq!(
        browser.eval("document.querySelector('#user-region').value"),
        json!("north")
    );
    browser.submit("#user-form");
    browser.wait_for(
        "document.querySelector('#people-table').textContent.includes('Nora Li')",
        "Nora renamed",
    );
    let nora = admin.get("/v1/users").body;
    let nora = nora
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["id"] == "nora")
        .expect("nora");
    assert_eq!(nora["region"], "north", "her retired region is kept");
    // The next engineer edited is not offered the retired region.
    browser.click("button[data-edit=\"anna\"]");
    assert_eq!(
        browser.eval("[...document.querySelector('#user-region').options].map((o) => o.textContent).join('|')"),
        json!("— choose —|South Coast")
    );
    browser.eval("document.querySelector('#user-form').reset(), true");

    // A Chinese dispatcher: intake offers the entries not retired, by their Chinese names.
    let mut desk = Browser::launch_in(None, Some("zh-CN"));
    desk.sign_in(&url, "dispatch", &password_of("dispatch"));
    desk.eval("location.hash = '#/intake', true");
    desk.wait_for(
        "document.querySelector('#intake-form select#category')",
        "the intake form",
    );
    assert_eq!(
        desk.eval(
            "[...document.querySelector('#category').options].map((o) => o.textContent).join('|')"
        ),
        json!("— 请选择 —|不制热|噪音"),
        "the retired category is not offered"
    );
    desk.fill("#customer_name", "周敏");
    desk.fill("#site_address", "滨海路 8 号");
    desk.fill("#region", "south");
    desk.fill("#category", "no heat");
    desk.fill("#description", "暖气不热");
    desk.submit("#intake-form");
    let job = desk.opened_job();
    desk.wait_for("document.querySelector('#job-status')", "the new job");
    let page = desk.text("#view");
    assert!(page.contains("南区") && page.contains("不制热"), "{page}");
    let stored = server.dispatcher().get(&format!("/v1/jobs/{job}")).body;
    assert_eq!(
        (
            &stored["job"]["site"]["region"],
            &stored["job"]["problem"]["category"]
        ),
        (&json!("south"), &json!("no heat")),
        "the job carries the codes"
    );
    // The earlier job, corrected: its region, retired since, is shown by name and kept unless
    // changed.
    desk.eval(&format!("location.hash = '#/jobs/{early}', true"));
    desk.wait_for(
        "document.querySelector('#job-correct') && document.querySelector('#view').textContent.includes('Ada')",
        "the earlier job",
    );
    assert!(
        desk.text("#view").contains("北区"),
        "{}",
        desk.text("#view")
    );
    desk.click("#job-correct");
    desk.wait_for(
        "document.querySelector('#fix-site_region')",
        "the correction form",
    );
    assert_eq!(
        desk.eval("document.querySelector('#fix-site_region').selectedOptions[0].textContent"),
        json!("北区（不可选）")
    );
    desk.fill("#fix-problem_description", "暖气片不热，楼上也是");
    desk.submit("#correct-form");
    desk.wait_for(
        "!document.querySelector('#correct-form')",
        "the correction saved",
    );
    let stored = server.dispatcher().get(&format!("/v1/jobs/{early}")).body;
    assert_eq!(stored["job"]["site"]["region"], "north");
    assert_eq!(
        stored["job"]["problem"]["description"],
        "暖气片不热，楼上也是"
    );
}

/// The queues show each job once, filter by region and tier, name engineers, and assign several
/// picked jobs at once.
#[test]
fn a_dispatcher_filters_the_queues_and_assigns_several_jobs_at_once() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let open = |name: &str, region: &str, tier: &str| {
        let answer = dispatcher.post(
            "/v1/jobs",
            &json!({
                "kind": "repair",
                "customer": { "name": name, "tier": tier },
                "site": { "address": "1 Main Street", "region": region },
                "problem": { "category": "no heat", "description": "cold" },
            }),
        );
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        answer.body["id"].as_str().expect("id").to_owned()
    };
    let north_vip = open("Ada North", "north", "vip");
    let north = open("Ben North", "north", "standard");
    let south = open("Cleo South", "south", "standard");
    let url = server.url();
    let mut browser = Browser::launch();
    browser.sign_in(&url, "dispatch", &password_of("dispatch"));
    browser.eval("location.hash = '#/queues', true");
    browser.wait_for(
        "document.querySelectorAll('.queue-item').length === 3",
        "three jobs, each carded once though unassigned and unscheduled",
    );
    assert_eq!(browser.text("#queue-unscheduled .count"), "0");

    // Only the north.
    browser.fill("#qf-region", "north");
    browser.wait_for(
        "document.querySelectorAll('.queue-item').length === 2",
        "the north's two jobs",
    );
    assert!(!browser.text("#view").contains("Cleo South"));
    browser.fill("#qf-tier", "vip");
    browser.wait_for(
        "document.querySelectorAll('.queue-item').length === 1",
        "the north's VIP",
    );
    browser.click("#qf-clear");
    browser.wait_for(
        "document.querySelectorAll('.queue-item').length === 3",
        "every job again",
    );
    assert_eq!(
        browser.eval(
            "[...document.querySelectorAll('#queue-filters select')].map((s) => s.value).join()"
        ),
        json!(",,,"),
        "the filters read as cleared"
    );

    // Two picked, assigned to Anna at once.
    browser.click(&format!("#pick-{north_vip}"));
    browser.wait_for("document.querySelector('#bulk-form')", "the bulk bar");
    browser.click(&format!("#pick-{south}"));
    browser.wait_for(
        "(document.querySelector('#bulk-form') || {}).textContent.includes('2')",
        "two selected",
    );
    browser.screenshot("queues-bulk.png");
    browser.fill("#bulk-engineer", "anna");
    browser.submit("#bulk-form");
    browser.wait_for(
        "!document.querySelector('#bulk-form') \
         && document.querySelectorAll('#queue-unassigned .queue-item').length === 1",
        "two jobs assigned, one left unassigned",
    );
    for job in [&north_vip, &south] {
        assert_eq!(dispatcher.job(job)["summary"]["assignee"], "anna", "{job}");
    }
    assert!(dispatcher.job(&north)["summary"]["assignee"].is_null());
    // Assigned but not yet booked: now in the unscheduled queue, naming the engineer.
    let unscheduled = browser.text("#queue-unscheduled");
    assert!(
        unscheduled.contains("Ada North") && unscheduled.contains("anna"),
        "{unscheduled}"
    );
}

/// One engineer's week from the board: seven days from the Monday, each visit under its day
/// with its time and customer, free days said so, the next week one click away.
#[test]
fn a_dispatcher_reads_an_engineers_week() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let tuesday = dispatcher.create_job("Ada Tuesday");
    let thursday = dispatcher.create_job("Cleo Thursday");
    // Tuesday 8 January 2030, 10:00–12:00 UTC, and Thursday the 10th, 14:00–15:30.
    for (job, start, end) in [
        (&tuesday, 1_894_096_800_000_i64, 1_894_104_000_000_i64),
        (&thursday, 1_894_284_000_000, 1_894_289_400_000),
    ] {
        dispatcher.assign(job, Some("anna"));
        dispatcher.set_appointment(job, start, end);
    }
    let url = server.url();
    let mut browser = Browser::launch_in(Some("UTC"), None);
    browser.sign_in(&url, "dispatch", &password_of("dispatch"));
    // From the day board, the engineer's name opens their week.
    browser.eval("location.hash = '#/board?day=2030-01-08', true");
    browser.wait_for(
        "document.querySelector('.board-row[data-engineer=\"anna\"] a.board-engineer')",
        "the board with Anna's row",
    );
    // From the keyboard: the page's title has focus, Enter on a job opens the panel with focus
    // in it, Escape closes it and gives focus back to the job.
    browser.wait_for(
        "document.activeElement && document.activeElement.matches('#view h1')",
        "focus on the page's title",
    );
    let card = format!("#view .board-job[data-job-id=\"{tuesday}\"]");
    browser.eval(&format!(
        "(() => {{ const c = document.querySelector({card:?}); c.focus(); \
         c.dispatchEvent(new KeyboardEvent('keydown', {{ key: 'Enter', bubbles: true }})); return true; }})()"
    ));
    browser.wait_for(
        "!document.querySelector('#assign-panel').hidden \
         && document.querySelector('#assign-panel').contains(document.activeElement)",
        "the panel, with focus in it",
    );
    browser.eval(
        "document.activeElement.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true })), true",
    );
    browser.wait_for(
        &format!(
            "document.querySelector('#assign-panel').hidden && document.activeElement === document.querySelector({card:?})"
        ),
        "the panel closed, focus back on the job",
    );
    browser.click(".board-row[data-engineer=\"anna\"] a.board-engineer");
    browser.wait_for(
        "document.querySelectorAll('#week-grid .week-day').length === 7",
        "Anna's week",
    );
    assert_eq!(
        browser.eval("document.querySelector('#week-grid .week-day').dataset.day"),
        json!("2030-01-07"),
        "the week starts on the Monday"
    );
    let day = |browser: &mut Browser, day: &str| browser.text(&format!("[data-day=\"{day}\"]"));
    let tue = day(&mut browser, "2030-01-08");
    assert!(
        tue.contains("Ada Tuesday") && tue.contains("10:00"),
        "{tue}"
    );
    assert!(tue.contains("1 visit · 2 h"), "{tue}");
    let thu = day(&mut browser, "2030-01-10");
    assert!(
        thu.contains("Cleo Thursday") && thu.contains("1.5 h"),
        "{thu}"
    );
    assert!(day(&mut browser, "2030-01-07").contains("Free"));
    browser.screenshot("week.png");
    browser.click("button[aria-label=\"Next week\"]");
    browser.wait_for(
        "location.hash.includes('from=2030-01-14') && document.querySelectorAll('#week-grid .week-visit').length === 0 \
         && document.querySelector('#week-grid .week-day') && document.querySelector('#week-grid .week-day').dataset.day === '2030-01-14'",
        "the next, empty week",
    );
}

/// A dispatcher gives an installer a working week and time off from the people page (a day
/// that ends before it starts is marked and nothing is stored), the week view shows them, and
/// a visit on the day off is refused until a reason is given.
#[test]
fn a_dispatcher_sets_an_engineers_hours_and_the_week_and_bookings_follow_them() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let url = server.url();
    let mut browser = Browser::launch_in(Some("UTC"), None);
    browser.sign_in(&url, "dispatch", &password_of("dispatch"));
    browser.click("#nav a[href=\"#/people\"]");
    browser.wait_for(
        "document.querySelector('#people-table button[data-schedule=\"anna\"]')",
        "Anna's hours button",
    );
    browser.click("#people-table button[data-schedule=\"anna\"]");
    browser.wait_for(
        "document.querySelector('#schedule-form')",
        "the working week",
    );
    browser.eval(&format!("{}\n; true", axe_source()));
    assert_eq!(
        axe_violations(&mut browser),
        json!([]),
        "the form is accessible"
    );
    // Friday off; a Tuesday that ends before it starts; two days of training.
    browser.eval("document.querySelector('#sched-works-4').click(), true");
    browser.fill("#sched-start-1", "18:00");
    browser.fill("#sched-end-1", "08:00");
    browser.fill("#sched-from", "2030-01-09");
    browser.fill("#sched-to", "2030-01-10");
    browser.fill("#sched-reason", "training");
    browser.click("#sched-add");
    browser.wait_for(
        "document.querySelector('#schedule-away li') && /training/.test(document.querySelector('#schedule-away').textContent)",
        "the time off in the list",
    );
    browser.submit("#schedule-form");
    browser.wait_for(
        "document.querySelector('.schedule-week tr[data-day=\"1\"].invalid') \
         && !document.querySelector('#schedule-error').hidden",
        "Tuesday marked",
    );
    assert!(
        dispatcher.get("/v1/users/anna/schedule").body.is_null(),
        "nothing stored"
    );
    assert_eq!(
        browser.text("#schedule-error"),
        "Tuesday: give two times, the first before the second."
    );
    browser.screenshot("schedule-refused.png");
    browser.fill("#sched-start-1", "08:00");
    browser.fill("#sched-end-1", "17:00");
    browser.submit("#schedule-form");
    browser.wait_for(
        "!document.querySelector('#schedule-form')",
        "the form put away",
    );
    let stored = dispatcher.get("/v1/users/anna/schedule").body;
    assert!(stored["week"][4].is_null(), "{stored}");
    assert_eq!(
        stored["week"][1],
        json!({ "start": "08:00", "end": "17:00" })
    );
    assert_eq!(stored["time_off"][0]["reason"], "training");

    // The week shows her hours, the training and the Friday off.
    browser.eval("location.hash = '#/week?engineer=anna&from=2030-01-07', true");
    browser.wait_for(
        "document.querySelectorAll('#week-grid .week-day').length === 7",
        "Anna's week",
    );
    let day = |browser: &mut Browser, day: &str| {
        browser.text(&format!("[data-day=\"{day}\"] .week-hours"))
    };
    assert_eq!(day(&mut browser, "2030-01-07"), "Works 08:00–17:00");
    assert_eq!(
        day(&mut browser, "2030-01-09"),
        "Away 2030-01-09 – 2030-01-10",
        "the reason stays in the editor"
    );
    assert_eq!(day(&mut browser, "2030-01-11"), "Day off");
    browser.screenshot("week-hours.png");

    // A visit on her Friday off is refused, and booked with a reason.
    let job = dispatcher.create_job("Ada Friday");
    dispatcher.assign(&job, Some("anna"));
    browser.eval(&format!("location.hash = '#/jobs/{job}', true"));
    browser.wait_for("document.querySelector('#job-appt-start')", "the job page");
    // Friday 11 January 2030, 10:00–11:00 (the page's zone is UTC).
    browser.fill("#job-appt-start", "2030-01-11T10:00");
    browser.fill("#job-appt-end", "2030-01-11T11:00");
    browser.click("#job-appt-save");
    browser.wait_for(
        "document.querySelector('#job-error-override')",
        "the day off, refused with a reason asked for",
    );
    let refusal = browser.text("#job-error");
    assert!(refusal.contains("does not work on that day"), "{refusal}");
    browser.fill("#job-error-override", "she swapped her day off");
    browser.submit("#job-error .override");
    browser.wait_for(
        "/she swapped her day off/.test(document.querySelector('#job-history').textContent)",
        "the reason in the history",
    );
}

/// Planning by touch, as on a tablet: a job dragged with a finger from the unplanned list onto
/// an engineer's row at 10:00 is theirs at 10:00; a tap still opens the job's panel.
#[test]
fn a_job_is_planned_by_touch_on_the_board() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let job = dispatcher.create_job("Ada Touch");
    let url = server.url();
    let mut browser = Browser::launch_in(Some("UTC"), None);
    browser.sign_in(&url, "dispatch", &password_of("dispatch"));
    browser.call(
        "Emulation.setTouchEmulationEnabled",
        json!({ "enabled": true, "maxTouchPoints": 5 }),
    );
    browser.eval("location.hash = '#/board?day=2030-01-08', true");
    let card = format!("#board-unplanned .board-job[data-job-id=\"{job}\"]");
    browser.wait_for(
        &format!("document.querySelector({card:?})"),
        "the job among the unplanned",
    );
    // From the card's middle to Anna's track at 10:00 (06:00 to 22:00 across the track).
    let points = browser.eval(&format!(
        "(() => {{ const c = document.querySelector({card:?}).getBoundingClientRect(); \
           const t = document.querySelector('.board-row[data-engineer=\"anna\"] .board-track').getBoundingClientRect(); \
           return [c.left + c.width / 2, c.top + c.height / 2, t.left + t.width * 4 / 16 + 2, t.top + t.height / 2]; }})()"
    ));
    let at = |i: usize| points[i].as_f64().expect("a coordinate");
    let touch = |browser: &mut Browser, kind: &str, x: f64, y: f64| {
        let points = if kind == "touchEnd" {
            json!([])
        } else {
            json!([{ "x": x, "y": y }])
        };
        browser.call(
            "Input.dispatchTouchEvent",
            json!({ "type": kind, "touchPoints": points }),
        );
    };
    // Picked up sideways (up or down would scroll the page), then carried to the row.
    touch(&mut browser, "touchStart", at(0), at(1));
    touch(&mut browser, "touchMove", at(0) + 16.0, at(1));
    for step in 1..=10 {
        let f = f64::from(step) / 10.0;
        touch(
            &mut browser,
            "touchMove",
            at(0) + (at(2) - at(0)) * f,
            at(1) + (at(3) - at(1)) * f,
        );
    }
    assert_eq!(
        browser.eval("document.querySelectorAll('.board-row[data-engineer=\"anna\"].drop-over, .touch-ghost').length"),
        json!(2),
        "the card follows the finger over Anna's row"
    );
    touch(&mut browser, "touchEnd", at(2), at(3));
    let summary = || dispatcher.job(&job)["summary"].clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    while summary()["assignee"].is_null() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let planned = summary();
    assert_eq!(planned["assignee"], "anna", "{planned}");
    // Tuesday 8 January 2030, 10:00 UTC.
    assert_eq!(planned["appointment_start"], 1_894_096_800_000_i64);
    assert_eq!(
        browser.eval("document.querySelectorAll('.touch-ghost').length"),
        json!(0)
    );

    // Put away the panel the drop opened; then a click opens it again.
    let on_row = format!(".board-row[data-engineer=\"anna\"] .board-job[data-job-id=\"{job}\"]");
    browser.wait_for(
        &format!("document.querySelector({on_row:?})"),
        "the job on Anna's row",
    );
    browser.click("#assign-panel button.close");
    browser.wait_for(
        "document.querySelector('#assign-panel').hidden",
        "the panel put away",
    );
    let middle = browser.eval(&format!(
        "(() => {{ const c = document.querySelector({on_row:?}).getBoundingClientRect(); return [c.left + c.width / 2, c.top + c.height / 2]; }})()"
    ));
    let (x, y) = (
        middle[0].as_f64().expect("x"),
        middle[1].as_f64().expect("y"),
    );
    // The click a tap makes opens the job's panel: the drag before it does not swallow it.
    browser.click(&on_row);
    browser.wait_for(
        "!document.querySelector('#assign-panel').hidden",
        "the job's panel",
    );

    // Let go over nothing (the page's title), a drag changes nothing and opens nothing.
    browser.click("#assign-panel button.close");
    browser.wait_for(
        "document.querySelector('#assign-panel').hidden",
        "the panel put away again",
    );
    let title = browser.eval(
        "(() => { const t = document.querySelector('#view h1').getBoundingClientRect(); return t.top + t.height / 2; })()",
    );
    let title = title.as_f64().expect("y");
    touch(&mut browser, "touchStart", x, y);
    touch(&mut browser, "touchMove", x + 16.0, y);
    touch(&mut browser, "touchMove", x + 16.0, title);
    touch(&mut browser, "touchEnd", x + 16.0, title);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        browser.eval("[document.querySelector('#assign-panel').hidden, document.querySelectorAll('.touch-ghost').length]"),
        json!([true, 0])
    );
    assert_eq!(summary()["appointment_start"], 1_894_096_800_000_i64);
}

/// A map tile server on a socket of its own: answers every request with one plain SVG tile,
/// and counts what it served.
fn tile_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the tile server");
    let template = format!(
        "http://{}/{{z}}/{{x}}/{{y}}.svg",
        listener.local_addr().expect("its address")
    );
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        const TILE: &str = "<svg xmlns='http://www.w3.org/2000/svg' width='256' height='256'>\
            <rect width='256' height='256' fill='#dfe9d8' stroke='#b5c4ad'/></svg>";
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: image/svg+xml\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{TILE}",
                TILE.len()
            );
            if stream.write_all(answer.as_bytes()).is_ok() {
                count.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (template, served)
}

/// The day's map: visits and jobs still to plan where their sites are, a job without
/// coordinates where its engineer arrived, the engineer there, a job with no known place named
/// under the map; the configured tile server's tiles drawn under the points (the console's
/// security policy lets them in); every point a link.
#[test]
fn a_dispatcher_sees_the_days_jobs_and_engineers_on_the_map() {
    let (tiles, served) = tile_server();
    let server = TestServer::start_with_map_tiles(&tiles);
    let dispatcher = server.dispatcher();
    let day = now_millis() / planning::DAY * planning::DAY;
    let at = |hour: i64| day + hour * 3_600_000;
    let pudong = dispatcher.create_job_at("浦东张先生", 31.2286, 121.5265);
    let xuhui = dispatcher.create_job_at("徐汇李女士", 31.1920, 121.4370);
    let to_plan = dispatcher.create_job_at("静安王先生", 31.2290, 121.4480);
    let arrived = dispatcher.create_job("Arrival Only");
    let nowhere = dispatcher.create_job("Nowhere Known");
    for (job, engineer, hour) in [
        (&pudong, "anna", 9),
        (&xuhui, "ben", 10),
        (&arrived, "anna", 13),
        (&nowhere, "ben", 15),
    ] {
        dispatcher.assign(job, Some(engineer));
        dispatcher.set_appointment(job, at(hour), at(hour + 1));
    }
    let phone = server.phone("anna");
    phone.sync();
    for (to, position) in [
        (Status::EnRoute, None),
        (Status::OnSite, Some((31.2050, 121.4600))),
    ] {
        phone
            .store
            .move_status(&arrived, to, position)
            .expect("move");
    }
    phone.sync();

    let url = server.url();
    let mut browser = Browser::launch_in(Some("UTC"), None);
    browser.sign_in(&url, "dispatch", &password_of("dispatch"));
    browser.eval(&format!(
        "location.hash = '#/map?day={}', true",
        planning::day_label(day)
    ));
    browser.wait_for(
        "document.querySelectorAll('#day-map .map-job').length === 4",
        "four jobs on the map",
    );
    let placed = browser.eval(
        "[...document.querySelectorAll('#day-map .map-job')].map((a) => a.dataset.jobId).sort()",
    );
    let mut expected = vec![
        pudong.clone(),
        xuhui.clone(),
        to_plan.clone(),
        arrived.clone(),
    ];
    expected.sort();
    assert_eq!(placed, json!(expected));
    assert_eq!(
        browser.eval("document.querySelectorAll('#day-map .map-dot.is-unplanned').length"),
        json!(1),
        "one still to plan"
    );
    assert_eq!(
        browser.eval(
            "[...document.querySelectorAll('#day-map .map-engineer')].map((e) => e.dataset.user)"
        ),
        json!(["anna"]),
        "Anna where she arrived; Ben has not arrived anywhere"
    );
    let listed = browser.text("#map-jobs");
    assert!(listed.contains("where the engineer arrived"), "{listed}");
    assert!(browser.text("#map-unlocated").contains("Nowhere Known"));
    assert!(browser.text("#map-engineers").contains("ben"));
    browser.wait_for(
        "document.querySelectorAll('#day-map image.map-tile').length > 0",
        "tiles under the points",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while served.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        served.load(Ordering::SeqCst) > 0,
        "the browser fetched the tiles"
    );
    std::thread::sleep(Duration::from_millis(300));
    browser.screenshot("map.png");
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 412, "height": 900, "deviceScaleFactor": 1, "mobile": true }),
    );
    // Drawn again at the phone's width (by way of another page).
    browser.eval("location.hash = '#/queues', true");
    browser.wait_for("!document.querySelector('#day-map')", "another page");
    browser.eval(&format!(
        "location.hash = '#/map?day={}', true",
        planning::day_label(day)
    ));
    browser.wait_for(
        "document.querySelectorAll('#day-map .map-job').length === 4 \
         && document.querySelector('#day-map').viewBox.baseVal.width < 412",
        "the map at a phone's width",
    );
    std::thread::sleep(Duration::from_millis(300));
    browser.screenshot("map-at-412px.png");
    // A point is a link to its job.
    browser.eval(&format!(
        "document.querySelector('#day-map .map-job[data-job-id=\"{xuhui}\"]').dispatchEvent(new MouseEvent('click', {{ bubbles: true, cancelable: true }})), true"
    ));
    browser.wait_for(
        &format!("location.hash === '#/jobs/{xuhui}'"),
        "the job's page from its point",
    );
}

/// axe-core's rules, from `FIELDSYNC_AXE` or where the README's test command installs them.
fn axe_source() -> String {
    let path = std::env::var("FIELDSYNC_AXE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/tools/axe/node_modules/axe-core/axe.min.js")
        });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core for the accessibility check is not at {} ({e}): the README's test command \
             installs it, or set FIELDSYNC_AXE to an axe.min.js",
            path.display()
        )
    })
}

/// The page's serious and critical violations of axe-core's WCAG 2.1 A and AA rules (axe
/// loaded already), each with up to three of the elements concerned.
fn axe_violations(browser: &mut Browser) -> Value {
    browser.eval(
        "window.axeDone = null; axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }) \
         .then((r) => { window.axeDone = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical') \
         .map((v) => `${v.id}: ${v.help} (${v.nodes.length}) ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`); }); true",
    );
    browser.wait_for("window.axeDone", "axe's report");
    browser.eval("window.axeDone")
}

/// Every page of the console, on the demo month, in English and in Chinese, at a desk's width
/// and a phone's, has no serious or critical accessibility violation by axe-core's rules
/// (WCAG 2.1 A and AA).
#[test]
fn every_page_passes_an_accessibility_check() {
    let axe = axe_source();
    let dir = tempfile::tempdir().expect("tempdir");
    let (storage, _) = demo_storage(dir.path(), now_millis(), 14, Language::English);
    // Working weeks with today away, so that the board and the week show hours and time off.
    let day = today();
    let week: Value = json!({
        "week": [{ "start": "08:00", "end": "18:00" }, { "start": "08:00", "end": "18:00" },
                 { "start": "08:00", "end": "18:00" }, { "start": "08:00", "end": "18:00" },
                 { "start": "08:00", "end": "18:00" }, null, null],
        "time_off": [{ "from": day, "to": day, "reason": "training" }],
    });
    let users = fieldsync_server::storage::read(&storage, |tx| tx.users()).expect("users");
    for user in users.iter().filter(|u| u.role == "installer") {
        let week = serde_json::from_value(week.clone()).expect("a working week");
        schedule::set(&storage, &user.id, Some(week)).expect("stored");
    }
    let server =
        BackgroundServer::start(Arc::new(storage), &dir.path().join("blobs"), "127.0.0.1:0")
            .expect("server");
    let url = server.url();
    let token = fieldsync_tests::sign_in(&url, demo::DISPATCHER, demo::DISPATCHER_PASSWORD);
    let jobs = office_get(&url, &token, "/v1/jobs");
    let job = jobs[0]["id"].as_str().expect("a job").to_owned();
    let customer = jobs[0]["customer_id"]
        .as_str()
        .expect("a customer")
        .to_owned();
    let mut browser = Browser::launch();
    browser.sign_in(&url, demo::DISPATCHER, demo::DISPATCHER_PASSWORD);
    let pages = [
        "#/queues".to_owned(),
        "#/jobs".to_owned(),
        format!("#/jobs/{job}"),
        "#/customers".to_owned(),
        format!("#/customers/{customer}"),
        "#/intake".to_owned(),
        format!("#/board?day={}", today()),
        "#/week".to_owned(),
        "#/map".to_owned(),
        "#/dashboard".to_owned(),
        "#/manuals".to_owned(),
        "#/fleet".to_owned(),
        "#/people".to_owned(),
        "#/lists".to_owned(),
        "#/reminders".to_owned(),
    ];
    let mut found = BTreeMap::new();
    for (language, width) in [("en", 1280), ("en", 412), ("zh-CN", 1280)] {
        if language != "en" {
            browser.choose("#language", language);
            browser.wait_for(
                &format!("document.documentElement.lang === '{language}' && document.querySelector('#nav')"),
                language,
            );
        }
        // Again after the language's reload.
        if browser.eval("!window.axe") == json!(true) {
            browser.eval(&format!("{axe}\n; true"));
        }
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 500 }),
        );
        for page in &pages {
            browser.eval(&format!("location.hash = '{page}', true"));
            browser.wait_for(
                "document.querySelector('#view') && !document.querySelector('#view .loading') \
                 && document.querySelector('#view').children.length > 0",
                page,
            );
            std::thread::sleep(Duration::from_millis(300));
            let violations = axe_violations(&mut browser);
            if violations.as_array().is_some_and(|v| !v.is_empty()) {
                found.insert(format!("{page} in {language} at {width}px"), violations);
            }
        }
    }
    assert!(
        found.is_empty(),
        "{}",
        serde_json::to_string_pretty(&found).unwrap_or_default()
    );
}
