//! Telling the customer: the notification outbox's domain side. What is worth telling is
//! decided where it happens (a commit that books or moves the appointment, sets the installer
//! on the way or completes the job; the office's answer to a complaint; a return-visit call
//! that did not reach the customer) and enqueued in the same transaction, so nothing told is
//! ever about a change that did not commit, and nothing committed goes untold. Each
//! notification then gets one delivery per configured channel that can reach the customer;
//! the server's outbox worker claims due deliveries ([`claim`]), sends them through its
//! adapters and records how each went ([`record`]): retried with backoff until delivered,
//! failed after [`MAX_ATTEMPTS`], or expired once no longer worth telling.

use fieldsync_protocol::job::{Appointment, Job, JobSummary};
use fieldsync_protocol::rules::Status;
use fieldsync_protocol::{Language, Millis};
use serde::{Deserialize, Serialize};

use crate::domain::DomainError;
use crate::domain::media::put_customer_link;
use crate::domain::planning::DAY;
use crate::storage::{
    Delivery, DeliveryStatus, ReadTx, Storage, StoredNotification, WriteTx, write,
};

/// What the customer is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The job got its first appointment.
    AppointmentBooked,
    /// The appointment moved.
    AppointmentMoved,
    /// The installer set off to the site.
    OnTheWay,
    /// The work is done: the customer's page (report, rating, complaint) is linked.
    Completed,
    /// The return-visit call did not reach the customer: they are asked to rate by link.
    Survey,
    /// The office answered the customer's complaint.
    ComplaintAnswered,
}

impl Event {
    /// Every event.
    pub const ALL: [Event; 6] = [
        Event::AppointmentBooked,
        Event::AppointmentMoved,
        Event::OnTheWay,
        Event::Completed,
        Event::Survey,
        Event::ComplaintAnswered,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::AppointmentBooked => "appointment_booked",
            Event::AppointmentMoved => "appointment_moved",
            Event::OnTheWay => "on_the_way",
            Event::Completed => "completed",
            Event::Survey => "survey",
            Event::ComplaintAnswered => "complaint_answered",
        }
    }

    /// The event a stored name names.
    pub fn parse(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

/// The version of [`Payload`]'s JSON this code writes (and the only one it reads).
pub const PAYLOAD_VERSION: u32 = 1;

/// What a notification tells, fixed when it is enqueued: the message is written from it at
/// delivery, in the organisation's language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct Payload {
    /// [`PAYLOAD_VERSION`].
    pub v: u32,
    /// The job (for a complaint's answer, the complaint job: the customer's reference).
    pub job_id: String,
    /// The customer's name.
    pub customer_name: String,
    /// The customer's phone number, as the job has it.
    pub phone: String,
    /// The customer's e-mail address, as the job has it.
    pub email: String,
    /// The site's whole address.
    pub address: String,
    /// The appointment, for a booked or moved one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appointment: Option<Appointment>,
    /// The engineer's name, for one on the way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engineer: Option<String>,
    /// The customer's page (`/r/{token}`), for a completed job and a survey.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The office's answer, for a complaint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

impl Payload {
    /// What `job` tells every notification about it.
    fn of(job: &Job) -> Payload {
        Payload {
            v: PAYLOAD_VERSION,
            job_id: job.id.clone(),
            customer_name: job.customer.name.clone(),
            phone: job.customer.phone.clone(),
            email: job.customer.email.clone(),
            address: job.site.full_address(),
            ..Payload::default()
        }
    }
}

/// An hour.
const HOUR: Millis = 3_600_000;
/// The events a later one overtakes: an appointment booked or moved, the engineer on the way.
const PASSING: [&str; 3] = ["appointment_booked", "appointment_moved", "on_the_way"];
/// How long an "on the way" is worth telling.
const ON_THE_WAY_LIFETIME: Millis = 2 * HOUR;
/// How long a completion, a survey or a complaint's answer is worth telling.
const LASTING_LIFETIME: Millis = 7 * DAY;

/// Enqueues `event` about `job` (with `payload` completed by the caller) under `key` (unique
/// per thing told: enqueuing it again stores nothing), worth telling until `expires_at`.
fn enqueue(
    tx: &mut dyn WriteTx,
    event: Event,
    key: &str,
    payload: &Payload,
    expires_at: Millis,
    now: Millis,
) -> Result<(), DomainError> {
    let json = serde_json::to_string(payload)
        .map_err(|e| DomainError::Internal(format!("notification payload: {e}")))?;
    tx.enqueue_notification(&StoredNotification {
        id: uuid::Uuid::new_v4().simple().to_string(),
        job_id: payload.job_id.clone(),
        event: event.as_str().to_owned(),
        key: format!("{}/{}/{key}", payload.job_id, event.as_str()),
        payload: json,
        created_at: now,
        expires_at,
    })?;
    Ok(())
}

/// What a commit of `job` (previously `previous`, none when it is new) tells the customer:
/// an appointment booked or moved (while it is ahead), the installer on the way, the work
/// completed (with a new link to the customer's page). `commit_key` names the commit (its
/// first change), so that each commit tells once.
pub fn after_commit(
    tx: &mut dyn WriteTx,
    job: &Job,
    previous: Option<&JobSummary>,
    commit_key: &str,
    now: Millis,
) -> Result<(), DomainError> {
    let status = job.status();
    let before = previous.map(|p| p.status);
    // The visit moved on: news of the appointment or the journey not yet delivered is stale.
    if before.is_some_and(|b| b != status)
        && matches!(
            status,
            Status::EnRoute
                | Status::OnSite
                | Status::Completed
                | Status::Incomplete
                | Status::Cancelled
                | Status::Closed
        )
    {
        tx.supersede_notifications(&job.id, &PASSING, now)?;
    }
    if let Some(appointment) = job.appointment
        && appointment.start > now
        && matches!(
            status,
            Status::New | Status::Scheduled | Status::Assigned | Status::Incomplete
        )
    {
        let had = previous.and_then(|p| p.appointment_start.zip(p.appointment_end));
        let event = match had {
            None => Some(Event::AppointmentBooked),
            Some(window) if window != (appointment.start, appointment.end) => {
                Some(Event::AppointmentMoved)
            }
            Some(_) => None,
        };
        if let Some(event) = event {
            // Only the newest appointment is worth telling.
            tx.supersede_notifications(&job.id, &PASSING, now)?;
            let payload = Payload {
                appointment: Some(appointment),
                ..Payload::of(job)
            };
            enqueue(tx, event, commit_key, &payload, appointment.start, now)?;
        }
    }
    if status == Status::EnRoute && before != Some(Status::EnRoute) {
        let engineer = match &job.assignee {
            Some(user) => tx.user(user)?.map(|u| u.name).filter(|n| !n.is_empty()),
            None => None,
        };
        let payload = Payload {
            engineer,
            ..Payload::of(job)
        };
        let expires_at = now + ON_THE_WAY_LIFETIME;
        enqueue(tx, Event::OnTheWay, commit_key, &payload, expires_at, now)?;
    }
    if status == Status::Completed && before.is_some_and(|b| b != Status::Completed) {
        let (token, _) = put_customer_link(tx, &job.id, crate::domain::jobs::SERVER_DEVICE, now)?;
        let payload = Payload {
            link: Some(format!("/r/{token}")),
            ..Payload::of(job)
        };
        let expires_at = now + LASTING_LIFETIME;
        enqueue(tx, Event::Completed, commit_key, &payload, expires_at, now)?;
    }
    Ok(())
}

/// Withdraws everything not yet told about `job_id` (its customer is made up, as the demo's
/// are): undelivered notifications expire at `now`.
pub fn withdraw(tx: &mut dyn WriteTx, job_id: &str, now: Millis) -> Result<(), DomainError> {
    tx.supersede_notifications(job_id, &Event::ALL.map(Event::as_str), now)?;
    Ok(())
}

/// Tells the customer of complaint job `complaint` the office's `answer`, given at `now`.
pub fn complaint_answered(
    tx: &mut dyn WriteTx,
    complaint: &Job,
    answer: &str,
    now: Millis,
) -> Result<(), DomainError> {
    let key = now.to_string();
    let payload = Payload {
        answer: Some(answer.to_owned()),
        ..Payload::of(complaint)
    };
    let expires_at = now + LASTING_LIFETIME;
    enqueue(
        tx,
        Event::ComplaintAnswered,
        &key,
        &payload,
        expires_at,
        now,
    )
}

/// Asks the customer of `job`, whom the return-visit call did not reach, to rate the service
/// through a new link to their page (once per job).
pub fn survey(tx: &mut dyn WriteTx, job: &Job, user: &str, now: Millis) -> Result<(), DomainError> {
    if tx
        .job_notifications(&job.id)?
        .iter()
        .any(|n| n.event == Event::Survey.as_str())
    {
        return Ok(());
    }
    let (token, _) = put_customer_link(tx, &job.id, user, now)?;
    let payload = Payload {
        link: Some(format!("/r/{token}")),
        ..Payload::of(job)
    };
    enqueue(tx, Event::Survey, "", &payload, now + LASTING_LIFETIME, now)
}

/// A way to reach the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// E-mail over SMTP, to the customer's address.
    Email,
    /// A signed HTTP POST to the organisation's gateway (SMS, WeChat), for the customer's
    /// phone number or address.
    Webhook,
    /// The server's log (development).
    Log,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Webhook, Channel::Log];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
            Channel::Log => "log",
        }
    }

    /// Whom this channel tells `payload` to, if it can reach the customer at all.
    pub fn recipient(self, payload: &Payload) -> Option<String> {
        let given = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        match self {
            Channel::Email => given(&payload.email).filter(|e| e.contains('@')),
            Channel::Webhook => given(&payload.phone).or_else(|| given(&payload.email)),
            Channel::Log => given(&payload.phone)
                .or_else(|| given(&payload.email))
                .or_else(|| given(&payload.customer_name))
                .or_else(|| Some("-".to_owned())),
        }
    }
}

/// How many attempts a delivery gets before it fails for good.
pub const MAX_ATTEMPTS: u32 = 10;
/// How long an attempt may take before another node may try the delivery again (longer than
/// any adapter's own timeout).
pub const ATTEMPT_LEASE: Millis = 2 * 60 * 1000;
/// How many deliveries one round claims.
pub const ROUND: usize = 50;

/// How long after failed attempt `attempts` (from 1) the next is made: 30 s, doubling, at
/// most an hour.
pub fn backoff(attempts: u32) -> Millis {
    let doublings = attempts.saturating_sub(1).min(10);
    (30_000 << doublings).min(HOUR)
}

/// A delivery to make now.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The delivery, as claimed (its `attempts` counts this one).
    pub delivery: Delivery,
    /// What is told.
    pub event: Event,
    /// When it was enqueued.
    pub created_at: Millis,
    /// What it tells.
    pub payload: Payload,
}

/// Gives the notifications enqueued since the last round one delivery per channel of
/// `channels` that reaches their customer, expires deliveries no longer worth telling, and
/// claims up to [`ROUND`] due deliveries for [`ATTEMPT_LEASE`], counting the attempt.
pub fn claim(
    storage: &dyn Storage,
    channels: &[Channel],
    now: Millis,
) -> Result<Vec<Outgoing>, DomainError> {
    write(storage, |tx| {
        for notification in tx.take_new_notifications(ROUND * 4)? {
            // One that does not read (written by a newer server, say) fails on its own, seen
            // on its job, rather than stopping the outbox.
            let (payload, unreadable) = match decode(&notification.payload) {
                Ok(payload) => (payload, None),
                Err(e) => (Payload::default(), Some(e.to_string())),
            };
            for &channel in channels {
                let recipient = match &unreadable {
                    Some(_) => "-".to_owned(),
                    None => match channel.recipient(&payload) {
                        Some(recipient) => recipient,
                        None => continue,
                    },
                };
                tx.put_delivery(
                    &Delivery {
                        notification_id: notification.id.clone(),
                        channel: channel.as_str().to_owned(),
                        recipient,
                        status: if unreadable.is_some() {
                            DeliveryStatus::Failed
                        } else {
                            DeliveryStatus::Pending
                        },
                        attempts: 0,
                        next_attempt_at: unreadable.is_none().then_some(now),
                        last_error: unreadable.clone().unwrap_or_default(),
                        delivered_at: None,
                    },
                    now,
                )?;
            }
        }
        let mut outgoing = Vec::new();
        for (mut delivery, notification) in tx.due_deliveries(now, ROUND)? {
            // Every node has the same channels (README); one that lacks this one leaves it to
            // those that have it.
            if !channels.iter().any(|c| c.as_str() == delivery.channel) {
                continue;
            }
            let event = Event::parse(&notification.event);
            let payload = decode(&notification.payload);
            let (Some(event), Ok(payload)) = (event, payload) else {
                delivery.status = DeliveryStatus::Failed;
                delivery.next_attempt_at = None;
                delivery.last_error = "the stored notification does not read".into();
                tx.put_delivery(&delivery, now)?;
                continue;
            };
            if notification.expires_at <= now {
                delivery.status = DeliveryStatus::Expired;
                delivery.next_attempt_at = None;
                tx.put_delivery(&delivery, now)?;
                continue;
            }
            delivery.attempts += 1;
            delivery.next_attempt_at = Some(now + ATTEMPT_LEASE);
            tx.put_delivery(&delivery, now)?;
            outgoing.push(Outgoing {
                delivery,
                event,
                created_at: notification.created_at,
                payload,
            });
        }
        Ok(outgoing)
    })
}

/// Why an attempt failed, and whether trying again could help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong, for the office.
    pub reason: String,
    /// Whether no retry can succeed (an address the mail server rejects for good, a gateway
    /// that refuses the request itself): the delivery fails at once.
    pub permanent: bool,
}

impl Failure {
    /// A failure no retry can mend.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Failure {
            reason: reason.into(),
            permanent: true,
        }
    }
}

/// A failure worth retrying.
impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure {
            reason,
            permanent: false,
        }
    }
}

/// A failure worth retrying.
impl From<&str> for Failure {
    fn from(reason: &str) -> Self {
        reason.to_owned().into()
    }
}

/// Records how claimed deliveries went: delivered, or failed with the reason, then tried
/// again after [`backoff`], or given up after [`MAX_ATTEMPTS`] or at once when the failure is
/// permanent. A delivery another node has
/// claimed since (this attempt outlived its lease) is left as that node records it.
pub fn record(
    storage: &dyn Storage,
    results: Vec<(Delivery, Result<(), Failure>)>,
    now: Millis,
) -> Result<(), DomainError> {
    write(storage, |tx| {
        for (mut delivery, result) in results {
            // An attempt that outlived its lease may have been made again by another node,
            // which then owns the delivery: its outcome stands.
            let current = tx.delivery(&delivery.notification_id, &delivery.channel)?;
            if current.is_none_or(|c| {
                c.status != DeliveryStatus::Pending || c.attempts != delivery.attempts
            }) {
                continue;
            }
            match result {
                Ok(()) => {
                    delivery.status = DeliveryStatus::Delivered;
                    delivery.delivered_at = Some(now);
                    delivery.next_attempt_at = None;
                }
                Err(failure) => {
                    delivery.last_error = failure.reason;
                    if failure.permanent || delivery.attempts >= MAX_ATTEMPTS {
                        delivery.status = DeliveryStatus::Failed;
                        delivery.next_attempt_at = None;
                    } else {
                        delivery.next_attempt_at = Some(now + backoff(delivery.attempts));
                    }
                }
            }
            tx.put_delivery(&delivery, now)?;
        }
        Ok(())
    })
}

fn decode(json: &str) -> Result<Payload, DomainError> {
    let payload: Payload = serde_json::from_str(json)
        .map_err(|e| DomainError::Internal(format!("stored notification: {e}")))?;
    if payload.v != PAYLOAD_VERSION {
        return Err(DomainError::Internal(format!(
            "stored notification has version {}, this server reads {PAYLOAD_VERSION}",
            payload.v
        )));
    }
    Ok(payload)
}

/// A notification as the office sees it on the job: what was told and how each channel's
/// delivery went.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NotificationView {
    /// Its id (every delivery carries it).
    pub id: String,
    /// What it tells.
    pub event: String,
    /// When it was enqueued.
    pub created_at: Millis,
    /// After this it is no longer delivered.
    pub expires_at: Millis,
    /// One per channel that reaches the customer (none yet: the outbox has not taken it up).
    pub deliveries: Vec<Delivery>,
}

/// The notifications about `job_id`, oldest first, with their deliveries.
pub fn of_job(tx: &dyn ReadTx, job_id: &str) -> Result<Vec<NotificationView>, DomainError> {
    let mut deliveries = tx.job_deliveries(job_id)?;
    let views = tx
        .job_notifications(job_id)?
        .into_iter()
        .map(|n| {
            let (mine, rest) = deliveries
                .drain(..)
                .partition(|d: &Delivery| d.notification_id == n.id);
            deliveries = rest;
            NotificationView {
                id: n.id,
                event: n.event,
                created_at: n.created_at,
                expires_at: n.expires_at,
                deliveries: mine,
            }
        })
        .collect();
    Ok(views)
}

/// A message to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// The subject line.
    pub subject: String,
    /// The plain text.
    pub text: String,
}

/// Writes what `outgoing` tells as a message in `language`, times in `zone`, links under
/// `public_url` (the server's address as customers reach it, without a trailing `/`).
pub fn message(
    outgoing: &Outgoing,
    language: Language,
    zone: &jiff::tz::TimeZone,
    public_url: &str,
) -> Message {
    let p = &outgoing.payload;
    let job = &p.job_id;
    let chinese = language == Language::Chinese;
    let time = |ms: Millis| {
        jiff::Timestamp::from_millisecond(ms)
            .map(|t| {
                t.to_zoned(zone.clone())
                    .strftime("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_default()
    };
    let window = p
        .appointment
        .map(|a| {
            let end = time(a.end);
            let same_day = time(a.start).get(..10) == end.get(..10);
            format!(
                "{} – {}",
                time(a.start),
                if same_day {
                    &end[end.len().min(11)..]
                } else {
                    &end
                }
            )
        })
        .unwrap_or_default();
    let link = p
        .link
        .as_deref()
        .map(|path| format!("{public_url}{path}"))
        .unwrap_or_default();
    let name = &p.customer_name;
    let address = &p.address;
    let answer = p.answer.as_deref().unwrap_or_default();
    let (subject, body) = if chinese {
        let engineer = p.engineer.as_deref().unwrap_or("我们的工程师");
        match outgoing.event {
            Event::AppointmentBooked => (
                format!("您的上门服务已预约（工单 {job}）"),
                format!("您的上门服务已预约在 {window}，地址：{address}。\n如需改约，请致电我们。"),
            ),
            Event::AppointmentMoved => (
                format!("您的上门服务时间已变更（工单 {job}）"),
                format!("您的上门服务已改为 {window}，地址：{address}。\n如有疑问，请致电我们。"),
            ),
            Event::OnTheWay => (
                format!("工程师正在前往（工单 {job}）"),
                format!("{engineer}正在前往{address}，请您留意来电。"),
            ),
            Event::Completed => (
                format!("服务已完成（工单 {job}）"),
                format!(
                    "{address}的服务已完成。查看服务报告、评价服务或提出投诉：\n{link}\n链接 30 天内有效。"
                ),
            ),
            Event::Survey => (
                format!("请评价我们的服务（工单 {job}）"),
                format!("我们回访时未能联系到您。请在此评价本次服务：\n{link}"),
            ),
            Event::ComplaintAnswered => (
                format!("您的投诉已有答复（工单 {job}）"),
                format!("我们对您投诉的答复：\n\n{answer}"),
            ),
        }
    } else {
        let engineer = p.engineer.as_deref().unwrap_or("Our engineer");
        match outgoing.event {
            Event::AppointmentBooked => (
                format!("Your service visit is booked (job {job})"),
                format!(
                    "Your service visit is booked for {window} at {address}.\nTo change it, please call us."
                ),
            ),
            Event::AppointmentMoved => (
                format!("Your service visit has moved (job {job})"),
                format!(
                    "Your service visit has moved to {window} at {address}.\nIf that does not suit you, please call us."
                ),
            ),
            Event::OnTheWay => (
                format!("Your engineer is on the way (job {job})"),
                format!("{engineer} is on the way to {address}."),
            ),
            Event::Completed => (
                format!("Your service is complete (job {job})"),
                format!(
                    "The work at {address} is complete. Your service report, and a page to rate the service or raise a complaint:\n{link}\nThe link works for 30 days."
                ),
            ),
            Event::Survey => (
                format!("How did we do? (job {job})"),
                format!(
                    "We called to ask how the service went and could not reach you. Rate it here:\n{link}"
                ),
            ),
            Event::ComplaintAnswered => (
                format!("Our answer to your complaint (job {job})"),
                format!("Our answer to your complaint:\n\n{answer}"),
            ),
        }
    };
    let greeting = if chinese {
        format!("{name}，您好：")
    } else {
        format!("Dear {name},")
    };
    let reference = if chinese {
        format!("工单号：{job}")
    } else {
        format!("Reference: {job}")
    };
    Message {
        subject,
        text: format!("{greeting}\n\n{body}\n\n{reference}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(event: Event, payload: Payload) -> Outgoing {
        Outgoing {
            delivery: Delivery {
                notification_id: "n1".into(),
                channel: "log".into(),
                recipient: "-".into(),
                status: DeliveryStatus::Pending,
                attempts: 1,
                next_attempt_at: None,
                last_error: String::new(),
                delivered_at: None,
            },
            event,
            created_at: 0,
            payload,
        }
    }

    /// A delivery is tried until delivered, backing off between failures, and fails for good
    /// after [`MAX_ATTEMPTS`]; one whose notification is no longer worth telling expires
    /// unsent; a channel that cannot reach the customer gets no delivery.
    #[test]
    fn deliveries_retry_with_backoff_then_fail_or_expire() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage =
            crate::storage::sqlite::SqliteStorage::open(dir.path().join("s.db")).expect("open");
        let payload = |job: &str| Payload {
            v: PAYLOAD_VERSION,
            job_id: job.into(),
            phone: "13800138000".into(),
            ..Payload::default()
        };
        write(&storage, |tx| {
            enqueue(
                tx,
                Event::Completed,
                "k",
                &payload("stubborn"),
                100 * DAY,
                0,
            )?;
            enqueue(tx, Event::OnTheWay, "k", &payload("late"), HOUR, 0)?;
            // The same key again: stored once.
            enqueue(tx, Event::OnTheWay, "k", &payload("late"), HOUR, 0)
        })
        .expect("enqueue");
        let channels = [Channel::Email, Channel::Webhook];
        let claimed = claim(&storage, &channels, 0).expect("claim");
        let names: Vec<(&str, &str)> = claimed
            .iter()
            .map(|o| (o.payload.job_id.as_str(), o.delivery.channel.as_str()))
            .collect();
        assert_eq!(
            names,
            [("stubborn", "webhook"), ("late", "webhook")],
            "no e-mail address"
        );
        assert!(
            claim(&storage, &channels, 1).expect("claim").is_empty(),
            "claimed deliveries are held for the lease"
        );
        // Both keep failing; the late one's notification expires before it gets through.
        let mut now = 10;
        let failed = |claimed: Vec<Outgoing>| {
            claimed
                .into_iter()
                .map(|o| (o.delivery, Err("refused".into())))
                .collect()
        };
        record(&storage, failed(claimed), now).expect("record");
        let mut attempts = 1;
        while attempts < MAX_ATTEMPTS {
            now += backoff(attempts);
            let claimed = claim(&storage, &channels, now).expect("claim");
            let stubborn = claimed
                .iter()
                .find(|o| o.payload.job_id == "stubborn")
                .expect("due again after the backoff");
            assert_eq!(stubborn.delivery.attempts, attempts + 1);
            record(&storage, failed(claimed), now).expect("record");
            attempts += 1;
        }
        let status = |job: &str| {
            crate::storage::read(&storage, |tx| tx.job_deliveries(job))
                .expect("read")
                .into_iter()
                .map(|d| (d.status, d.attempts, d.next_attempt_at, d.last_error))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            status("stubborn"),
            [(DeliveryStatus::Failed, MAX_ATTEMPTS, None, "refused".into())]
        );
        assert_eq!(
            status("late"),
            // Tried until its hour was up (30 s + 1 min + … + 16 min = 31.5 min; the next
            // retry, 32 min later, came too late).
            [(DeliveryStatus::Expired, 7, None, "refused".into())]
        );
        assert!(
            claim(&storage, &channels, now + DAY)
                .expect("claim")
                .is_empty()
        );
        // A failure no retry can mend ends the delivery at once.
        write(&storage, |tx| {
            enqueue(
                tx,
                Event::Completed,
                "k",
                &payload("refused"),
                now + DAY,
                now,
            )
        })
        .expect("enqueue");
        let claimed = claim(&storage, &channels, now).expect("claim");
        record(
            &storage,
            vec![(
                claimed[0].delivery.clone(),
                Err(Failure::permanent("webhook answered 400 Bad Request")),
            )],
            now,
        )
        .expect("record");
        assert_eq!(
            status("refused"),
            [(
                DeliveryStatus::Failed,
                1,
                None,
                "webhook answered 400 Bad Request".into()
            )]
        );
    }

    /// A moved appointment overtakes the booking not yet delivered; an attempt that outlived
    /// its lease does not overwrite the node that tried again; a payload that does not read
    /// fails on its own.
    #[test]
    fn newer_news_overtakes_older_and_late_outcomes_do_not_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage =
            crate::storage::sqlite::SqliteStorage::open(dir.path().join("s.db")).expect("open");
        let payload = Payload {
            v: PAYLOAD_VERSION,
            job_id: "j".into(),
            phone: "13800138000".into(),
            ..Payload::default()
        };
        let channels = [Channel::Webhook];
        write(&storage, |tx| {
            enqueue(tx, Event::AppointmentBooked, "a", &payload, DAY, 0)
        })
        .expect("booked");
        let first = claim(&storage, &channels, 0).expect("claim");
        record(
            &storage,
            vec![(first[0].delivery.clone(), Err("down".into()))],
            10,
        )
        .expect("record");
        write(&storage, |tx| {
            tx.supersede_notifications("j", &PASSING, 20)?;
            enqueue(tx, Event::AppointmentMoved, "b", &payload, DAY, 20)
        })
        .expect("moved");
        let now = 10 + backoff(1);
        let claimed = claim(&storage, &channels, now).expect("claim");
        assert_eq!(
            claimed.iter().map(|o| o.event).collect::<Vec<_>>(),
            [Event::AppointmentMoved],
            "the booking is no longer news"
        );
        // The attempt hangs past its lease; another round tries again and gets through.
        let again = claim(&storage, &channels, now + ATTEMPT_LEASE).expect("claim");
        assert_eq!(again[0].delivery.attempts, 2);
        record(
            &storage,
            vec![(again[0].delivery.clone(), Ok(()))],
            now + ATTEMPT_LEASE,
        )
        .expect("record");
        record(
            &storage,
            vec![(claimed[0].delivery.clone(), Err("timed out".into()))],
            now + ATTEMPT_LEASE + 1,
        )
        .expect("the late outcome");
        let statuses = |job: &str| {
            crate::storage::read(&storage, |tx| tx.job_deliveries(job))
                .expect("read")
                .into_iter()
                .map(|d| (d.status, d.attempts))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            statuses("j"),
            [(DeliveryStatus::Expired, 1), (DeliveryStatus::Delivered, 2)]
        );
        write(&storage, |tx| {
            tx.enqueue_notification(&StoredNotification {
                id: "bad".into(),
                job_id: "k".into(),
                event: "completed".into(),
                key: "k/completed/x".into(),
                payload: r#"{"v":9}"#.into(),
                created_at: 0,
                expires_at: DAY,
            })
        })
        .expect("enqueue");
        assert!(claim(&storage, &channels, now).expect("claim").is_empty());
        assert_eq!(statuses("k"), [(DeliveryStatus::Failed, 0)]);
    }

    #[test]
    fn backoff_doubles_from_thirty_seconds_to_an_hour() {
        let waits: Vec<Millis> = (1..=9).map(backoff).collect();
        assert_eq!(
            waits,
            [
                30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000, 3_600_000
            ]
        );
        assert_eq!(backoff(u32::MAX), HOUR);
    }

    /// Every event reads in both languages with its facts, the window's end day written
    /// once when the same, times in the organisation's zone.
    #[test]
    fn messages_say_what_happened_in_both_languages() {
        let payload = Payload {
            v: PAYLOAD_VERSION,
            job_id: "J-7".into(),
            customer_name: "王芳".into(),
            address: "上海市浦东新区世纪大道100号".into(),
            // 2026-12-08 10:00–12:00 in Shanghai.
            appointment: Some(Appointment {
                start: 1_796_695_200_000,
                end: 1_796_702_400_000,
            }),
            engineer: Some("李强".into()),
            link: Some("/r/abc".into()),
            answer: Some("我们将免费更换部件。".into()),
            ..Payload::default()
        };
        let zone = jiff::tz::TimeZone::get("Asia/Shanghai").expect("zone");
        for event in Event::ALL {
            let out = outgoing(event, payload.clone());
            let zh = message(&out, Language::Chinese, &zone, "https://fs.example");
            let en = message(&out, Language::English, &zone, "https://fs.example");
            assert!(zh.subject.contains("J-7") && en.subject.contains("J-7"));
            assert!(zh.text.starts_with("王芳，您好：") && en.text.starts_with("Dear 王芳,"));
            assert_ne!(zh.subject, en.subject);
            let fact = match event {
                Event::AppointmentBooked | Event::AppointmentMoved => "2026-12-08 10:00 – 12:00",
                Event::OnTheWay => "李强",
                Event::Completed | Event::Survey => "https://fs.example/r/abc",
                Event::ComplaintAnswered => "我们将免费更换部件。",
            };
            assert!(zh.text.contains(fact), "{event:?}: {}", zh.text);
            assert!(en.text.contains(fact), "{event:?}: {}", en.text);
        }
    }

    #[test]
    fn each_channel_reaches_the_customer_its_own_way() {
        let mut payload = Payload {
            phone: " 13800138000 ".into(),
            email: "wang@example.com".into(),
            ..Payload::default()
        };
        assert_eq!(
            Channel::Email.recipient(&payload).as_deref(),
            Some("wang@example.com")
        );
        assert_eq!(
            Channel::Webhook.recipient(&payload).as_deref(),
            Some("13800138000")
        );
        payload.email = "not an address".into();
        payload.phone.clear();
        assert_eq!(Channel::Email.recipient(&payload), None);
        assert_eq!(
            Channel::Webhook.recipient(&payload).as_deref(),
            Some("not an address")
        );
        payload.email.clear();
        assert_eq!(Channel::Webhook.recipient(&payload), None);
        assert_eq!(Channel::Log.recipient(&payload).as_deref(), Some("-"));
    }

    /// The payload's JSON is pinned: a stored notification outlives the server that wrote it.
    #[test]
    fn the_payload_format_is_pinned() {
        let payload = Payload {
            v: PAYLOAD_VERSION,
            job_id: "J-1".into(),
            customer_name: "Ada".into(),
            phone: "+44 20 7946 0000".into(),
            email: "ada@example.com".into(),
            address: "1 Main St".into(),
            appointment: Some(Appointment { start: 1, end: 2 }),
            ..Payload::default()
        };
        let json = r#"{"v":1,"job_id":"J-1","customer_name":"Ada","phone":"+44 20 7946 0000","email":"ada@example.com","address":"1 Main St","appointment":{"start":1,"end":2}}"#;
        assert_eq!(serde_json::to_string(&payload).expect("json"), json);
        assert_eq!(decode(json).expect("decode"), payload);
        assert!(decode(r#"{"v":2}"#).is_err());
    }
}
