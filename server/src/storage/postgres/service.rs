//! PostgreSQL for the service side: the job facts projection, the escalation ladder's
//! bookkeeping, the KPIs computed over the facts, and the stored reminders. The KPI definitions
//! are in `crate::domain::kpi`; this is their SQL, answering number for number what SQLite's
//! answers.

use ::postgres::Row;
use ::postgres::types::ToSql;

use super::{Tx, to_i64, to_u64};
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

/// The facts projection and the reminders, as SQLite's migrations 3 and 9 leave them.
///
/// Text that is a key or that rows are grouped or sorted by is compared bytewise
/// (`COLLATE "C"`), as SQLite compares it, whatever the database's default collation.
/// `ladder_at` is the time the ladder must look at a job again (0: now, every facts write resets
/// it); `revision` counts the writes, so that a tick never marks as looked-at facts that changed
/// after it read them. `first_visit_fixed` is 0 or 1, as in SQLite.
pub(super) const SCHEMA: &str = "
    CREATE TABLE job_facts (
        job_id TEXT COLLATE \"C\" PRIMARY KEY REFERENCES jobs(job_id),
        kind TEXT NOT NULL,
        tier TEXT NOT NULL,
        region TEXT COLLATE \"C\" NOT NULL,
        category TEXT COLLATE \"C\" NOT NULL,
        assignee TEXT COLLATE \"C\",
        status TEXT NOT NULL,
        call_received_at BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        dispatched_at BIGINT,
        resolved_at BIGINT,
        feedback_at BIGINT,
        appointment_start BIGINT,
        respond_by BIGINT,
        dispatch_by BIGINT,
        resolve_by BIGINT,
        feedback_by BIGINT,
        first_visit_fixed BIGINT,
        rating BIGINT,
        facts TEXT NOT NULL,
        revision BIGINT NOT NULL DEFAULT 0,
        ladder_at BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX job_facts_by_call ON job_facts(call_received_at);
    CREATE INDEX job_facts_open ON job_facts(status) WHERE status NOT IN ('cancelled', 'closed');
    CREATE INDEX job_facts_ladder ON job_facts(ladder_at)
        WHERE status NOT IN ('cancelled', 'closed');
    CREATE TABLE reminders (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_id TEXT COLLATE \"C\" NOT NULL REFERENCES jobs(job_id),
        rule TEXT COLLATE \"C\" NOT NULL,
        to_user TEXT,
        to_role TEXT,
        ring BIGINT NOT NULL,
        clock TEXT NOT NULL,
        message TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        acknowledged_at BIGINT,
        UNIQUE (job_id, rule)
    );
    CREATE INDEX reminders_open ON reminders(id) WHERE acknowledged_at IS NULL;
";

fn corrupt(e: serde_json::Error) -> StorageError {
    StorageError::Corrupt(format!("job facts: {e}"))
}

/// The jobs a report covers; `$1`–`$6` are [`filter_params`]. The optional ones are cast
/// because PostgreSQL cannot infer a type from `$n IS NULL`.
const SELECTED: &str = "call_received_at >= $1 AND call_received_at < $2
    AND ($3::TEXT IS NULL OR region = $3::TEXT) AND ($4::TEXT IS NULL OR category = $4::TEXT)
    AND ($5::TEXT IS NULL OR kind = $5::TEXT) AND ($6::TEXT IS NULL OR assignee = $6::TEXT)";

/// `$1`–`$6` of [`SELECTED`], borrowed from `filter` and the kind's name.
fn filter_params<'f>(
    filter: &'f KpiFilter,
    kind: &'f Option<&'static str>,
) -> [&'f (dyn ToSql + Sync); 6] {
    [
        &filter.from,
        &filter.to,
        &filter.region,
        &filter.category,
        kind,
        &filter.engineer,
    ]
}

/// The zone periods are counted in: the filter's when it is a zone, UTC otherwise (as SQLite
/// counts), so that PostgreSQL is never handed a name it would fail on.
fn zone_name(filter: &KpiFilter) -> &str {
    if jiff::tz::TimeZone::get(&filter.time_zone).is_ok() {
        &filter.time_zone
    } else {
        "UTC"
    }
}

/// The SQL expression that labels a job's period, [`Period::label`] in SQL, in the
/// transaction's `TimeZone` (see [`in_zone`]). The instant is built from whole milliseconds by
/// interval arithmetic, which is exact (a floating-point number of seconds could round across
/// a day's boundary). Labels are sorted bytewise, as SQLite sorts them.
fn period_label(period: Option<Period>) -> String {
    let format = match period {
        None => return "'total'::TEXT".to_owned(),
        Some(Period::Day) => "YYYY-MM-DD",
        Some(Period::Week) => "IYYY-\"W\"IW",
        Some(Period::Month) => "YYYY-MM",
    };
    format!(
        "to_char(TIMESTAMPTZ 'epoch' + call_received_at * INTERVAL '1 millisecond', '{format}')
           COLLATE \"C\""
    )
}

/// Runs `f` with the transaction's `TimeZone` set to `zone`, then sets back the one before.
///
/// `AT TIME ZONE` would need no setting, but it reads a name as an abbreviation first: `CET`,
/// `EET`, `MET` and `WET` would count at a fixed offset, where jiff (and so SQLite's period
/// function) counts in the zones of those names, with summer time. The setting reads every
/// name as a zone. It is local to the transaction (a savepoint's rollback undoes it too), so
/// it never outlives it on a pooled connection.
fn in_zone<T>(
    tx: &Tx<'_>,
    zone: &str,
    f: impl FnOnce() -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    let previous: String = tx
        .query_one("SELECT current_setting('TimeZone')", &[])?
        .try_get(0)?;
    tx.query_one("SELECT set_config('TimeZone', $1, true)", &[&zone])?;
    let result = f();
    // After a failed statement the transaction accepts none until it ends (which undoes the
    // setting anyway), so `f`'s error is the one to report.
    let restored = tx.query_one("SELECT set_config('TimeZone', $1, true)", &[&previous]);
    let value = result?;
    restored?;
    Ok(value)
}

/// Shares and SLA compliance per period (`$7` is the time of the query).
fn ratios(
    tx: &Tx<'_>,
    period: Option<Period>,
    filter: &KpiFilter,
    now: Millis,
) -> Result<Vec<(String, Metrics)>, StorageError> {
    // A clock not stopped counts as run (and missed) once its deadline passed, unless the job
    // was cancelled. The mean is taken over FLOAT8 so that it is the same division SQLite makes.
    let sql = format!(
        "SELECT {label} AS period, COUNT(*),
           COUNT(*) FILTER (WHERE resolved_at IS NOT NULL AND first_visit_fixed = 1),
           COUNT(*) FILTER (WHERE resolved_at IS NOT NULL),
           COUNT(*) FILTER (WHERE kind = 'installation' AND resolved_at IS NOT NULL
             AND first_visit_fixed = 1),
           COUNT(*) FILTER (WHERE kind = 'installation' AND resolved_at IS NOT NULL),
           COUNT(*) FILTER (WHERE rating >= 4), COUNT(rating), AVG(rating::FLOAT8),
           COUNT(*) FILTER (WHERE kind = 'complaint'),
           COUNT(*) FILTER (WHERE created_at <= respond_by),
           COUNT(*) FILTER (WHERE respond_by IS NOT NULL),
           COUNT(*) FILTER (WHERE dispatched_at <= dispatch_by),
           COUNT(*) FILTER (WHERE dispatch_by IS NOT NULL AND (dispatched_at IS NOT NULL
             OR (dispatch_by < $7 AND status <> 'cancelled'))),
           COUNT(*) FILTER (WHERE resolved_at <= resolve_by),
           COUNT(*) FILTER (WHERE resolve_by IS NOT NULL AND (resolved_at IS NOT NULL
             OR (resolve_by < $7 AND status <> 'cancelled'))),
           COUNT(*) FILTER (WHERE feedback_at <= feedback_by),
           COUNT(*) FILTER (WHERE feedback_by IS NOT NULL AND (feedback_at IS NOT NULL
             OR (feedback_by < $7 AND status <> 'cancelled'))),
           COUNT(*) FILTER (WHERE return_visit_at <= return_visit_by),
           COUNT(*) FILTER (WHERE return_visit_by IS NOT NULL AND (return_visit_at IS NOT NULL
             OR (return_visit_by < $7 AND status <> 'cancelled'))),
           COUNT(*) FILTER (WHERE customer_rating >= 4), COUNT(customer_rating),
           AVG(customer_rating::FLOAT8)
         FROM job_facts WHERE {SELECTED} GROUP BY 1 ORDER BY 1",
        label = period_label(period)
    );
    let kind = filter.kind.map(JobKind::as_str);
    let [a, b, c, d, e, f] = filter_params(filter, &kind);
    tx.query(&sql, &[a, b, c, d, e, f, &now])?
        .iter()
        .map(|r| -> Result<(String, Metrics), StorageError> {
            let n = |i: usize| -> Result<u64, StorageError> { Ok(to_u64(r.try_get(i)?)) };
            let ratio =
                |i: usize| -> Result<Ratio, StorageError> { Ok(Ratio::new(n(i)?, n(i + 1)?)) };
            let jobs = n(1)?;
            Ok((
                r.try_get::<_, String>(0)?,
                Metrics {
                    jobs,
                    first_time_fix: ratio(2)?,
                    installation_success: ratio(4)?,
                    satisfaction: ratio(6)?,
                    mean_rating: r.try_get(8)?,
                    complaint_rate: Ratio::new(n(9)?, jobs),
                    sla: SlaCompliance {
                        respond: ratio(10)?,
                        dispatch: ratio(12)?,
                        resolve: ratio(14)?,
                        feedback: ratio(16)?,
                        return_visit: ratio(18)?,
                    },
                    customer_satisfaction: ratio(20)?,
                    customer_mean_rating: r.try_get(22)?,
                    ..Metrics::default()
                },
            ))
        })
        .collect()
}

/// Medians and 90th percentiles by nearest rank: the value at rank ⌈p·n⌉, which in integers is
/// `(n + 1) / 2` for the median and `(9n + 9) / 10` for the 90th percentile.
fn percentiles(
    tx: &Tx<'_>,
    period: Option<Period>,
    filter: &KpiFilter,
    into: &mut [(String, Metrics)],
) -> Result<(), StorageError> {
    let values = DURATIONS
        .iter()
        .map(|(name, expr)| {
            format!(
                "SELECT '{name}'::TEXT AS metric, {label} AS period, {expr} AS v FROM job_facts
                 WHERE {SELECTED} AND {expr} IS NOT NULL",
                label = period_label(period)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    // ROW_NUMBER and COUNT are both BIGINT, so the ranks' arithmetic is integer division.
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
    let kind = filter.kind.map(JobKind::as_str);
    for r in tx.query(&sql, &filter_params(filter, &kind))? {
        let metric: String = r.try_get(0)?;
        let period: String = r.try_get(1)?;
        let Some((_, metrics)) = into.iter_mut().find(|(p, _)| *p == period) else {
            continue;
        };
        if let Some(slot) = metrics.durations_mut(&metric) {
            *slot = Durations {
                n: to_u64(r.try_get(2)?),
                median_ms: r.try_get(3)?,
                p90_ms: r.try_get(4)?,
            };
        }
    }
    Ok(())
}

fn metrics(
    tx: &Tx<'_>,
    period: Option<Period>,
    filter: &KpiFilter,
    now: Millis,
) -> Result<Vec<(String, Metrics)>, StorageError> {
    let mut per_period = ratios(tx, period, filter, now)?;
    percentiles(tx, period, filter, &mut per_period)?;
    Ok(per_period)
}

/// Jobs per value of `column` (`region` or `category`), most first.
fn counts(tx: &Tx<'_>, column: &str, filter: &KpiFilter) -> Result<Vec<Count>, StorageError> {
    let sql = format!(
        "SELECT {column}, COUNT(*) FROM job_facts WHERE {SELECTED}
         GROUP BY 1 ORDER BY 2 DESC, 1"
    );
    let kind = filter.kind.map(JobKind::as_str);
    tx.query(&sql, &filter_params(filter, &kind))?
        .iter()
        .map(|r| -> Result<Count, StorageError> {
            Ok(Count {
                key: r.try_get(0)?,
                jobs: to_u64(r.try_get(1)?),
            })
        })
        .collect()
}

fn engineers(tx: &Tx<'_>, filter: &KpiFilter) -> Result<Vec<EngineerKpis>, StorageError> {
    // A user's id is unique, so grouping by the name too keeps one group per assignee (which
    // PostgreSQL needs to select the name); the name is sorted bytewise whatever the users
    // table's collation.
    let sql = format!(
        "SELECT f.assignee, COALESCE(u.name, f.assignee) COLLATE \"C\",
           COUNT(*) FILTER (WHERE f.resolved_at IS NOT NULL),
           COUNT(*) FILTER (WHERE f.resolved_at IS NOT NULL AND f.first_visit_fixed = 1),
           COUNT(*) FILTER (WHERE f.rating >= 4), COUNT(f.rating), AVG(f.rating::FLOAT8)
         FROM (SELECT * FROM job_facts WHERE {SELECTED}) AS f
         LEFT JOIN users AS u ON u.id = f.assignee
         WHERE f.assignee IS NOT NULL
         GROUP BY f.assignee, u.name ORDER BY 2, 1"
    );
    let kind = filter.kind.map(JobKind::as_str);
    tx.query(&sql, &filter_params(filter, &kind))?
        .iter()
        .map(|r| -> Result<EngineerKpis, StorageError> {
            let n = |i: usize| -> Result<u64, StorageError> { Ok(to_u64(r.try_get(i)?)) };
            let done = n(2)?;
            Ok(EngineerKpis {
                user: r.try_get(0)?,
                name: r.try_get(1)?,
                jobs_done: done,
                first_time_fix: Ratio::new(n(3)?, done),
                satisfaction: Ratio::new(n(4)?, n(5)?),
                mean_rating: r.try_get(6)?,
            })
        })
        .collect()
}

const REMINDER_COLUMNS: &str = "SELECT id, job_id, rule, to_user, to_role, ring, clock, message, \
     created_at, acknowledged_at, acknowledged_by FROM reminders";

fn reminder(r: &Row) -> Result<Reminder, StorageError> {
    Ok(Reminder {
        id: to_u64(r.try_get(0)?),
        job_id: r.try_get(1)?,
        rule: r.try_get(2)?,
        to_user: r.try_get(3)?,
        to_role: r.try_get(4)?,
        ring: u8::try_from(r.try_get::<_, i64>(5)?).unwrap_or(1),
        clock: r.try_get(6)?,
        message: r.try_get(7)?,
        created_at: r.try_get(8)?,
        acknowledged_at: r.try_get(9)?,
        acknowledged_by: r.try_get(10)?,
    })
}

/// The managed lists of regions and problem categories, seeded with the values jobs and users
/// already carry: SQLite's migration 18.
pub(super) const LISTS: &str = r#"
    CREATE TABLE list_entries (
        list TEXT COLLATE "C" NOT NULL CHECK (list IN ('region', 'category')),
        code TEXT COLLATE "C" NOT NULL,
        name_zh TEXT COLLATE "C" NOT NULL,
        name_en TEXT COLLATE "C" NOT NULL,
        retired BOOLEAN NOT NULL DEFAULT FALSE,
        PRIMARY KEY (list, code)
    );
    INSERT INTO list_entries (list, code, name_zh, name_en)
        SELECT 'region', region, region, region FROM job_facts WHERE region <> ''
        UNION SELECT 'region', region, region, region FROM users WHERE region <> ''
        UNION SELECT 'category', category, category, category FROM job_facts
            WHERE category <> ''
        ON CONFLICT DO NOTHING;
"#;

impl ServiceStore for Tx<'_> {
    fn list_entries(&self, list: ListKind) -> Result<Vec<ListEntry>, StorageError> {
        self.query(
            "SELECT code, name_zh, name_en, retired FROM list_entries WHERE list = $1
             ORDER BY code",
            &[&list.as_str()],
        )?
        .iter()
        .map(|r| {
            Ok(ListEntry {
                code: r.try_get(0)?,
                name_zh: r.try_get(1)?,
                name_en: r.try_get(2)?,
                retired: r.try_get(3)?,
            })
        })
        .collect()
    }

    fn list_code_in_use(&self, list: ListKind, code: &str) -> Result<bool, StorageError> {
        let sql = match list {
            ListKind::Region => {
                "SELECT EXISTS (SELECT 1 FROM job_facts WHERE region = $1)
                     OR EXISTS (SELECT 1 FROM users WHERE region = $1)"
            }
            ListKind::Category => "SELECT EXISTS (SELECT 1 FROM job_facts WHERE category = $1)",
        };
        Ok(self.query_one(sql, &[&code])?.try_get(0)?)
    }

    fn job_facts(&self, job_id: &str) -> Result<Option<JobFacts>, StorageError> {
        let row = self.query_opt("SELECT facts FROM job_facts WHERE job_id = $1", &[&job_id])?;
        row.map(|r| -> Result<JobFacts, StorageError> {
            let json: String = r.try_get(0)?;
            serde_json::from_str(&json).map_err(corrupt)
        })
        .transpose()
    }

    fn open_job_facts(&self) -> Result<Vec<JobFacts>, StorageError> {
        let rows = self.query(
            "SELECT facts FROM job_facts WHERE status NOT IN ('cancelled', 'closed')
             ORDER BY call_received_at, job_id",
            &[],
        )?;
        let mut open = Vec::with_capacity(rows.len());
        for r in rows {
            let json: String = r.try_get(0)?;
            // One unreadable row must not hide every other job from the ladder and the queues.
            match serde_json::from_str(&json) {
                Ok(facts) => open.push(facts),
                Err(e) => tracing::warn!(error = %e, "skipped unreadable job facts"),
            }
        }
        Ok(open)
    }

    fn ladder_due(&self, now: Millis) -> Result<Vec<LadderEntry>, StorageError> {
        let rows = self.query(
            "SELECT job_id, facts, revision FROM job_facts
             WHERE status NOT IN ('cancelled', 'closed') AND ladder_at <= $1
             ORDER BY call_received_at, job_id",
            &[&now],
        )?;
        let mut due = Vec::with_capacity(rows.len());
        for r in rows {
            let job_id: String = r.try_get(0)?;
            let json: String = r.try_get(1)?;
            let facts = serde_json::from_str(&json)
                .inspect_err(|e| tracing::warn!(job = %job_id, error = %e, "unreadable job facts"))
                .ok();
            due.push(LadderEntry {
                job_id,
                facts,
                revision: to_u64(r.try_get(2)?),
            });
        }
        Ok(due)
    }

    fn ladder_next(&self) -> Result<Option<Millis>, StorageError> {
        let next: Option<i64> = self
            .query_one(
                "SELECT MIN(ladder_at) FROM job_facts WHERE status NOT IN ('cancelled', 'closed')",
                &[],
            )?
            .try_get(0)?;
        Ok(next.filter(|&at| at != NOTHING_AHEAD))
    }

    fn jobs_without_facts(&self) -> Result<Vec<String>, StorageError> {
        // Sorted bytewise here too, whatever the jobs table's collation.
        self.query(
            "SELECT job_id FROM jobs AS j
             WHERE NOT EXISTS (SELECT 1 FROM job_facts AS f WHERE f.job_id = j.job_id)
             ORDER BY job_id COLLATE \"C\"",
            &[],
        )?
        .iter()
        .map(|r| -> Result<String, StorageError> { Ok(r.try_get(0)?) })
        .collect()
    }

    fn kpis(
        &self,
        filter: &KpiFilter,
        period: Period,
        now: Millis,
    ) -> Result<KpiData, StorageError> {
        let buckets = in_zone(self, zone_name(filter), || {
            metrics(self, Some(period), filter, now)
        })?
        .into_iter()
        .map(|(period, metrics)| Bucket { period, metrics })
        .collect();
        let total = metrics(self, None, filter, now)?
            .pop()
            .map(|(_, m)| m)
            .unwrap_or_default();
        Ok(KpiData {
            buckets,
            total,
            by_category: counts(self, "category", filter)?,
            by_region: counts(self, "region", filter)?,
            engineers: engineers(self, filter)?,
        })
    }

    fn kpi_dimensions(&self) -> Result<(Vec<String>, Vec<String>), StorageError> {
        let distinct = |column: &str| -> Result<Vec<String>, StorageError> {
            self.query(
                &format!("SELECT DISTINCT {column} FROM job_facts WHERE {column} <> '' ORDER BY 1"),
                &[],
            )?
            .iter()
            .map(|r| -> Result<String, StorageError> { Ok(r.try_get(0)?) })
            .collect()
        };
        Ok((distinct("region")?, distinct("category")?))
    }

    fn reminders(&self, open_only: bool) -> Result<Vec<Reminder>, StorageError> {
        let sql = format!(
            "{REMINDER_COLUMNS} WHERE (NOT $1::BOOLEAN OR acknowledged_at IS NULL)
             ORDER BY id DESC LIMIT 1000"
        );
        self.query(&sql, &[&open_only])?
            .iter()
            .map(reminder)
            .collect()
    }

    fn reminder(&self, id: u64) -> Result<Option<Reminder>, StorageError> {
        let sql = format!("{REMINDER_COLUMNS} WHERE id = $1");
        self.query(&sql, &[&to_i64(id)])?
            .first()
            .map(reminder)
            .transpose()
    }

    fn job_reminders(&self, job_id: &str) -> Result<Vec<Reminder>, StorageError> {
        let sql = format!("{REMINDER_COLUMNS} WHERE job_id = $1 ORDER BY id");
        self.query(&sql, &[&job_id])?.iter().map(reminder).collect()
    }

    fn open_reminders_to(&self, user: &str) -> Result<Vec<Reminder>, StorageError> {
        let sql = format!(
            "{REMINDER_COLUMNS} WHERE to_user = $1 AND acknowledged_at IS NULL ORDER BY id"
        );
        self.query(&sql, &[&user])?.iter().map(reminder).collect()
    }
}

impl ServiceStoreMut for Tx<'_> {
    fn put_job_facts(&mut self, f: &JobFacts) -> Result<(), StorageError> {
        let json = serde_json::to_string(f).map_err(corrupt)?;
        self.execute(
            "INSERT INTO job_facts (job_id, kind, tier, region, category, assignee, status,
               call_received_at, created_at, dispatched_at, resolved_at, feedback_at,
               appointment_start, respond_by, dispatch_by, resolve_by, feedback_by,
               first_visit_fixed, rating, facts, return_visit_by, return_visit_at, customer_rating)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
               $18, $19, $20, $21, $22, $23)
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
               return_visit_at = excluded.return_visit_at,
               customer_rating = excluded.customer_rating,
               revision = job_facts.revision + 1, ladder_at = 0",
            &[
                &f.job_id,
                &f.kind.as_str(),
                &f.tier.as_str(),
                &f.region,
                &f.category,
                &f.assignee,
                &f.status.as_str(),
                &f.call_received_at,
                &f.created_at,
                &f.dispatched_at,
                &f.resolved_at,
                &f.feedback_at,
                &f.appointment_start,
                &f.deadlines.respond_by,
                &f.deadlines.dispatch_by,
                &f.deadlines.resolve_by,
                &f.deadlines.feedback_by,
                &f.first_visit_fixed.map(i64::from),
                &f.rating.map(i64::from),
                &json,
                &f.return_visit_by,
                &f.return_visit_at,
                &f.customer_rating.map(i64::from),
            ],
        )?;
        Ok(())
    }

    fn set_ladder_at(
        &mut self,
        job_id: &str,
        revision: u64,
        at: Option<Millis>,
    ) -> Result<bool, StorageError> {
        let changed = self.execute(
            "UPDATE job_facts SET ladder_at = $3 WHERE job_id = $1 AND revision = $2",
            &[&job_id, &to_i64(revision), &at.unwrap_or(NOTHING_AHEAD)],
        )?;
        Ok(changed == 1)
    }

    fn add_reminder(&mut self, new: &Reminder) -> Result<Option<Reminder>, StorageError> {
        let inserted = self.query_opt(
            "INSERT INTO reminders (job_id, rule, to_user, to_role, ring, clock, message,
               created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (job_id, rule) DO NOTHING
             RETURNING id",
            &[
                &new.job_id,
                &new.rule,
                &new.to_user,
                &new.to_role,
                &i64::from(new.ring),
                &new.clock,
                &new.message,
                &new.created_at,
            ],
        )?;
        inserted
            .map(|r| -> Result<Reminder, StorageError> {
                Ok(Reminder {
                    id: to_u64(r.try_get(0)?),
                    acknowledged_at: None,
                    acknowledged_by: None,
                    ..new.clone()
                })
            })
            .transpose()
    }

    fn acknowledge_reminder(
        &mut self,
        id: u64,
        user: &str,
        now: Millis,
    ) -> Result<bool, StorageError> {
        // The first acknowledgement stands: both columns are read before either is set.
        let changed = self.execute(
            "UPDATE reminders SET acknowledged_at = COALESCE(acknowledged_at, $2),
             acknowledged_by = CASE WHEN acknowledged_at IS NULL THEN $3 ELSE acknowledged_by END
             WHERE id = $1",
            &[&to_i64(id), &now, &user],
        )?;
        Ok(changed == 1)
    }

    fn put_list_entry(&mut self, list: ListKind, entry: &ListEntry) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO list_entries (list, code, name_zh, name_en, retired)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (list, code) DO UPDATE SET name_zh = excluded.name_zh,
               name_en = excluded.name_en, retired = excluded.retired",
            &[
                &list.as_str(),
                &entry.code,
                &entry.name_zh,
                &entry.name_en,
                &entry.retired,
            ],
        )?;
        Ok(())
    }

    fn delete_list_entry(&mut self, list: ListKind, code: &str) -> Result<bool, StorageError> {
        let deleted = self.execute(
            "DELETE FROM list_entries WHERE list = $1 AND code = $2",
            &[&list.as_str(), &code],
        )?;
        Ok(deleted == 1)
    }
}
