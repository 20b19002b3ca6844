//! SQLite for the service side: the job facts projection, the KPIs computed over it, and the
//! stored reminders. The KPI definitions are in `crate::domain::kpi`; this is their SQL.

use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, params};

use super::{CachedStatements, Tx, to_i64, to_u64};
use crate::storage::service::{
    Bucket, Count, DURATIONS, Durations, EngineerKpis, KpiData, KpiFilter, Metrics, NOTHING_AHEAD,
    Period, Ratio, SlaCompliance,
};
use crate::storage::{
    JobFacts, LadderEntry, ListEntry, ListKind, Reminder, ServiceStore, ServiceStoreMut,
    StorageError,
};
use fieldsync_protocol::Millis;
use fieldsync_protocol::job::JobKind;

/// Migration 3: the facts projection and the reminders.
pub(super) const MIGRATION: &str = "
    CREATE TABLE job_facts (
        job_id TEXT PRIMARY KEY NOT NULL REFERENCES jobs(job_id),
        kind TEXT NOT NULL,
        tier TEXT NOT NULL,
        region TEXT NOT NULL,
        category TEXT NOT NULL,
        assignee TEXT,
        status TEXT NOT NULL,
        call_received_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        dispatched_at INTEGER,
        resolved_at INTEGER,
        feedback_at INTEGER,
        appointment_start INTEGER,
        respond_by INTEGER,
        dispatch_by INTEGER,
        resolve_by INTEGER,
        feedback_by INTEGER,
        first_visit_fixed INTEGER,
        rating INTEGER,
        facts TEXT NOT NULL
    ) STRICT;
    CREATE INDEX job_facts_by_call ON job_facts(call_received_at);
    CREATE INDEX job_facts_open ON job_facts(status) WHERE status NOT IN ('cancelled', 'closed');
    CREATE TABLE reminders (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL REFERENCES jobs(job_id),
        rule TEXT NOT NULL,
        to_user TEXT,
        to_role TEXT,
        ring INTEGER NOT NULL,
        clock TEXT NOT NULL,
        message TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        acknowledged_at INTEGER,
        UNIQUE (job_id, rule)
    ) STRICT;
    CREATE INDEX reminders_open ON reminders(id) WHERE acknowledged_at IS NULL;";

fn corrupt(e: serde_json::Error) -> StorageError {
    StorageError::Corrupt(format!("job facts: {e}"))
}

/// Migration 9: the ladder looks only at the jobs that changed or fall due. `ladder_at` is the
/// time it must look at a job again (0: now, every facts write resets it); `revision` counts
/// the writes, so that a tick never marks as looked-at facts that changed after it read them.
pub(super) const LADDER: &str = "
    ALTER TABLE job_facts ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE job_facts ADD COLUMN ladder_at INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX job_facts_ladder ON job_facts(ladder_at)
        WHERE status NOT IN ('cancelled', 'closed');";

/// Migration 13: the return-visit clock and the satisfaction customers give on that call.
pub(super) const RETURN_VISITS: &str = "
    ALTER TABLE job_facts ADD COLUMN return_visit_by INTEGER;
    ALTER TABLE job_facts ADD COLUMN return_visit_at INTEGER;
    ALTER TABLE job_facts ADD COLUMN customer_rating INTEGER;";

pub(super) fn put_facts(conn: &Connection, f: &JobFacts) -> Result<(), StorageError> {
    let json = serde_json::to_string(f).map_err(corrupt)?;
    conn.prepare_cached(
        "INSERT INTO job_facts (job_id, kind, tier, region, category, assignee, status,
           call_received_at, created_at, dispatched_at, resolved_at, feedback_at,
           appointment_start, respond_by, dispatch_by, resolve_by, feedback_by,
           first_visit_fixed, rating, facts, return_visit_by, return_visit_at, customer_rating)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
           ?19, ?20, ?21, ?22, ?23)
         ON CONFLICT (job_id) DO UPDATE SET kind = excluded.kind, tier = excluded.tier,
           region = excluded.region, category = excluded.category,
           assignee = excluded.assignee, status = excluded.status,
           call_received_at = excluded.call_received_at, created_at = excluded.created_at,
           dispatched_at = excluded.dispatched_at, resolved_at = excluded.resolved_at,
           feedback_at = excluded.feedback_at, appointment_start = excluded.appointment_start,
           respond_by = excluded.respond_by, dispatch_by = excluded.dispatch_by,
           resolve_by = excluded.resolve_by, feedback_by = excluded.feedback_by,
           first_visit_fixed = excluded.first_visit_fixed, rating = excluded.rating,
           facts = excluded.facts, return_visit_by = excluded.return_visit_by,
           return_visit_at = excluded.return_visit_at, customer_rating = excluded.customer_rating,
           revision = revision + 1, ladder_at = 0",
    )?
    .execute(params![
        f.job_id,
        f.kind.as_str(),
        f.tier.as_str(),
        f.region,
        f.category,
        f.assignee,
        f.status.as_str(),
        f.call_received_at,
        f.created_at,
        f.dispatched_at,
        f.resolved_at,
        f.feedback_at,
        f.appointment_start,
        f.deadlines.respond_by,
        f.deadlines.dispatch_by,
        f.deadlines.resolve_by,
        f.deadlines.feedback_by,
        f.first_visit_fixed,
        f.rating,
        json,
        f.return_visit_by,
        f.return_visit_at,
        f.customer_rating
    ])?;
    Ok(())
}

pub(super) fn facts(conn: &Connection, job_id: &str) -> Result<Option<JobFacts>, StorageError> {
    let json: Option<String> = conn
        .query_row_cached(
            "SELECT facts FROM job_facts WHERE job_id = ?1",
            [job_id],
            |r| r.get(0),
        )
        .optional()?;
    json.map(|j| serde_json::from_str(&j).map_err(corrupt))
        .transpose()
}

pub(super) fn open_facts(conn: &Connection) -> Result<Vec<JobFacts>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT facts FROM job_facts WHERE status NOT IN ('cancelled', 'closed')
         ORDER BY call_received_at, job_id",
    )?;
    let mut open = Vec::new();
    for json in stmt.query_map([], |r| r.get::<_, String>(0))? {
        // One unreadable row must not hide every other job from the ladder and the queues.
        match serde_json::from_str(&json?) {
            Ok(facts) => open.push(facts),
            Err(e) => tracing::warn!(error = %e, "skipped unreadable job facts"),
        }
    }
    Ok(open)
}

pub(super) fn ladder_due(conn: &Connection, now: Millis) -> Result<Vec<LadderEntry>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT job_id, facts, revision FROM job_facts
         WHERE status NOT IN ('cancelled', 'closed') AND ladder_at <= ?1
         ORDER BY call_received_at, job_id",
    )?;
    let rows = stmt.query_map([now], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut due = Vec::new();
    for row in rows {
        let (job_id, json, revision) = row?;
        let facts = serde_json::from_str(&json)
            .inspect_err(|e| tracing::warn!(job = %job_id, error = %e, "unreadable job facts"))
            .ok();
        due.push(LadderEntry {
            job_id,
            facts,
            revision: to_u64(revision),
        });
    }
    Ok(due)
}

pub(super) fn ladder_next(conn: &Connection) -> Result<Option<Millis>, StorageError> {
    let next: Option<i64> = conn
        .prepare_cached(
            "SELECT MIN(ladder_at) FROM job_facts WHERE status NOT IN ('cancelled', 'closed')",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(next.filter(|&at| at != NOTHING_AHEAD))
}

pub(super) fn set_ladder_at(
    conn: &Connection,
    job_id: &str,
    revision: u64,
    at: Option<Millis>,
) -> Result<bool, StorageError> {
    let changed = conn
        .prepare_cached("UPDATE job_facts SET ladder_at = ?3 WHERE job_id = ?1 AND revision = ?2")?
        .execute(params![
            job_id,
            to_i64(revision),
            at.unwrap_or(NOTHING_AHEAD)
        ])?;
    Ok(changed == 1)
}

pub(super) fn jobs_without_facts(conn: &Connection) -> Result<Vec<String>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT job_id FROM jobs WHERE job_id NOT IN (SELECT job_id FROM job_facts)
         ORDER BY job_id",
    )?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The jobs a report covers; `?1`–`?6` are [`filter_params`].
const FILTER: &str = "call_received_at >= ?1 AND call_received_at < ?2
    AND (?3 IS NULL OR region = ?3) AND (?4 IS NULL OR category = ?4)
    AND (?5 IS NULL OR kind = ?5) AND (?6 IS NULL OR assignee = ?6)";

/// `?1`–`?6` of [`FILTER`], borrowed from `filter` and the kind's name.
fn filter_params<'f>(filter: &'f KpiFilter, kind: &'f Option<&'static str>) -> [&'f dyn ToSql; 6] {
    [
        &filter.from,
        &filter.to,
        &filter.region,
        &filter.category,
        kind,
        &filter.engineer,
    ]
}

/// The SQL expression that labels a job's period; `?{zone}` is the filter's time zone.
fn period_label(period: Option<Period>, zone: usize) -> String {
    match period {
        Some(period) => format!(
            "{PERIOD_FUNCTION}(call_received_at, '{}', ?{zone})",
            period.as_str()
        ),
        None => "'total'".to_owned(),
    }
}

/// `fieldsync_period(at, period, zone)`: [`Period::label`] in SQL, since SQLite's own date
/// functions know only UTC and the machine's zone.
const PERIOD_FUNCTION: &str = "fieldsync_period";

/// Registers [`PERIOD_FUNCTION`] on a connection. An unknown zone counts in UTC (the server
/// checks the zone when it starts).
pub(super) fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function(PERIOD_FUNCTION, 3, flags, |ctx| {
        let at: Millis = ctx.get(0)?;
        let period = match ctx.get::<String>(1)?.as_str() {
            "day" => Period::Day,
            "week" => Period::Week,
            _ => Period::Month,
        };
        let zone: String = ctx.get(2)?;
        Ok(ZONES.with(|zones| period.label(at, &zones.get(&zone))))
    })
}

thread_local! {
    /// The last zone looked up on this thread: every row of a query asks for the same one.
    static ZONES: ZoneCache = ZoneCache::default();
}

#[derive(Default)]
struct ZoneCache(std::cell::RefCell<Option<(String, jiff::tz::TimeZone)>>);

impl ZoneCache {
    fn get(&self, name: &str) -> jiff::tz::TimeZone {
        let mut cached = self.0.borrow_mut();
        match cached.as_ref() {
            Some((known, zone)) if known == name => zone.clone(),
            _ => {
                let zone = jiff::tz::TimeZone::get(name).unwrap_or(jiff::tz::TimeZone::UTC);
                *cached = Some((name.to_owned(), zone.clone()));
                zone
            }
        }
    }
}

/// Shares and SLA compliance per period (`?7` is the time of the query).
fn ratios(
    conn: &Connection,
    period: Option<Period>,
    filter: &KpiFilter,
    now: Millis,
) -> Result<Vec<(String, Metrics)>, StorageError> {
    // A clock not stopped counts as run (and missed) once its deadline passed, unless the job
    // was cancelled.
    let sql = format!(
        "SELECT {label} AS period, COUNT(*),
           TOTAL(resolved_at IS NOT NULL AND first_visit_fixed = 1), TOTAL(resolved_at IS NOT NULL),
           TOTAL(kind = 'installation' AND resolved_at IS NOT NULL AND first_visit_fixed = 1),
           TOTAL(kind = 'installation' AND resolved_at IS NOT NULL),
           TOTAL(rating >= 4), COUNT(rating), AVG(rating),
           TOTAL(kind = 'complaint'),
           TOTAL(created_at <= respond_by), TOTAL(respond_by IS NOT NULL),
           TOTAL(dispatched_at <= dispatch_by),
           TOTAL(dispatch_by IS NOT NULL AND (dispatched_at IS NOT NULL
             OR (dispatch_by < ?7 AND status <> 'cancelled'))),
           TOTAL(resolved_at <= resolve_by),
           TOTAL(resolve_by IS NOT NULL AND (resolved_at IS NOT NULL
             OR (resolve_by < ?7 AND status <> 'cancelled'))),
           TOTAL(feedback_at <= feedback_by),
           TOTAL(feedback_by IS NOT NULL AND (feedback_at IS NOT NULL
             OR (feedback_by < ?7 AND status <> 'cancelled'))),
           TOTAL(return_visit_at <= return_visit_by),
           TOTAL(return_visit_by IS NOT NULL AND (return_visit_at IS NOT NULL
             OR (return_visit_by < ?7 AND status <> 'cancelled'))),
           TOTAL(customer_rating >= 4), COUNT(customer_rating), AVG(customer_rating)
         FROM job_facts WHERE {FILTER} GROUP BY 1 ORDER BY 1",
        label = period_label(period, 8)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let kind = filter.kind.map(JobKind::as_str);
    let [a, b, c, d, e, f] = filter_params(filter, &kind);
    let mut bound: Vec<&dyn ToSql> = vec![a, b, c, d, e, f, &now];
    if period.is_some() {
        bound.push(&filter.time_zone);
    }
    let rows = stmt.query_map(&bound[..], |r| {
        let n = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, f64>(i)? as u64) };
        let ratio = |i: usize| -> rusqlite::Result<Ratio> { Ok(Ratio::new(n(i)?, n(i + 1)?)) };
        let jobs = to_u64(r.get(1)?);
        Ok((
            r.get::<_, String>(0)?,
            Metrics {
                jobs,
                first_time_fix: ratio(2)?,
                installation_success: ratio(4)?,
                satisfaction: Ratio::new(n(6)?, to_u64(r.get(7)?)),
                mean_rating: r.get(8)?,
                complaint_rate: Ratio::new(n(9)?, jobs),
                sla: SlaCompliance {
                    respond: ratio(10)?,
                    dispatch: ratio(12)?,
                    resolve: ratio(14)?,
                    feedback: ratio(16)?,
                    return_visit: ratio(18)?,
                },
                customer_satisfaction: Ratio::new(n(20)?, to_u64(r.get(21)?)),
                customer_mean_rating: r.get(22)?,
                ..Metrics::default()
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Medians and 90th percentiles by nearest rank: the value at rank ⌈p·n⌉, which in integers is
/// `(n + 1) / 2` for the median and `(9n + 9) / 10` for the 90th percentile.
fn percentiles(
    conn: &Connection,
    period: Option<Period>,
    filter: &KpiFilter,
    into: &mut [(String, Metrics)],
) -> Result<(), StorageError> {
    let values = DURATIONS
        .iter()
        .map(|(name, expr)| {
            format!(
                "SELECT '{name}' AS metric, {label} AS period, {expr} AS v FROM job_facts
                 WHERE {FILTER} AND {expr} IS NOT NULL",
                label = period_label(period, 7)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let sql = format!(
        "WITH v AS ({values}),
         ranked AS (SELECT metric, period, v,
           ROW_NUMBER() OVER (PARTITION BY metric, period ORDER BY v) AS rank,
           COUNT(*) OVER (PARTITION BY metric, period) AS n FROM v)
         SELECT metric, period, MAX(n),
           MIN(CASE WHEN rank >= (n + 1) / 2 THEN v END),
           MIN(CASE WHEN rank >= (9 * n + 9) / 10 THEN v END)
         FROM ranked GROUP BY metric, period"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let kind = filter.kind.map(JobKind::as_str);
    let mut bound = filter_params(filter, &kind).to_vec();
    if period.is_some() {
        bound.push(&filter.time_zone);
    }
    let mut rows = stmt.query(&bound[..])?;
    while let Some(r) = rows.next()? {
        let metric: String = r.get(0)?;
        let period: String = r.get(1)?;
        let Some((_, metrics)) = into.iter_mut().find(|(p, _)| *p == period) else {
            continue;
        };
        if let Some(slot) = metrics.durations_mut(&metric) {
            *slot = Durations {
                n: to_u64(r.get(2)?),
                median_ms: r.get(3)?,
                p90_ms: r.get(4)?,
            };
        }
    }
    Ok(())
}

fn metrics(
    conn: &Connection,
    period: Option<Period>,
    filter: &KpiFilter,
    now: Millis,
) -> Result<Vec<(String, Metrics)>, StorageError> {
    let mut per_period = ratios(conn, period, filter, now)?;
    percentiles(conn, period, filter, &mut per_period)?;
    Ok(per_period)
}

fn counts(conn: &Connection, column: &str, filter: &KpiFilter) -> Result<Vec<Count>, StorageError> {
    let sql = format!(
        "SELECT {column}, COUNT(*) FROM job_facts WHERE {FILTER}
         GROUP BY 1 ORDER BY 2 DESC, 1"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let kind = filter.kind.map(JobKind::as_str);
    let rows = stmt.query_map(&filter_params(filter, &kind)[..], |r| {
        Ok(Count {
            key: r.get(0)?,
            jobs: to_u64(r.get(1)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn engineers(conn: &Connection, filter: &KpiFilter) -> Result<Vec<EngineerKpis>, StorageError> {
    let sql = format!(
        "SELECT f.assignee, COALESCE(u.name, f.assignee),
           TOTAL(f.resolved_at IS NOT NULL),
           TOTAL(f.resolved_at IS NOT NULL AND f.first_visit_fixed = 1),
           TOTAL(f.rating >= 4), COUNT(f.rating), AVG(f.rating)
         FROM (SELECT * FROM job_facts WHERE {FILTER}) AS f
         LEFT JOIN users AS u ON u.id = f.assignee
         WHERE f.assignee IS NOT NULL
         GROUP BY f.assignee ORDER BY 2, 1"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let kind = filter.kind.map(JobKind::as_str);
    let rows = stmt.query_map(&filter_params(filter, &kind)[..], |r| {
        let done = r.get::<_, f64>(2)? as u64;
        Ok(EngineerKpis {
            user: r.get(0)?,
            name: r.get(1)?,
            jobs_done: done,
            first_time_fix: Ratio::new(r.get::<_, f64>(3)? as u64, done),
            satisfaction: Ratio::new(r.get::<_, f64>(4)? as u64, to_u64(r.get(5)?)),
            mean_rating: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn kpis(
    conn: &Connection,
    filter: &KpiFilter,
    period: Period,
    now: Millis,
) -> Result<KpiData, StorageError> {
    let buckets = metrics(conn, Some(period), filter, now)?
        .into_iter()
        .map(|(period, metrics)| Bucket { period, metrics })
        .collect();
    let total = metrics(conn, None, filter, now)?
        .pop()
        .map(|(_, m)| m)
        .unwrap_or_default();
    Ok(KpiData {
        buckets,
        total,
        by_category: counts(conn, "category", filter)?,
        by_region: counts(conn, "region", filter)?,
        engineers: engineers(conn, filter)?,
    })
}

pub(super) fn kpi_dimensions(
    conn: &Connection,
) -> Result<(Vec<String>, Vec<String>), StorageError> {
    let distinct = |column: &str| -> Result<Vec<String>, StorageError> {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT DISTINCT {column} FROM job_facts WHERE {column} <> '' ORDER BY 1"
        ))?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    Ok((distinct("region")?, distinct("category")?))
}

const REMINDER_COLUMNS: &str = "SELECT id, job_id, rule, to_user, to_role, ring, clock, message, \
     created_at, acknowledged_at, acknowledged_by FROM reminders";

fn reminder(r: &rusqlite::Row<'_>) -> rusqlite::Result<Reminder> {
    Ok(Reminder {
        id: to_u64(r.get(0)?),
        job_id: r.get(1)?,
        rule: r.get(2)?,
        to_user: r.get(3)?,
        to_role: r.get(4)?,
        ring: u8::try_from(r.get::<_, i64>(5)?).unwrap_or(1),
        clock: r.get(6)?,
        message: r.get(7)?,
        created_at: r.get(8)?,
        acknowledged_at: r.get(9)?,
        acknowledged_by: r.get(10)?,
    })
}

pub(super) fn reminders(conn: &Connection, open_only: bool) -> Result<Vec<Reminder>, StorageError> {
    let sql = format!(
        "{REMINDER_COLUMNS} WHERE (?1 = 0 OR acknowledged_at IS NULL) ORDER BY id DESC LIMIT 1000"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([open_only], reminder)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn job_reminders(
    conn: &Connection,
    job_id: &str,
) -> Result<Vec<Reminder>, StorageError> {
    let sql = format!("{REMINDER_COLUMNS} WHERE job_id = ?1 ORDER BY id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([job_id], reminder)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn open_reminders_to(
    conn: &Connection,
    user: &str,
) -> Result<Vec<Reminder>, StorageError> {
    let sql =
        format!("{REMINDER_COLUMNS} WHERE to_user = ?1 AND acknowledged_at IS NULL ORDER BY id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([user], reminder)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn add_reminder(
    conn: &Connection,
    new: &Reminder,
) -> Result<Option<Reminder>, StorageError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO reminders (job_id, rule, to_user, to_role, ring, clock, message,
               created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (job_id, rule) DO NOTHING",
        )?
        .execute(params![
            new.job_id,
            new.rule,
            new.to_user,
            new.to_role,
            new.ring,
            new.clock,
            new.message,
            new.created_at
        ])?;
    Ok((inserted == 1).then(|| Reminder {
        id: to_u64(conn.last_insert_rowid()),
        acknowledged_at: None,
        acknowledged_by: None,
        ..new.clone()
    }))
}

pub(super) fn acknowledge_reminder(
    conn: &Connection,
    id: u64,
    user: &str,
    now: Millis,
) -> Result<bool, StorageError> {
    // The first acknowledgement stands: both columns are read before either is set.
    let changed = conn
        .prepare_cached(
            "UPDATE reminders SET acknowledged_at = COALESCE(acknowledged_at, ?2),
             acknowledged_by = CASE WHEN acknowledged_at IS NULL THEN ?3 ELSE acknowledged_by END
             WHERE id = ?1",
        )?
        .execute(params![i64::try_from(id).unwrap_or(i64::MAX), now, user])?;
    Ok(changed == 1)
}

fn reminder_by_id(conn: &Connection, id: u64) -> Result<Option<Reminder>, StorageError> {
    Ok(conn
        .prepare_cached(&format!("{REMINDER_COLUMNS} WHERE id = ?1"))?
        .query_row(params![i64::try_from(id).unwrap_or(i64::MAX)], reminder)
        .optional()?)
}

/// Migration 18: the managed lists of regions and problem categories. The values jobs and
/// engineers already carry become their first entries, named by themselves, so that nothing
/// stored falls outside its list; an office renames them afterwards.
pub(super) const LISTS: &str = "
    CREATE TABLE list_entries (
        list TEXT NOT NULL CHECK (list IN ('region', 'category')),
        code TEXT NOT NULL,
        name_zh TEXT NOT NULL,
        name_en TEXT NOT NULL,
        retired INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (list, code)
    ) STRICT;
    INSERT OR IGNORE INTO list_entries (list, code, name_zh, name_en)
        SELECT 'region', region, region, region FROM job_facts WHERE region <> ''
        UNION SELECT 'region', region, region, region FROM users WHERE region <> ''
        UNION SELECT 'category', category, category, category FROM job_facts
            WHERE category <> '';";

/// The SQL that tells whether a code of `list` is in use (`?1`).
fn code_in_use_sql(list: ListKind) -> &'static str {
    match list {
        ListKind::Region => {
            "SELECT EXISTS (SELECT 1 FROM job_facts WHERE region = ?1)
                 OR EXISTS (SELECT 1 FROM users WHERE region = ?1)"
        }
        ListKind::Category => "SELECT EXISTS (SELECT 1 FROM job_facts WHERE category = ?1)",
    }
}

impl ServiceStore for Tx<'_> {
    fn list_entries(&self, list: ListKind) -> Result<Vec<ListEntry>, StorageError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT code, name_zh, name_en, retired FROM list_entries WHERE list = ?1
             ORDER BY code",
        )?;
        let rows = stmt.query_map([list.as_str()], |r| {
            Ok(ListEntry {
                code: r.get(0)?,
                name_zh: r.get(1)?,
                name_en: r.get(2)?,
                retired: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn list_code_in_use(&self, list: ListKind, code: &str) -> Result<bool, StorageError> {
        Ok(self
            .0
            .prepare_cached(code_in_use_sql(list))?
            .query_row([code], |r| r.get(0))?)
    }

    fn job_facts(&self, job_id: &str) -> Result<Option<JobFacts>, StorageError> {
        facts(&self.0, job_id)
    }

    fn open_job_facts(&self) -> Result<Vec<JobFacts>, StorageError> {
        open_facts(&self.0)
    }

    fn ladder_due(&self, now: Millis) -> Result<Vec<LadderEntry>, StorageError> {
        ladder_due(&self.0, now)
    }

    fn ladder_next(&self) -> Result<Option<Millis>, StorageError> {
        ladder_next(&self.0)
    }

    fn jobs_without_facts(&self) -> Result<Vec<String>, StorageError> {
        jobs_without_facts(&self.0)
    }

    fn kpis(
        &self,
        filter: &KpiFilter,
        period: Period,
        now: Millis,
    ) -> Result<KpiData, StorageError> {
        kpis(&self.0, filter, period, now)
    }

    fn kpi_dimensions(&self) -> Result<(Vec<String>, Vec<String>), StorageError> {
        kpi_dimensions(&self.0)
    }

    fn reminders(&self, open_only: bool) -> Result<Vec<Reminder>, StorageError> {
        reminders(&self.0, open_only)
    }

    fn reminder(&self, id: u64) -> Result<Option<Reminder>, StorageError> {
        reminder_by_id(&self.0, id)
    }

    fn job_reminders(&self, job_id: &str) -> Result<Vec<Reminder>, StorageError> {
        job_reminders(&self.0, job_id)
    }

    fn open_reminders_to(&self, user: &str) -> Result<Vec<Reminder>, StorageError> {
        open_reminders_to(&self.0, user)
    }
}

impl ServiceStoreMut for Tx<'_> {
    fn put_job_facts(&mut self, facts: &JobFacts) -> Result<(), StorageError> {
        put_facts(&self.0, facts)
    }

    fn set_ladder_at(
        &mut self,
        job_id: &str,
        revision: u64,
        at: Option<Millis>,
    ) -> Result<bool, StorageError> {
        set_ladder_at(&self.0, job_id, revision, at)
    }

    fn add_reminder(&mut self, reminder: &Reminder) -> Result<Option<Reminder>, StorageError> {
        add_reminder(&self.0, reminder)
    }

    fn acknowledge_reminder(
        &mut self,
        id: u64,
        user: &str,
        now: Millis,
    ) -> Result<bool, StorageError> {
        acknowledge_reminder(&self.0, id, user, now)
    }

    fn put_list_entry(&mut self, list: ListKind, entry: &ListEntry) -> Result<(), StorageError> {
        self.0
            .prepare_cached(
                "INSERT INTO list_entries (list, code, name_zh, name_en, retired)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (list, code) DO UPDATE SET name_zh = excluded.name_zh,
                   name_en = excluded.name_en, retired = excluded.retired",
            )?
            .execute(params![
                list.as_str(),
                entry.code,
                entry.name_zh,
                entry.name_en,
                entry.retired
            ])?;
        Ok(())
    }

    fn delete_list_entry(&mut self, list: ListKind, code: &str) -> Result<bool, StorageError> {
        let deleted = self
            .0
            .prepare_cached("DELETE FROM list_entries WHERE list = ?1 AND code = ?2")?
            .execute(params![list.as_str(), code])?;
        Ok(deleted == 1)
    }
}
