//! The service side: the job facts projection the SLA clocks, the escalation ladder and the
//! planning views read, the KPIs computed over it (definitions in `crate::domain::kpi`), the
//! stored reminders, and the organisation's managed lists of regions and problem categories the
//! facts are grouped by.

use std::collections::BTreeMap;

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::{JobKind, SlaDeadlines, Tier};
use fieldsync_protocol::rules::Status;
use serde::{Deserialize, Serialize};

use super::StorageError;

/// One job's facts, as the projection table stores them. Fields missing from a stored row (a
/// row written by an older server) take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct JobFacts {
    /// The job.
    pub job_id: String,
    /// Its kind.
    pub kind: JobKind,
    /// The customer's tier.
    pub tier: Tier,
    /// The site's region.
    pub region: String,
    /// The problem category.
    pub category: String,
    /// The installer it is assigned to.
    pub assignee: Option<String>,
    /// Its effective status.
    pub status: Status,
    /// Its escalation ring.
    pub ring: u8,
    /// When the call came in.
    pub call_received_at: Millis,
    /// When the job was created (stops the respond clock).
    pub created_at: Millis,
    /// When it was first assigned (stops the dispatch clock).
    pub dispatched_at: Option<Millis>,
    /// When it was completed (stops the resolve clock): the device's time when plausible. The
    /// last completion counts, and only while the job stays completed or closed: a reopened job
    /// is unresolved again.
    pub resolved_at: Option<Millis>,
    /// The device's clock at that completion, as it claimed it.
    pub resolved_device_at: Option<Millis>,
    /// When the server first saw that completion.
    pub resolved_server_at: Option<Millis>,
    /// When it was first closed: the feedback is in (stops the feedback clock).
    pub feedback_at: Option<Millis>,
    /// The appointment window's start.
    pub appointment_start: Option<Millis>,
    /// The SLA deadlines.
    pub deadlines: SlaDeadlines,
    /// Visits ended on site (completed or incomplete).
    pub visits: u32,
    /// Once resolved: whether on the first visit (it was the only visit, and the installer did
    /// not record it as unsuccessful).
    pub first_visit_fixed: Option<bool>,
    /// The customer's rating, as given on the installer's phone.
    pub rating: Option<u8>,
    /// When customer service's return-visit call is due: the completion plus the policy's
    /// `return_visit_ms` (none before completion, or for a job without that target).
    pub return_visit_by: Option<Millis>,
    /// When a return-visit call first reached the customer after that completion (stops the
    /// return-visit clock).
    pub return_visit_at: Option<Millis>,
    /// The satisfaction the customer gave away from the installer, 1 to 5: on the latest
    /// return-visit call that carried a score, or in their own survey, whichever came later.
    pub customer_rating: Option<u8>,
    /// When the customer asked to be called again, if the latest return-visit call says so.
    pub call_again_at: Option<Millis>,
    /// Help requests from the field.
    pub help_requests: u32,
    /// When the server first saw each lifecycle move, by [`transition_key`].
    pub receipts: BTreeMap<String, Millis>,
}

/// How jobs are grouped in time: in the organisation's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Calendar days, `2026-11-22`.
    Day,
    /// ISO weeks, `2026-W47`.
    Week,
    /// Calendar months, `2026-11`.
    #[default]
    Month,
}

impl Period {
    /// The API and SQL name.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// The label of the period holding `at` in `zone`: `2026-11-22`, `2026-W47` or `2026-11`.
    pub fn label(self, at: Millis, zone: &jiff::tz::TimeZone) -> String {
        let at = jiff::Timestamp::from_millisecond(at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let date = at.to_zoned(zone.clone()).date();
        match self {
            Period::Day => date.to_string(),
            Period::Week => {
                let week = date.iso_week_date();
                format!("{:04}-W{:02}", week.year(), week.week())
            }
            Period::Month => format!("{:04}-{:02}", date.year(), date.month()),
        }
    }
}

/// The durations the KPIs measure, by the name [`Metrics`] gives them, each as SQL over a
/// `job_facts` row (the same expression in every backend).
pub(crate) const DURATIONS: [(&str, &str); 4] = [
    ("first_response", "created_at - call_received_at"),
    ("time_to_dispatch", "dispatched_at - call_received_at"),
    ("time_to_resolve", "resolved_at - call_received_at"),
    ("appointment_wait", "appointment_start - call_received_at"),
];

/// `ladder_at` of a job with no rule ahead: looked at again only once its facts change.
pub(crate) const NOTHING_AHEAD: Millis = i64::MAX;

/// Which jobs a report covers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
pub struct KpiFilter {
    /// Calls received at or after this time.
    pub from: Millis,
    /// Calls received before this time.
    pub to: Millis,
    /// Only this region.
    pub region: Option<String>,
    /// Only this problem category.
    pub category: Option<String>,
    /// Only this kind.
    pub kind: Option<JobKind>,
    /// Only jobs assigned to this engineer.
    pub engineer: Option<String>,
    /// The IANA time zone periods are counted in (UTC when empty).
    pub time_zone: String,
}

/// A share: `hits` of `of`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default, utoipa::ToSchema)]
pub struct Ratio {
    /// The numerator.
    pub hits: u64,
    /// The denominator.
    pub of: u64,
    /// `hits / of`, or `None` when nothing was counted.
    pub rate: Option<f64>,
}

impl Ratio {
    /// `hits` of `of`.
    pub fn new(hits: u64, of: u64) -> Self {
        Ratio {
            hits,
            of,
            rate: (of > 0).then(|| hits as f64 / of as f64),
        }
    }
}

/// A duration's distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default, utoipa::ToSchema)]
pub struct Durations {
    /// How many values.
    pub n: u64,
    /// The median (nearest rank).
    pub median_ms: Option<Millis>,
    /// The 90th percentile (nearest rank).
    pub p90_ms: Option<Millis>,
}

/// SLA compliance per clock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default, utoipa::ToSchema)]
pub struct SlaCompliance {
    /// Call → created.
    pub respond: Ratio,
    /// → dispatched.
    pub dispatch: Ratio,
    /// → resolved.
    pub resolve: Ratio,
    /// Complaints → feedback.
    pub feedback: Ratio,
    /// Completed → the return-visit call reached the customer.
    pub return_visit: Ratio,
}

/// Every KPI over one set of jobs.
#[derive(Debug, Clone, PartialEq, Serialize, Default, utoipa::ToSchema)]
pub struct Metrics {
    /// Jobs (demand).
    pub jobs: u64,
    /// First-time fix rate.
    pub first_time_fix: Ratio,
    /// One-time installation success rate.
    pub installation_success: Ratio,
    /// Ratings of 4 or 5 given on the installer's phone, in front of the installer.
    pub satisfaction: Ratio,
    /// The mean of those ratings.
    pub mean_rating: Option<f64>,
    /// Satisfaction of 4 or 5 the customer gave away from the installer (on a return-visit
    /// call or in their own survey): the satisfaction KPI of PRODUCT.md.
    pub customer_satisfaction: Ratio,
    /// The mean of those.
    pub customer_mean_rating: Option<f64>,
    /// Complaint jobs among all jobs.
    pub complaint_rate: Ratio,
    /// Call → created.
    pub first_response: Durations,
    /// Call → dispatched.
    pub time_to_dispatch: Durations,
    /// Call → resolved.
    pub time_to_resolve: Durations,
    /// Call → appointment start.
    pub appointment_wait: Durations,
    /// SLA compliance per clock.
    pub sla: SlaCompliance,
}

impl Metrics {
    /// The durations called `name` in [`DURATIONS`].
    pub(crate) fn durations_mut(&mut self, name: &str) -> Option<&mut Durations> {
        match name {
            "first_response" => Some(&mut self.first_response),
            "time_to_dispatch" => Some(&mut self.time_to_dispatch),
            "time_to_resolve" => Some(&mut self.time_to_resolve),
            "appointment_wait" => Some(&mut self.appointment_wait),
            _ => None,
        }
    }
}

/// The metrics of one period.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Bucket {
    /// The period's label: `2026-11-22`, `2026-W47` or `2026-11`.
    pub period: String,
    /// Its metrics.
    pub metrics: Metrics,
}

/// Jobs per value of a dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Count {
    /// The category or region.
    pub key: String,
    /// How many jobs.
    pub jobs: u64,
}

/// One engineer's line of the table.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EngineerKpis {
    /// The engineer.
    pub user: String,
    /// Their name.
    pub name: String,
    /// Jobs they resolved.
    pub jobs_done: u64,
    /// First-time fix among those.
    pub first_time_fix: Ratio,
    /// Ratings of 4 or 5 among their rated jobs.
    pub satisfaction: Ratio,
    /// Their mean rating.
    pub mean_rating: Option<f64>,
}

/// What the SQL computes for one report.
#[derive(Debug, Clone, PartialEq, Default, Serialize, utoipa::ToSchema)]
pub struct KpiData {
    /// Metrics per period, oldest first.
    pub buckets: Vec<Bucket>,
    /// Metrics over the whole range.
    pub total: Metrics,
    /// Jobs per problem category, most first.
    pub by_category: Vec<Count>,
    /// Jobs per region, most first.
    pub by_region: Vec<Count>,
    /// Per engineer, by name.
    pub engineers: Vec<EngineerKpis>,
}

/// A reminder about overdue or escalated work, stored so it survives a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reminder {
    /// Its id (assigned by storage).
    pub id: u64,
    /// The job.
    pub job_id: String,
    /// The escalation rule that fired it (each fires once per job), e.g. `resolve:ring2`.
    pub rule: String,
    /// The person reminded, when it is one person (the engineer).
    pub to_user: Option<String>,
    /// The role reminded, when it is a ring or a desk (`dispatcher`, `supervisor`,
    /// `head_of_engineering`).
    pub to_role: Option<String>,
    /// The ring the job was in when it fired.
    pub ring: u8,
    /// The clock that ran out (`dispatch`, `resolve`, `feedback`, `complaint`) or `help`.
    pub clock: String,
    /// What the reminder says.
    pub message: String,
    /// When it fired.
    pub created_at: Millis,
    /// When someone acknowledged it.
    pub acknowledged_at: Option<Millis>,
    /// Who acknowledged it (reminders acknowledged before this was recorded name nobody).
    /// Absent from messages of nodes that predate it.
    #[serde(default)]
    pub acknowledged_by: Option<String>,
}

/// A job's facts as the escalation ladder reads them, with the revision that tells whether they
/// changed since.
#[derive(Debug, Clone, PartialEq)]
pub struct LadderEntry {
    /// The job.
    pub job_id: String,
    /// Its facts, or `None` when the stored row cannot be read (storage logs why).
    pub facts: Option<JobFacts>,
    /// Counts the writes of these facts.
    pub revision: u64,
}

/// One of the organisation's managed lists, whose codes are what a job's `site.region` or
/// `problem.category` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListKind {
    /// Service regions (jobs' `site.region`, engineers' home region).
    Region,
    /// Problem categories (jobs' `problem.category`).
    Category,
}

impl ListKind {
    /// The stored and API name: `region` or `category`.
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::Region => "region",
            ListKind::Category => "category",
        }
    }
}

/// One entry of a managed list: the code jobs carry and its name in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListEntry {
    /// What jobs carry (`华东`, `north`, `leak`); never changes once used.
    pub code: String,
    /// The name Chinese readers see.
    pub name_zh: String,
    /// The name English readers see.
    pub name_en: String,
    /// A retired entry stays on the jobs that carry it but is no longer offered or accepted
    /// for new values.
    #[serde(default)]
    pub retired: bool,
}

/// Reads of this area inside one transaction.
pub trait ServiceStore {
    /// One job's service facts.
    fn job_facts(&self, job_id: &str) -> Result<Option<JobFacts>, StorageError>;
    /// The facts of every job not cancelled or closed, oldest call first.
    fn open_job_facts(&self) -> Result<Vec<JobFacts>, StorageError>;
    /// The open jobs the escalation ladder must look at by `now`: those whose facts changed
    /// since it last looked and those whose next rule falls due by then (see
    /// [`ServiceStoreMut::set_ladder_at`]), oldest call first. `Millis::MAX` selects every open
    /// job.
    fn ladder_due(&self, now: Millis) -> Result<Vec<LadderEntry>, StorageError>;
    /// The earliest time the ladder must look at an open job again: `Some(0)` when facts
    /// changed since it last looked, `None` when no open job has a rule ahead.
    fn ladder_next(&self) -> Result<Option<Millis>, StorageError>;
    /// The ids of jobs that have no facts row yet (stored before the projection existed).
    fn jobs_without_facts(&self) -> Result<Vec<String>, StorageError>;
    /// The KPIs over the jobs `filter` selects, per `period`; SLA clocks not stopped count as
    /// run once their deadline is before `now`.
    fn kpis(
        &self,
        filter: &KpiFilter,
        period: Period,
        now: Millis,
    ) -> Result<KpiData, StorageError>;
    /// The regions and problem categories jobs have (for the KPI filters), sorted.
    fn kpi_dimensions(&self) -> Result<(Vec<String>, Vec<String>), StorageError>;
    /// Reminders, newest first: only those not acknowledged when `open_only`.
    fn reminders(&self, open_only: bool) -> Result<Vec<Reminder>, StorageError>;
    /// One reminder, open or acknowledged.
    fn reminder(&self, id: u64) -> Result<Option<Reminder>, StorageError>;
    /// One job's reminders, oldest first.
    fn job_reminders(&self, job_id: &str) -> Result<Vec<Reminder>, StorageError>;
    /// The open reminders addressed to `user` by name (an engineer's), oldest first.
    fn open_reminders_to(&self, user: &str) -> Result<Vec<Reminder>, StorageError>;
    /// The entries of a managed list, by code.
    fn list_entries(&self, list: ListKind) -> Result<Vec<ListEntry>, StorageError>;
    /// Whether any job (or, for regions, any user) carries `code` from `list`.
    fn list_code_in_use(&self, list: ListKind, code: &str) -> Result<bool, StorageError>;
}

/// Writes of this area inside one transaction.
pub trait ServiceStoreMut: ServiceStore {
    /// Creates or replaces a job's service facts; the ladder looks at them again at its next
    /// tick and the facts' revision moves on.
    fn put_job_facts(&mut self, facts: &JobFacts) -> Result<(), StorageError>;
    /// Records that the ladder looked at revision `revision` of a job's facts and need not
    /// look again before `at` (`None`: not until they change). A later revision keeps its
    /// "look now": returns false and changes nothing.
    fn set_ladder_at(
        &mut self,
        job_id: &str,
        revision: u64,
        at: Option<Millis>,
    ) -> Result<bool, StorageError>;
    /// Stores a reminder unless its job's `rule` already fired; returns it with its id when
    /// it is new.
    fn add_reminder(&mut self, reminder: &Reminder) -> Result<Option<Reminder>, StorageError>;
    /// Acknowledges a reminder as `user` (the first acknowledgement stands); false when there
    /// is no such reminder.
    fn acknowledge_reminder(
        &mut self,
        id: u64,
        user: &str,
        now: Millis,
    ) -> Result<bool, StorageError>;
    /// Creates or replaces the entry of `list` with `entry.code`.
    fn put_list_entry(&mut self, list: ListKind, entry: &ListEntry) -> Result<(), StorageError>;
    /// Removes the entry of `list` with `code`; false when there is none.
    fn delete_list_entry(&mut self, list: ListKind, code: &str) -> Result<bool, StorageError>;
}
