//! HTTPS end to end, against a certificate authority made at test time (`rcgen`): a phone
//! enrolls, syncs, uploads a photo and hears its live nudge over TLS, with and without a pinned
//! key; a certificate from an unknown authority, an expired one, one for another name and a
//! pin mismatch are each refused with a clear error before anything is sent; a renewed
//! certificate is picked up without a restart.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use fieldsync_client_core::transport::HttpTransport;
use fieldsync_client_core::{Error, ServerTrust, Store};
use fieldsync_protocol::now_millis;
use fieldsync_server::domain::auth::{self, UserRole};
use fieldsync_server::http::tls::ServerCertificate;
use fieldsync_server::storage::blobs::FsBlobStore;
use fieldsync_server::storage::sqlite::SqliteStorage;
use fieldsync_server::storage::{self, User};
use fieldsync_server::{AppState, BackgroundServer};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, PublicKeyData,
    date_time_ymd,
};
use sha2::{Digest, Sha256};

/// A test certificate authority and the files of the certificates it issues.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate's files and its key's pin.
struct Issued {
    cert: PathBuf,
    key: PathBuf,
    pin: String,
}

impl Pki {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("key");
        Pki {
            dir: tempfile::tempdir().expect("dir"),
            ca: CertifiedIssuer::self_signed(params, key).expect("CA"),
        }
    }

    fn root_der(&self) -> Vec<u8> {
        self.ca.der().to_vec()
    }

    /// A certificate for `names`, valid from 2020 to the given year, written as PEM files.
    fn issue(&self, file: &str, names: &[&str], valid_until_year: i32) -> Issued {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(valid_until_year, 1, 1);
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.ca).expect("certificate");
        let cert_path = self.dir.path().join(format!("{file}.crt"));
        let key_path = self.dir.path().join(format!("{file}.key"));
        std::fs::write(&cert_path, cert.pem()).expect("write");
        std::fs::write(&key_path, key.serialize_pem()).expect("write");
        Issued {
            cert: cert_path,
            key: key_path,
            pin: BASE64.encode(Sha256::digest(key.subject_public_key_info())),
        }
    }
}

/// A server state on a fresh database with the installer `anna` and the dispatcher.
fn state(dir: &std::path::Path) -> AppState {
    let storage = SqliteStorage::open(dir.join("server.sqlite3")).expect("open");
    let blobs = FsBlobStore::open(dir.join("blobs")).expect("blobs");
    for (id, role) in [
        ("anna", UserRole::Installer),
        ("dispatch", UserRole::Dispatcher),
    ] {
        let user = User {
            id: id.into(),
            name: id.into(),
            role: role.as_str().into(),
            region: "north".into(),
            skills: Vec::new(),
        };
        auth::put_user(&storage, &user, None).expect("user");
    }
    AppState::new(Arc::new(storage), Arc::new(blobs))
}

fn serve(state: &AppState, issued: &Issued) -> BackgroundServer {
    let certificate = ServerCertificate::load(&issued.cert, &issued.key).expect("certificate");
    BackgroundServer::start_tls(state.clone(), "127.0.0.1:0", &certificate).expect("start")
}

fn enrollment_code(state: &AppState) -> String {
    auth::issue_enrollment_code(state.storage.as_ref(), "dispatch", "anna", now_millis())
        .expect("code")
        .code
}

/// Dispatch opens a job for anna and tells listeners, as the HTTP edit would.
fn assign_new_job(state: &AppState) -> String {
    let dispatch = state.dispatch("dispatch");
    let (job, _) = dispatch
        .create(fieldsync_tests::new_call("Ada"), now_millis())
        .expect("create");
    let (_, committed) = dispatch
        .assign(&job.id, Some("anna"), None, None, now_millis())
        .expect("assign");
    state.changed(committed.nudge, vec![job.id.clone()]);
    job.id
}

#[test]
fn a_phone_syncs_uploads_and_hears_its_nudge_over_https() {
    let pki = Pki::new("Fieldsync test CA");
    let good = pki.issue("good", &["localhost", "127.0.0.1"], 2099);
    let dir = tempfile::tempdir().expect("dir");
    let state = state(dir.path());
    let server = serve(&state, &good);
    assert!(server.url().starts_with("https://"), "{}", server.url());
    let trust = ServerTrust {
        extra_roots_der: vec![pki.root_der()],
        pinned_spki_sha256: vec![good.pin.clone()],
        ..ServerTrust::default()
    };
    let store = Store::open(dir.path().join("phone.sqlite3"), "anna").expect("store");
    let transport = HttpTransport::connect(&server.url(), &trust).expect("transport");
    let credential = transport
        .enroll(&store, &enrollment_code(&state))
        .expect("enrolled over TLS with a pinned key");
    let transport = transport.with_credential(&credential);

    let job = assign_new_job(&state);
    transport.sync(&store).expect("sync over TLS");
    assert!(store.job(&job).is_ok(), "the job arrived");

    let photo = fieldsync_tests::pseudo_random_bytes(7, 300_000);
    let blob = store
        .attach_photo(&job, &photo, "image/jpeg", "valve")
        .expect("photo");
    transport.sync(&store).expect("sync");
    let report = transport.upload_media(&store).expect("upload over TLS");
    assert_eq!(report.uploaded, 1);
    let held = storage::read(state.storage.as_ref(), |tx| tx.blob(&blob.sha256)).expect("read");
    assert_eq!(held.map(|b| b.size), Some(photo.len() as u64));

    // The live nudge over TLS: dispatch moves the appointment while the phone listens.
    let listening = std::thread::spawn(move || transport.wait_for_nudge(Duration::from_secs(20)));
    std::thread::sleep(Duration::from_millis(300));
    let (_, committed) = state
        .dispatch("dispatch")
        .set_appointment(
            &job,
            fieldsync_client_core::protocol::job::Appointment {
                start: now_millis() + 3_600_000,
                end: now_millis() + 7_200_000,
            },
            None,
            now_millis(),
        )
        .expect("appointment");
    state.changed(committed.nudge, vec![job.clone()]);
    let nudged = listening.join().expect("listener");
    assert!(nudged.expect("the stream over TLS"), "the nudge arrived");
}

#[test]
fn untrusted_servers_are_refused_before_anything_is_sent() {
    let pki = Pki::new("Fieldsync test CA");
    let stranger = Pki::new("Someone else's CA");
    let dir = tempfile::tempdir().expect("dir");
    let state = state(dir.path());
    let code = enrollment_code(&state);
    let store = Store::open(dir.path().join("phone.sqlite3"), "anna").expect("store");
    let trusting = |pins: Vec<String>| ServerTrust {
        extra_roots_der: vec![pki.root_der()],
        pinned_spki_sha256: pins,
        ..ServerTrust::default()
    };
    let good = pki.issue("good", &["localhost", "127.0.0.1"], 2099);
    let cases = [
        (
            stranger.issue("stranger", &["localhost"], 2099),
            trusting(Vec::new()),
            "not issued by a trusted authority",
        ),
        (
            pki.issue("expired", &["localhost"], 2021),
            trusting(Vec::new()),
            "expired",
        ),
        (
            pki.issue("other-name", &["fieldsync.example.com"], 2099),
            trusting(Vec::new()),
            "another name",
        ),
        (
            pki.issue("unpinned", &["localhost"], 2099),
            trusting(vec![good.pin.clone()]),
            "not one of the pinned keys",
        ),
    ];
    // A mis-issued certificate for the name, with the genuine (pinned) certificate appended to
    // its chain: the pin must be on the verified path, not just anywhere in what was sent.
    let impostor = pki.issue("impostor", &["localhost"], 2099);
    let mut chain = std::fs::read_to_string(&impostor.cert).expect("read");
    chain.push_str(&std::fs::read_to_string(&good.cert).expect("read"));
    std::fs::write(&impostor.cert, chain).expect("write");
    let cases = cases.into_iter().chain([(
        impostor,
        trusting(vec![good.pin.clone()]),
        "not one of the pinned keys",
    )]);
    for (issued, trust, expected) in cases {
        let server = serve(&state, &issued);
        let transport = HttpTransport::connect(&server.url(), &trust).expect("transport");
        match transport.enroll(&store, &code) {
            Err(Error::Untrusted(message)) => {
                assert!(message.contains(expected), "{expected}: {message}");
                assert!(message.contains("nothing was sent"), "{message}");
            }
            other => panic!("{expected}: {other:?}"),
        }
        server.stop();
    }
    // Nothing was sent: the one-time code is still unspent, and works over a trusted server.
    let server = serve(&state, &good);
    let transport = HttpTransport::connect(&server.url(), &trusting(Vec::new())).expect("ok");
    transport
        .enroll(&store, &code)
        .expect("the code was never spent");
}

#[test]
fn a_renewed_certificate_is_served_without_a_restart() {
    let pki = Pki::new("Fieldsync test CA");
    let first = pki.issue("first", &["localhost"], 2099);
    let dir = tempfile::tempdir().expect("dir");
    let state = state(dir.path());
    let certificate = ServerCertificate::load(&first.cert, &first.key).expect("certificate");
    let server =
        BackgroundServer::start_tls(state.clone(), "127.0.0.1:0", &certificate).expect("start");
    let store = Store::open(dir.path().join("phone.sqlite3"), "anna").expect("store");
    let pinned = |pin: &str| ServerTrust {
        extra_roots_der: vec![pki.root_der()],
        pinned_spki_sha256: vec![pin.to_owned()],
        ..ServerTrust::default()
    };
    // The renewal is written over the same files, then reloaded (what SIGHUP does).
    let renewed = pki.issue("renewed", &["localhost"], 2099);
    std::fs::copy(&renewed.cert, &first.cert).expect("copy");
    std::fs::copy(&renewed.key, &first.key).expect("copy");
    certificate.reload().expect("reload");
    let transport = HttpTransport::connect(&server.url(), &pinned(&renewed.pin)).expect("ok");
    transport
        .enroll(&store, &enrollment_code(&state))
        .expect("the renewed certificate is served");
    // A broken file is refused and the certificate in use stays.
    std::fs::write(&first.key, "not a key").expect("write");
    let e = certificate.reload().expect_err("a broken key");
    assert!(e.to_string().contains("first.key"), "{e}");
    let transport = HttpTransport::connect(&server.url(), &pinned(&renewed.pin)).expect("ok");
    assert!(transport.enroll(&store, &enrollment_code(&state)).is_ok());
}
