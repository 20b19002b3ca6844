//! The HTTP transport: the only place client-core does network I/O.
//!
//! It drives a [`SyncSession`] against a server: each request body is gzip-compressed, each
//! response decompressed, and the byte counts on the wire are kept for the UI and benchmarks.
//! Calls block; an app runs them off its main thread.

use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

use fieldsync_protocol::wire;

use crate::error::{Error, Result};
use crate::store::Store;
use crate::sync::{SyncReport, SyncSession};

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

/// A blocking HTTP client for one Fieldsync server.
pub struct HttpTransport {
    agent: ureq::Agent,
    base_url: String,
    /// Sent as `Authorization: Bearer …` when set.
    credential: std::sync::Mutex<Option<String>>,
    stats: std::sync::Mutex<WireStats>,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
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
    /// A transport for the server at `base_url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base_url: &str) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build();
        HttpTransport {
            agent: ureq::Agent::new_with_config(config),
            base_url: base_url.trim_end_matches('/').to_owned(),
            credential: std::sync::Mutex::new(None),
            stats: std::sync::Mutex::new(WireStats::default()),
        }
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
            .map_err(|e| Error::Offline(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| Error::Offline(e.to_string()))?;
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
        answer["credential"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::Protocol("the enrollment answer has no credential".into()))
    }

    /// Sends one sync request body and returns the response body (both uncompressed).
    pub fn exchange(&self, body: &[u8]) -> Result<Vec<u8>> {
        let compressed = gzip(body)?;
        let mut request = self.agent.post(format!("{}/v1/sync", self.base_url));
        if let Some(authorization) = self.authorization() {
            request = request.header("Authorization", authorization);
        }
        let mut response = request
            .header("Content-Type", wire::CONTENT_TYPE)
            .header("Content-Encoding", "gzip")
            .header("Accept-Encoding", "gzip")
            .send(&compressed[..])
            .map_err(|e| Error::Offline(e.to_string()))?;
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
            .map_err(|e| Error::Offline(e.to_string()))?;
        {
            let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
            stats.bytes_sent += compressed.len() as u64;
            stats.bytes_received += raw.len() as u64;
            stats.round_trips += 1;
        }
        let body = if gzipped { gunzip(&raw)? } else { raw };
        if status >= 400 {
            return Err(server_error(status, &body));
        }
        Ok(body)
    }

    /// Waits up to `timeout` for the server's live nudge that something changed for this
    /// device's user. Returns true when a nudge arrived (the caller then syncs), false on
    /// timeout.
    pub fn wait_for_nudge(&self, timeout: Duration) -> Result<bool> {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build();
        let agent = ureq::Agent::new_with_config(config);
        let mut request = agent.get(format!("{}/v1/events", self.base_url));
        if let Some(authorization) = self.authorization() {
            request = request.header("Authorization", authorization);
        }
        let response = request.header("Accept", "text/event-stream").call();
        let response = match response {
            Ok(response) => response,
            Err(ureq::Error::Timeout(_)) => return Ok(false),
            Err(e) => return Err(Error::Offline(e.to_string())),
        };
        let status = response.status().as_u16();
        if status >= 400 {
            let body = response
                .into_body()
                .read_to_vec()
                .map_err(|e| Error::Offline(e.to_string()))?;
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
    Error::Server { status, message }
}
