//! Support for Fieldsync's end-to-end suite and benchmarks: a real server on a real socket over a
//! temporary SQLite file (or a schema of its own on the tests' PostgreSQL, with as many server
//! nodes as a test wants), phones with their own store files, and a dispatcher speaking the
//! JSON API over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed expectation is a failed test

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fieldsync_client_core::transport::HttpTransport;
use fieldsync_client_core::{Store, SyncReport};
use fieldsync_server::domain::auth;
use fieldsync_server::domain::clock::ManualClock;
use fieldsync_server::domain::sync::PageLimits;
use fieldsync_server::state::limits::{DeviceLimits, DeviceQuotas};
use fieldsync_server::state::outbox::{Outbox, OutboxSettings};
use fieldsync_server::state::{MapTiles, OrganisationZone};
use fieldsync_server::storage::Storage;
use fieldsync_server::storage::blobs::BlobLocation;
use fieldsync_server::storage::postgres::PostgresStorage;
use fieldsync_server::storage::sqlite::SqliteStorage;
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
    quotas: DeviceQuotas,
    trusted_proxies: Vec<std::net::IpAddr>,
    time_zone: Arc<OrganisationZone>,
    clock: Option<Arc<ManualClock>>,
    /// Office session tokens by user, so each user signs in once.
    sessions: Mutex<HashMap<String, String>>,
    /// The PostgreSQL schema the server stores in, instead of the SQLite file.
    postgres: Option<Arc<PostgresSchema>>,
    /// Where blobs are kept, when not in the server's own folder: the bucket or folder the
    /// nodes of a deployment share.
    shared_blobs: Option<BlobLocation>,
    /// How notifications reach customers (default: the log).
    outbox: Option<OutboxSettings>,
    /// The tile server the console's map draws on (default: none).
    map_tiles: Option<MapTiles>,
}

/// Where the tests' S3-compatible object storage is, as `s3://BUCKET`: `scripts/test.sh`
/// starts an S3-speaking server, creates the bucket and sets it with the `AWS_*` variables.
pub const TEST_BUCKET: &str = "FIELDSYNC_TEST_BUCKET";

/// A key prefix of its own in the tests' bucket, as `--blobs` names it: a deployment's shared
/// media store that no other test sees.
pub fn fresh_bucket() -> String {
    let bucket = std::env::var(TEST_BUCKET).unwrap_or_else(|_| {
        panic!(
            "{TEST_BUCKET} is not set: run the tests with scripts/test.sh, which starts an \
             S3-speaking server, or set it to s3://BUCKET with the AWS_* variables"
        )
    });
    format!(
        "{}/test-{}",
        bucket.trim_end_matches('/'),
        uuid::Uuid::new_v4().simple()
    )
}

/// Where the tests' PostgreSQL is: `scripts/test.sh` starts a throwaway cluster and sets it.
pub const TEST_DATABASE: &str = "FIELDSYNC_TEST_DATABASE_URL";

/// A schema of its own on the tests' PostgreSQL cluster, dropped when the last server using it
/// is dropped.
pub struct PostgresSchema {
    admin_url: String,
    name: String,
}

impl PostgresSchema {
    /// A new, empty schema.
    pub fn create() -> Self {
        let admin_url = std::env::var(TEST_DATABASE).unwrap_or_else(|_| {
            panic!(
                "{TEST_DATABASE} is not set: run the tests with scripts/test.sh, which starts a \
                 PostgreSQL cluster for them"
            )
        });
        let name = format!("e2e_{}", uuid::Uuid::new_v4().simple());
        postgres::Client::connect(&admin_url, postgres::NoTls)
            .expect("connect to the tests' PostgreSQL")
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .expect("create schema");
        PostgresSchema { admin_url, name }
    }

    /// The connection URL a server node is given (`--database`): the schema is its search path.
    pub fn url(&self) -> String {
        let separator = if self.admin_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{separator}options=-c%20search_path%3D{}",
            self.admin_url, self.name
        )
    }
}

impl Drop for PostgresSchema {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name));
        }
    }
}

/// The users every test server has, with their roles. Office users' passwords are
/// [`password_of`] their id.
pub const USERS: [(&str, &str); 6] = [
    ("anna", "installer"),
    ("ben", "installer"),
    ("dispatch", "dispatcher"),
    ("sam", "supervisor"),
    ("hana", "head_of_engineering"),
    ("admin", "admin"),
];

/// The test password of an office user.
pub fn password_of(user: &str) -> String {
    format!("{user}-test-password")
}

impl TestServer {
    /// Starts a server on a fresh database with the [`USERS`].
    pub fn start() -> Self {
        Self::start_with_limits(PageLimits::default())
    }

    /// Like [`TestServer::start`], with the given sync page limits.
    pub fn start_with_limits(limits: PageLimits) -> Self {
        Self::start_with(limits, None)
    }

    /// Like [`TestServer::start`], on a clock the test moves (the phones keep real time).
    pub fn start_with_clock(clock: Arc<ManualClock>) -> Self {
        Self::start_with(PageLimits::default(), Some(clock))
    }

    /// Like [`TestServer::start`], behind a reverse proxy at `proxy` whose `X-Forwarded-For`
    /// the server believes.
    pub fn start_behind_proxy(proxy: std::net::IpAddr) -> Self {
        let mut server = Self::start();
        server.stop();
        server.trusted_proxies = vec![proxy];
        server.boot();
        server
    }

    /// Like [`TestServer::start_with_clock`], notifying customers as `settings` say.
    pub fn start_notifying(clock: Arc<ManualClock>, settings: OutboxSettings) -> Self {
        let mut server = Self::start_with_clock(clock);
        server.stop();
        server.outbox = Some(settings);
        server.boot();
        server
    }

    /// Like [`TestServer::start`], for an organisation in the time zone `name` (IANA).
    pub fn start_in_zone(name: &str) -> Self {
        let mut server = Self::start();
        server.stop();
        server.time_zone = Arc::new(OrganisationZone::named(name).expect("a known time zone"));
        server.boot();
        server
    }

    /// Like [`TestServer::start`], with the console's map drawn on the tiles of `template`
    /// (as `serve --map-tiles` takes it).
    pub fn start_with_map_tiles(template: &str) -> Self {
        let mut server = Self::start();
        server.stop();
        server.map_tiles = Some(MapTiles::parse(template).expect("a tile address"));
        server.boot();
        server
    }

    /// Like [`TestServer::start`], with these per-device limits.
    pub fn start_with_quotas(quotas: DeviceQuotas) -> Self {
        Self::start_inner(PageLimits::default(), quotas, None)
    }

    fn start_with(limits: PageLimits, clock: Option<Arc<ManualClock>>) -> Self {
        Self::start_inner(limits, DeviceQuotas::default(), clock)
    }

    /// Like [`TestServer::start`], storing in a fresh schema on the tests' PostgreSQL and
    /// keeping blobs in a fresh prefix of the tests' bucket, as a deployment of several nodes
    /// does.
    pub fn start_on_postgres() -> Self {
        Self::start_on(Some(Arc::new(PostgresSchema::create())), None)
    }

    /// Like [`TestServer::start_on_postgres`], on a clock the test moves; nodes made with
    /// [`TestServer::another_node`] share it.
    pub fn start_on_postgres_with_clock(clock: Arc<ManualClock>) -> Self {
        Self::start_on(Some(Arc::new(PostgresSchema::create())), Some(clock))
    }

    /// A server on a PostgreSQL schema that already holds an installation (moved there from
    /// SQLite, say), with its blob store: nothing is seeded.
    pub fn open_on_postgres(schema: Arc<PostgresSchema>, blobs: BlobLocation) -> Self {
        let mut server = Self::unstarted(
            PageLimits::default(),
            DeviceQuotas::default(),
            None,
            Some(schema),
        );
        server.shared_blobs = Some(blobs);
        server.boot();
        server
    }

    /// Another server node on the same PostgreSQL database and blob store, on a port of its
    /// own, with a process state of its own (event bus, limits, document cache, scheduler),
    /// as a second machine behind a load balancer would have.
    pub fn another_node(&self) -> Self {
        let postgres = self.postgres.clone();
        assert!(
            postgres.is_some(),
            "only servers on PostgreSQL share a database"
        );
        let mut node = Self::unstarted(self.limits, self.quotas, self.clock.clone(), postgres);
        node.shared_blobs = Some(self.blob_location());
        node.boot();
        node
    }

    fn start_inner(
        limits: PageLimits,
        quotas: DeviceQuotas,
        clock: Option<Arc<ManualClock>>,
    ) -> Self {
        Self::start_seeded(Self::unstarted(limits, quotas, clock, None))
    }

    fn start_on(postgres: Option<Arc<PostgresSchema>>, clock: Option<Arc<ManualClock>>) -> Self {
        let mut server = Self::unstarted(
            PageLimits::default(),
            DeviceQuotas::default(),
            clock,
            postgres,
        );
        let bucket = BlobLocation::parse(&fresh_bucket()).expect("the tests' bucket");
        server.shared_blobs = Some(bucket);
        Self::start_seeded(server)
    }

    fn unstarted(
        limits: PageLimits,
        quotas: DeviceQuotas,
        clock: Option<Arc<ManualClock>>,
        postgres: Option<Arc<PostgresSchema>>,
    ) -> Self {
        TestServer {
            dir: tempfile::tempdir().expect("tempdir"),
            server: None,
            addr: "127.0.0.1:0".into(),
            limits,
            quotas,
            trusted_proxies: Vec::new(),
            time_zone: Arc::new(OrganisationZone::utc()),
            clock,
            sessions: Mutex::default(),
            postgres,
            shared_blobs: None,
            outbox: None,
            map_tiles: None,
        }
    }

    /// Boots `server` and gives it the [`USERS`].
    fn start_seeded(mut server: Self) -> Self {
        server.boot();
        // As `fieldsync serve` does on a new database, with the password from the environment.
        auth::ensure_admin(server.storage().as_ref(), Some(&password_of("admin"))).expect("admin");
        let admin = server.office("admin");
        for (id, role) in USERS.into_iter().filter(|(id, _)| *id != "admin") {
            let password = (role != "installer").then(|| password_of(id));
            let answer = admin.post(
                "/v1/users",
                &json!({ "id": id, "name": id, "role": role, "password": password }),
            );
            assert_eq!(answer.status, 201, "create {id}: {:?}", answer.body);
        }
        server
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("server.sqlite3")
    }

    /// The address the server listens on (`host:port`).
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    /// The folder where the server keeps blob bytes (servers on PostgreSQL keep them in a
    /// bucket instead).
    pub fn blob_dir(&self) -> PathBuf {
        match self.blob_location() {
            BlobLocation::Folder(dir) => dir,
            bucket => panic!("this server keeps its blobs in {bucket}, not in a folder"),
        }
    }

    /// Where the server keeps blob bytes.
    pub fn blob_location(&self) -> BlobLocation {
        self.shared_blobs
            .clone()
            .unwrap_or_else(|| BlobLocation::Folder(self.dir.path().join("blobs")))
    }

    fn boot(&mut self) {
        let storage: Arc<dyn Storage> = match &self.postgres {
            Some(schema) => {
                Arc::new(PostgresStorage::connect(&schema.url()).expect("open server database"))
            }
            None => Arc::new(SqliteStorage::open(self.db_path()).expect("open server database")),
        };
        let blobs = self.blob_location().open().expect("open blob store");
        let mut state = AppState::new(storage, blobs);
        state.limits = self.limits;
        state.device_limits = Arc::new(DeviceLimits::new(self.quotas));
        state.trusted_proxies = self.trusted_proxies.clone().into();
        state.time_zone = self.time_zone.clone();
        state.map_tiles = self.map_tiles.clone().map(Arc::new);
        if let Some(clock) = &self.clock {
            state.clock = clock.clone();
        }
        if let Some(settings) = &self.outbox {
            state.outbox = Arc::new(Outbox::configure(settings.clone()).expect("outbox settings"));
        }
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
        self.state().storage.clone()
    }

    /// Lets the server's notification outbox look for due deliveries now (after the test
    /// moved the clock).
    pub fn wake_outbox(&self) {
        self.state().outbox.wake();
    }

    /// The running server's shared state.
    pub fn state(&self) -> &AppState {
        &self.server.as_ref().expect("server is running").state
    }

    /// Runs the escalation ladder now, at the server's clock (it also runs on its own).
    pub fn escalate_now(&self) {
        self.state().escalate_now().expect("escalation tick");
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The dispatcher `dispatch`, signed in, using the JSON API.
    pub fn dispatcher(&self) -> Dispatcher {
        self.office("dispatch")
    }

    /// Forgets the office sessions, so the next [`TestServer::office`] signs in again (after the
    /// clock moved past their expiry).
    pub fn forget_sessions(&self) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// An office user (see [`USERS`]), signed in with their password.
    pub fn office(&self, user: &str) -> Dispatcher {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let token = sessions
            .entry(user.to_owned())
            .or_insert_with(|| {
                let answer = self.anonymous().post(
                    "/v1/auth/login",
                    &json!({ "user": user, "password": password_of(user) }),
                );
                assert_eq!(answer.status, 200, "sign in {user}: {:?}", answer.body);
                answer.body["token"].as_str().expect("token").to_owned()
            })
            .clone();
        self.with_token(Some(&token))
    }

    /// Forgets the office sessions, so the next [`TestServer::office`] signs in again (after
    /// the server's clock moved past their lifetime).
    pub fn sign_in_again(&self) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// A caller with no credential at all.
    pub fn anonymous(&self) -> Dispatcher {
        self.with_token(None)
    }

    /// A caller sending `token` as its bearer credential.
    pub fn with_token(&self, token: Option<&str>) -> Dispatcher {
        Dispatcher {
            url: self.url(),
            agent: agent(),
            token: token.map(str::to_owned),
        }
    }

    /// Enrolls `store`'s device as dispatch would (a one-time code, traded by the device for its
    /// credential) and returns the credential.
    pub fn enroll(&self, store: &Store) -> String {
        let user = store.identity().user_id.clone();
        let answer = self
            .dispatcher()
            .post("/v1/enrollments", &json!({ "user": user }));
        assert_eq!(answer.status, 201, "enrollment code: {:?}", answer.body);
        let code = answer.body["code"].as_str().expect("code");
        HttpTransport::new(&self.url())
            .expect("transport")
            .enroll(store, code)
            .expect("enroll")
    }

    /// A transport for `store`'s device, enrolled.
    pub fn transport_for(&self, store: &Store) -> HttpTransport {
        HttpTransport::new(&self.url())
            .expect("transport")
            .with_credential(&self.enroll(store))
    }

    /// A new, enrolled phone for `user`, with its store in a fresh file.
    pub fn phone(&self, user: &str) -> Phone {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("phone.sqlite3");
        let store = Store::open(&path, user).expect("open phone store");
        let credential = self.enroll(&store);
        Phone {
            store,
            transport: HttpTransport::new(&self.url())
                .expect("transport")
                .with_credential(&credential),
            credential,
            _dir: dir,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where tests keep what a person should look at (screenshots, rendered reports):
/// `FIELDSYNC_ARTIFACTS`, or `target/test-artifacts` in the workspace.
pub fn artifacts_dir() -> PathBuf {
    std::env::var_os("FIELDSYNC_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
                .join("test-artifacts")
        })
}

/// An HTTP client that returns error statuses as answers instead of failing.
pub fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    )
}

/// A caller of the JSON API over HTTP (the office, or anyone with a token).
pub struct Dispatcher {
    url: String,
    agent: ureq::Agent,
    token: Option<String>,
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
    /// A caller of the server at `url` sending `token` as its bearer credential.
    pub fn at(url: &str, token: Option<&str>) -> Self {
        Dispatcher {
            url: url.to_owned(),
            agent: agent(),
            token: token.map(str::to_owned),
        }
    }

    /// The bearer token this caller sends, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    fn authorization(&self) -> Option<String> {
        self.token.as_ref().map(|t| format!("Bearer {t}"))
    }

    /// POSTs JSON and returns the answer, whatever its status.
    pub fn post(&self, path: &str, body: &Value) -> Answer {
        self.send_json(self.agent.post(format!("{}{path}", self.url)), body)
    }

    /// PATCHes JSON and returns the answer, whatever its status.
    pub fn patch(&self, path: &str, body: &Value) -> Answer {
        self.send_json(self.agent.patch(format!("{}{path}", self.url)), body)
    }

    /// PUTs JSON and returns the answer, whatever its status.
    pub fn put(&self, path: &str, body: &Value) -> Answer {
        self.send_json(self.agent.put(format!("{}{path}", self.url)), body)
    }

    /// DELETEs and returns the answer, whatever its status.
    pub fn delete(&self, path: &str) -> Answer {
        let mut request = self.agent.delete(format!("{}{path}", self.url));
        if let Some(authorization) = self.authorization() {
            request = request.header("Authorization", authorization);
        }
        answer(request.call().expect("DELETE"))
    }

    fn send_json(
        &self,
        request: ureq::RequestBuilder<ureq::typestate::WithBody>,
        body: &Value,
    ) -> Answer {
        let mut request = request.header("Content-Type", "application/json");
        if let Some(authorization) = self.authorization() {
            request = request.header("Authorization", authorization);
        }
        answer(request.send(body.to_string().as_bytes()).expect("send"))
    }

    /// POSTs raw bytes with a content type.
    pub fn post_bytes(&self, path: &str, content_type: &str, body: &[u8]) -> Answer {
        let mut request = self
            .agent
            .post(format!("{}{path}", self.url))
            .header("Content-Type", content_type);
        if let Some(authorization) = self.authorization() {
            request = request.header("Authorization", authorization);
        }
        answer(request.send(body).expect("POST"))
    }

    /// PUTs raw bytes with extra headers (blob uploads).
    pub fn put_bytes(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        let mut request = self.agent.put(format!("{}{path}", self.url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(authorization) = self.authorization() {
            request = request.header("Authorization", authorization);
        }
        answer(request.send(body).expect("PUT"))
    }

    /// GETs raw bytes: status and body.
    pub fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let mut request = self.agent.get(format!("{}{path}", self.url));
        if let Some(authorization) = self.authorization() {
            request = request.header("Authorization", authorization);
        }
        let mut response = request.call().expect("GET");
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .unwrap_or_default();
        (status, body)
    }

    /// Uploads a whole blob in one request (as the console does for a manual's attachments)
    /// and returns its SHA-256.
    pub fn upload_blob(&self, bytes: &[u8], mime: &str) -> String {
        let sha256 = sha256_hex(bytes);
        let answer = self.put_bytes(
            &format!("/v1/blobs/{sha256}"),
            &[("Content-Type", mime)],
            bytes,
        );
        assert_eq!(answer.status, 201, "upload blob: {:?}", answer.body);
        sha256
    }

    /// Publishes a manual (JSON as `POST /v1/manuals` takes it) and returns the answer body.
    pub fn publish_manual(&self, manual: &Value) -> Value {
        let answer = self.post("/v1/manuals", manual);
        assert_eq!(answer.status, 201, "publish manual: {:?}", answer.body);
        answer.body
    }

    /// Opens a repair job on a product model, assigns it to `installer` and returns its id.
    pub fn create_job_on(&self, customer: &str, model: &str, installer: &str) -> String {
        let answer = self.post(
            "/v1/jobs",
            &json!({
                "kind": "repair",
                "customer": { "name": customer, "tier": "standard" },
                "site": { "address": "1 Test Road", "region": "north" },
                "product": { "model": model, "serial": "SN-1" },
                "problem": { "category": "no heat", "description": "cold radiators" },
            }),
        );
        assert_eq!(answer.status, 201, "create job: {:?}", answer.body);
        let job = answer.body["id"].as_str().expect("job id").to_owned();
        self.assign(&job, Some(installer));
        job
    }

    /// GETs `path` and returns the status without reading the body (for event streams).
    pub fn status_of(&self, path: &str) -> u16 {
        let mut request = self.agent.get(format!("{}{path}", self.url));
        if let Some(authorization) = self.authorization() {
            request = request.header("Authorization", authorization);
        }
        request.call().expect("GET").status().as_u16()
    }

    /// GETs JSON.
    pub fn get(&self, path: &str) -> Answer {
        let mut request = self.agent.get(format!("{}{path}", self.url));
        if let Some(authorization) = self.authorization() {
            request = request.header("Authorization", authorization);
        }
        answer(request.call().expect("GET"))
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

    /// Opens a repair job for a customer at a site with coordinates and returns its id.
    pub fn create_job_at(&self, customer: &str, lat: f64, lon: f64) -> String {
        let answer = self.post(
            "/v1/jobs",
            &json!({
                "kind": "repair",
                "customer": { "name": customer, "tier": "standard" },
                "site": { "address": "世纪大道1号", "region": "华东", "lat": lat, "lon": lon },
                "problem": { "category": "no heat", "description": "cold radiators" },
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

fn answer(mut response: ureq::http::Response<ureq::Body>) -> Answer {
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// An installer's phone: a store file and an enrolled HTTP transport.
pub struct Phone {
    /// The local store.
    pub store: Store,
    /// The transport, with its byte counters.
    pub transport: HttpTransport,
    /// The device's credential.
    pub credential: String,
    _dir: tempfile::TempDir,
}

impl Phone {
    /// The store's file.
    pub fn path(&self) -> PathBuf {
        self._dir.path().join("phone.sqlite3")
    }

    /// Travels to the job and arrives on site (offline: nothing is sent).
    pub fn arrive(&self, job: &str) {
        use fieldsync_client_core::protocol::rules::Status;
        for to in [Status::EnRoute, Status::OnSite] {
            self.store.move_status(job, to, None).expect("status move");
        }
    }

    /// Syncs until settled.
    pub fn sync(&self) -> SyncReport {
        self.transport.sync(&self.store).expect("sync")
    }

    /// Copies the store, as the platform's device backup would.
    pub fn backup(&self) -> PhoneBackup {
        let dir = tempfile::tempdir().expect("tempdir");
        self.store
            .backup_to(dir.path().join("backup.sqlite3"))
            .expect("backup phone");
        PhoneBackup(dir)
    }

    /// This phone restored from `backup` for `user`: the store as the backup holds it, and the
    /// same device credential (the platform keystore came back with the backup).
    pub fn restored_from(self, backup: &PhoneBackup, user: &str) -> Phone {
        let Phone {
            store,
            transport,
            credential,
            _dir,
        } = self;
        drop(store);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("phone.sqlite3");
        std::fs::copy(backup.0.path().join("backup.sqlite3"), &path).expect("restore");
        Phone {
            store: Store::open(&path, user).expect("open restored store"),
            transport,
            credential,
            _dir: dir,
        }
    }
}

/// A copy of a phone's store, taken by [`Phone::backup`].
pub struct PhoneBackup(tempfile::TempDir);

/// The lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Deterministic pseudo-random bytes (xorshift), so a failing run can be repeated.
pub fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// Technical terms of manual prose.
pub const MANUAL_TERMS: [&str; 40] = [
    "pump",
    "circuit",
    "pressure",
    "valve",
    "sensor",
    "flow",
    "return",
    "supply",
    "check",
    "tighten",
    "replace",
    "drain",
    "bleed",
    "filter",
    "display",
    "relay",
    "fuse",
    "board",
    "wiring",
    "earth",
    "cable",
    "seal",
    "gasket",
    "thermostat",
    "compressor",
    "refrigerant",
    "condenser",
    "evaporator",
    "defrost",
    "inverter",
    "bracket",
    "mounting",
    "clearance",
    "torque",
    "isolator",
    "commissioning",
    "soupape",
    "sécurité",
    "vérifier",
    "purge",
];

const SYLLABLES: [&str; 24] = [
    "ka", "lo", "mi", "ten", "ra", "vo", "sel", "un", "de", "pri", "mo", "sta", "ne", "ul", "ter",
    "fa", "ri", "con", "bi", "lu", "per", "ma", "dis", "to",
];

/// Deterministic manual prose of `words` words: a technical term ([`MANUAL_TERMS`]) one time in
/// eight, otherwise one of some 14,000 ordinary words, so a term matches a realistic share of
/// pages.
pub fn manual_prose(seed: u64, words: usize) -> String {
    pseudo_random_bytes(seed, words * 4)
        .chunks(4)
        .map(|bytes| {
            if bytes[0].is_multiple_of(8) {
                MANUAL_TERMS[usize::from(bytes[1]) % MANUAL_TERMS.len()].to_owned()
            } else {
                bytes[1..4]
                    .iter()
                    .map(|b| SYLLABLES[usize::from(*b) % SYLLABLES.len()])
                    .collect()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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

/// A live event stream (`/v1/events`) read on its own thread: every event as (name, data).
pub struct EventStream {
    events: std::sync::mpsc::Receiver<(String, String)>,
}

impl EventStream {
    /// Opens the stream with a bearer token (an office session or a device credential) and
    /// waits until the server says it is listening.
    pub fn open(url: &str, token: &str) -> Self {
        let response = agent()
            .get(format!("{url}/v1/events"))
            .header("Authorization", format!("Bearer {token}"))
            .header("Accept", "text/event-stream")
            .call()
            .expect("open the event stream");
        assert_eq!(response.status(), 200, "event stream");
        let (tx, events) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let reader = std::io::BufReader::new(response.into_body().into_reader());
            let (mut name, mut data) = (String::new(), String::new());
            for line in reader.lines() {
                let Ok(line) = line else { return };
                if let Some(value) = line.strip_prefix("event:") {
                    name = value.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data = value.trim().to_owned();
                } else if line.is_empty()
                    && !name.is_empty()
                    && tx
                        .send((std::mem::take(&mut name), std::mem::take(&mut data)))
                        .is_err()
                {
                    return;
                }
            }
        });
        let stream = EventStream { events };
        stream.expect("ready");
        stream
    }

    /// The next event as (name, data), or `None` when none came within `timeout` or the stream
    /// ended.
    pub fn next(&self, timeout: std::time::Duration) -> Option<(String, String)> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Waits for the server to end the stream; fails on any further event, or after a generous
    /// time.
    pub fn expect_end(&self) {
        match self.events.recv_timeout(std::time::Duration::from_secs(20)) {
            Ok((event, data)) => panic!("the stream went on: {event} {data}"),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {}
            Err(e) => panic!("the stream did not end: {e}"),
        }
    }

    /// The data of the next event called `name` (skipping others), or a panic after a generous
    /// time without one.
    pub fn expect(&self, name: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.events.recv_timeout(left) {
                Ok((event, data)) if event == name => return data,
                Ok(_) => {}
                Err(e) => panic!("no `{name}` event: {e}"),
            }
        }
    }
}

/// Signs an office user in over HTTP and returns the session token.
pub fn sign_in(url: &str, user: &str, password: &str) -> String {
    let mut response = agent()
        .post(format!("{url}/v1/auth/login"))
        .header("Content-Type", "application/json")
        .send(json!({ "user": user, "password": password }).to_string())
        .expect("sign in");
    assert_eq!(response.status(), 200, "sign in {user}");
    let body: Value =
        serde_json::from_str(&response.body_mut().read_to_string().expect("body")).expect("json");
    body["token"].as_str().expect("token").to_owned()
}

/// A call with everything intake requires, for tests that open jobs without HTTP.
pub fn new_call(customer: &str) -> fieldsync_client_core::protocol::job::NewJob {
    use fieldsync_client_core::protocol::job::{Customer, NewJob, Problem, Site};
    NewJob {
        customer: Customer {
            name: customer.into(),
            ..Customer::default()
        },
        site: Site {
            address: "1 Test Road".into(),
            region: "north".into(),
            ..Site::default()
        },
        problem: Problem {
            category: "no heat".into(),
            description: "cold radiators".into(),
        },
        ..NewJob::default()
    }
}

/// A TCP proxy that forwards at most `cut_after` bytes from clients to the server in all, then
/// drops the connection it is on and every later one: a phone losing its signal mid-upload.
pub struct CuttingProxy {
    addr: std::net::SocketAddr,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CuttingProxy {
    /// Starts a proxy to the server at `target` (`host:port`).
    pub fn start(target: &str, cut_after: u64) -> Self {
        use std::sync::atomic::{AtomicBool, AtomicU64};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let stop = Arc::new(AtomicBool::new(false));
        let budget = Arc::new(AtomicU64::new(cut_after));
        let target = target.to_owned();
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(upstream) = std::net::TcpStream::connect(&target) else {
                    continue;
                };
                let budget = budget.clone();
                std::thread::spawn(move || forward_until_cut(client, upstream, &budget));
            }
        });
        CuttingProxy {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// The proxy's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn forward_until_cut(
    mut client: std::net::TcpStream,
    mut upstream: std::net::TcpStream,
    budget: &std::sync::atomic::AtomicU64,
) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let (Ok(mut client_reader), Ok(mut upstream_writer)) =
        (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    // Answers flow back untouched until the connection is cut.
    let answers = std::thread::spawn(move || {
        let _ = std::io::copy(&mut upstream, &mut client);
    });
    let mut buffer = [0u8; 8192];
    while let Ok(read) = client_reader.read(&mut buffer) {
        if read == 0 {
            break;
        }
        let allowed = budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                Some(left.saturating_sub(read as u64))
            })
            .unwrap_or(0);
        let send = read.min(usize::try_from(allowed).unwrap_or(usize::MAX));
        if upstream_writer.write_all(&buffer[..send]).is_err() || send < read {
            break;
        }
    }
    let _ = client_reader.shutdown(std::net::Shutdown::Both);
    let _ = upstream_writer.shutdown(std::net::Shutdown::Both);
    let _ = answers.join();
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The `fieldsync` binary the workspace's tests were built with (`cargo test --workspace`
/// builds it beside the test binaries).
pub fn fieldsync_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the target directory");
    let binary = dir.join(format!("fieldsync{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: build it with `cargo build -p fieldsync-server` (the test script does)",
        binary.display()
    );
    binary
}

/// `fieldsync serve` as its own process on PostgreSQL, as a node of a deployment runs: killed
/// with SIGKILL when dropped or asked.
pub struct ServerProcess {
    child: std::process::Child,
    addr: String,
}

impl ServerProcess {
    /// Starts a node on `database` with the blob store `blobs` (a folder or `s3://…`, as
    /// `--blobs` takes it), on a free port, and waits until it serves. The first node on an
    /// empty database creates `admin` with [`password_of`]`("admin")`.
    pub fn start(database: &str, blobs: &str) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(fieldsync_binary())
            .args([
                "serve",
                "--database",
                database,
                "--addr",
                "127.0.0.1:0",
                "--blobs",
                blobs,
            ])
            .env("FIELDSYNC_ADMIN_PASSWORD", password_of("admin"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start fieldsync serve");
        let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the node stopped before it served")
                .expect("read");
            if let Some(rest) = line.strip_prefix("Fieldsync server on http://") {
                break rest.split(' ').next().expect("address").to_owned();
            }
        };
        // Drained so that the node never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        ServerProcess { child, addr }
    }

    /// Where it listens (`host:port`).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Kills it at once (SIGKILL on Unix): no graceful stop, requests cut mid-way.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP load balancer in front of several nodes: each connection goes to a node picked at
/// random, or the next one that answers when that one is down, with no pinning.
pub struct BalancingProxy {
    addr: std::net::SocketAddr,
}

impl BalancingProxy {
    /// Starts balancing over `nodes` (`host:port` each).
    pub fn start(nodes: Vec<String>) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        std::thread::spawn(move || {
            let mut seed = 0x2545_f491_4f6c_dd1d_u64;
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let first = usize::try_from(seed % nodes.len() as u64).unwrap_or(0);
                let upstream = (0..nodes.len())
                    .map(|i| &nodes[(first + i) % nodes.len()])
                    .find_map(|node| std::net::TcpStream::connect(node).ok());
                if let Some(upstream) = upstream {
                    std::thread::spawn(move || pipe(client, upstream));
                }
            }
        });
        BalancingProxy { addr }
    }

    /// The proxy's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Copies bytes both ways until either side closes.
fn pipe(mut client: std::net::TcpStream, mut upstream: std::net::TcpStream) {
    let (Ok(mut client_reader), Ok(mut upstream_writer)) =
        (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    let answers = std::thread::spawn(move || {
        let _ = std::io::copy(&mut upstream, &mut client);
        let _ = client.shutdown(std::net::Shutdown::Both);
    });
    let _ = std::io::copy(&mut client_reader, &mut upstream_writer);
    let _ = upstream_writer.shutdown(std::net::Shutdown::Both);
    let _ = answers.join();
}
