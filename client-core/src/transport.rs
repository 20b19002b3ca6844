//! The HTTP transport: the only place client-core does network I/O.
//!
//! It drives a [`SyncSession`] against a server: each request body is gzip-compressed, each
//! response decompressed, and the byte counts on the wire are kept for the UI and benchmarks.
//! Calls block; an app runs them off its main thread.

use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

use fieldsync_protocol::knowledge::{KnowledgeResponse, UploadStatus};
use fieldsync_protocol::wire;

use crate::error::{Error, Result};
use crate::knowledge::KnowledgeApplied;
use crate::media::PendingMedia;
use crate::report_log::Severity;
use crate::store::Store;
use crate::sync::{SyncReport, SyncSession};
use crate::tls::{ServerTrust, check_server_url};

/// The largest response body the transport accepts (decompressed).
const MAX_RESPONSE_BYTES: u64 = 64 << 20;

/// Bytes and round trips a transport has used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireStats {
    /// Request bodies as sent (compressed).
    pub bytes_sent: u64,
    /// Response bodies as received (compressed).
    pub bytes_received: u64,
    /// Completed request/response exchanges.
    pub round_trips: u64,
}

/// What an upload pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadReport {
    /// Blobs the server now holds that it did not before this pass (or that it held already).
    pub uploaded: u64,
    /// Blob bytes the server accepted in this pass.
    pub bytes_sent: u64,
}

/// The most knowledge exchanges one [`HttpTransport::sync_knowledge`] makes (each brings up to
/// the server's page of cases per model).
const MAX_KNOWLEDGE_EXCHANGES: usize = 100;

/// How long one blob request (an upload part, a download) may take: the server allows the
/// same. Other requests have a minute.
const BLOB_TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);

/// How many blobs upload at once.
const PARALLEL_UPLOADS: usize = 2;

/// The default size of an upload part.
pub const UPLOAD_PART_BYTES: usize = 4 << 20;

/// A blocking HTTP client for one Fieldsync server.
pub struct HttpTransport {
    upload_part_bytes: usize,
    agent: ureq::Agent,
    base_url: String,
    /// Sent as `Authorization: Bearer …` when set.
    credential: std::sync::Mutex<Option<String>>,
    stats: std::sync::Mutex<WireStats>,
    /// How `https://` connections are made and trusted.
    #[cfg(feature = "tls")]
    tls: crate::tls::TlsConnector,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// A failed exchange: an untrusted server (nothing was sent, trying again will not help), or
/// the network (local work is safe and syncs later).
fn network(e: ureq::Error) -> Error {
    #[cfg(feature = "tls")]
    if let ureq::Error::Io(io) = &e
        && let Some(untrusted) = io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<crate::tls::Untrusted>())
    {
        return Error::Untrusted(untrusted.to_string());
    }
    Error::Offline(e.to_string())
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(bytes)
        .map_err(|e| Error::Protocol(e.to_string()))?;
    encoder.finish().map_err(|e| Error::Protocol(e.to_string()))
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_RESPONSE_BYTES)
        .read_to_end(&mut out)
        .map_err(|e| Error::Protocol(format!("bad gzip body: {e}")))?;
    Ok(out)
}

impl HttpTransport {
    /// A transport for the server at `base_url` with the default trust: `https://` verified
    /// against the bundled roots, or `http://` to loopback (e.g. `http://127.0.0.1:8080`).
    pub fn new(base_url: &str) -> Result<Self> {
        Self::connect(base_url, &ServerTrust::default())
    }

    /// A transport for the server at `base_url`, trusted as `trust` says. An address the policy
    /// refuses is [`Error::BadServerUrl`], before anything is sent.
    pub fn connect(base_url: &str, trust: &ServerTrust) -> Result<Self> {
        let scheme = check_server_url(base_url, trust)?;
        #[cfg(feature = "tls")]
        let tls = crate::tls::agent_config_connector(trust)?;
        #[cfg(not(feature = "tls"))]
        if scheme == crate::tls::Scheme::Https {
            return Err(Error::BadServerUrl(format!(
                "`{base_url}`: this build of the library has no TLS (feature `tls`)"
            )));
        }
        let _ = scheme;
        let transport = HttpTransport {
            upload_part_bytes: UPLOAD_PART_BYTES,
            agent: ureq::Agent::new_with_defaults(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            credential: std::sync::Mutex::new(None),
            stats: std::sync::Mutex::new(WireStats::default()),
            #[cfg(feature = "tls")]
            tls,
        };
        Ok(HttpTransport {
            agent: transport.agent(Duration::from_secs(60)),
            ..transport
        })
    }

    /// An agent with the transport's trust whose requests time out after `timeout`.
    fn agent(&self, timeout: Duration) -> ureq::Agent {
        // No redirects: a redirect could lead elsewhere, to plain http:// even.
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .build();
        let connector = ureq::unversioned::transport::TcpConnector::default();
        #[cfg(feature = "tls")]
        let connector = {
            use ureq::unversioned::transport::Connector;
            connector.chain(self.tls.clone())
        };
        ureq::Agent::with_parts(
            config,
            connector,
            ureq::unversioned::resolver::DefaultResolver::default(),
        )
    }

    /// Sends `credential` (the device's enrollment token) with every request.
    pub fn with_credential(self, credential: &str) -> Self {
        self.set_credential(credential);
        self
    }

    /// Sends `credential` with every request from now on (e.g. right after [`Self::enroll`]).
    pub fn set_credential(&self, credential: &str) {
        *self.credential.lock().unwrap_or_else(|p| p.into_inner()) = Some(credential.to_owned());
    }

    fn authorization(&self) -> Option<String> {
        self.credential
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|c| format!("Bearer {c}"))
    }

    /// What this transport has used so far.
    pub fn stats(&self) -> WireStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a whole sync session: pushes the outbox, pulls what changed, acknowledges it.
    ///
    /// A device the server revoked wipes every job it holds and returns [`Error::Revoked`].
    pub fn sync(&self, store: &Store) -> Result<SyncReport> {
        let result = self.sync_rounds(store);
        if let Err(e) = &result {
            // Kept for the office's fleet view, sent with the next sync that gets through.
            let severity = match e {
                Error::Offline(_) => Severity::Warn,
                _ => Severity::Error,
            };
            if !matches!(e, Error::Revoked(_)) {
                let _ = store.log_problem(
                    severity,
                    &format!("sync failed: {e}"),
                    fieldsync_protocol::now_millis(),
                );
            }
        }
        result
    }

    fn sync_rounds(&self, store: &Store) -> Result<SyncReport> {
        let mut session = SyncSession::new(store);
        while let Some(request) = session.next_request()? {
            let response = match self.exchange(&request) {
                Err(Error::Revoked(reason)) => {
                    store.wipe()?;
                    return Err(Error::Revoked(reason));
                }
                other => other?,
            };
            session.receive(&response)?;
        }
        Ok(session.report().clone())
    }

    /// Enrolls `store`'s device with a one-time code from dispatch and returns the device's
    /// credential, which the app keeps in the platform keystore and passes to
    /// [`HttpTransport::with_credential`] from then on. The code must be for the store's user.
    pub fn enroll(&self, store: &Store, code: &str) -> Result<String> {
        let identity = store.identity();
        let body = serde_json::json!({
            "code": code,
            "device": identity.device_id,
            "user": identity.user_id,
        });
        let mut response = self
            .agent
            .post(format!("{}/v1/devices/enroll", self.base_url))
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .map_err(network)?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(network)?;
        if status >= 400 {
            return Err(server_error(status, text.as_bytes()));
        }
        let answer: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::Protocol(format!("enrollment answer: {e}")))?;
        if answer["user"].as_str() != Some(identity.user_id.as_str()) {
            return Err(Error::Protocol(format!(
                "the enrollment code is for `{}`, but this store belongs to `{}`",
                answer["user"].as_str().unwrap_or("?"),
                identity.user_id
            )));
        }
        // Servers before names were announced send none; the report then shows the user id.
        // The code is spent by now: failing to keep a name must not lose the credential.
        if let Some(name) = answer["name"].as_str() {
            let _kept = store.set_user_name(name).is_ok();
        }
        answer["credential"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::Protocol("the enrollment answer has no credential".into()))
    }

    /// Sends one sync request body and returns the response body (both uncompressed).
    pub fn exchange(&self, body: &[u8]) -> Result<Vec<u8>> {
        self.post_compressed("/v1/sync", wire::CONTENT_TYPE, body)
    }

    /// POSTs a gzip-compressed body and returns the (decompressed) answer of a success.
    fn post_compressed(&self, path: &str, content_type: &str, body: &[u8]) -> Result<Vec<u8>> {
        let compressed = gzip(body)?;
        let mut request = self.agent.post(format!("{}{path}", self.base_url));
        if let Some(authorization) = self.authorization() {
            request = request.header("Authorization", authorization);
        }
        let response = request
            .header("Content-Type", content_type)
            .header("Content-Encoding", "gzip")
            .header("Accept-Encoding", "gzip")
            .send(&compressed[..]);
        let (status, body) = self.answer(response, compressed.len())?;
        if status >= 400 {
            return Err(server_error(status, &body));
        }
        Ok(body)
    }

    /// Reads an answer (decompressing it) and counts the bytes both ways.
    fn answer(
        &self,
        response: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        sent: usize,
    ) -> Result<(u16, Vec<u8>)> {
        let mut response = response.map_err(network)?;
        let status = response.status().as_u16();
        let gzipped = response
            .headers()
            .get("content-encoding")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let raw = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(network)?;
        {
            let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
            stats.bytes_sent += sent as u64;
            stats.bytes_received += raw.len() as u64;
            stats.round_trips += 1;
        }
        let body = if gzipped { gunzip(&raw)? } else { raw };
        Ok((status, body))
    }

    /// Brings the phone's reference knowledge up to date: manual deltas for the products on its
    /// jobs, new cases, and field tips both ways; then fetches the attachments new manual
    /// versions wait for. A version is shown only once complete, so an interrupted exchange
    /// leaves the previous one in place and the next exchange continues.
    pub fn sync_knowledge(&self, store: &Store) -> Result<KnowledgeApplied> {
        let mut applied = KnowledgeApplied::default();
        // Each exchange moves the case cursors on; `more` says cases are still waiting.
        for _ in 0..MAX_KNOWLEDGE_EXCHANGES {
            let prepared = store.prepare_knowledge()?;
            let body = serde_json::to_vec(&prepared.request)
                .map_err(|e| Error::Protocol(format!("knowledge request: {e}")))?;
            let answer = self.post_compressed("/v1/knowledge", "application/json", &body)?;
            let response: KnowledgeResponse = serde_json::from_slice(&answer)
                .map_err(|e| Error::Protocol(format!("knowledge answer: {e}")))?;
            let this = store.apply_knowledge(&prepared, &response)?;
            applied.manuals.extend(this.manuals);
            applied.cases += this.cases;
            applied.tip_changes += this.tip_changes;
            applied.refused_tips.extend(this.refused_tips);
            // Attachments first: a version waiting for them would be sent again.
            for attachment in store.missing_attachments()? {
                let bytes = self.fetch_blob(&attachment.sha256)?;
                store.put_reference_blob(&attachment, &bytes)?;
            }
            if !response.more {
                break;
            }
        }
        Ok(applied)
    }

    /// Downloads a blob the server holds (a manual attachment, or media of a job this device's
    /// user holds).
    pub fn fetch_blob(&self, sha256: &str) -> Result<Vec<u8>> {
        let mut request = self
            .agent
            .get(format!("{}/v1/blobs/{sha256}", self.base_url))
            .config()
            .timeout_global(Some(BLOB_TRANSFER_TIMEOUT))
            .build();
        if let Some(authorization) = self.authorization() {
            request = request.header("Authorization", authorization);
        }
        let (status, body) = self.answer(request.call(), 0)?;
        if status >= 400 {
            return Err(server_error(status, &body));
        }
        Ok(body)
    }

    /// How much of a blob the server holds.
    pub fn upload_status(&self, sha256: &str) -> Result<UploadStatus> {
        self.progress(sha256, None)
    }

    /// How much of a blob the server holds; asked for a job, a blob the server already holds
    /// is linked to that job (the same bytes are never sent twice).
    fn progress(&self, sha256: &str, job_id: Option<&str>) -> Result<UploadStatus> {
        let mut request = self
            .agent
            .get(format!("{}/v1/blobs/{sha256}/upload", self.base_url));
        if let Some(job_id) = job_id {
            request = request.query("job", job_id);
        }
        if let Some(authorization) = self.authorization() {
            request = request.header("Authorization", authorization);
        }
        let (status, body) = self.answer(request.call(), 0)?;
        if status >= 400 {
            return Err(server_error(status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| Error::Protocol(format!("upload status: {e}")))
    }

    /// Sets the size of the parts media are uploaded in (at least 1 byte).
    pub fn with_upload_part_bytes(mut self, bytes: usize) -> Self {
        self.upload_part_bytes = bytes.max(1);
        self
    }

    /// Uploads the captured media the server does not hold yet, each from the byte the
    /// server's copy ends at (so an upload cut off at any byte, even days earlier and after a
    /// restart, resumes rather than restarts), and marks each uploaded once the server has
    /// verified its hash. Two blobs travel at once, so one is on the wire while the server
    /// makes the other durable. Stops at the first failure; what was sent stays sent.
    pub fn upload_media(&self, store: &Store) -> Result<UploadReport> {
        let queue = std::sync::Mutex::new(store.pending_media()?.into_iter());
        let report = std::sync::Mutex::new(UploadReport::default());
        let failure: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..PARALLEL_UPLOADS {
                scope.spawn(|| {
                    loop {
                        if failure.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                            return;
                        }
                        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                        let Some(media) = next else { return };
                        match self.upload_one(store, &media) {
                            Ok(bytes_sent) => {
                                let mut report = report.lock().unwrap_or_else(|p| p.into_inner());
                                report.uploaded += 1;
                                report.bytes_sent += bytes_sent;
                            }
                            Err(e) => {
                                failure
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .get_or_insert(e);
                                return;
                            }
                        }
                    }
                });
            }
        });
        match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(report.into_inner().unwrap_or_else(|p| p.into_inner())),
        }
    }

    /// Uploads one blob from where the server's copy ends and marks it uploaded. Returns the
    /// bytes the server accepted.
    fn upload_one(&self, store: &Store, media: &PendingMedia) -> Result<u64> {
        let status = self.progress(&media.sha256, Some(&media.job_id))?;
        if !status.complete && status.received >= media.size {
            return Err(Error::Protocol(format!(
                "the server holds all of blob {} but has not verified it",
                media.sha256
            )));
        }
        let mut complete = status.complete;
        let mut offset = status.received;
        let mut bytes_sent = 0;
        // Marked uploaded only on the server's word that it holds the blob, verified.
        while !complete {
            match self.send_parts(store, media, offset, &mut bytes_sent)? {
                None => complete = true,
                Some(resume_at) if resume_at == offset || resume_at >= media.size => {
                    return Err(Error::Protocol(format!(
                        "the server holds bytes 0 to {resume_at} of blob {} but has not \
                         verified it; try again later",
                        media.sha256
                    )));
                }
                Some(resume_at) => offset = resume_at,
            }
        }
        // The same bytes on other jobs: the server links them without receiving them again.
        for job in store.blob_jobs(&media.sha256)? {
            if job != media.job_id {
                self.progress(&media.sha256, Some(&job))?;
            }
        }
        store.mark_uploaded(&media.sha256)?;
        Ok(bytes_sent)
    }

    /// Sends a blob's parts from `offset` while a second thread reads the next part from the
    /// store, so reading and sending overlap. Returns `None` once the server holds the whole
    /// blob, or where to continue when the server's copy ends elsewhere than expected.
    fn send_parts(
        &self,
        store: &Store,
        media: &PendingMedia,
        offset: u64,
        bytes_sent: &mut u64,
    ) -> Result<Option<u64>> {
        let part_bytes = self.upload_part_bytes;
        std::thread::scope(|scope| {
            let (parts, next_part) = std::sync::mpsc::sync_channel::<Result<(u64, Vec<u8>)>>(1);
            // Sent parts' buffers come back to be filled again.
            let (spent, reusable) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
            scope.spawn(move || {
                let mut at = offset;
                while at < media.size {
                    let mut buffer = reusable.try_recv().unwrap_or_default();
                    let part = store
                        .read_blob_part(&media.sha256, at, part_bytes, &mut buffer)
                        .map(|()| (at, buffer));
                    let read = part.as_ref().map_or(0, |(_, bytes)| bytes.len()) as u64;
                    let failed = part.is_err() || read == 0;
                    // A closed channel means the sender stopped listening: so does the reader.
                    if parts.send(part).is_err() || failed {
                        return;
                    }
                    at += read;
                }
            });
            for part in next_part {
                let (at, bytes) = part?;
                let Some(last) = (at + bytes.len() as u64).checked_sub(1) else {
                    return Err(Error::Protocol(format!(
                        "blob {} ends at byte {at}, before the server's copy is complete",
                        media.sha256
                    )));
                };
                let mut request = self
                    .agent
                    .put(format!("{}/v1/blobs/{}", self.base_url, media.sha256))
                    .query("job", &media.job_id);
                if let Some(authorization) = self.authorization() {
                    request = request.header("Authorization", authorization);
                }
                let response = request
                    .config()
                    .timeout_global(Some(BLOB_TRANSFER_TIMEOUT))
                    .build()
                    .header("Content-Type", &media.mime)
                    .header("Content-Range", format!("bytes {at}-{last}/{}", media.size))
                    .send(&bytes[..]);
                let (code, body) = self.answer(response, bytes.len())?;
                let _ = spent.try_send(bytes);
                match (code, serde_json::from_slice::<UploadStatus>(&body).ok()) {
                    (200 | 201, Some(status)) => {
                        *bytes_sent += status.received.saturating_sub(at);
                        if status.complete {
                            return Ok(None);
                        }
                        if status.received != last + 1 {
                            return Ok(Some(status.received));
                        }
                    }
                    (409, _) if error_code(&body).as_deref() == Some("chunk_out_of_order") => {
                        return Ok(Some(self.upload_status(&media.sha256)?.received));
                    }
                    _ => return Err(server_error(code, &body)),
                }
            }
            // Every part was sent and none completed the blob: ask where the server stands.
            let status = self.upload_status(&media.sha256)?;
            Ok((!status.complete).then_some(status.received))
        })
    }

    /// Waits up to `timeout` for the server's live nudge that something changed for this
    /// device's user. Returns true when a nudge arrived (the caller then syncs), false on
    /// timeout.
    pub fn wait_for_nudge(&self, timeout: Duration) -> Result<bool> {
        let mut request = self
            .agent(timeout)
            .get(format!("{}/v1/events", self.base_url));
        if let Some(authorization) = self.authorization() {
            request = request.header("Authorization", authorization);
        }
        let response = request.header("Accept", "text/event-stream").call();
        let response = match response {
            Ok(response) => response,
            Err(ureq::Error::Timeout(_)) => return Ok(false),
            Err(e) => return Err(network(e)),
        };
        let status = response.status().as_u16();
        if status >= 400 {
            let body = response.into_body().read_to_vec().map_err(network)?;
            return Err(server_error(status, &body));
        }
        let reader = BufReader::new(response.into_body().into_reader());
        for line in reader.lines() {
            match line {
                Ok(line) if line.starts_with("event: changed") => return Ok(true),
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Ok(false),
                Err(e) => {
                    if e.to_string().contains("timeout") {
                        return Ok(false);
                    }
                    return Err(Error::Offline(e.to_string()));
                }
            }
        }
        Ok(false)
    }
}

fn error_code(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()?
        .get("code")?
        .as_str()
        .map(str::to_owned)
}

/// The error for a server's error answer (`{"error": …, "code": …}`).
fn server_error(status: u16, body: &[u8]) -> Error {
    let parsed = serde_json::from_slice::<serde_json::Value>(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let message = field("error").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    if status == 401 && field("code").as_deref() == Some("device_revoked") {
        return Error::Revoked(message);
    }
    // Too many requests: like being offline, local work is safe and the next sync succeeds.
    if status == 429 {
        return Error::Offline(format!("the server asks this device to wait: {message}"));
    }
    Error::Server { status, message }
}
