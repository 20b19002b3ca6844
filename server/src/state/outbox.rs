//! The notification outbox worker and its adapters: e-mail over SMTP (`lettre`), a signed
//! webhook (for an organisation's SMS or WeChat gateway) and the log (development). It runs
//! beside the server: each round claims the due deliveries
//! ([`crate::domain::notify::claim`]), writes each message in the organisation's language,
//! sends them at once, and records how each went ([`crate::domain::notify::record`]). Several
//! nodes may run it on one database: a claim holds a delivery for
//! [`crate::domain::notify::ATTEMPT_LEASE`], so each attempt is made by one node, and a node
//! that dies mid-attempt leaves the delivery to another once the lease ends. Delivery is at
//! least once: every attempt carries the notification's id (the e-mail's `Message-ID`, the
//! webhook's `Fieldsync-Delivery`) for receivers to drop repeats.

use std::time::Duration;

use fieldsync_protocol::Millis;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::Notify;

use crate::domain::DomainError;
use crate::domain::notify::{self, Channel, Failure, Message, Outgoing};
use crate::state::AppState;

/// How long one step of an attempt (connecting, each exchange) may take on any channel.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a whole attempt may take: well inside the claim's lease
/// ([`crate::domain::notify::ATTEMPT_LEASE`]), so no other node tries it meanwhile.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(60);
/// The longest the worker sleeps without looking at the outbox (a node that enqueued
/// nothing still delivers what other nodes enqueued, and retries fall due).
const IDLE_SLEEP: Duration = Duration::from_secs(30);
/// After a round that found due work but could do none of it, before the next look.
const IDLE_FLOOR: Duration = Duration::from_secs(1);
/// After a round failed (the database is down), before the next.
const FAILED_SLEEP: Duration = Duration::from_secs(5);

/// The webhook header with the signature: `t=<unix seconds>,v1=<hex HMAC-SHA256 over
/// "<t>.<body>" with the shared secret>`.
pub const SIGNATURE_HEADER: &str = "fieldsync-signature";
/// The webhook header with the notification's id, the same on every attempt.
pub const DELIVERY_HEADER: &str = "fieldsync-delivery";

/// How the outbox reaches customers, as configured.
#[derive(Clone, Default)]
pub struct OutboxSettings {
    /// The SMTP server: `smtp://host:port` (plain, or `?tls=required` for STARTTLS),
    /// `smtps://host:port` (TLS), with `user:password@` when it asks for them.
    pub smtp: Option<String>,
    /// The sender of e-mails (`Name <address>`); required with `smtp`.
    pub mail_from: Option<String>,
    /// Where webhooks are posted (`http://` or `https://`).
    pub webhook: Option<String>,
    /// The secret webhooks are signed with; required with `webhook`.
    pub webhook_secret: Option<String>,
    /// Whether notifications are also written to the log (always when no other channel is
    /// configured).
    pub log: bool,
    /// The server's address as customers reach it (for their links), e.g.
    /// `https://service.example.com`.
    pub public_url: String,
}

impl std::fmt::Debug for OutboxSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The SMTP address may carry a password; the webhook secret is one.
        f.debug_struct("OutboxSettings")
            .field("smtp", &self.smtp.as_deref().map(redact_password))
            .field("mail_from", &self.mail_from)
            .field("webhook", &self.webhook)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "***"),
            )
            .field("log", &self.log)
            .field("public_url", &self.public_url)
            .finish()
    }
}

/// The configured channels and the worker's wake-up.
pub struct Outbox {
    email: Option<Email>,
    webhook: Option<Webhook>,
    log: bool,
    public_url: String,
    wake: Notify,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("channels", &self.channels())
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

struct Webhook {
    client: reqwest::Client,
    url: reqwest::Url,
    key: ring::hmac::Key,
}

impl Outbox {
    /// An outbox that only writes to the log, with links under `public_url`.
    pub fn log_only(public_url: &str) -> Self {
        Outbox {
            email: None,
            webhook: None,
            log: true,
            public_url: public_url.trim_end_matches('/').to_owned(),
            wake: Notify::new(),
        }
    }

    /// The outbox `settings` describe, or what is wrong with them, by name.
    pub fn configure(settings: OutboxSettings) -> Result<Self, String> {
        let public_url = settings.public_url.trim().trim_end_matches('/').to_owned();
        match reqwest::Url::parse(&public_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.query().is_none() => {}
            _ => {
                return Err(format!(
                    "--public-url `{public_url}` is not an http:// or https:// address such as https://service.example.com"
                ));
            }
        }
        let email = match (settings.smtp, settings.mail_from) {
            (None, None) => None,
            (Some(_), None) => {
                return Err("--smtp needs --mail-from, the sender of the e-mails".into());
            }
            (None, Some(_)) => return Err("--mail-from is given without --smtp".into()),
            (Some(url), Some(from)) => {
                let from: Mailbox = from.trim().parse().map_err(|e| {
                    format!("--mail-from `{from}` is not an address such as `Service <service@example.com>`: {e}")
                })?;
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.trim())
                    .map_err(|e| {
                        format!(
                            "--smtp `{}` is not an SMTP address such as smtp://mail.example.com:587?tls=required: {e}",
                            redact_password(&url)
                        )
                    })?
                    .timeout(Some(ATTEMPT_TIMEOUT))
                    .build();
                Some(Email { transport, from })
            }
        };
        let webhook = match (settings.webhook, settings.webhook_secret) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(
                    "--webhook needs --webhook-secret-file, the secret its requests are signed with"
                        .into(),
                );
            }
            (None, Some(_)) => return Err("a webhook secret is given without --webhook".into()),
            (Some(url), Some(secret)) => {
                let url = reqwest::Url::parse(url.trim())
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or_else(|| {
                        format!("--webhook `{url}` is not an http:// or https:// address")
                    })?;
                let secret = secret.trim();
                if secret.len() < 16 {
                    return Err(
                        "the webhook secret is too short: give at least 16 characters".into(),
                    );
                }
                // reqwest takes the process's rustls provider; ring is the one this server uses.
                #[allow(deprecated)]
                let _ = rustls::crypto::ring::default_provider().install_default();
                let client = reqwest::Client::builder()
                    .timeout(ATTEMPT_TIMEOUT)
                    .build()
                    .map_err(|e| format!("the webhook's HTTP client: {e}"))?;
                Some(Webhook {
                    client,
                    url,
                    key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes()),
                })
            }
        };
        let log = settings.log || (email.is_none() && webhook.is_none());
        Ok(Outbox {
            email,
            webhook,
            log,
            public_url,
            wake: Notify::new(),
        })
    }

    /// The channels configured.
    pub fn channels(&self) -> Vec<Channel> {
        let mut channels = Vec::new();
        if self.email.is_some() {
            channels.push(Channel::Email);
        }
        if self.webhook.is_some() {
            channels.push(Channel::Webhook);
        }
        if self.log {
            channels.push(Channel::Log);
        }
        channels
    }

    /// Lets the worker look at the outbox now (something may have been enqueued).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Makes one attempt at `outgoing` through its channel.
    async fn send(
        &self,
        outgoing: &Outgoing,
        message: &Message,
        state: &AppState,
    ) -> Result<(), Failure> {
        match outgoing.delivery.channel.as_str() {
            "email" => {
                let email = self
                    .email
                    .as_ref()
                    .ok_or("e-mail is no longer configured")?;
                let to: Mailbox = outgoing.delivery.recipient.parse().map_err(|e| {
                    Failure::permanent(format!(
                        "`{}` is not an e-mail address: {e}",
                        outgoing.delivery.recipient
                    ))
                })?;
                let host = email.from.email.domain().to_owned();
                let mail = lettre::Message::builder()
                    .from(email.from.clone())
                    .to(to)
                    .subject(&message.subject)
                    .message_id(Some(format!(
                        "<{}@{host}>",
                        outgoing.delivery.notification_id
                    )))
                    .header(ContentType::TEXT_PLAIN)
                    .body(message.text.clone())
                    .map_err(|e| Failure::permanent(format!("the e-mail does not build: {e}")))?;
                email.transport.send(mail).await.map(drop).map_err(|e| {
                    let reason = format!("SMTP: {}", crate::storage::with_causes(&e));
                    // A 5xx answer (no such mailbox, refused for good) will not change.
                    if e.is_permanent() {
                        Failure::permanent(reason)
                    } else {
                        reason.into()
                    }
                })
            }
            "webhook" => {
                let webhook = self
                    .webhook
                    .as_ref()
                    .ok_or("the webhook is no longer configured")?;
                let body = webhook_body(outgoing, message, state.language, &self.public_url);
                let now_seconds = state.now().div_euclid(1000);
                let signature = sign(&webhook.key, now_seconds, &body);
                let response = webhook
                    .client
                    .post(webhook.url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(DELIVERY_HEADER, &outgoing.delivery.notification_id)
                    .header(SIGNATURE_HEADER, signature)
                    .body(body)
                    .send()
                    .await
                    // The URL may carry the gateway's own token: not in what the office sees.
                    .map_err(|e| {
                        Failure::from(format!(
                            "webhook: {}",
                            crate::storage::with_causes(&e.without_url())
                        ))
                    })?;
                let status = response.status();
                if status.is_success() {
                    return Ok(());
                }
                let text = response.text().await.unwrap_or_default();
                let text: String = text.chars().take(200).collect();
                let reason = format!("webhook answered {status}: {text}");
                // The gateway refuses the request itself (4xx): sending it again will not help,
                // unless it asks for time (408, 429).
                let refused = status.is_client_error()
                    && status != reqwest::StatusCode::REQUEST_TIMEOUT
                    && status != reqwest::StatusCode::TOO_MANY_REQUESTS;
                Err(if refused {
                    Failure::permanent(reason)
                } else {
                    reason.into()
                })
            }
            "log" => {
                // The customer's link is their credential: the log shows it cut short.
                let text = match &outgoing.payload.link {
                    Some(path) => message.text.replace(path, &masked(path)),
                    None => message.text.clone(),
                };
                tracing::info!(
                    target: "fieldsync::notifications",
                    notification = %outgoing.delivery.notification_id,
                    job = %outgoing.payload.job_id,
                    event = outgoing.event.as_str(),
                    to = %outgoing.delivery.recipient,
                    // One log line per message: the text's line breaks escaped.
                    text = ?text,
                    "{}",
                    message.subject
                );
                Ok(())
            }
            other => Err(format!("no channel `{other}` is configured").into()),
        }
    }
}

/// The webhook's JSON body (version 1; docs/notifications.md).
fn webhook_body(
    outgoing: &Outgoing,
    message: &Message,
    language: crate::domain::Language,
    public_url: &str,
) -> String {
    serde_json::json!({
        "v": 1,
        "id": outgoing.delivery.notification_id,
        "event": outgoing.event.as_str(),
        "created_at": outgoing.created_at,
        "attempt": outgoing.delivery.attempts,
        "language": language.tag(),
        "to": {
            "name": outgoing.payload.customer_name,
            "phone": outgoing.payload.phone,
            "email": outgoing.payload.email,
        },
        "subject": message.subject,
        "text": message.text,
        "link": outgoing.payload.link.as_deref().map(|path| format!("{public_url}{path}")),
        "job_id": outgoing.payload.job_id,
    })
    .to_string()
}

/// `t=<seconds>,v1=<hex HMAC-SHA256 over "<seconds>.<body>">`.
pub fn sign(key: &ring::hmac::Key, seconds: i64, body: &str) -> String {
    let tag = ring::hmac::sign(key, format!("{seconds}.{body}").as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={seconds},v1={hex}")
}

/// `url` with any password replaced by `***`, for messages (one that does not parse is not
/// repeated: it may hold a password where none is expected).
fn redact_password(url: &str) -> String {
    match reqwest::Url::parse(url.trim()) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "(an address that does not parse)".to_owned(),
    }
}

/// A customer's link path with its token cut to its first characters.
fn masked(path: &str) -> String {
    match path.strip_prefix("/r/") {
        Some(token) => format!("/r/{}…", token.get(..6).unwrap_or(token)),
        None => path.to_owned(),
    }
}

/// One round at `now`: claims what is due, sends it all at once, records how it went.
/// Returns how many deliveries were attempted.
async fn deliver_round(state: &AppState, now: Millis) -> Result<usize, DomainError> {
    let channels = state.outbox.channels();
    let outgoing = state
        .blocking(move |state| notify::claim(state.storage.as_ref(), &channels, now))
        .await?;
    if outgoing.is_empty() {
        return Ok(0);
    }
    let zone = state.time_zone.zone().clone();
    let sends = outgoing.iter().map(|out| {
        let message = notify::message(out, state.language, &zone, &state.outbox.public_url);
        async move {
            let result =
                match tokio::time::timeout(ATTEMPT_LIMIT, state.outbox.send(out, &message, state))
                    .await
                {
                    Ok(result) => result,
                    Err(_) => Err(format!("no answer within {} s", ATTEMPT_LIMIT.as_secs()).into()),
                };
            if let Err(e) = &result {
                tracing::warn!(
                    notification = %out.delivery.notification_id,
                    channel = %out.delivery.channel,
                    attempt = out.delivery.attempts,
                    error = %e.reason,
                    permanent = e.permanent,
                    "notification not delivered"
                );
            }
            (out.delivery.clone(), result)
        }
    });
    let results = futures_util::future::join_all(sends).await;
    let attempted = results.len();
    let done = state.now();
    state
        .blocking(move |state| notify::record(state.storage.as_ref(), results, done))
        .await?;
    // Open job pages show how their deliveries went.
    let mut jobs: Vec<String> = outgoing.into_iter().map(|o| o.payload.job_id).collect();
    jobs.sort_unstable();
    jobs.dedup();
    state.notified(jobs);
    Ok(attempted)
}

/// Runs the outbox for as long as the server runs: a round whenever something is due, when
/// woken (a change may have enqueued a notification), and at least every [`IDLE_SLEEP`]. What
/// is due is read first, so most wakes take no write lock.
pub async fn run(state: AppState) {
    loop {
        let now = state.now();
        let wait = match state.read(|tx| Ok(tx.next_outbox_work()?)).await {
            Ok(Some(at)) if at <= now => match deliver_round(&state, now).await {
                // Something was done: look again at once. Due work this node cannot do (a
                // channel it lacks) waits, rather than being looked at in a busy loop.
                Ok(0) => IDLE_FLOOR,
                Ok(_) => Duration::ZERO,
                Err(e) => {
                    tracing::error!(error = %e, "notification round failed");
                    FAILED_SLEEP
                }
            },
            Ok(next) => next.map_or(IDLE_SLEEP, |at| {
                Duration::from_millis(u64::try_from(at.saturating_sub(now)).unwrap_or(0))
                    .min(IDLE_SLEEP)
            }),
            Err(e) => {
                tracing::error!(error = %e, "reading the notification outbox failed");
                FAILED_SLEEP
            }
        };
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.outbox.wake.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> OutboxSettings {
        OutboxSettings {
            public_url: "https://service.example.com/".into(),
            ..OutboxSettings::default()
        }
    }

    /// The signature a receiver recomputes: HMAC-SHA256 over `<t>.<body>`, pinned by a
    /// known value (`echo -n '1700000000.{}' | openssl dgst -sha256 -hmac 'secret-0123456789'`).
    #[test]
    fn webhooks_are_signed_over_time_and_body() {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"secret-0123456789");
        assert_eq!(
            sign(&key, 1_700_000_000, "{}"),
            "t=1700000000,v1=b7655868de19efd018ff7adc10c58afaa3b1647f9ba5875a5e89d7e846c59c68"
        );
    }

    #[test]
    fn settings_are_checked_by_name() {
        let outbox = Outbox::configure(settings()).expect("log only");
        assert_eq!(outbox.channels(), [Channel::Log]);
        assert_eq!(outbox.public_url, "https://service.example.com");
        let refused = |s: OutboxSettings, needle: &str| {
            let error = Outbox::configure(s).expect_err(needle);
            assert!(error.contains(needle), "{error}");
        };
        refused(
            OutboxSettings {
                smtp: Some("smtp://localhost:25".into()),
                ..settings()
            },
            "--mail-from",
        );
        refused(
            OutboxSettings {
                smtp: Some("ftp://user:hunter2@localhost".into()),
                mail_from: Some("Service <service@example.com>".into()),
                ..settings()
            },
            "--smtp `ftp://user:***@localhost/`",
        );
        refused(
            OutboxSettings {
                smtp: Some("smtp://localhost:25".into()),
                mail_from: Some("not an address".into()),
                ..settings()
            },
            "--mail-from `not an address`",
        );
        refused(
            OutboxSettings {
                webhook: Some("https://gateway.example.com/hook".into()),
                ..settings()
            },
            "--webhook-secret-file",
        );
        refused(
            OutboxSettings {
                webhook: Some("gateway".into()),
                webhook_secret: Some("0123456789abcdef".into()),
                ..settings()
            },
            "--webhook `gateway`",
        );
        refused(
            OutboxSettings {
                webhook: Some("https://gateway.example.com/hook".into()),
                webhook_secret: Some("short".into()),
                ..settings()
            },
            "too short",
        );
        refused(
            OutboxSettings {
                public_url: "service.example.com".into(),
                ..settings()
            },
            "--public-url",
        );
        let both = Outbox::configure(OutboxSettings {
            smtp: Some("smtp://localhost:2525".into()),
            mail_from: Some("Service <service@example.com>".into()),
            webhook: Some("http://127.0.0.1:9/hook".into()),
            webhook_secret: Some("0123456789abcdef".into()),
            ..settings()
        })
        .expect("both");
        assert_eq!(both.channels(), [Channel::Email, Channel::Webhook]);
    }
}
