//! The job document: one Automerge document per job (work order).
//!
//! Writes go through [`JobDoc`], which knows the document's layout; reads go through [`read_job`],
//! which turns the document into the typed [`Job`] read model. Every field of the read model has a
//! default, so a document written by an older schema version (which lacks newer fields) still
//! reads: see `protocol/tests/fixtures/` and the schema tests.
//!
//! The layout (keys of the root map) is documented in `docs/job-document.md`.

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, Value};
use serde::{Deserialize, Serialize};

use crate::access;
use crate::rules::{self, Status};
use crate::{Millis, SchemaError};

/// The schema version this code writes into `schema_version`.
///
/// Version 1 is the first shipped layout. A later version may add fields (older phones ignore
/// them, newer code defaults them when reading older documents) but never reuses a key with a
/// different meaning.
pub const SCHEMA_VERSION: u64 = 1;

/// What kind of work a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Installing a new product.
    Installation,
    /// Fixing a fault.
    #[default]
    Repair,
    /// Planned maintenance.
    Maintenance,
    /// An inspection visit.
    Inspection,
    /// A customer complaint; runs the complaint clocks.
    Complaint,
}

impl JobKind {
    /// The wire and storage name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Installation => "installation",
            JobKind::Repair => "repair",
            JobKind::Maintenance => "maintenance",
            JobKind::Inspection => "inspection",
            JobKind::Complaint => "complaint",
        }
    }

    /// Parses a kind from its wire name.
    pub fn parse(s: &str) -> Result<Self, SchemaError> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
            SchemaError::InvalidValue {
                field: "kind",
                value: s.to_owned(),
            }
        })
    }
}

/// The customer's service tier. VIP customers get tighter targets and go first in every queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The standard tier.
    #[default]
    Standard,
    /// Very important customers.
    Vip,
}

impl Tier {
    /// The wire and storage name of the tier.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Standard => "standard",
            Tier::Vip => "vip",
        }
    }
}

/// How urgent dispatch judged the job. Ordered from the least to the most urgent.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Can wait for a convenient slot.
    Low,
    /// The usual.
    #[default]
    Normal,
    /// Next free slot.
    High,
    /// Drop everything.
    Urgent,
}

/// Who made a change, as far as the document's domain rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An installer or service engineer in the field.
    #[default]
    Installer,
    /// Dispatch staff in the office (and the server acting for them).
    Dispatch,
}

impl Role {
    /// The role's wire name: `installer`, `dispatch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Installer => "installer",
            Role::Dispatch => "dispatch",
        }
    }

    /// Who this is, in an English sentence: `an installer`, `dispatch`.
    pub fn described(self) -> &'static str {
        match self {
            Role::Installer => "an installer",
            Role::Dispatch => "dispatch",
        }
    }
}

/// The customer a job is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Customer {
    /// The customer's id in the service organisation's records: the server's customer record
    /// the job is linked to (`cus-…`, or the organisation's own id given at intake).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Service tier.
    pub tier: Tier,
    /// Phone number.
    pub phone: String,
    /// E-mail address.
    pub email: String,
}

/// Where the work happens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Site {
    /// Street address: the street and number (with the province, city and district when
    /// they are not given apart).
    pub address: String,
    /// Service region, used for assignment and the KPIs.
    pub region: String,
    /// Province (or state), e.g. `上海市`, `广东省`. Written only when given (added within
    /// schema 1; older documents have none).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub province: String,
    /// City, e.g. `广州市`. Written only when given.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub city: String,
    /// District, e.g. `天河区`. Written only when given.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub district: String,
    /// Where the site is, WGS-84 latitude in degrees, when dispatch knows it (written only
    /// when given, always together with `lon`; added within schema 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Where the site is, WGS-84 longitude in degrees, when dispatch knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

impl Site {
    /// The site's position, `(lat, lon)`, when both are known.
    pub fn position(&self) -> Option<(f64, f64)> {
        self.lat.zip(self.lon)
    }

    /// The whole address. In Chinese script largest part first: province, city (once where the
    /// city is the province, as 上海市), district, street, leaving out the parts the street
    /// already starts with (`广州市天河区天河路1号` under 广东省 gains only the province).
    /// Otherwise street first, separated by commas: "12 Harbour Road, Leith, Edinburgh".
    pub fn full_address(&self) -> String {
        // A part that repeats the one before it (上海 under 上海市) is written once.
        let base = |part: &str| part.trim_end_matches(['省', '市']).to_owned();
        let mut parts: Vec<&str> = Vec::new();
        for part in [&self.province, &self.city, &self.district] {
            let part = part.trim();
            if !part.is_empty() && !parts.iter().any(|p| base(p) == base(part)) {
                parts.push(part);
            }
        }
        let street = self.address.trim();
        let is_cjk = |c: char| ('\u{3400}'..='\u{9FFF}').contains(&c);
        if parts
            .iter()
            .chain([&street])
            .any(|text| text.chars().any(is_cjk))
        {
            // The first part from which the street already reads on is where the street begins.
            let from = (0..=parts.len())
                .find(|&k| street.starts_with(&parts[k..].concat()))
                .unwrap_or(parts.len());
            return format!("{}{street}", parts[..from].concat());
        }
        parts.reverse();
        [street]
            .into_iter()
            .chain(parts)
            .filter(|text| !text.is_empty())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The installed product the job is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Product {
    /// Product model (selects the manual and the checklist template).
    pub model: String,
    /// Serial number of the unit on site.
    pub serial: String,
    /// When it was installed (ms since the Unix epoch), if it is.
    pub install_date: Option<Millis>,
    /// The purchase record's reference.
    pub purchase_ref: String,
    /// When the warranty ends (ms since the Unix epoch).
    pub warranty_end: Option<Millis>,
}

/// The reported problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Problem {
    /// Problem category (for classification and demand KPIs).
    pub category: String,
    /// What the customer said.
    pub description: String,
}

/// The appointment window agreed with the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Appointment {
    /// Window start (ms since the Unix epoch).
    pub start: Millis,
    /// Window end (ms since the Unix epoch).
    pub end: Millis,
}

/// The SLA deadlines dispatch set when the job was created (ms since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SlaDeadlines {
    /// Job must be created by then (call received + 1 minute by default).
    pub respond_by: Option<Millis>,
    /// Job must be assigned by then.
    pub dispatch_by: Option<Millis>,
    /// Job must be technically resolved by then.
    pub resolve_by: Option<Millis>,
    /// Complaints: feedback to the customer by then.
    pub feedback_by: Option<Millis>,
    /// How long after the job is completed customer service has to make the return-visit call
    /// (ms). Written only when set (added within schema 1): jobs opened before return visits
    /// were tracked have none, and no such clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_visit_within_ms: Option<Millis>,
}

/// One step in the job's lifecycle, kept forever in `transitions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Transition {
    /// The state moved to.
    pub to: Status,
    /// The user who made the move.
    pub by: String,
    /// Whether the user acted as dispatch (may move backwards) or as an installer.
    pub role: Role,
    /// The device the move was made on.
    pub device: String,
    /// The device's clock at the move (ms since the Unix epoch).
    pub at: Millis,
    /// Where the device was, if known.
    pub lat: Option<f64>,
    /// Where the device was, if known.
    pub lon: Option<f64>,
}

impl Transition {
    /// A move to `to` made by `editor` at `now` (device clock), optionally where.
    pub fn new(to: Status, editor: &Editor, now: Millis, position: Option<(f64, f64)>) -> Self {
        Transition {
            to,
            by: editor.user.clone(),
            role: editor.role,
            device: editor.device.clone(),
            at: now,
            lat: position.map(|p| p.0),
            lon: position.map(|p| p.1),
        }
    }
}

/// A request for help from the field, which climbs the escalation ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct HelpRequest {
    /// Who asked.
    pub by: String,
    /// When (device clock, ms since the Unix epoch).
    pub at: Millis,
    /// Why.
    pub reason: String,
    /// The office's answer (a supervisor's, usually), once given; written only then (added
    /// within schema 1).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub answer: String,
    /// Who answered.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub answered_by: String,
    /// When (the server's clock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<Millis>,
}

/// The escalation state of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Escalation {
    /// The ring dispatch (or the SLA scheduler) put the job in; 1 when unset.
    pub ring: u8,
    /// Requests for help from the field.
    pub help_requests: Vec<HelpRequest>,
}

/// One checklist item. Each field merges on its own, so two devices editing different fields of
/// the same item keep both edits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ChecklistItem {
    /// What to check.
    pub label: String,
    /// Display order.
    pub position: u32,
    /// Ticked?
    pub done: bool,
    /// A measured or entered value, if the item asks for one.
    pub value: String,
    /// A remark.
    pub note: String,
}

/// A part used on the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct PartUsed {
    /// The part number.
    pub part_number: String,
    /// How many.
    pub quantity: u32,
    /// Covered by warranty (true) or charged to the customer.
    pub under_warranty: bool,
    /// Who recorded it.
    pub by: String,
    /// When (device clock, ms since the Unix epoch).
    pub at: Millis,
}

/// What a time entry measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TimeKind {
    /// Driving to the site.
    Travel,
    /// Working on site.
    #[default]
    OnSite,
}

/// Time spent on the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct TimeEntry {
    /// Travel or on site.
    pub kind: TimeKind,
    /// Start (ms since the Unix epoch).
    pub start: Millis,
    /// End (ms since the Unix epoch).
    pub end: Millis,
    /// Who worked.
    pub by: String,
}

/// The result of the work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Outcome {
    /// Fixed (or installed successfully) on the first visit? Feeds first-time fix and one-time
    /// installation success.
    pub first_visit_success: Option<bool>,
    /// The cause found.
    pub cause: String,
    /// The fix applied.
    pub fix: String,
    /// A summary for the customer and dispatch.
    pub summary: String,
}

/// A reference to a blob (photo, signature image, report) stored by content hash. The bytes travel
/// separately; the document holds only this reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct BlobRef {
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    /// Media type, e.g. `image/jpeg`.
    pub mime: String,
    /// Size in bytes.
    pub size: u64,
    /// A caption.
    pub caption: String,
    /// When it was captured (device clock, ms since the Unix epoch).
    pub taken_at: Millis,
}

/// The customer's signature: an image reference plus the hash of the report it signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Signature {
    /// The signature image.
    pub image: BlobRef,
    /// Who signed.
    pub signed_by: String,
    /// Hex SHA-256 of the service report the customer signed.
    pub report_sha256: String,
}

/// The customer's rating of the visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Rating {
    /// 1 to 5.
    pub score: u8,
    /// What the customer said.
    pub comment: String,
}

/// How a return-visit call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// The customer was reached: the call counts, with their rating and words if they gave
    /// them.
    #[default]
    Reached,
    /// Nobody answered.
    NotReached,
    /// The customer asked to be called again (at `call_again_at`).
    CallAgain,
}

impl CallOutcome {
    /// The wire name: `reached`, `not_reached`, `call_again`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Reached => "reached",
            CallOutcome::NotReached => "not_reached",
            CallOutcome::CallAgain => "call_again",
        }
    }
}

/// One return-visit call (回访) customer service made after the job was completed: kept apart
/// from the rating the customer gave on the installer's phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ReturnVisit {
    /// When the call was recorded (ms since the Unix epoch, the server's clock).
    pub at: Millis,
    /// Who called (the office user).
    pub by: String,
    /// How it went.
    pub outcome: CallOutcome,
    /// When to call again (`call_again` only).
    pub call_again_at: Option<Millis>,
    /// The customer's satisfaction, 1 to 5, when reached and they gave one.
    pub score: Option<u8>,
    /// What the customer said, or a note on the call.
    pub comment: String,
}

/// The customer's own rating of the service, sent through their link (away from the
/// installer), as the server records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Survey {
    /// When it arrived (ms since the Unix epoch, the server's clock).
    pub at: Millis,
    /// 1 to 5.
    pub score: u8,
    /// What the customer wrote.
    pub comment: String,
}

/// What a complaint is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ComplaintKind {
    /// The quality of the work.
    QualityOfWork,
    /// A late or missed visit, or slow service.
    Delay,
    /// How the engineer or the office behaved.
    Attitude,
    /// The product itself.
    ProductFault,
    /// What the customer was charged.
    Charges,
    /// Anything else.
    #[default]
    Other,
}

impl ComplaintKind {
    /// Every kind, in the order forms offer them.
    pub const ALL: [ComplaintKind; 6] = [
        ComplaintKind::QualityOfWork,
        ComplaintKind::Delay,
        ComplaintKind::Attitude,
        ComplaintKind::ProductFault,
        ComplaintKind::Charges,
        ComplaintKind::Other,
    ];

    /// The wire name: `quality_of_work`, `delay`, `attitude`, `product_fault`, `charges`,
    /// `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            ComplaintKind::QualityOfWork => "quality_of_work",
            ComplaintKind::Delay => "delay",
            ComplaintKind::Attitude => "attitude",
            ComplaintKind::ProductFault => "product_fault",
            ComplaintKind::Charges => "charges",
            ComplaintKind::Other => "other",
        }
    }
}

/// How serious a complaint is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The usual.
    #[default]
    Normal,
    /// Needs a senior's attention.
    Serious,
    /// Threatens the customer relationship (or safety).
    Critical,
}

/// How a complaint ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ComplaintOutcome {
    /// Put right.
    Resolved,
    /// The customer was compensated.
    Compensated,
    /// Money was refunded.
    Refund,
    /// The product was returned or exchanged.
    ReturnOrExchange,
    /// Not upheld (with the reason in `outcome_note`).
    Rejected,
}

/// On a complaint job: what it is about, who raised it, and how the office handles it. Keys are
/// written only once they have a value (added within schema 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ComplaintInfo {
    /// The job complained about (empty for a complaint taken on a call about no job).
    pub about_job: String,
    /// The kind of complaint.
    pub kind: ComplaintKind,
    /// `customer` (through their link) or `office` (taken on a call).
    pub source: String,
    /// How serious it is.
    pub severity: Severity,
    /// The office user who owns it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub owner: String,
    /// The answer given to the customer.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub answer: String,
    /// When the first answer was given (the server's clock): stops the complaint's feedback
    /// clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<Millis>,
    /// How it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ComplaintOutcome>,
    /// Why (required for a rejection), or what was done.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub outcome_note: String,
}

/// What the office records while it handles a complaint: `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ComplaintHandling {
    /// The kind, when the office classifies it otherwise.
    pub kind: Option<ComplaintKind>,
    /// How serious it is.
    pub severity: Option<Severity>,
    /// Who owns it (an office user).
    pub owner: Option<String>,
    /// The answer given to the customer (its time is recorded with it).
    pub answer: Option<String>,
    /// How it ended.
    pub outcome: Option<ComplaintOutcome>,
    /// Why, or what was done.
    pub outcome_note: Option<String>,
}

/// On a job complained about: one complaint raised about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ComplaintRef {
    /// The complaint job.
    pub job_id: String,
    /// When it was raised (ms since the Unix epoch, the server's clock).
    pub at: Millis,
    /// The kind of complaint.
    pub kind: ComplaintKind,
}

/// The typed read model of a job document. Derived state (the effective status, the escalation
/// ring) is computed by the domain rules in [`crate::rules`], never stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Job {
    /// The schema version the document was created with.
    pub schema_version: u64,
    /// The job's id.
    pub id: String,
    /// What kind of work.
    pub kind: JobKind,
    /// When the customer's call was received (ms since the Unix epoch). SLA clocks start here.
    pub call_received_at: Millis,
    /// When the job was created (ms since the Unix epoch).
    pub created_at: Millis,
    /// The customer.
    pub customer: Customer,
    /// The site.
    pub site: Site,
    /// The installed product.
    pub product: Product,
    /// The reported problem.
    pub problem: Problem,
    /// Dispatch's priority.
    pub priority: Priority,
    /// The appointment window, once scheduled.
    pub appointment: Option<Appointment>,
    /// The assigned installer's user id, once assigned.
    pub assignee: Option<String>,
    /// SLA deadlines.
    pub sla: SlaDeadlines,
    /// Escalation ring and help requests.
    pub escalation: Escalation,
    /// Every lifecycle move, in document order.
    pub transitions: Vec<Transition>,
    /// Checklist items by item id.
    pub checklist: std::collections::BTreeMap<String, ChecklistItem>,
    /// Free-form notes (collaborative text).
    pub notes: String,
    /// Parts used.
    pub parts: Vec<PartUsed>,
    /// Time entries.
    pub time_entries: Vec<TimeEntry>,
    /// The outcome of the work.
    pub outcome: Outcome,
    /// Photos taken on site.
    pub photos: Vec<BlobRef>,
    /// The customer's signature, once signed.
    pub signature: Option<Signature>,
    /// The customer's rating, once given.
    pub rating: Option<Rating>,
    /// Customer service's return-visit calls after completion, in document order (added
    /// within schema 1; older documents have none).
    pub return_visits: Vec<ReturnVisit>,
    /// The customer's own ratings through their link, in the order they arrived (added within
    /// schema 1).
    pub surveys: Vec<Survey>,
    /// The complaints raised about this job (added within schema 1).
    pub complaints: Vec<ComplaintRef>,
    /// On a complaint job: what it is about (added within schema 1; absent on other jobs).
    pub complaint: Option<ComplaintInfo>,
}

impl Job {
    /// The job's current status, derived from its transitions by [`rules::effective_status`].
    pub fn status(&self) -> Status {
        rules::effective_status(&self.transitions)
    }

    /// The escalation ring the job is in (1, 2 or 3), derived by [`rules::effective_ring`].
    pub fn ring(&self) -> u8 {
        rules::effective_ring(&self.escalation)
    }

    /// What dispatch recorded at intake and may correct: kind, priority, customer, site,
    /// product and problem.
    pub fn details(&self) -> JobDetails {
        JobDetails {
            kind: self.kind,
            priority: self.priority,
            customer: self.customer.clone(),
            site: self.site.clone(),
            product: self.product.clone(),
            problem: self.problem.clone(),
        }
    }

    /// The listing row for this job: what projections and queues show.
    pub fn summary(&self) -> JobSummary {
        JobSummary {
            id: self.id.clone(),
            kind: self.kind,
            status: self.status(),
            assignee: self.assignee.clone(),
            appointment_start: self.appointment.map(|a| a.start),
            appointment_end: self.appointment.map(|a| a.end),
            customer_name: self.customer.name.clone(),
            customer_id: self.customer.id.clone(),
            tier: self.customer.tier,
            region: self.site.region.clone(),
            priority: self.priority,
            ring: self.ring(),
            call_received_at: self.call_received_at,
            resolve_by: self.sla.resolve_by,
            first_visit_success: self.outcome.first_visit_success,
            rating: self.rating.as_ref().map(|r| r.score),
        }
    }
}

impl JobSummary {
    /// The installer whose devices hold the job: its assignee, unless the job was cancelled
    /// (a cancelled job leaves the installer's scope and their phones).
    pub fn holder(&self) -> Option<&str> {
        match self.status {
            Status::Cancelled => None,
            _ => self.assignee.as_deref(),
        }
    }
}

/// One row of a job listing, kept in projection tables on both sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobSummary {
    /// The job's id.
    pub id: String,
    /// What kind of work.
    pub kind: JobKind,
    /// Effective status.
    pub status: Status,
    /// Assigned installer.
    pub assignee: Option<String>,
    /// Appointment window start.
    pub appointment_start: Option<Millis>,
    /// Appointment window end.
    pub appointment_end: Option<Millis>,
    /// Customer display name.
    pub customer_name: String,
    /// The customer's record id, when the job names one (empty otherwise; summaries stored
    /// before it existed read as empty).
    #[serde(default)]
    pub customer_id: String,
    /// Customer tier.
    pub tier: Tier,
    /// Service region.
    pub region: String,
    /// Priority.
    pub priority: Priority,
    /// Escalation ring.
    pub ring: u8,
    /// When the call came in.
    pub call_received_at: Millis,
    /// Resolution deadline.
    pub resolve_by: Option<Millis>,
    /// First-visit success, once known.
    pub first_visit_success: Option<bool>,
    /// Customer rating, once given.
    pub rating: Option<u8>,
}

/// Reads a job document into its typed read model. Missing fields take their defaults, so
/// documents of older schema versions read; values of the wrong type are an error that names the
/// field.
pub fn read_job(doc: &impl ReadDoc) -> Result<Job, SchemaError> {
    let job = Job::deserialize(crate::reader::Node::root(doc))
        .map_err(|e| SchemaError::Unreadable(e.to_string()))?;
    if job.id.is_empty() {
        return Err(SchemaError::MissingField("id"));
    }
    Ok(job)
}

/// How deeply objects may nest in a job document. The schema needs four levels; the limit keeps
/// a hostile document from exhausting the stack of whoever reads it.
pub const MAX_NESTING: usize = 8;

/// What dispatch records when it opens a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NewJob {
    /// The id to give the job (the server generates one when empty).
    pub id: String,
    /// What kind of work.
    pub kind: JobKind,
    /// When the customer's call was received (ms since the Unix epoch).
    pub call_received_at: Millis,
    /// The customer.
    pub customer: Customer,
    /// The site.
    pub site: Site,
    /// The installed product.
    pub product: Product,
    /// The reported problem.
    pub problem: Problem,
    /// Priority.
    pub priority: Priority,
    /// SLA deadlines.
    pub sla: SlaDeadlines,
    /// Checklist items (id, label), usually from a template for the kind and product.
    pub checklist: Vec<(String, String)>,
    /// For a complaint: what it is about (written only when given).
    pub complaint: Option<ComplaintInfo>,
}

/// Who is editing, for the provenance that transitions and entries carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Editor {
    /// The user's id.
    pub user: String,
    /// The device's id.
    pub device: String,
    /// The role the user acts in.
    pub role: Role,
}

/// A job document open for editing. Every edit is one Automerge change that carries the
/// wall-clock time of the edit (Automerge records 0 unless told).
pub struct JobDoc {
    doc: AutoCommit,
}

impl std::fmt::Debug for JobDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobDoc")
            .field("actor", self.doc.get_actor())
            .finish()
    }
}

fn put_str(doc: &mut AutoCommit, obj: &ObjId, key: &str, value: &str) -> Result<(), SchemaError> {
    doc.put(obj, key, value)?;
    Ok(())
}

fn to_json(value: &impl Serialize) -> Result<serde_json::Value, SchemaError> {
    serde_json::to_value(value).map_err(|e| SchemaError::Unreadable(e.to_string()))
}

/// Writes a JSON value into the document under `obj[key]`: objects become maps, arrays become
/// lists, strings become scalar strings. Used for the record-shaped parts of the schema so the
/// layout follows the serde shape of the read model exactly.
fn put_json(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    value: &serde_json::Value,
) -> Result<(), SchemaError> {
    match value {
        serde_json::Value::Object(map) => {
            let child = doc.put_object(obj, key, ObjType::Map)?;
            for (k, v) in map {
                put_json(doc, &child, k, v)?;
            }
        }
        serde_json::Value::Array(items) => {
            let child = doc.put_object(obj, key, ObjType::List)?;
            for (i, v) in items.iter().enumerate() {
                insert_json(doc, &child, i, v)?;
            }
        }
        scalar => doc.put(obj, key, json_scalar(scalar))?,
    }
    Ok(())
}

/// Like [`put_json`], but writes an object into the map already at `obj[key]` field by field
/// (recursively) and leaves fields that already hold the value alone, so concurrent edits of
/// different fields on different devices both survive.
fn update_json(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    value: &serde_json::Value,
) -> Result<(), SchemaError> {
    match (value, doc.get(obj, key)?) {
        (serde_json::Value::Object(map), Some((Value::Object(ObjType::Map), existing))) => {
            for (k, v) in map {
                update_json(doc, &existing, k, v)?;
            }
            Ok(())
        }
        (scalar, Some((Value::Scalar(current), _)))
            if !scalar.is_object() && !scalar.is_array() && json_scalar(scalar) == *current =>
        {
            Ok(())
        }
        _ => put_json(doc, obj, key, value),
    }
}

fn insert_json(
    doc: &mut AutoCommit,
    list: &ObjId,
    index: usize,
    value: &serde_json::Value,
) -> Result<(), SchemaError> {
    match value {
        serde_json::Value::Object(map) => {
            let child = doc.insert_object(list, index, ObjType::Map)?;
            for (k, v) in map {
                put_json(doc, &child, k, v)?;
            }
        }
        serde_json::Value::Array(items) => {
            let child = doc.insert_object(list, index, ObjType::List)?;
            for (i, v) in items.iter().enumerate() {
                insert_json(doc, &child, i, v)?;
            }
        }
        scalar => doc.insert(list, index, json_scalar(scalar))?,
    }
    Ok(())
}

fn json_scalar(value: &serde_json::Value) -> ScalarValue {
    match value {
        serde_json::Value::Null => ScalarValue::Null,
        serde_json::Value::Bool(b) => ScalarValue::Boolean(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => ScalarValue::Int(i),
            (None, Some(f)) => ScalarValue::F64(f),
            (None, None) => ScalarValue::Null,
        },
        serde_json::Value::String(s) => ScalarValue::Str(s.as_str().into()),
        // Objects and arrays are handled by the callers.
        _ => ScalarValue::Null,
    }
}

impl JobDoc {
    /// Creates a new job document from what dispatch recorded, as one change by `actor`.
    pub fn create(
        actor: ActorId,
        job: &NewJob,
        editor: &Editor,
        now: Millis,
    ) -> Result<Self, SchemaError> {
        if job.id.is_empty() {
            return Err(SchemaError::MissingField("id"));
        }
        let mut doc = AutoCommit::new().with_actor(actor);
        let root = automerge::ROOT;
        doc.put(&root, "schema_version", SCHEMA_VERSION)?;
        put_str(&mut doc, &root, "id", &job.id)?;
        put_str(&mut doc, &root, "kind", job.kind.as_str())?;
        doc.put(&root, "call_received_at", job.call_received_at)?;
        doc.put(&root, "created_at", now)?;
        put_json(&mut doc, &root, "customer", &to_json(&job.customer)?)?;
        put_json(&mut doc, &root, "site", &to_json(&job.site)?)?;
        put_json(&mut doc, &root, "product", &to_json(&job.product)?)?;
        put_json(&mut doc, &root, "problem", &to_json(&job.problem)?)?;
        put_json(&mut doc, &root, "priority", &to_json(&job.priority)?)?;
        put_json(&mut doc, &root, "sla", &to_json(&job.sla)?)?;
        doc.put(&root, "appointment", ScalarValue::Null)?;
        doc.put(&root, "assignee", ScalarValue::Null)?;
        let escalation = doc.put_object(&root, "escalation", ObjType::Map)?;
        doc.put(&escalation, "ring", 1_i64)?;
        doc.put_object(&escalation, "help_requests", ObjType::List)?;
        let transitions = doc.put_object(&root, "transitions", ObjType::List)?;
        let first = Transition::new(Status::New, editor, now, None);
        insert_json(&mut doc, &transitions, 0, &to_json(&first)?)?;
        let checklist = doc.put_object(&root, "checklist", ObjType::Map)?;
        for (position, (item_id, label)) in job.checklist.iter().enumerate() {
            let item = ChecklistItem {
                label: label.clone(),
                position: u32::try_from(position).unwrap_or(u32::MAX),
                ..ChecklistItem::default()
            };
            put_json(&mut doc, &checklist, item_id, &to_json(&item)?)?;
        }
        doc.put_object(&root, "notes", ObjType::Text)?;
        for list in ["parts", "time_entries", "photos"] {
            doc.put_object(&root, list, ObjType::List)?;
        }
        put_json(&mut doc, &root, "outcome", &to_json(&Outcome::default())?)?;
        doc.put(&root, "signature", ScalarValue::Null)?;
        doc.put(&root, "rating", ScalarValue::Null)?;
        if let Some(complaint) = &job.complaint {
            put_json(&mut doc, &root, "complaint", &to_json(complaint)?)?;
        }
        let mut this = JobDoc { doc };
        this.commit(now, "create job");
        Ok(this)
    }

    /// Loads a document from saved bytes (a full save, optionally followed by incremental
    /// chunks or raw changes), editing as `actor`.
    pub fn load(bytes: &[u8], actor: ActorId) -> Result<Self, SchemaError> {
        let doc = AutoCommit::load(bytes)?.with_actor(actor);
        Ok(JobDoc { doc })
    }

    /// Wraps an already loaded document.
    pub fn from_automerge(doc: AutoCommit) -> Self {
        JobDoc { doc }
    }

    /// The underlying Automerge document.
    pub fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    /// Gives up the wrapper and returns the Automerge document.
    pub fn into_automerge(self) -> AutoCommit {
        self.doc
    }

    /// Reads the typed view of the document.
    pub fn read(&self) -> Result<Job, SchemaError> {
        read_job(&self.doc)
    }

    fn commit(&mut self, now: Millis, message: &str) {
        let options = automerge::transaction::CommitOptions::default()
            .with_message(message)
            .with_time(now.div_euclid(1000));
        self.doc.commit_with(options);
    }

    fn map(&mut self, key: &str) -> Result<ObjId, SchemaError> {
        match self.doc.get(automerge::ROOT, key)? {
            Some((Value::Object(ObjType::Map), id)) => Ok(id),
            _ => Ok(self.doc.put_object(automerge::ROOT, key, ObjType::Map)?),
        }
    }

    fn list(&mut self, parent: &ObjId, key: &str) -> Result<ObjId, SchemaError> {
        match self.doc.get(parent, key)? {
            Some((Value::Object(ObjType::List), id)) => Ok(id),
            _ => Ok(self.doc.put_object(parent, key, ObjType::List)?),
        }
    }

    fn append(
        &mut self,
        parent: &ObjId,
        key: &str,
        value: &impl Serialize,
    ) -> Result<(), SchemaError> {
        let list = self.list(parent, key)?;
        let len = self.doc.length(&list);
        insert_json(&mut self.doc, &list, len, &to_json(value)?)
    }

    /// Writes a correction of what dispatch recorded (see [`field_changes`]): each change puts
    /// one scalar at its field (`site.address`, `kind`), into the map already there, so a
    /// concurrent correction of another field, on another replica, survives the merge. Only
    /// the details ([`JobDetails`]) and the `sla` deadlines are written, and only by an editor
    /// [`FIELD_RULES`] allows.
    ///
    /// [`FIELD_RULES`]: crate::access::FIELD_RULES
    pub fn correct(
        &mut self,
        changes: &[FieldChange],
        editor: &Editor,
        now: Millis,
    ) -> Result<(), SchemaError> {
        // Every change is checked before any is written.
        let mut writes = Vec::with_capacity(changes.len());
        for change in changes {
            let not_a_field = || SchemaError::InvalidValue {
                field: "correction",
                value: format!("`{}` is not a field a correction writes", change.field),
            };
            let (top, key) = match change.field.split_once('.') {
                Some((top, key)) if !key.contains('.') => (top, Some(key)),
                Some(_) => return Err(not_a_field()),
                None => (change.field.as_str(), None),
            };
            if !CORRECTABLE.contains(&top) || change.after.is_object() || change.after.is_array() {
                return Err(not_a_field());
            }
            access::check_edit(editor.role, access::rule_for(top).field)?;
            // A key goes into the map already there; a top-level value never replaces an object.
            let target = match (key, self.doc.get(automerge::ROOT, top)?) {
                (Some(_), Some((Value::Object(ObjType::Map), map))) => Some(map),
                (None, Some((Value::Object(_), _))) | (Some(_), _) => return Err(not_a_field()),
                (None, _) => None,
            };
            writes.push((top, key.zip(target), json_scalar(&change.after)));
        }
        for (top, key, value) in writes {
            match key {
                None => self.doc.put(automerge::ROOT, top, value)?,
                Some((key, map)) => self.doc.put(&map, key, value)?,
            }
        }
        self.commit(now, "correct");
        Ok(())
    }

    /// Records a lifecycle move. Whether the move is allowed for the editor's role is checked by
    /// [`rules::check_transition`] before anything is written.
    pub fn transition(
        &mut self,
        to: Status,
        editor: &Editor,
        now: Millis,
        position: Option<(f64, f64)>,
    ) -> Result<(), SchemaError> {
        let current = self.read()?.status();
        rules::check_transition(current, to, editor.role)?;
        let transition = Transition::new(to, editor, now, position);
        self.append(&automerge::ROOT, "transitions", &transition)?;
        self.commit(now, &format!("status {}", to.as_str()));
        Ok(())
    }

    /// Assigns (or reassigns, or with `None` unassigns) the job. Dispatch only.
    pub fn assign(
        &mut self,
        assignee: Option<&str>,
        editor: &Editor,
        now: Millis,
    ) -> Result<(), SchemaError> {
        access::check_edit(editor.role, "assignee")?;
        match assignee {
            Some(user) => put_str(&mut self.doc, &automerge::ROOT, "assignee", user)?,
            None => self
                .doc
                .put(automerge::ROOT, "assignee", ScalarValue::Null)?,
        }
        let status = self.read()?.status();
        let to = if assignee.is_some() {
            Status::Assigned
        } else {
            Status::Scheduled
        };
        if status != to && !status.is_terminal() {
            let transition = Transition::new(to, editor, now, None);
            self.append(&automerge::ROOT, "transitions", &transition)?;
        }
        self.commit(now, "assign");
        Ok(())
    }

    /// Sets the escalation ring (1: the engineer, 2: the engineering supervisor, 3: the head of
    /// engineering). Dispatch and the server's escalation ladder only.
    pub fn escalate(&mut self, ring: u8, editor: &Editor, now: Millis) -> Result<(), SchemaError> {
        access::check_edit(editor.role, "escalation.ring")?;
        if !(1..=3).contains(&ring) {
            return Err(SchemaError::InvalidValue {
                field: "escalation.ring",
                value: ring.to_string(),
            });
        }
        let escalation = self.map("escalation")?;
        self.doc.put(&escalation, "ring", i64::from(ring))?;
        self.commit(now, &format!("escalate to ring {ring}"));
        Ok(())
    }

    /// Sets the appointment window. Dispatch only.
    pub fn set_appointment(
        &mut self,
        window: Appointment,
        editor: &Editor,
        now: Millis,
    ) -> Result<(), SchemaError> {
        access::check_edit(editor.role, "appointment")?;
        if window.end < window.start {
            return Err(SchemaError::InvalidValue {
                field: "appointment",
                value: "end before start".into(),
            });
        }
        let appointment = self.map("appointment")?;
        self.doc.put(&appointment, "start", window.start)?;
        self.doc.put(&appointment, "end", window.end)?;
        let job = self.read()?;
        if job.status() == Status::New {
            let transition = Transition::new(Status::Scheduled, editor, now, None);
            self.append(&automerge::ROOT, "transitions", &transition)?;
        }
        self.commit(now, "appointment");
        Ok(())
    }

    /// Updates one checklist item. Only the fields given are written, so edits of different
    /// fields on different devices both survive the merge.
    pub fn update_checklist_item(
        &mut self,
        item_id: &str,
        update: &ChecklistUpdate,
        now: Millis,
    ) -> Result<(), SchemaError> {
        let checklist = self.map("checklist")?;
        let item = match self.doc.get(&checklist, item_id)? {
            Some((Value::Object(ObjType::Map), id)) => id,
            _ => {
                let label = update
                    .label
                    .clone()
                    .ok_or(SchemaError::UnknownChecklistItem(item_id.to_owned()))?;
                let position = self.doc.length(&checklist);
                let item = self.doc.put_object(&checklist, item_id, ObjType::Map)?;
                self.doc.put(&item, "label", label)?;
                self.doc.put(
                    &item,
                    "position",
                    i64::try_from(position).unwrap_or(i64::MAX),
                )?;
                item
            }
        };
        if let Some(done) = update.done {
            self.doc.put(&item, "done", done)?;
        }
        if let Some(value) = &update.value {
            self.doc.put(&item, "value", value.as_str())?;
        }
        if let Some(note) = &update.note {
            self.doc.put(&item, "note", note.as_str())?;
        }
        self.commit(now, "checklist");
        Ok(())
    }

    /// Splices the notes text: deletes `delete` characters at `index` and inserts `insert`
    /// there. Concurrent splices on different devices interleave as collaborative text.
    pub fn splice_notes(
        &mut self,
        index: usize,
        delete: usize,
        insert: &str,
        now: Millis,
    ) -> Result<(), SchemaError> {
        let notes = match self.doc.get(automerge::ROOT, "notes")? {
            Some((Value::Object(ObjType::Text), id)) => id,
            _ => self
                .doc
                .put_object(automerge::ROOT, "notes", ObjType::Text)?,
        };
        let length = self.doc.length(&notes);
        if index.checked_add(delete).is_none_or(|end| end > length) {
            return Err(SchemaError::InvalidValue {
                field: "notes",
                value: format!("splice {index}+{delete} outside text of length {length}"),
            });
        }
        let delete = isize::try_from(delete).unwrap_or(isize::MAX);
        self.doc.splice_text(&notes, index, delete, insert)?;
        self.commit(now, "notes");
        Ok(())
    }

    /// Records a part used.
    pub fn add_part(&mut self, part: &PartUsed, now: Millis) -> Result<(), SchemaError> {
        if part.part_number.trim().is_empty() || part.quantity == 0 {
            return Err(SchemaError::InvalidValue {
                field: "parts",
                value: "a part needs a part number and a quantity of at least 1".into(),
            });
        }
        self.append(&automerge::ROOT, "parts", part)?;
        self.commit(now, "part");
        Ok(())
    }

    /// Records time spent.
    pub fn add_time_entry(&mut self, entry: &TimeEntry, now: Millis) -> Result<(), SchemaError> {
        if entry.end < entry.start {
            return Err(SchemaError::InvalidValue {
                field: "time_entries",
                value: "end before start".into(),
            });
        }
        self.append(&automerge::ROOT, "time_entries", entry)?;
        self.commit(now, "time");
        Ok(())
    }

    /// Records the outcome of the work.
    pub fn set_outcome(&mut self, outcome: &Outcome, now: Millis) -> Result<(), SchemaError> {
        update_json(
            &mut self.doc,
            &automerge::ROOT,
            "outcome",
            &to_json(outcome)?,
        )?;
        self.commit(now, "outcome");
        Ok(())
    }

    /// Records the customer's rating.
    pub fn set_rating(&mut self, rating: &Rating, now: Millis) -> Result<(), SchemaError> {
        if !(1..=5).contains(&rating.score) {
            return Err(SchemaError::InvalidValue {
                field: "rating",
                value: rating.score.to_string(),
            });
        }
        update_json(&mut self.doc, &automerge::ROOT, "rating", &to_json(rating)?)?;
        self.commit(now, "rating");
        Ok(())
    }

    /// Records a return-visit call by customer service. Dispatch (the office) only; a score is
    /// 1 to 5 and only for a customer reached, a call-again needs its time.
    pub fn record_return_visit(
        &mut self,
        call: &ReturnVisit,
        editor: &Editor,
        now: Millis,
    ) -> Result<(), SchemaError> {
        access::check_edit(editor.role, "return_visits")?;
        let invalid = |value: &str| SchemaError::InvalidValue {
            field: "return_visits",
            value: value.to_owned(),
        };
        match (call.outcome, call.score, call.call_again_at) {
            (_, Some(score), _) if !(1..=5).contains(&score) => {
                return Err(invalid("a score is 1 to 5"));
            }
            (CallOutcome::NotReached | CallOutcome::CallAgain, Some(_), _) => {
                return Err(invalid("only a customer reached gives a score"));
            }
            (CallOutcome::CallAgain, _, None) => {
                return Err(invalid("a call-again needs the time to call"));
            }
            _ => {}
        }
        self.append(&automerge::ROOT, "return_visits", call)?;
        self.commit(now, "return visit");
        Ok(())
    }

    /// Records the customer's own rating, sent through their link. Dispatch (the server) only;
    /// the score is 1 to 5.
    pub fn record_survey(
        &mut self,
        survey: &Survey,
        editor: &Editor,
        now: Millis,
    ) -> Result<(), SchemaError> {
        access::check_edit(editor.role, "surveys")?;
        if !(1..=5).contains(&survey.score) {
            return Err(SchemaError::InvalidValue {
                field: "surveys",
                value: survey.score.to_string(),
            });
        }
        self.append(&automerge::ROOT, "surveys", survey)?;
        self.commit(now, "survey");
        Ok(())
    }

    /// Records the office's answer to help request `index` (in document order). Dispatch only;
    /// the entry the phone appended keeps its own keys, and the answer merges into it on the
    /// phone.
    pub fn answer_help(
        &mut self,
        index: usize,
        answer: &str,
        editor: &Editor,
        now: Millis,
    ) -> Result<(), SchemaError> {
        access::check_edit(editor.role, "escalation.help_requests")?;
        let escalation = self.map("escalation")?;
        let requests = self.list(&escalation, "help_requests")?;
        let entry = match self.doc.get(&requests, index)? {
            Some((Value::Object(ObjType::Map), entry)) => entry,
            _ => {
                return Err(SchemaError::InvalidValue {
                    field: "escalation.help_requests",
                    value: format!("there is no help request {index}"),
                });
            }
        };
        self.doc.put(&entry, "answer", answer)?;
        self.doc.put(&entry, "answered_by", editor.user.as_str())?;
        self.doc.put(&entry, "answered_at", now)?;
        self.commit(now, "help answered");
        Ok(())
    }

    /// Records how the office handles the complaint this job is: only the fields given are
    /// written, into the job's `complaint` map (made for a complaint taken on a call); the first
    /// answer is timed `now`. Dispatch only.
    pub fn handle_complaint(
        &mut self,
        handling: &ComplaintHandling,
        editor: &Editor,
        now: Millis,
    ) -> Result<(), SchemaError> {
        access::check_edit(editor.role, "complaint")?;
        let complaint = self.map("complaint")?;
        let mut values: Vec<(&str, serde_json::Value)> = Vec::new();
        if let Some(kind) = handling.kind {
            values.push(("kind", to_json(&kind)?));
        }
        if let Some(severity) = handling.severity {
            values.push(("severity", to_json(&severity)?));
        }
        if let Some(owner) = &handling.owner {
            values.push(("owner", owner.as_str().into()));
        }
        if let Some(answer) = &handling.answer {
            values.push(("answer", answer.as_str().into()));
            // The first answer is the feedback the clock waited for; later ones add to it.
            if self.doc.get(&complaint, "answered_at")?.is_none() {
                values.push(("answered_at", now.into()));
            }
        }
        if let Some(outcome) = handling.outcome {
            values.push(("outcome", to_json(&outcome)?));
        }
        if let Some(note) = &handling.outcome_note {
            values.push(("outcome_note", note.as_str().into()));
        }
        for (key, value) in values {
            self.doc.put(&complaint, key, json_scalar(&value))?;
        }
        self.commit(now, "complaint handled");
        Ok(())
    }

    /// Notes on the job complained about that complaint job `complaint.job_id` was raised.
    /// Dispatch (the server) only.
    pub fn note_complaint(
        &mut self,
        complaint: &ComplaintRef,
        editor: &Editor,
        now: Millis,
    ) -> Result<(), SchemaError> {
        access::check_edit(editor.role, "complaints")?;
        self.append(&automerge::ROOT, "complaints", complaint)?;
        self.commit(now, "complaint raised");
        Ok(())
    }

    /// Attaches a photo reference.
    pub fn add_photo(&mut self, photo: &BlobRef, now: Millis) -> Result<(), SchemaError> {
        rules::check_sha256(&photo.sha256)?;
        self.append(&automerge::ROOT, "photos", photo)?;
        self.commit(now, "photo");
        Ok(())
    }

    /// Records the customer's signature: the image and the SHA-256 of the service report it
    /// signs (the phone renders it from the job at signing: `fieldsync_client_core::report`). Signing again
    /// replaces the signature as a whole, never field by field, so an image is never paired with
    /// another signing's report.
    pub fn sign(&mut self, signature: &Signature, now: Millis) -> Result<(), SchemaError> {
        rules::check_sha256(&signature.image.sha256)?;
        rules::check_sha256(&signature.report_sha256)?;
        if signature.signed_by.trim().is_empty() {
            return Err(SchemaError::InvalidValue {
                field: "signed_by",
                value: "the signer's name is empty".into(),
            });
        }
        put_json(
            &mut self.doc,
            &automerge::ROOT,
            "signature",
            &to_json(signature)?,
        )?;
        self.commit(now, "signature");
        Ok(())
    }

    /// Asks for help from the next ring up. A change in the document, so it works offline.
    pub fn request_help(
        &mut self,
        editor: &Editor,
        reason: &str,
        now: Millis,
    ) -> Result<(), SchemaError> {
        let escalation = self.map("escalation")?;
        let request = HelpRequest {
            by: editor.user.clone(),
            at: now,
            reason: reason.to_owned(),
            ..HelpRequest::default()
        };
        self.append(&escalation, "help_requests", &request)?;
        self.commit(now, "help request");
        Ok(())
    }
}

/// A partial update of a checklist item: `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ChecklistUpdate {
    /// The label, required only when the item does not exist yet (an item added on site).
    pub label: Option<String>,
    /// Ticked?
    pub done: Option<bool>,
    /// Entered value.
    pub value: Option<String>,
    /// Remark.
    pub note: Option<String>,
}

/// The top-level keys a correction writes: the details of [`JobDetails`] and the `sla`
/// deadlines a new tier or kind gives.
const CORRECTABLE: [&str; 7] = [
    "kind", "priority", "customer", "site", "product", "problem", "sla",
];

/// What dispatch records about a job at intake and may correct afterwards
/// ([`JobDoc::correct`]): a part of [`Job`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct JobDetails {
    /// What kind of work.
    pub kind: JobKind,
    /// Dispatch's priority.
    pub priority: Priority,
    /// The customer.
    pub customer: Customer,
    /// The site.
    pub site: Site,
    /// The installed product.
    pub product: Product,
    /// The reported problem.
    pub problem: Problem,
}

/// One field whose value a correction changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldChange {
    /// The field, its keys joined by dots: `site.address`, `kind`, `sla.resolve_by`.
    pub field: String,
    /// Its value before (as JSON).
    pub before: serde_json::Value,
    /// Its value after.
    pub after: serde_json::Value,
}

/// The fields whose values differ between `before` and `after` (two values of one record
/// type, serialized to JSON), named under `prefix` (empty for none), in the order of their
/// keys. A key one side leaves out (a site's unset province) counts as empty: the empty
/// string beside a string, an empty object beside an object, else null.
pub fn field_changes(
    prefix: &str,
    before: &impl Serialize,
    after: &impl Serialize,
) -> Result<Vec<FieldChange>, SchemaError> {
    let mut changes = Vec::new();
    diff_json(prefix, &to_json(before)?, &to_json(after)?, &mut changes);
    Ok(changes)
}

fn diff_json(
    path: &str,
    before: &serde_json::Value,
    after: &serde_json::Value,
    changes: &mut Vec<FieldChange>,
) {
    use serde_json::Value as Json;
    let absent = |other: &Json| match other {
        Json::String(_) => Json::String(String::new()),
        Json::Object(_) => Json::Object(serde_json::Map::new()),
        _ => Json::Null,
    };
    match (before, after) {
        (Json::Object(old), Json::Object(new)) => {
            let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
            for key in keys {
                let field = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match (old.get(key), new.get(key)) {
                    (Some(b), Some(a)) => diff_json(&field, b, a, changes),
                    (Some(b), None) => diff_json(&field, b, &absent(b), changes),
                    (None, Some(a)) => diff_json(&field, &absent(a), a, changes),
                    (None, None) => {}
                }
            }
        }
        (b, a) if b != a => changes.push(FieldChange {
            field: path.to_owned(),
            before: b.clone(),
            after: a.clone(),
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{AutoSerde, ROOT};

    use super::*;

    /// A structured address reads largest part first in Chinese (a municipality once), street
    /// first in Latin script, and a one-line address as it was typed.
    #[test]
    fn a_site_address_is_written_the_way_its_country_writes_it() {
        let site = |province: &str, city: &str, district: &str, address: &str| Site {
            address: address.into(),
            province: province.into(),
            city: city.into(),
            district: district.into(),
            ..Site::default()
        };
        let shanghai = site("上海市", "上海市", "浦东新区", "世纪大道100号");
        assert_eq!(shanghai.full_address(), "上海市浦东新区世纪大道100号");
        let guangzhou = site("广东省", "广州市", "天河区", "天河路1号");
        assert_eq!(guangzhou.full_address(), "广东省广州市天河区天河路1号");
        let typed = site("广东省", "广州市", "天河区", "广东省广州市天河区天河路1号");
        assert_eq!(typed.full_address(), "广东省广州市天河区天河路1号");
        let city_typed = site("广东省", "广州市", "天河区", "广州市天河区天河路1号");
        assert_eq!(city_typed.full_address(), "广东省广州市天河区天河路1号");
        let short = site("上海", "上海市", "浦东新区", "世纪大道100号");
        assert_eq!(short.full_address(), "上海浦东新区世纪大道100号");
        let bavaria = site("Bayern", "München", "", "Hauptstraße 1");
        assert_eq!(bavaria.full_address(), "Hauptstraße 1, München, Bayern");
        assert_eq!(site("", "Leith", "", "").full_address(), "Leith");
        let leith = site("Scotland", "Edinburgh", "Leith", "12 Harbour Road");
        assert_eq!(
            leith.full_address(),
            "12 Harbour Road, Leith, Edinburgh, Scotland"
        );
        assert_eq!(
            site("", "", "", "1 Main Street").full_address(),
            "1 Main Street"
        );
        // Unset parts are not written, so documents without them keep their layout.
        let json = serde_json::to_value(site("", "", "", "1 Main Street")).expect("json");
        assert_eq!(
            json,
            serde_json::json!({ "address": "1 Main Street", "region": "" })
        );
    }

    /// A correction lists and writes only the fields that differ (a province cleared counts),
    /// and a concurrent correction of another field on another replica survives the merge.
    #[test]
    fn a_correction_writes_only_what_changed_and_merges_with_another() {
        let office = Editor {
            user: "dispatch".into(),
            device: "server".into(),
            role: Role::Dispatch,
        };
        let new = NewJob {
            id: "job-1".into(),
            customer: Customer {
                name: "Grace Hopper".into(),
                ..Customer::default()
            },
            site: Site {
                address: "12 Harbor Rd".into(),
                province: "Scotland".into(),
                ..Site::default()
            },
            ..NewJob::default()
        };
        let mut doc = JobDoc::create(ActorId::random(), &new, &office, 1_000).expect("create");
        let before = doc.read().expect("read").details();
        let mut after = before.clone();
        after.site.address = "12 Harbour Road".into();
        after.site.province.clear();
        after.customer.tier = Tier::Vip;
        after.product.warranty_end = Some(5_000);
        let changes = field_changes("", &before, &after).expect("changes");
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "customer.tier",
                "product.warranty_end",
                "site.address",
                "site.province"
            ]
        );
        assert_eq!(changes[0].before, serde_json::json!("standard"));
        assert_eq!(changes[3].after, serde_json::json!(""));

        let mut other = JobDoc::from_automerge(doc.automerge().fork());
        let mut priority = before.clone();
        priority.priority = Priority::Urgent;
        let urgent = field_changes("", &before, &priority).expect("changes");
        other.correct(&urgent, &office, 2_000).expect("correct");
        doc.correct(&changes, &office, 2_000).expect("correct");
        doc.automerge().merge(other.automerge()).expect("merge");
        let merged = doc.read().expect("read").details();
        assert_eq!(merged.priority, Priority::Urgent);
        assert_eq!(merged.site.address, "12 Harbour Road");
        assert_eq!(merged.site.province, "");
        assert_eq!(merged.customer.tier, Tier::Vip);
        assert_eq!(merged.product.warranty_end, Some(5_000));
        assert_eq!(merged.customer.name, "Grace Hopper");

        let installer = Editor {
            role: Role::Installer,
            ..office.clone()
        };
        assert!(matches!(
            doc.correct(&changes, &installer, 3_000),
            Err(SchemaError::NotYourField { field: "customer" })
        ));
        // Only scalars into the details' maps: no other field, no object replaced, no new map.
        let odd = |field: &str, after: serde_json::Value| FieldChange {
            field: field.into(),
            before: serde_json::Value::Null,
            after,
        };
        for field in [
            "notes.x.y",
            "nonsense",
            "site",
            "transitions",
            "kind.x",
            "customer",
        ] {
            assert!(
                doc.correct(&[odd(field, serde_json::json!("x"))], &office, 3_000)
                    .is_err(),
                "{field}"
            );
        }
        let object = odd("site.address", serde_json::json!({}));
        assert!(doc.correct(&[object], &office, 3_000).is_err());
    }

    /// The one-pass reader writes exactly what `AutoSerde` writes, for every kind of value,
    /// nested objects, text and a conflict.
    #[test]
    fn document_json_is_what_autoserde_writes() {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "id", "job-1").expect("put");
        doc.put(ROOT, "count", ScalarValue::counter(3))
            .expect("put");
        doc.put(ROOT, "when", ScalarValue::Timestamp(1_700_000_000_000))
            .expect("put");
        doc.put(ROOT, "big", u64::MAX).expect("put");
        doc.put(ROOT, "ratio", 0.5).expect("put");
        doc.put(ROOT, "yes", true).expect("put");
        doc.put(ROOT, "nothing", ScalarValue::Null).expect("put");
        doc.put(ROOT, "raw", vec![1_u8, 2, 3]).expect("put");
        let text = doc.put_object(ROOT, "notes", ObjType::Text).expect("text");
        doc.splice_text(&text, 0, 0, "漏水 fixed").expect("splice");
        let list = doc.put_object(ROOT, "items", ObjType::List).expect("list");
        for n in 0..3_i64 {
            let item = doc.insert_object(&list, 0, ObjType::Map).expect("item");
            doc.put(&item, "n", n).expect("put");
            let tags = doc.put_object(&item, "tags", ObjType::List).expect("tags");
            doc.insert(&tags, 0, "a").expect("insert");
        }
        let mut other = doc.fork();
        doc.put(ROOT, "status", "assigned").expect("put");
        other.put(ROOT, "status", "on_site").expect("put");
        doc.merge(&mut other).expect("merge");

        let ours = crate::reader::Node::root(&doc).into_json().expect("json");
        let reference = serde_json::to_value(AutoSerde::from(&doc)).expect("reference");
        assert_eq!(ours, reference);
    }
}
