//! What the dispatch desk plans with: the work queues, the day board, and ranked engineer
//! suggestions with their reasons.

use std::collections::{BTreeMap, HashMap};

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::{Appointment, JobSummary, Tier};
use fieldsync_protocol::rules::Status;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::{Offset, TimeZone};
use serde::Serialize;

use crate::domain::error::{DomainError, ErrorCode, Thing};
use crate::domain::facts::JobFacts;
use crate::domain::schedule::{self, Unavailable};
use crate::domain::sla::{ClockState, ClockView, SlaClock};
use crate::domain::travel::{self, Position};
use crate::storage::{AuditKind, ListKind, ReadTx, Shift, User, WorkSchedule};

/// One day in milliseconds. Days here are 24 hours from local midnight: on a day when the
/// clocks change, the board is an hour short or long at its end.
pub const DAY: Millis = 24 * 3_600_000;

/// A job in a queue, with the deadline that matters there and why it is there.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueueItem {
    /// The job.
    pub job: JobSummary,
    /// The clock whose deadline orders it.
    pub clock: Option<SlaClock>,
    /// That deadline.
    pub due: Option<Millis>,
    /// Why the job is in this queue, in English.
    pub note: String,
    /// Why the job is in this queue, for clients that word it themselves (with `clock`,
    /// the job's `ring` and `status`, and `flags`).
    pub reason: QueueReason,
    /// In the flagged queue: what the field flagged.
    pub flags: Vec<FieldFlag>,
    /// In the return-visit queue: when the customer asked to be called again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_again_at: Option<Millis>,
}

/// Why a job is in a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueueReason {
    /// No installer yet.
    NoInstaller,
    /// No appointment yet.
    NoAppointment,
    /// The deadline of `clock` passed.
    Overdue,
    /// In ring 2 or 3.
    Escalated,
    /// In ring 2 or 3 because the engineer asked for help.
    HelpRequested,
    /// The visit was incomplete, or the field flagged something (`flags`).
    Flagged,
    /// Completed: customer service owes the customer the return-visit call.
    ReturnVisitDue,
}

/// Something the field flagged on a job that dispatch has not acted on since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldFlag {
    /// `violation` (a change broke a field rule and was undone) or `flag` (work arrived from
    /// the previous assignee).
    pub kind: AuditKind,
    /// The fields concerned.
    pub fields: Vec<String>,
    /// Who (for `flag`, the previous assignee).
    pub user: Option<String>,
    /// What, in English.
    pub detail: String,
}

impl FieldFlag {
    /// The flag in English.
    fn text(&self) -> String {
        match self.kind {
            AuditKind::Violation => format!("rule violation: {}", self.detail),
            _ => self.detail.clone(),
        }
    }
}

/// The dispatch desk's queues.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Queues {
    /// Open jobs without an installer.
    pub unassigned: Vec<QueueItem>,
    /// Open jobs without an appointment.
    pub unscheduled: Vec<QueueItem>,
    /// Jobs with a clock past its deadline.
    pub overdue: Vec<QueueItem>,
    /// Jobs in ring 2 or 3.
    pub escalated: Vec<QueueItem>,
    /// Jobs the field flagged: an incomplete visit asking for a follow-up, work from a previous
    /// assignee, rule violations, since dispatch last acted on the job.
    pub flagged: Vec<QueueItem>,
    /// Completed jobs whose return-visit call has not reached the customer yet, for customer
    /// service.
    pub return_visits: Vec<QueueItem>,
}

/// The clocks of a job, from its facts, as seen at `now`. A cancelled job keeps only the
/// clocks it stopped.
pub fn clocks(f: &JobFacts, now: Millis) -> Vec<ClockView> {
    let d = &f.deadlines;
    let cancelled = f.status == Status::Cancelled;
    [
        (SlaClock::Respond, d.respond_by, Some(f.created_at)),
        (SlaClock::Dispatch, d.dispatch_by, f.dispatched_at),
        (SlaClock::Resolve, d.resolve_by, f.resolved_at),
        (SlaClock::Feedback, d.feedback_by, f.feedback_at),
        (SlaClock::ReturnVisit, f.return_visit_by, f.return_visit_at),
    ]
    .into_iter()
    .filter(|(_, _, done)| !cancelled || done.is_some())
    .filter_map(|(clock, due, done)| due.map(|due| ClockView::new(clock, due, done, now)))
    .collect()
}

/// Whether the job still needs planning: not finished, not called off.
fn needs_planning(status: Status) -> bool {
    !matches!(
        status,
        Status::Completed | Status::Cancelled | Status::Closed
    )
}

/// Builds the queues at `now`: VIP customers first in every queue, then the more urgent, then the
/// nearest deadline.
pub fn queues(tx: &dyn ReadTx, now: Millis) -> Result<Queues, DomainError> {
    let facts: HashMap<String, JobFacts> = tx
        .open_job_facts()?
        .into_iter()
        .map(|f| (f.job_id.clone(), f))
        .collect();
    let flags = field_flags(tx, &facts)?;
    let mut q = Queues::default();
    for job in tx.list_jobs()? {
        let Some(f) = facts.get(&job.id) else {
            continue;
        };
        let views = clocks(f, now);
        // A queue is ordered by a deadline still ahead or already missed, never by one met.
        let clock_of = |c: SlaClock| {
            views.iter().find(|v| {
                v.clock == c && matches!(v.state, ClockState::Running | ClockState::Overdue)
            })
        };
        let item = |clock: Option<&ClockView>, reason: QueueReason, note: String| QueueItem {
            job: job.clone(),
            clock: clock.map(|c| c.clock),
            due: clock.map(|c| c.due),
            note,
            reason,
            flags: Vec::new(),
            call_again_at: None,
        };
        if needs_planning(job.status) && job.assignee.is_none() {
            q.unassigned.push(item(
                clock_of(SlaClock::Dispatch),
                QueueReason::NoInstaller,
                "no installer yet".into(),
            ));
        }
        if needs_planning(job.status) && job.appointment_start.is_none() {
            q.unscheduled.push(item(
                clock_of(SlaClock::Resolve),
                QueueReason::NoAppointment,
                "no appointment yet".into(),
            ));
        }
        if let Some(late) = views
            .iter()
            .filter(|v| v.state == ClockState::Overdue)
            .min_by_key(|v| v.due)
        {
            q.overdue.push(item(
                Some(late),
                QueueReason::Overdue,
                format!("{} deadline passed", late.clock.as_str()),
            ));
        }
        if job.ring >= 2 && f.resolved_at.is_none() {
            let (reason, why) = if f.help_requests > 0 {
                (
                    QueueReason::HelpRequested,
                    format!("ring {}: the engineer asked for help", job.ring),
                )
            } else {
                (QueueReason::Escalated, format!("ring {}", job.ring))
            };
            q.escalated
                .push(item(clock_of(SlaClock::Resolve), reason, why));
        }
        if let Some(call) = clock_of(SlaClock::ReturnVisit) {
            let mut due = item(
                Some(call),
                QueueReason::ReturnVisitDue,
                "return-visit call due".into(),
            );
            due.call_again_at = f.call_again_at;
            q.return_visits.push(due);
        }
        let field = flags.get(&job.id).cloned().unwrap_or_default();
        let incomplete = job.status == Status::Incomplete;
        if incomplete || !field.is_empty() {
            let mut texts: Vec<String> = field.iter().map(FieldFlag::text).collect();
            if incomplete {
                texts.insert(0, "visit incomplete: needs a follow-up visit".to_owned());
            }
            let mut flagged = item(
                clock_of(SlaClock::Resolve),
                QueueReason::Flagged,
                texts.join("; "),
            );
            flagged.flags = field;
            q.flagged.push(flagged);
        }
    }
    for queue in [
        &mut q.unassigned,
        &mut q.unscheduled,
        &mut q.overdue,
        &mut q.escalated,
        &mut q.flagged,
        &mut q.return_visits,
    ] {
        // VIP customers first (PRODUCT.md), then the more urgent, then the nearer deadline.
        queue.sort_by_key(|i| {
            (
                i.job.tier != Tier::Vip,
                std::cmp::Reverse(i.job.priority),
                i.due.unwrap_or(Millis::MAX),
                i.job.call_received_at,
            )
        });
    }
    Ok(q)
}

/// Flags and rule violations on open jobs that dispatch has not acted on since (no office
/// change after them), by job.
fn field_flags(
    tx: &dyn ReadTx,
    open: &HashMap<String, JobFacts>,
) -> Result<BTreeMap<String, Vec<FieldFlag>>, DomainError> {
    let mut latest: BTreeMap<String, (Millis, Vec<FieldFlag>)> = BTreeMap::new();
    for kind in [AuditKind::Flag, AuditKind::Violation] {
        for entry in tx.audit(None, Some(kind), 1000)? {
            if !open.contains_key(&entry.job_id) {
                continue;
            }
            let slot = latest.entry(entry.job_id.clone()).or_default();
            slot.0 = slot.0.max(entry.server_time);
            let flag = FieldFlag {
                kind,
                fields: entry.fields,
                user: entry.user,
                detail: entry.detail,
            };
            if !slot.1.iter().any(|f| f.text() == flag.text()) {
                slot.1.push(flag);
            }
        }
    }
    let mut flags = BTreeMap::new();
    for (job_id, (at, found)) in latest {
        let acted = tx
            .audit(Some(&job_id), Some(AuditKind::Change), 10_000)?
            .iter()
            .any(|e| {
                e.server_time > at
                    && e.device.is_none()
                    && e.user.as_deref().is_some_and(|u| !u.starts_with('@'))
            });
        if !acted {
            flags.insert(job_id, found);
        }
    }
    Ok(flags)
}

/// The UTC day `YYYY-MM-DD` starting at `start`.
pub fn day_label(start: Millis) -> String {
    let days = start.div_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The start (ms, UTC) of day `YYYY-MM-DD`.
pub fn parse_day(day: &str) -> Result<Millis, DomainError> {
    let bad = || {
        DomainError::bad_request(
            ErrorCode::InvalidQuery,
            format!("`{day}` is not a date of the form YYYY-MM-DD"),
        )
    };
    let mut parts = day.splitn(3, '-');
    let mut next = |len: usize| -> Result<i64, DomainError> {
        let part = parts
            .next()
            .filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(bad)?;
        part.parse().map_err(|_| bad())
    };
    let (y, m, d) = (next(4)?, next(2)?, next(2)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let days = days_from_civil(y, m, d);
    if civil_from_days(days) != (y, m, d) {
        return Err(bad());
    }
    Ok(days * DAY)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A local calendar day: its label and when it starts and ends, for the board and the
/// suggestions. A day in a zone with daylight saving may last 23 or 25 hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub label: String,
    /// Its local midnight (ms since the Unix epoch).
    pub start: Millis,
    /// The next day's local midnight.
    pub end: Millis,
}

impl Day {
    /// The day `label` (today at `now` when absent) in the organisation's time zone `zone`, or,
    /// when `tz_offset` is given, in a fixed zone that many minutes behind UTC (as JavaScript's
    /// `getTimezoneOffset` gives it: -60 for UTC+1).
    pub fn parse(
        label: Option<&str>,
        tz_offset: Option<i64>,
        zone: &TimeZone,
        now: Millis,
    ) -> Result<Self, DomainError> {
        let zone = match tz_offset {
            None => zone.clone(),
            Some(offset) => {
                let seconds = i32::try_from(-offset * 60)
                    .ok()
                    .filter(|_| (-14 * 60..=14 * 60).contains(&offset))
                    .and_then(|seconds| Offset::from_seconds(seconds).ok())
                    .ok_or_else(|| {
                        DomainError::bad_request(
                            ErrorCode::InvalidQuery,
                            format!("tz_offset must be between -840 and 840 minutes, not {offset}"),
                        )
                    })?;
                TimeZone::fixed(seconds)
            }
        };
        let date = match label.filter(|l| !l.is_empty()) {
            Some(label) => parse_date(label)?,
            None => local_date(now, &zone),
        };
        Ok(Day {
            label: date.to_string(),
            start: midnight(date, &zone)?,
            end: midnight(date.tomorrow().map_err(out_of_range)?, &zone)?,
        })
    }
}

/// The calendar date of `at` in `zone`.
pub fn local_date(at: Millis, zone: &TimeZone) -> Date {
    let at = Timestamp::from_millisecond(at).unwrap_or(Timestamp::UNIX_EPOCH);
    at.to_zoned(zone.clone()).date()
}

/// The date a UTC midnight (from [`parse_day`]) falls on.
fn utc_date(midnight_utc: Millis) -> Date {
    local_date(midnight_utc, &TimeZone::UTC)
}

/// When `date` starts in `zone` (ms since the Unix epoch).
pub fn midnight(date: Date, zone: &TimeZone) -> Result<Millis, DomainError> {
    let start = date.to_zoned(zone.clone()).map_err(out_of_range)?;
    Ok(start.timestamp().as_millisecond())
}

/// The date `YYYY-MM-DD`, checked.
pub fn parse_date(day: &str) -> Result<Date, DomainError> {
    Ok(utc_date(parse_day(day)?))
}

fn out_of_range(error: jiff::Error) -> DomainError {
    DomainError::bad_request(
        ErrorCode::InvalidQuery,
        format!("the day is out of range: {error}"),
    )
}

/// One engineer's row of the day board.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BoardRow {
    /// The engineer.
    pub user: String,
    /// Their name.
    pub name: String,
    /// Their region.
    pub region: String,
    /// Their skills.
    pub skills: Vec<String>,
    /// Their hours that day, when the office gave them a working week and they work that day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shift: Option<Shift>,
    /// Why they do not work that day (time off, or a weekday off), when their working week
    /// says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub away: Option<Unavailable>,
    /// Their jobs with an appointment that day, by start.
    pub jobs: Vec<JobSummary>,
}

/// The day board: every engineer's appointments on one day, and what still needs planning.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Board {
    /// The day, `YYYY-MM-DD` (local to the time zone asked for; UTC by default).
    pub day: String,
    /// Its start.
    pub start: Millis,
    /// Its end.
    pub end: Millis,
    /// One row per engineer, by name.
    pub engineers: Vec<BoardRow>,
    /// Jobs still needing an installer or an appointment, VIP first, oldest call first.
    pub unplanned: Vec<JobSummary>,
}

/// Another visit `engineer` is booked for that shares any moment with `slot`: the earliest job
/// other than `job_id` that has not ended yet (new to on site) and has an appointment.
pub fn clash(
    tx: &dyn ReadTx,
    job_id: &str,
    engineer: &str,
    slot: Appointment,
) -> Result<Option<JobSummary>, DomainError> {
    Ok(tx
        .list_jobs()?
        .into_iter()
        .filter(|j| j.id != job_id && j.assignee.as_deref() == Some(engineer))
        .filter(|j| !j.status.is_terminal() && shares_time(j, slot))
        .min_by_key(|j| j.appointment_start))
}

/// Whether `job`'s appointment shares any moment with `slot` (visits that only touch do not).
fn shares_time(job: &JobSummary, slot: Appointment) -> bool {
    matches!((job.appointment_start, job.appointment_end),
        (Some(start), Some(end)) if start < slot.end && slot.start < end)
}

fn on_day(job: &JobSummary, day: &Day) -> bool {
    job.appointment_start
        .is_some_and(|s| (day.start..day.end).contains(&s))
}

fn installers(tx: &dyn ReadTx) -> Result<Vec<User>, DomainError> {
    let mut users: Vec<User> = tx
        .users()?
        .into_iter()
        .filter(|u| u.role == "installer")
        .collect();
    users.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    Ok(users)
}

/// An engineer's hours on `date` from their working `week`, or why they do not work then;
/// neither without a working week.
fn hours_of(week: Option<&WorkSchedule>, date: Date) -> (Option<Shift>, Option<Unavailable>) {
    match week.map(|week| schedule::on_day(week, date)) {
        Some(Ok(shift)) => (shift, None),
        Some(Err(why)) => (None, Some(why)),
        None => (None, None),
    }
}

/// The board of `day`.
pub fn board(tx: &dyn ReadTx, day: &Day) -> Result<Board, DomainError> {
    let jobs = tx.list_jobs()?;
    let weeks: HashMap<String, WorkSchedule> = tx.work_schedules()?.into_iter().collect();
    let date = schedule::date_of(day)?;
    let engineers = installers(tx)?
        .into_iter()
        .map(|u| {
            let (shift, away) = hours_of(weeks.get(&u.id), date);
            let mut mine: Vec<JobSummary> = jobs
                .iter()
                .filter(|j| j.assignee.as_deref() == Some(&u.id) && on_day(j, day))
                .filter(|j| j.status != Status::Cancelled)
                .cloned()
                .collect();
            mine.sort_by_key(|j| j.appointment_start);
            BoardRow {
                user: u.id,
                name: u.name,
                region: u.region,
                skills: u.skills,
                shift,
                away,
                jobs: mine,
            }
        })
        .collect();
    let mut unplanned: Vec<JobSummary> = jobs
        .into_iter()
        .filter(|j| {
            needs_planning(j.status) && (j.assignee.is_none() || j.appointment_start.is_none())
        })
        .collect();
    unplanned.sort_by_key(|j| {
        (
            j.tier != Tier::Vip,
            std::cmp::Reverse(j.priority),
            j.call_received_at,
        )
    });
    Ok(Board {
        day: day.label.clone(),
        start: day.start,
        end: day.end,
        engineers,
        unplanned,
    })
}

/// An engineer suggested for a job, with the reasons.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    /// The engineer.
    pub user: String,
    /// Their name.
    pub name: String,
    /// Their region.
    pub region: String,
    /// Their skills.
    pub skills: Vec<String>,
    /// Higher is better: 3 per matching skill, 2 for the job's region, minus 1 per job they
    /// already have that day, minus 5 when they are busy at the job's appointment, minus 10
    /// when their working week keeps them from it (`unavailable`), minus 1 per 10 km (whole)
    /// between the job and the nearest of their visits that day.
    pub score: i64,
    /// Their hours that day, when the office gave them a working week and they work that day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shift: Option<Shift>,
    /// Why their working week keeps them from the job: time off or a day off on that day, or,
    /// when the job has an appointment that day, hours that do not cover it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<Unavailable>,
    /// Jobs they already have that day.
    pub load: usize,
    /// The visit they already have at the job's appointment, if the job has one and they do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busy_with: Option<JobSummary>,
    /// Kilometres in a straight line from the job to the nearest of their visits that day,
    /// when both places are known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub km: Option<f64>,
    /// The day the load counts (`YYYY-MM-DD` in the organisation's zone).
    pub day: String,
    /// Their skills that cover the job.
    pub matched_skills: Vec<String>,
    /// Whether they work in the job's region.
    pub same_region: bool,
    /// Why, in English words (a client in another language words `matched_skills`,
    /// `same_region`, `region`, `load`, `day`, `busy_with`, `shift`, `unavailable` and `km`
    /// itself).
    pub reasons: Vec<String>,
}

/// Whether a skill covers the job: it names the kind of work, the problem category, or the
/// product model (or the model's family, as a prefix).
fn skill_matches(skill: &str, kind: &str, category: &str, model: &str) -> bool {
    let skill = skill.trim().to_lowercase();
    !skill.is_empty()
        && (skill == kind
            || skill == category.to_lowercase()
            || model.to_lowercase().starts_with(&skill))
}

/// Ranks every installer for `job_id` on `day`: best first; ties by lighter load, then
/// nearer, then name.
pub fn suggestions(
    tx: &dyn ReadTx,
    job_id: &str,
    day: &Day,
    zone: &TimeZone,
) -> Result<Vec<Suggestion>, DomainError> {
    let stored = tx
        .job(job_id)?
        .ok_or_else(|| DomainError::not_found(Thing::Job, job_id))?;
    let job = crate::domain::jobs::read_stored(tx, job_id, &stored)?;
    let jobs = tx.list_jobs()?;
    let label = &day.label;
    let here = travel::job_position(&job).map(|(position, _)| position);
    let weeks: HashMap<String, WorkSchedule> = tx.work_schedules()?.into_iter().collect();
    let date = schedule::date_of(day)?;
    // The job's own appointment, when it is on that day, is what their hours must cover.
    let slot = job
        .appointment
        .filter(|slot| (day.start..day.end).contains(&slot.start));
    // Where the engineers' visits that day are, read only when the job's own place is known.
    let mut places: HashMap<&str, Option<Position>> = HashMap::new();
    if here.is_some() {
        for other in jobs.iter().filter(|j| j.id != job.id && on_day(j, day)) {
            if other.assignee.is_some() && other.status != Status::Cancelled {
                places.insert(other.id.as_str(), travel::position_of(tx, &other.id)?);
            }
        }
    }
    let mut ranked: Vec<Suggestion> = installers(tx)?
        .into_iter()
        .map(|u| {
            let matched: Vec<&String> = u
                .skills
                .iter()
                .filter(|s| {
                    skill_matches(
                        s,
                        job.kind.as_str(),
                        &job.problem.category,
                        &job.product.model,
                    )
                })
                .collect();
            let same_region = !job.site.region.trim().is_empty()
                && u.region.trim().eq_ignore_ascii_case(job.site.region.trim());
            let theirs: Vec<&JobSummary> = jobs
                .iter()
                .filter(|j| j.id != job.id && j.assignee.as_deref() == Some(&u.id))
                .filter(|j| on_day(j, day) && j.status != Status::Cancelled)
                .collect();
            let load = theirs.len();
            let busy_with = job.appointment.and_then(|slot| {
                theirs
                    .iter()
                    .find(|j| !j.status.is_terminal() && shares_time(j, slot))
                    .map(|j| (*j).clone())
            });
            let km = here.and_then(|here| {
                theirs
                    .iter()
                    .filter_map(|j| places.get(j.id.as_str()).copied().flatten())
                    .map(|there| (here.km_to(there) * 10.0).round() / 10.0)
                    .min_by(f64::total_cmp)
            });
            let mut reasons = Vec::new();
            if matched.is_empty() {
                reasons.push("no matching skill".to_owned());
            } else {
                let names: Vec<&str> = matched.iter().map(|s| s.as_str()).collect();
                reasons.push(format!("knows {}", names.join(", ")));
            }
            if same_region {
                reasons.push(format!("works in {}", u.region));
            } else if !u.region.is_empty() {
                reasons.push(format!("based in {}", u.region));
            }
            reasons.push(match load {
                0 => format!("free on {label}"),
                1 => format!("1 job on {label}"),
                n => format!("{n} jobs on {label}"),
            });
            if let Some(other) = &busy_with {
                reasons.push(format!("busy at that time ({})", other.customer_name));
            }
            if let Some(km) = km {
                reasons.push(format!("{km} km from their nearest visit that day"));
            }
            let week = weeks.get(&u.id);
            let (shift, mut unavailable) = hours_of(week, date);
            if let (None, Some(slot), Some(week)) = (&unavailable, slot, week) {
                unavailable = schedule::unavailable(week, slot, zone);
            }
            match &unavailable {
                Some(Unavailable::TimeOff { from, to, .. }) => {
                    reasons.push(format!("away from {from} to {to}"));
                }
                Some(Unavailable::DayOff) => reasons.push(format!("does not work on {label}")),
                Some(Unavailable::OutsideHours { start, end }) => {
                    reasons.push(format!("works {start}–{end}, not at the appointment"));
                }
                None => {
                    if let Some(shift) = &shift {
                        reasons.push(format!("works {}–{}", shift.start, shift.end));
                    }
                }
            }
            let score = 3 * matched.len() as i64 + if same_region { 2 } else { 0 }
                - load as i64
                - if busy_with.is_some() { 5 } else { 0 }
                - if unavailable.is_some() { 10 } else { 0 }
                - km.map_or(0, |km| (km / 10.0) as i64);
            let matched_skills: Vec<String> = matched.into_iter().cloned().collect();
            Suggestion {
                user: u.id,
                name: u.name,
                region: u.region,
                skills: u.skills,
                score,
                load,
                busy_with,
                km,
                shift,
                unavailable,
                day: label.clone(),
                matched_skills,
                same_region,
                reasons,
            }
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then(a.load.cmp(&b.load))
            .then(
                a.km.unwrap_or(f64::MAX)
                    .total_cmp(&b.km.unwrap_or(f64::MAX)),
            )
            .then(a.name.cmp(&b.name))
    });
    Ok(ranked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        assert_eq!(parse_day("1970-01-01").expect("epoch"), 0);
        let start = parse_day("2026-11-22").expect("valid");
        assert_eq!(day_label(start), "2026-11-22");
        assert_eq!(day_label(start + DAY - 1), "2026-11-22");
        assert_eq!(
            day_label(parse_day("2024-02-29").expect("leap")),
            "2024-02-29"
        );
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "22-11-2026",
            "2026-1-01",
            "tomorrow",
            "",
        ] {
            let error = parse_day(bad).expect_err(bad);
            assert!(error.to_string().contains("YYYY-MM-DD"), "{bad}: {error}");
        }
    }

    #[test]
    fn local_days_start_at_local_midnight() {
        let utc = parse_day("2026-11-22").expect("day");
        let plus_one = Day::parse(Some("2026-11-22"), Some(-60), &TimeZone::UTC, 0).expect("UTC+1");
        assert_eq!(plus_one.label, "2026-11-22");
        assert_eq!(plus_one.start, utc - 3_600_000);
        assert_eq!(plus_one.end, plus_one.start + DAY);
        // Just after local midnight in UTC+1, it is already the 22nd there.
        let today = Day::parse(None, Some(-60), &TimeZone::UTC, utc - 1_800_000).expect("today");
        assert_eq!(today.label, "2026-11-22");
        assert!(Day::parse(None, Some(900), &TimeZone::UTC, 0).is_err());
    }

    #[test]
    fn days_follow_the_organisations_zone_through_daylight_saving() {
        let shanghai = TimeZone::get("Asia/Shanghai").expect("zone");
        // 2026-11-21 17:00 UTC is already the 22nd in Shanghai.
        let now = parse_day("2026-11-21").expect("day") + 17 * 3_600_000;
        let today = Day::parse(None, None, &shanghai, now).expect("today");
        assert_eq!(today.label, "2026-11-22");
        assert_eq!(
            today.start,
            parse_day("2026-11-21").expect("day") + 16 * 3_600_000
        );
        assert_eq!(today.end - today.start, DAY);

        let new_york = TimeZone::get("America/New_York").expect("zone");
        let spring = Day::parse(Some("2026-03-08"), None, &new_york, 0).expect("spring");
        assert_eq!(spring.end - spring.start, DAY - 3_600_000, "23 hours");
        assert_eq!(
            spring.start,
            parse_day("2026-03-08").expect("day") + 5 * 3_600_000
        );
        let autumn = Day::parse(Some("2026-11-01"), None, &new_york, 0).expect("autumn");
        assert_eq!(autumn.end - autumn.start, DAY + 3_600_000, "25 hours");
        // An explicit offset still wins over the zone.
        let fixed = Day::parse(Some("2026-03-08"), Some(0), &new_york, 0).expect("fixed");
        assert_eq!(fixed.start, parse_day("2026-03-08").expect("day"));
    }

    #[test]
    fn skills_match_kind_category_or_model_family() {
        assert!(skill_matches("HP", "repair", "no heat", "HP-200"));
        assert!(skill_matches("No Heat", "repair", "no heat", "BX-9"));
        assert!(skill_matches("installation", "installation", "", ""));
        assert!(!skill_matches("AC", "repair", "leak", "HP-200"));
        assert!(!skill_matches(" ", "repair", "leak", "HP-200"));
    }
}

/// How a job list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobOrder {
    /// The newest call first.
    #[default]
    NewestCall,
    /// The earliest appointment first; jobs without one last.
    Appointment,
    /// The nearest resolution deadline first; jobs without one last.
    Deadline,
    /// By customer name.
    Customer,
}

impl JobOrder {
    /// Reads a query name: `call`, `appointment`, `deadline` or `customer`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "call" => Some(JobOrder::NewestCall),
            "appointment" => Some(JobOrder::Appointment),
            "deadline" => Some(JobOrder::Deadline),
            "customer" => Some(JobOrder::Customer),
            _ => None,
        }
    }
}

/// What a dispatcher looks for in the job list.
#[derive(Debug, Clone, Default)]
pub struct JobSearch {
    /// Words that must all appear (any case) in the job's customer, id, engineer (login or
    /// name), region (code or either name) or kind; empty matches every job.
    pub text: String,
    /// The statuses wanted; empty means every status.
    pub statuses: Vec<Status>,
    /// The order.
    pub order: JobOrder,
    /// At most this many.
    pub limit: usize,
}

/// The jobs `search` finds, in its order, and how many matched in all (more than returned when
/// the limit cut the list).
pub fn find_jobs(
    tx: &dyn ReadTx,
    search: &JobSearch,
) -> Result<(Vec<JobSummary>, usize), DomainError> {
    let words: Vec<String> = search
        .text
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    // Dispatchers know engineers by name (赵敏), phones by login (zhaomin), and regions by the
    // names the console shows (East China, 华东) as well as by their codes.
    let names: HashMap<String, String> = tx.users()?.into_iter().map(|u| (u.id, u.name)).collect();
    let regions: HashMap<String, String> = tx
        .list_entries(ListKind::Region)?
        .into_iter()
        .map(|e| (e.code, format!("{} {}", e.name_zh, e.name_en)))
        .collect();
    let mut found: Vec<JobSummary> = tx
        .list_jobs()?
        .into_iter()
        .filter(|j| search.statuses.is_empty() || search.statuses.contains(&j.status))
        .filter(|j| {
            let engineer = j.assignee.as_deref().unwrap_or_default();
            let haystack = [
                j.customer_name.as_str(),
                j.id.as_str(),
                engineer,
                names.get(engineer).map_or("", String::as_str),
                j.region.as_str(),
                regions.get(&j.region).map_or("", String::as_str),
                j.kind.as_str(),
            ]
            .join(" ")
            .to_lowercase();
            words.iter().all(|word| haystack.contains(word.as_str()))
        })
        .collect();
    match search.order {
        JobOrder::NewestCall => found.sort_by_key(|j| std::cmp::Reverse(j.call_received_at)),
        JobOrder::Appointment => {
            found.sort_by_key(|j| (j.appointment_start.is_none(), j.appointment_start))
        }
        JobOrder::Deadline => found.sort_by_key(|j| (j.resolve_by.is_none(), j.resolve_by)),
        JobOrder::Customer => found.sort_by(|a, b| a.customer_name.cmp(&b.customer_name)),
    }
    let matched = found.len();
    found.truncate(search.limit);
    Ok((found, matched))
}
