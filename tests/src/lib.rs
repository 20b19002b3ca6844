//! Support for Fieldsync's end-to-end suite and benchmarks: a real server on a real socket over a
//! temporary SQLite file, phones with their own store files, and a dispatcher speaking the JSON
//! API over HTTP.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fieldsync_client_core::transport::HttpTransport;
use fieldsync_client_core::{Store, SyncReport};
use fieldsync_server::storage::sqlite::SqliteStorage;
use fieldsync_server::sync::PageLimits;
use fieldsync_server::{AppState, BackgroundServer};
use serde_json::{Value, json};

/// A server over a SQLite file in a temporary directory; it can be stopped and started again on
/// the same file and port.
pub struct TestServer {
    /// The directory holding the database (and anything else the test keeps).
    pub dir: tempfile::TempDir,
    server: Option<BackgroundServer>,
    addr: String,
    limits: PageLimits,
}

impl TestServer {
    /// Starts a server on a fresh database, with installers `anna`, `ben` and a dispatcher.
    pub fn start() -> Self {
        Self::start_with_limits(PageLimits::default())
    }

    /// Like [`TestServer::start`], with the given sync page limits.
    pub fn start_with_limits(limits: PageLimits) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = TestServer {
            dir,
            server: None,
            addr: "127.0.0.1:0".into(),
            limits,
        };
        server.boot();
        for (id, role) in [
            ("anna", "installer"),
            ("ben", "installer"),
            ("dispatch", "dispatcher"),
        ] {
            server
                .dispatcher()
                .post("/v1/users", &json!({ "id": id, "name": id, "role": role }));
        }
        server
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("server.sqlite3")
    }

    fn boot(&mut self) {
        let storage = SqliteStorage::open(self.db_path()).expect("open server database");
        let mut state = AppState::new(Arc::new(storage));
        state.limits = self.limits;
        let server = BackgroundServer::start_with(state, &self.addr).expect("start server");
        self.addr = server.addr.to_string();
        self.server = Some(server);
    }

    /// Stops the server (gracefully) and leaves the database file in place.
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
    }

    /// Stops the server, runs `f` on the stopped database's directory, and starts it again on the
    /// same port.
    pub fn restart_with(&mut self, f: impl FnOnce(&Path)) {
        self.stop();
        f(self.dir.path());
        self.boot();
    }

    /// The running server's storage, for seeding large fixtures without HTTP.
    pub fn storage(&self) -> Arc<dyn fieldsync_server::storage::Storage> {
        self.server
            .as_ref()
            .expect("server is running")
            .state
            .storage
            .clone()
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A dispatcher using the JSON API.
    pub fn dispatcher(&self) -> Dispatcher {
        Dispatcher {
            url: self.url(),
            agent: agent(),
        }
    }

    /// A new phone for `user`, with its store in a fresh file.
    pub fn phone(&self, user: &str) -> Phone {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("phone.sqlite3");
        let store = Store::open(&path, user).expect("open phone store");
        Phone {
            store,
            transport: HttpTransport::new(&self.url()),
            _dir: dir,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    )
}

/// The office side, over HTTP.
pub struct Dispatcher {
    url: String,
    agent: ureq::Agent,
}

/// An HTTP answer: status and JSON body.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The JSON body (null when empty or not JSON).
    pub body: Value,
}

impl Dispatcher {
    /// POSTs JSON and returns the answer, whatever its status.
    pub fn post(&self, path: &str, body: &Value) -> Answer {
        let mut response = self
            .agent
            .post(format!("{}{path}", self.url))
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .expect("POST");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    /// GETs JSON.
    pub fn get(&self, path: &str) -> Answer {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.url))
            .call()
            .expect("GET");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    /// Opens a repair job for a customer and returns its id.
    pub fn create_job(&self, customer: &str) -> String {
        let answer = self.post(
            "/v1/jobs",
            &json!({
                "kind": "repair",
                "customer": { "name": customer, "tier": "standard" },
                "site": { "address": "1 Test Road", "region": "north" },
                "problem": { "category": "no heat", "description": "cold radiators" },
                "checklist": [["power", "Check power"], ["seal", "Check seal"]],
            }),
        );
        assert_eq!(answer.status, 201, "create job: {:?}", answer.body);
        answer.body["id"].as_str().expect("job id").to_owned()
    }

    /// Assigns a job (or unassigns with `None`).
    pub fn assign(&self, job: &str, installer: Option<&str>) {
        let answer = self.post(
            &format!("/v1/jobs/{job}/assign"),
            &json!({ "assignee": installer }),
        );
        assert_eq!(answer.status, 200, "assign: {:?}", answer.body);
    }

    /// Sets the appointment window.
    pub fn set_appointment(&self, job: &str, start: i64, end: i64) {
        let answer = self.post(
            &format!("/v1/jobs/{job}/appointment"),
            &json!({ "start": start, "end": end }),
        );
        assert_eq!(answer.status, 200, "appointment: {:?}", answer.body);
    }

    /// The job as the server holds it (`job` is the read model, `summary` the projection).
    pub fn job(&self, job: &str) -> Value {
        let answer = self.get(&format!("/v1/jobs/{job}"));
        assert_eq!(answer.status, 200, "get job: {:?}", answer.body);
        answer.body
    }
}

/// An installer's phone: a store file and an HTTP transport.
pub struct Phone {
    /// The local store.
    pub store: Store,
    /// The transport, with its byte counters.
    pub transport: HttpTransport,
    _dir: tempfile::TempDir,
}

impl Phone {
    /// Syncs until settled.
    pub fn sync(&self) -> SyncReport {
        self.transport.sync(&self.store).expect("sync")
    }
}

/// The raw Automerge change bytes waiting in a phone store's outbox (read from its file).
pub fn outbox_bytes(store_path: &Path) -> u64 {
    let conn = rusqlite::Connection::open(store_path).expect("open phone store");
    let bytes: i64 = conn
        .query_row(
            "SELECT COALESCE(SUM(LENGTH(change)), 0) FROM outbox",
            [],
            |r| r.get(0),
        )
        .expect("sum");
    u64::try_from(bytes).unwrap_or(0)
}
