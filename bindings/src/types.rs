//! Records and enums that cross the FFI boundary, converted from client-core's types.

use fieldsync_client_core::protocol::job::{self, JobSummary};
use fieldsync_client_core::protocol::knowledge;
use fieldsync_client_core::protocol::rules::Status;
use fieldsync_client_core::transport::UploadReport;
use fieldsync_client_core::{
    HeldAttachment, JobSyncState, KnowledgeApplied, ManualView, OutboxStatus, RefusalRecord,
    SyncReport,
};

/// A job's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum JobStatus {
    /// Opened by dispatch.
    New,
    /// Has an appointment.
    Scheduled,
    /// Has an installer.
    Assigned,
    /// The installer is on the way.
    EnRoute,
    /// The installer is on site.
    OnSite,
    /// Work done.
    Completed,
    /// The visit ended unfinished; a follow-up is needed.
    Incomplete,
    /// Called off.
    Cancelled,
    /// Feedback is in.
    Closed,
}

impl From<Status> for JobStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::New => JobStatus::New,
            Status::Scheduled => JobStatus::Scheduled,
            Status::Assigned => JobStatus::Assigned,
            Status::EnRoute => JobStatus::EnRoute,
            Status::OnSite => JobStatus::OnSite,
            Status::Completed => JobStatus::Completed,
            Status::Incomplete => JobStatus::Incomplete,
            Status::Cancelled => JobStatus::Cancelled,
            Status::Closed => JobStatus::Closed,
        }
    }
}

impl From<JobStatus> for Status {
    fn from(status: JobStatus) -> Self {
        match status {
            JobStatus::New => Status::New,
            JobStatus::Scheduled => Status::Scheduled,
            JobStatus::Assigned => Status::Assigned,
            JobStatus::EnRoute => Status::EnRoute,
            JobStatus::OnSite => Status::OnSite,
            JobStatus::Completed => Status::Completed,
            JobStatus::Incomplete => Status::Incomplete,
            JobStatus::Cancelled => Status::Cancelled,
            JobStatus::Closed => Status::Closed,
        }
    }
}

/// One row of the installer's job list.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct JobListItem {
    /// The job's id.
    pub id: String,
    /// `installation`, `repair`, `maintenance`, `inspection` or `complaint`.
    pub kind: String,
    /// Current status.
    pub status: JobStatus,
    /// Customer display name.
    pub customer_name: String,
    /// Whether the customer is VIP (first in every list).
    pub vip: bool,
    /// Service region.
    pub region: String,
    /// Appointment window start, ms since the Unix epoch.
    pub appointment_start_ms: Option<i64>,
    /// Appointment window end, ms since the Unix epoch.
    pub appointment_end_ms: Option<i64>,
    /// Escalation ring (1 to 3).
    pub ring: u8,
}

impl From<JobSummary> for JobListItem {
    fn from(s: JobSummary) -> Self {
        JobListItem {
            id: s.id,
            kind: s.kind.as_str().to_owned(),
            status: s.status.into(),
            customer_name: s.customer_name,
            vip: s.tier == job::Tier::Vip,
            region: s.region,
            appointment_start_ms: s.appointment_start,
            appointment_end_ms: s.appointment_end,
            ring: s.ring,
        }
    }
}

/// A checklist item.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ChecklistItem {
    /// The item's id.
    pub id: String,
    /// What to check.
    pub label: String,
    /// Ticked?
    pub done: bool,
    /// Entered value.
    pub value: String,
    /// Remark.
    pub note: String,
}

/// A part used.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PartUsed {
    /// Part number.
    pub part_number: String,
    /// Quantity.
    pub quantity: u32,
    /// Under warranty (true) or charged.
    pub under_warranty: bool,
}

/// A request for help from the field, with the office's answer once given.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HelpRequest {
    /// Who asked.
    pub by: String,
    /// When (the phone's clock, ms since the Unix epoch).
    pub at_ms: i64,
    /// Why.
    pub reason: String,
    /// The office's answer; empty until it is given.
    pub answer: String,
    /// Who answered (a supervisor, usually).
    pub answered_by: String,
    /// When (the server's clock), once answered.
    pub answered_at_ms: Option<i64>,
}

/// A photo attached to a job.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PhotoRef {
    /// Lower-case hex SHA-256 of the bytes: the photo's identity.
    pub sha256: String,
    /// Media type, e.g. `image/jpeg`.
    pub mime_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Caption.
    pub caption: String,
    /// When it was taken (phone clock), ms since the Unix epoch.
    pub taken_at_ms: i64,
}

impl From<job::BlobRef> for PhotoRef {
    fn from(b: job::BlobRef) -> Self {
        PhotoRef {
            sha256: b.sha256,
            mime_type: b.mime,
            size: b.size,
            caption: b.caption,
            taken_at_ms: b.taken_at,
        }
    }
}

/// The customer's signature on a job.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Signature {
    /// The signature image (its caption names the signer).
    pub image: PhotoRef,
    /// Who signed.
    pub signed_by: String,
    /// Lower-case hex SHA-256 of the service report (a PDF) the customer signed: open it with
    /// `blob(report_sha256)`, or `fetch_blob` when it is no longer on the phone.
    pub report_sha256: String,
}

impl From<job::Signature> for Signature {
    fn from(s: job::Signature) -> Self {
        Signature {
            image: s.image.into(),
            signed_by: s.signed_by,
            report_sha256: s.report_sha256,
        }
    }
}

/// Everything the installer sees when opening a job.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct JobDetail {
    /// The listing fields.
    pub summary: JobListItem,
    /// Customer phone.
    pub customer_phone: String,
    /// The whole site address (province, city and district first, when dispatch gave them).
    pub address: String,
    /// Where the site is, when dispatch gave its coordinates (for a map or navigation app).
    pub site_position: Option<GeoPoint>,
    /// Product model.
    pub product_model: String,
    /// Product serial number.
    pub product_serial: String,
    /// Warranty end, ms since the Unix epoch.
    pub warranty_end_ms: Option<i64>,
    /// Problem category.
    pub problem_category: String,
    /// What the customer reported.
    pub problem_description: String,
    /// Checklist, in display order.
    pub checklist: Vec<ChecklistItem>,
    /// Notes.
    pub notes: String,
    /// Parts used.
    pub parts: Vec<PartUsed>,
    /// Customer rating, once given.
    pub rating: Option<u8>,
    /// The customer's comment.
    pub rating_comment: String,
    /// Help requests made so far.
    pub help_requests: u32,
    /// The help requests, oldest first, each with the office's answer once it arrived.
    pub help: Vec<HelpRequest>,
    /// Photos attached.
    pub photos: Vec<PhotoRef>,
    /// The customer's signature, once signed.
    pub signature: Option<Signature>,
}

impl JobDetail {
    pub(crate) fn from_job(job: job::Job) -> Self {
        let mut items: Vec<(String, job::ChecklistItem)> =
            job.checklist.clone().into_iter().collect();
        items.sort_by_key(|(_, item)| item.position);
        JobDetail {
            summary: job.summary().into(),
            customer_phone: job.customer.phone.clone(),
            address: job.site.full_address(),
            site_position: job.site.position().map(|(lat, lon)| GeoPoint { lat, lon }),
            product_model: job.product.model.clone(),
            product_serial: job.product.serial.clone(),
            warranty_end_ms: job.product.warranty_end,
            problem_category: job.problem.category.clone(),
            problem_description: job.problem.description.clone(),
            checklist: items
                .into_iter()
                .map(|(id, item)| ChecklistItem {
                    id,
                    label: item.label,
                    done: item.done,
                    value: item.value,
                    note: item.note,
                })
                .collect(),
            notes: job.notes.clone(),
            parts: job
                .parts
                .iter()
                .map(|p| PartUsed {
                    part_number: p.part_number.clone(),
                    quantity: p.quantity,
                    under_warranty: p.under_warranty,
                })
                .collect(),
            rating: job.rating.as_ref().map(|r| r.score),
            rating_comment: job
                .rating
                .as_ref()
                .map(|r| r.comment.clone())
                .unwrap_or_default(),
            help_requests: u32::try_from(job.escalation.help_requests.len()).unwrap_or(u32::MAX),
            help: job
                .escalation
                .help_requests
                .iter()
                .map(|r| HelpRequest {
                    by: r.by.clone(),
                    at_ms: r.at,
                    reason: r.reason.clone(),
                    answer: r.answer.clone(),
                    answered_by: r.answered_by.clone(),
                    answered_at_ms: r.answered_at,
                })
                .collect(),
            photos: job.photos.iter().cloned().map(Into::into).collect(),
            signature: job.signature.clone().map(Into::into),
        }
    }
}

/// A partial checklist update: `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Default, uniffi::Record)]
pub struct ChecklistUpdate {
    /// Ticked?
    #[uniffi(default = None)]
    pub done: Option<bool>,
    /// Entered value.
    #[uniffi(default = None)]
    pub value: Option<String>,
    /// Remark.
    #[uniffi(default = None)]
    pub note: Option<String>,
}

impl From<ChecklistUpdate> for job::ChecklistUpdate {
    fn from(u: ChecklistUpdate) -> Self {
        job::ChecklistUpdate {
            label: None,
            done: u.done,
            value: u.value,
            note: u.note,
        }
    }
}

/// How the visit ended.
#[derive(Debug, Clone, PartialEq, Default, uniffi::Record)]
pub struct VisitOutcome {
    /// Fixed (or installed) on this first visit?
    pub first_visit_success: bool,
    /// The cause found.
    #[uniffi(default = "")]
    pub cause: String,
    /// The fix applied.
    #[uniffi(default = "")]
    pub fix: String,
    /// A summary for the customer and dispatch.
    #[uniffi(default = "")]
    pub summary: String,
}

impl From<VisitOutcome> for job::Outcome {
    fn from(o: VisitOutcome) -> Self {
        job::Outcome {
            first_visit_success: Some(o.first_visit_success),
            cause: o.cause,
            fix: o.fix,
            summary: o.summary,
        }
    }
}

/// A place on Earth (WGS-84): where the phone is, or a job's site.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct GeoPoint {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
}

/// What a time entry measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TimeKind {
    /// Driving to the site.
    Travel,
    /// Working on site.
    OnSite,
}

/// Where a job's captured work stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SyncState {
    /// Saved on the phone, not yet sent.
    SavedLocally,
    /// Sent; the server's answer has not arrived.
    Uploaded,
    /// Durably on the server.
    Accepted,
    /// The server refused some of it: see `refusals()`.
    Refused,
}

impl From<JobSyncState> for SyncState {
    fn from(s: JobSyncState) -> Self {
        match s {
            JobSyncState::SavedLocally => SyncState::SavedLocally,
            JobSyncState::Uploaded => SyncState::Uploaded,
            JobSyncState::Accepted => SyncState::Accepted,
            JobSyncState::Refused => SyncState::Refused,
        }
    }
}

/// The outbox at a glance.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Outbox {
    /// Changes waiting for the server.
    pub depth: u64,
    /// Changes the server refused: kept on the phone, not sent again (see `refusals()`).
    pub parked: u64,
    /// When the oldest of them was made, ms since the Unix epoch.
    pub oldest_created_at_ms: Option<i64>,
    /// Refusals recorded.
    pub refusals: u64,
}

impl From<OutboxStatus> for Outbox {
    fn from(o: OutboxStatus) -> Self {
        Outbox {
            depth: o.depth,
            parked: o.parked,
            oldest_created_at_ms: o.oldest_created_at,
            refusals: o.refusals,
        }
    }
}

/// A refusal the server sent.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Refusal {
    /// The job.
    pub job_id: String,
    /// Machine-readable code.
    pub code: String,
    /// Explanation.
    pub reason: String,
}

impl From<RefusalRecord> for Refusal {
    fn from(r: RefusalRecord) -> Self {
        Refusal {
            job_id: r.job_id,
            code: r.code,
            reason: r.reason,
        }
    }
}

/// A reminder the escalation ladder sent the installer: a clock of one of their jobs is
/// running out, or it ran out.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Reminder {
    /// Its id, for `acknowledge_reminder`.
    pub id: u64,
    /// The job it is about.
    pub job_id: String,
    /// The escalation rule that fired it, e.g. `resolve:owner`.
    pub rule: String,
    /// The job's escalation ring when it fired (1 to 3).
    pub ring: u8,
    /// The clock that ran out (`dispatch`, `resolve`, `feedback`, `complaint`) or `help`.
    pub clock: String,
    /// What it says, in English; word it from `rule` and `clock` in the app's language.
    pub message: String,
    /// When it fired (ms since the Unix epoch, the server's clock).
    pub created_at: i64,
}

impl From<fieldsync_client_core::Reminder> for Reminder {
    fn from(r: fieldsync_client_core::Reminder) -> Self {
        Reminder {
            id: r.id,
            job_id: r.job_id,
            rule: r.rule,
            ring: r.ring,
            clock: r.clock,
            message: r.message,
            created_at: r.created_at,
        }
    }
}

/// The customer of a job on site, offline: who they are, what they own and under which
/// warranty, and what was done for them before.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CustomerCard {
    /// The customer's record id.
    pub id: String,
    /// Ids of duplicate records merged into this one, which jobs may still carry.
    pub merged: Vec<String>,
    /// Display name.
    pub name: String,
    /// Service tier: `standard` or `vip`.
    pub tier: String,
    /// Phone numbers, the most recent first.
    pub phones: Vec<String>,
    /// The sites work was done at, one line each, the most recent first.
    pub sites: Vec<String>,
    /// The products they own.
    pub products: Vec<OwnedProduct>,
    /// Their jobs (the phone's own among them), the newest call first, at most 20.
    pub jobs: Vec<PastJob>,
}

/// A product a customer owns, with its warranty.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OwnedProduct {
    /// Model.
    pub model: String,
    /// Serial number.
    pub serial: String,
    /// When it was installed (ms since the Unix epoch), if known.
    pub install_date: Option<i64>,
    /// The purchase record's reference.
    pub purchase_ref: String,
    /// When its warranty ends (ms since the Unix epoch), if known.
    pub warranty_end: Option<i64>,
}

/// One job done (or under way) for a customer.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PastJob {
    /// The job's id.
    pub job_id: String,
    /// Its kind (`repair`, `installation`, …).
    pub kind: String,
    /// Its status (`completed`, `closed`, …).
    pub status: String,
    /// When the call came in (ms since the Unix epoch).
    pub call_received_at: i64,
    /// When the work was completed, once it was.
    pub completed_at: Option<i64>,
    /// The installer's user id (empty before assignment).
    pub engineer: String,
    /// The site, as one line.
    pub site: String,
    /// The product's model.
    pub model: String,
    /// The product's serial number.
    pub serial: String,
    /// The problem category.
    pub category: String,
    /// What the customer reported.
    pub description: String,
    /// The cause found.
    pub cause: String,
    /// The fix applied.
    pub fix: String,
    /// The summary for the customer.
    pub summary: String,
    /// Whether it was fixed on the first visit, once resolved.
    pub first_visit_fixed: Option<bool>,
    /// The rating the customer gave on the installer's phone, if any.
    pub rating: Option<u8>,
}

impl From<fieldsync_client_core::CustomerCard> for CustomerCard {
    fn from(c: fieldsync_client_core::CustomerCard) -> Self {
        CustomerCard {
            id: c.id,
            merged: c.merged,
            name: c.name,
            tier: c.tier,
            phones: c.phones,
            sites: c.sites,
            products: c
                .products
                .into_iter()
                .map(|p| OwnedProduct {
                    model: p.model,
                    serial: p.serial,
                    install_date: p.install_date,
                    purchase_ref: p.purchase_ref,
                    warranty_end: p.warranty_end,
                })
                .collect(),
            jobs: c
                .jobs
                .into_iter()
                .map(|j| PastJob {
                    job_id: j.job,
                    kind: j.kind,
                    status: j.status,
                    call_received_at: j.call_received_at,
                    completed_at: j.completed_at,
                    engineer: j.engineer,
                    site: j.site,
                    model: j.model,
                    serial: j.serial,
                    category: j.category,
                    description: j.description,
                    cause: j.cause,
                    fix: j.fix,
                    summary: j.summary,
                    first_visit_fixed: j.first_visit_fixed,
                    rating: j.rating,
                })
                .collect(),
        }
    }
}

/// What the office's enrollment QR code holds: the server, the installer and the one-time
/// code (`parse_enrollment_link`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EnrollmentLink {
    /// The server's base URL: the `serverUrl` to open the client with.
    pub server: String,
    /// The installer the code enrolls: the `userId` to open the client with.
    pub user: String,
    /// The one-time code, for `enroll`.
    pub code: String,
}

impl From<fieldsync_client_core::EnrollmentLink> for EnrollmentLink {
    fn from(link: fieldsync_client_core::EnrollmentLink) -> Self {
        EnrollmentLink {
            server: link.server,
            user: link.user,
            code: link.code,
        }
    }
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncSummary {
    /// Request/response exchanges.
    pub round_trips: u32,
    /// Jobs whose work the server accepted.
    pub accepted_jobs: u32,
    /// Jobs whose work the server refused.
    pub refused_jobs: u32,
    /// Jobs that changed on the phone because of the sync.
    pub updated_job_ids: Vec<String>,
    /// Jobs removed from the phone (they left the installer's scope).
    pub removed_jobs: u32,
    /// Whether the customer cards changed (`customer_card`, `customer_cards`).
    pub customers_changed: bool,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl From<SyncReport> for SyncSummary {
    fn from(r: SyncReport) -> Self {
        SyncSummary {
            round_trips: r.round_trips,
            accepted_jobs: count(r.accepted_jobs),
            refused_jobs: count(r.refused_jobs),
            updated_job_ids: r.updated_job_ids,
            removed_jobs: count(r.purged_jobs),
            customers_changed: r.customers_changed,
        }
    }
}

/// Sync progress, for the listener.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SyncEvent {
    /// A sync started.
    Started,
    /// A sync finished.
    Finished {
        /// What it did.
        summary: SyncSummary,
    },
    /// A sync failed; local work is safe.
    Failed {
        /// Why.
        message: String,
    },
}

/// What a search hit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum HitKind {
    /// A section of a manual (`reference` is the section id).
    Manual,
    /// A case from a completed job (`reference` is the job id).
    Case,
    /// An engineer's field tip (`reference` is the tip id).
    Tip,
}

impl From<fieldsync_client_core::HitKind> for HitKind {
    fn from(kind: fieldsync_client_core::HitKind) -> Self {
        match kind {
            fieldsync_client_core::HitKind::Manual => HitKind::Manual,
            fieldsync_client_core::HitKind::Case => HitKind::Case,
            fieldsync_client_core::HitKind::Tip => HitKind::Tip,
        }
    }
}

/// A piece of a search hit's snippet: show the matched pieces highlighted.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SnippetPart {
    /// The text.
    pub text: String,
    /// Whether it matched the query.
    pub matched: bool,
}

impl From<fieldsync_client_core::SnippetPart> for SnippetPart {
    fn from(p: fieldsync_client_core::SnippetPart) -> Self {
        SnippetPart {
            text: p.text,
            matched: p.matched,
        }
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SearchHit {
    /// What it is.
    pub kind: HitKind,
    /// The product model it is about.
    pub model: String,
    /// The manual section's id, the case's job id or the tip's id.
    pub reference: String,
    /// Its title.
    pub title: String,
    /// A short passage around the matches, in pieces.
    pub snippet: Vec<SnippetPart>,
}

impl From<fieldsync_client_core::SearchHit> for SearchHit {
    fn from(h: fieldsync_client_core::SearchHit) -> Self {
        SearchHit {
            kind: h.kind.into(),
            model: h.model,
            reference: h.reference,
            title: h.title,
            snippet: h.snippet.into_iter().map(Into::into).collect(),
        }
    }
}

/// A section of a manual.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ManualSection {
    /// Its id, stable across versions (what search hits refer to).
    pub id: String,
    /// The heading.
    pub title: String,
    /// The text, Markdown or HTML.
    pub body: String,
}

impl From<knowledge::Section> for ManualSection {
    fn from(s: knowledge::Section) -> Self {
        ManualSection {
            id: s.id,
            title: s.title,
            body: s.body,
        }
    }
}

/// A file that belongs to a manual (an image or a PDF).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ManualAttachment {
    /// Lower-case hex SHA-256 of its bytes: open them with `blob(sha256)`.
    pub sha256: String,
    /// The file name sections refer to it by.
    pub name: String,
    /// Media type, e.g. `image/png`.
    pub mime_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Whether the bytes are on the phone. Attachments are evicted under the storage budget;
    /// fetch one that is not with `fetch_blob(sha256)` when online.
    pub held: bool,
}

impl From<HeldAttachment> for ManualAttachment {
    fn from(a: HeldAttachment) -> Self {
        ManualAttachment {
            sha256: a.attachment.sha256,
            name: a.attachment.name,
            mime_type: a.attachment.mime,
            size: a.attachment.size,
            held: a.held,
        }
    }
}

/// The manual the phone shows for a product model: the newest version it holds complete.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Manual {
    /// The product model.
    pub model: String,
    /// The version shown.
    pub version: u32,
    /// Its title.
    pub title: String,
    /// Its sections, in reading order.
    pub sections: Vec<ManualSection>,
    /// Its attachments.
    pub attachments: Vec<ManualAttachment>,
}

impl From<ManualView> for Manual {
    fn from(m: ManualView) -> Self {
        Manual {
            model: m.model,
            version: m.version,
            title: m.title,
            sections: m.sections.into_iter().map(Into::into).collect(),
            attachments: m.attachments.into_iter().map(Into::into).collect(),
        }
    }
}

/// A completed job's diagnosis, from the case library.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Case {
    /// The job it came from.
    pub job_id: String,
    /// The product model.
    pub model: String,
    /// What the customer reported.
    pub symptom: String,
    /// What the engineer found.
    pub cause: String,
    /// What fixed it.
    pub fix: String,
    /// When the job was completed, ms since the Unix epoch.
    pub completed_at_ms: i64,
    /// Who fixed it.
    pub engineer: String,
}

impl From<knowledge::Case> for Case {
    fn from(c: knowledge::Case) -> Self {
        Case {
            job_id: c.job_id,
            model: c.model,
            symptom: c.symptom,
            cause: c.cause,
            fix: c.fix,
            completed_at_ms: c.completed_at,
            engineer: c.engineer,
        }
    }
}

/// An engineer's field tip for a product model.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Tip {
    /// The tip's id (what search hits refer to).
    pub id: String,
    /// The text.
    pub text: String,
    /// The user who wrote it.
    pub author: String,
    /// When it was written (that phone's clock), ms since the Unix epoch.
    pub written_at_ms: i64,
}

impl From<knowledge::Tip> for Tip {
    fn from(t: knowledge::Tip) -> Self {
        Tip {
            id: t.id,
            text: t.text,
            author: t.by,
            written_at_ms: t.at,
        }
    }
}

/// How the phone's media and reference storage is used, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct StorageUsage {
    /// The budget, if one is set.
    pub budget: Option<u64>,
    /// Captured photos, signatures and reports the server does not hold yet: never evicted.
    pub unsent_media: u64,
    /// Captured media the server holds: evicted under the budget, least recently used first.
    pub sent_media: u64,
    /// Manual attachments: evicted under the budget, least recently used first.
    pub reference: u64,
}

impl From<fieldsync_client_core::StorageUsage> for StorageUsage {
    fn from(u: fieldsync_client_core::StorageUsage) -> Self {
        StorageUsage {
            budget: u.budget,
            unsent_media: u.unsent_media,
            sent_media: u.sent_media,
            reference: u.reference,
        }
    }
}

/// A captured photo, signature image or signed report waiting for upload.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PendingMedia {
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    /// A job it belongs to.
    pub job_id: String,
    /// Media type, e.g. `image/jpeg` or `application/pdf`.
    pub mime_type: String,
    /// Size in bytes.
    pub size: u64,
}

impl From<fieldsync_client_core::PendingMedia> for PendingMedia {
    fn from(m: fieldsync_client_core::PendingMedia) -> Self {
        PendingMedia {
            sha256: m.sha256,
            job_id: m.job_id,
            mime_type: m.mime,
            size: m.size,
        }
    }
}

/// What an upload pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct UploadSummary {
    /// Media the server now holds that were waiting on the phone.
    pub uploaded: u64,
    /// Bytes the server accepted in this pass (a resumed upload sends only the rest).
    pub bytes_sent: u64,
}

impl From<UploadReport> for UploadSummary {
    fn from(r: UploadReport) -> Self {
        UploadSummary {
            uploaded: r.uploaded,
            bytes_sent: r.bytes_sent,
        }
    }
}

/// Field tips of a model the server refused; the server's tips for the model replace them.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TipRefusal {
    /// The product model.
    pub model: String,
    /// The server's explanation.
    pub reason: String,
}

/// What a knowledge exchange did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct KnowledgeSummary {
    /// Models whose manual is new or changed (shown once its attachments are all on the phone).
    pub manuals: Vec<String>,
    /// Cases received.
    pub cases: u32,
    /// Field tip changes merged from other phones.
    pub tip_changes: u32,
    /// Models whose local tips the server refused.
    pub refused_tips: Vec<TipRefusal>,
}

impl From<KnowledgeApplied> for KnowledgeSummary {
    fn from(k: KnowledgeApplied) -> Self {
        KnowledgeSummary {
            manuals: k.manuals,
            cases: count(k.cases),
            tip_changes: count(k.tip_changes),
            refused_tips: k
                .refused_tips
                .into_iter()
                .map(|(model, reason)| TipRefusal { model, reason })
                .collect(),
        }
    }
}

/// Where the phone stands with the offline lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LeaseKind {
    /// No lease yet (never synced with a server that sets one).
    None,
    /// Usable until `locks_at_ms`.
    Active,
    /// Locked: sync to unlock.
    Locked,
    /// Locked, and what the server already held was deleted from the phone.
    Wiped,
}

/// The offline lease's state.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LeaseStatus {
    /// Where the phone stands.
    pub kind: LeaseKind,
    /// When the store locks (ms, phone clock), or locked.
    pub locks_at_ms: Option<i64>,
    /// When uploaded data is wiped (ms, phone clock), if not yet.
    pub wipes_at_ms: Option<i64>,
}

impl From<fieldsync_client_core::LeaseState> for LeaseStatus {
    fn from(state: fieldsync_client_core::LeaseState) -> Self {
        use fieldsync_client_core::LeaseState as S;
        let (kind, locks_at_ms, wipes_at_ms) = match state {
            S::None => (LeaseKind::None, None, None),
            S::Active { locks_at, wipes_at } => (LeaseKind::Active, Some(locks_at), Some(wipes_at)),
            S::Locked { since, wipes_at } => (LeaseKind::Locked, Some(since), Some(wipes_at)),
            S::Wiped { since } => (LeaseKind::Wiped, Some(since), None),
        };
        LeaseStatus {
            kind,
            locks_at_ms,
            wipes_at_ms,
        }
    }
}
