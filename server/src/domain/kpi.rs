//! The service KPIs of PRODUCT.md, computed in SQL over the job facts projection
//! ([`crate::domain::facts`]) by the storage backend; this module defines the query, the answer and
//! the few decisions made after SQL (the service star).
//!
//! Definitions (jobs are counted in the period their call came in):
//! - first-time fix: resolved jobs fixed on the first visit / resolved jobs;
//! - installation success: installations completed on the first visit / installations
//!   completed;
//! - satisfaction (`customer_satisfaction`, PRODUCT.md's): scores of 4 or 5 / scores customers
//!   gave away from the installer (per job the latest: a return-visit call that reached them,
//!   or their own survey through their link), and their mean; apart from it, `satisfaction`: ratings of 4 or 5 / ratings given on the
//!   installer's phone, in front of the installer, and their mean;
//! - complaint rate: complaint jobs / jobs;
//! - first response: call → job created; time to dispatch: call → first assigned; time to
//!   resolve: call → completed (as the SLA clocks run, all from the call); appointment wait:
//!   call → appointment start.
//!   Medians and 90th percentiles by nearest rank (the smallest value with at least p·n
//!   values at or below it);
//! - SLA compliance per clock: jobs that stopped the clock by its deadline / jobs that ran it
//!   (stopped it, or are past its deadline at the time of the query);
//! - demand: jobs per period, per problem category, per region;
//! - SLA compliance includes the return-visit clock: completed → a call that reached the
//!   customer, within the policy's `return_visit_ms`;
//! - per engineer (the assignee): jobs resolved, first-time fix, satisfaction and mean rating
//!   on the installer's phone.

use crate::domain::error::{DomainError, ErrorCode};
pub use crate::storage::service::{
    Bucket, Count, Durations, EngineerKpis, KpiData, KpiFilter, Metrics, Period, Ratio,
    SlaCompliance,
};
impl Period {
    /// Parses the API name.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "day" => Ok(Period::Day),
            "week" => Ok(Period::Week),
            "month" => Ok(Period::Month),
            other => Err(DomainError::bad_request(
                ErrorCode::InvalidQuery,
                format!("period must be day, week or month, not `{other}`"),
            )),
        }
    }
}

/// The fewest resolved jobs that make an engineer eligible as service star.
pub const STAR_MIN_JOBS: u64 = 3;

/// The service star: among engineers with at least [`STAR_MIN_JOBS`] resolved jobs, the highest
/// satisfaction share, then first-time fix rate, then jobs done, then mean rating.
pub fn service_star(engineers: &[EngineerKpis]) -> Option<&EngineerKpis> {
    let key = |e: &EngineerKpis| {
        (
            e.satisfaction.rate.unwrap_or(0.0),
            e.first_time_fix.rate.unwrap_or(0.0),
            e.jobs_done,
            e.mean_rating.unwrap_or(0.0),
        )
    };
    engineers
        .iter()
        .filter(|e| e.jobs_done >= STAR_MIN_JOBS)
        .max_by(|a, b| {
            key(a)
                .partial_cmp(&key(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
}

#[cfg(test)]
mod tests {
    use fieldsync_protocol::Millis;
    use fieldsync_protocol::job::{Customer, JobKind, NewJob, Problem, Product, Site, Tier};
    use fieldsync_protocol::rules::Status;

    use super::*;
    use crate::domain::dispatch::Dispatch;
    use crate::domain::planning::parse_day;
    use crate::domain::sla::{HOUR, MINUTE, SlaPolicy};
    use crate::storage::{Storage, User, read, write};

    const SEC: Millis = 1000;

    /// One job of the fixture: what happened, relative to the call.
    struct Case {
        id: &'static str,
        kind: JobKind,
        tier: Tier,
        region: &'static str,
        category: &'static str,
        assignee: Option<&'static str>,
        received: &'static str,
        hour: Millis,
        created: Millis,
        dispatched: Option<Millis>,
        resolved: Option<Millis>,
        fixed: Option<bool>,
        rating: Option<u8>,
        appointment: Option<Millis>,
        feedback: Option<Millis>,
        /// The return-visit call that reached the customer, and their score.
        called_back: Option<(Millis, Option<u8>)>,
    }

    /// Six jobs over October and November 2026, seen on 20 November.
    fn fixture() -> Vec<Case> {
        let base = Case {
            id: "",
            kind: JobKind::Repair,
            tier: Tier::Standard,
            region: "north",
            category: "no heat",
            assignee: Some("anna"),
            received: "",
            hour: 10,
            created: 30 * SEC,
            dispatched: None,
            resolved: None,
            fixed: None,
            rating: None,
            appointment: None,
            feedback: None,
            called_back: None,
        };
        vec![
            Case {
                id: "j1",
                received: "2026-10-15",
                dispatched: Some(30 * SEC + 3 * MINUTE),
                resolved: Some(20 * HOUR),
                fixed: Some(true),
                rating: Some(5),
                called_back: Some((30 * HOUR, Some(4))),
                ..base
            },
            Case {
                id: "j2",
                kind: JobKind::Installation,
                tier: Tier::Vip,
                region: "south",
                category: "installation",
                assignee: Some("ben"),
                received: "2026-10-20",
                hour: 9,
                created: 90 * SEC,
                dispatched: Some(90 * SEC + 10 * MINUTE),
                resolved: Some(30 * HOUR),
                fixed: Some(false),
                rating: Some(3),
                appointment: Some(48 * HOUR),
                called_back: Some((60 * HOUR, Some(2))),
                ..base
            },
            Case {
                id: "j3",
                kind: JobKind::Complaint,
                category: "leak",
                received: "2026-11-02",
                hour: 12,
                created: 20 * SEC,
                dispatched: Some(20 * SEC + 2 * MINUTE),
                resolved: Some(10 * HOUR),
                fixed: Some(true),
                rating: Some(4),
                feedback: Some(30 * HOUR),
                ..base
            },
            Case {
                id: "j4",
                kind: JobKind::Installation,
                category: "installation",
                received: "2026-11-05",
                hour: 8,
                created: 40 * SEC,
                dispatched: Some(40 * SEC + 4 * MINUTE),
                resolved: Some(26 * HOUR),
                fixed: Some(true),
                appointment: Some(24 * HOUR),
                ..base
            },
            Case {
                id: "j5",
                region: "south",
                category: "leak",
                assignee: None,
                received: "2026-11-10",
                ..base
            },
            Case {
                id: "j6",
                region: "south",
                category: "noise",
                assignee: Some("ben"),
                received: "2026-11-19",
                hour: 12,
                dispatched: Some(30 * SEC + MINUTE),
                ..base
            },
        ]
    }

    fn store_fixture(storage: &dyn Storage) {
        let policy = SlaPolicy::default();
        write(storage, |tx| {
            for (id, name) in [("anna", "Anna Berg"), ("ben", "Ben Okafor")] {
                tx.put_user(&User {
                    id: id.into(),
                    name: name.into(),
                    role: "installer".into(),
                    region: String::new(),
                    skills: vec![],
                })?;
            }
            Ok::<_, DomainError>(())
        })
        .expect("users");
        let dispatch = Dispatch::new(storage, "dispatch");
        for case in fixture() {
            let received = parse_day(case.received).expect("day") + case.hour * HOUR;
            let new = NewJob {
                id: case.id.into(),
                kind: case.kind,
                call_received_at: received,
                customer: Customer {
                    name: "Customer".into(),
                    tier: case.tier,
                    ..Customer::default()
                },
                site: Site {
                    address: "1 Main Street".into(),
                    region: case.region.into(),
                    ..Site::default()
                },
                product: Product {
                    model: "HP-200".into(),
                    ..Product::default()
                },
                problem: Problem {
                    category: case.category.into(),
                    description: "fixture".into(),
                },
                ..NewJob::default()
            };
            dispatch
                .create(new, received + case.created)
                .expect("create");
            // The facts as the fixture says they happened.
            write(storage, |tx| {
                let mut facts = tx.job_facts(case.id)?.expect("facts");
                facts.assignee = case.assignee.map(str::to_owned);
                facts.status = match (case.resolved, case.dispatched) {
                    (Some(_), _) => Status::Completed,
                    (None, Some(_)) => Status::Assigned,
                    (None, None) => Status::New,
                };
                facts.deadlines = policy.deadlines(case.tier, case.kind, received);
                facts.dispatched_at = case.dispatched.map(|d| received + d);
                facts.resolved_at = case.resolved.map(|d| received + d);
                facts.first_visit_fixed = case.fixed;
                facts.rating = case.rating;
                facts.appointment_start = case.appointment.map(|d| received + d);
                facts.feedback_at = case.feedback.map(|d| received + d);
                facts.return_visit_by = facts
                    .resolved_at
                    .zip(facts.deadlines.return_visit_within_ms)
                    .map(|(at, within)| at + within);
                facts.return_visit_at = case.called_back.map(|(d, _)| received + d);
                facts.customer_rating = case.called_back.and_then(|(_, score)| score);
                tx.put_job_facts(&facts)?;
                Ok::<_, DomainError>(())
            })
            .expect("facts");
        }
    }

    fn report(storage: &dyn Storage, filter: KpiFilter, period: Period) -> KpiData {
        let now = parse_day("2026-11-20").expect("now");
        read(storage, |tx| {
            Ok::<_, DomainError>(tx.kpis(&filter, period, now)?)
        })
        .expect("kpis")
    }

    fn all() -> KpiFilter {
        KpiFilter {
            from: parse_day("2026-10-01").expect("from"),
            to: parse_day("2026-12-01").expect("to"),
            ..KpiFilter::default()
        }
    }

    fn durations(n: u64, median: Millis, p90: Millis) -> Durations {
        Durations {
            n,
            median_ms: Some(median),
            p90_ms: Some(p90),
        }
    }

    /// The same figures from each backend's SQL: one test per check and backend.
    macro_rules! on_each_backend {
        ($($check:ident),* $(,)?) => {
            mod sqlite {$(
                #[test]
                fn $check() {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let storage = crate::storage::sqlite::SqliteStorage::open(
                        dir.path().join("kpi.sqlite3"),
                    )
                    .expect("open");
                    super::$check(&storage);
                }
            )*}
            mod postgres {$(
                #[test]
                fn $check() {
                    let (_schema, storage) = crate::storage::postgres::tests::fresh();
                    super::$check(&storage);
                }
            )*}
        };
    }

    on_each_backend!(
        kpis_match_a_hand_computed_fixture,
        periods_are_counted_in_the_organisations_zone,
        filters_narrow_the_jobs,
    );

    /// Every figure below was worked out by hand from [`fixture`].
    fn kpis_match_a_hand_computed_fixture(storage: &dyn Storage) {
        store_fixture(storage);
        let data = report(storage, all(), Period::Month);

        let total = &data.total;
        assert_eq!(total.jobs, 6);
        assert_eq!(
            total.first_time_fix,
            Ratio::new(3, 4),
            "j1, j3, j4 of 4 resolved"
        );
        assert_eq!(total.installation_success, Ratio::new(1, 2), "j4 of j2, j4");
        assert_eq!(total.satisfaction, Ratio::new(2, 3), "5 and 4 of 5, 3, 4");
        assert_eq!(total.mean_rating, Some(4.0));
        assert_eq!(total.complaint_rate, Ratio::new(1, 6));
        // 20 30 30 30 40 90 s: rank 3 and rank 6.
        assert_eq!(total.first_response, durations(6, 30 * SEC, 90 * SEC));
        // From the call: 1.5, 2:20, 3.5, 4:40, 11.5 min: rank 3 and rank 5.
        assert_eq!(
            total.time_to_dispatch,
            durations(5, 3 * MINUTE + 30 * SEC, 11 * MINUTE + 30 * SEC)
        );
        // 10 20 26 30 h: rank 2 and rank 4.
        assert_eq!(total.time_to_resolve, durations(4, 20 * HOUR, 30 * HOUR));
        assert_eq!(total.appointment_wait, durations(2, 24 * HOUR, 48 * HOUR));
        // Respond: j2 took 90 s. Dispatch: j2 (VIP, 2 min) late, j5 never and past due.
        // Resolve: j2 past the VIP 24 h, j5 past due; j6 is still running (not counted).
        assert_eq!(total.sla.respond, Ratio::new(5, 6));
        assert_eq!(total.sla.dispatch, Ratio::new(4, 6));
        assert_eq!(total.sla.resolve, Ratio::new(3, 5));
        assert_eq!(total.sla.feedback, Ratio::new(1, 1));
        // Return visits: j1 called back 10 h after completion (within 48 h); j2 (VIP) 30 h
        // after (past 24 h); j3 and j4 never, both past due. Their scores: 4 and 2.
        assert_eq!(total.sla.return_visit, Ratio::new(1, 4));
        assert_eq!(total.customer_satisfaction, Ratio::new(1, 2));
        assert_eq!(total.customer_mean_rating, Some(3.0));
        assert_eq!(
            total.satisfaction,
            Ratio::new(2, 3),
            "the phone's ratings, apart"
        );

        let labels: Vec<&str> = data.buckets.iter().map(|b| b.period.as_str()).collect();
        assert_eq!(labels, ["2026-10", "2026-11"]);
        let october = &data.buckets[0].metrics;
        assert_eq!(october.jobs, 2);
        assert_eq!(october.first_time_fix, Ratio::new(1, 2));
        assert_eq!(october.satisfaction, Ratio::new(1, 2));
        assert_eq!(october.time_to_resolve, durations(2, 20 * HOUR, 30 * HOUR));
        let november = &data.buckets[1].metrics;
        assert_eq!(november.jobs, 4);
        assert_eq!(november.first_time_fix, Ratio::new(2, 2));
        assert_eq!(november.complaint_rate, Ratio::new(1, 4));

        let count = |k: &str, n| Count {
            key: k.into(),
            jobs: n,
        };
        assert_eq!(
            data.by_category,
            [
                count("installation", 2),
                count("leak", 2),
                count("no heat", 1),
                count("noise", 1)
            ]
        );
        assert_eq!(data.by_region, [count("north", 3), count("south", 3)]);

        let anna = &data.engineers[0];
        assert_eq!(
            (anna.user.as_str(), anna.name.as_str()),
            ("anna", "Anna Berg")
        );
        assert_eq!(anna.jobs_done, 3);
        assert_eq!(anna.first_time_fix, Ratio::new(3, 3));
        assert_eq!(anna.satisfaction, Ratio::new(2, 2));
        assert_eq!(anna.mean_rating, Some(4.5));
        let ben = &data.engineers[1];
        assert_eq!((ben.jobs_done, ben.first_time_fix), (1, Ratio::new(0, 1)));
        assert_eq!(ben.mean_rating, Some(3.0));
        assert_eq!(
            service_star(&data.engineers).map(|e| e.user.as_str()),
            Some("anna")
        );

        let weeks = report(storage, all(), Period::Week);
        let labels: Vec<&str> = weeks.buckets.iter().map(|b| b.period.as_str()).collect();
        assert_eq!(
            labels,
            ["2026-W42", "2026-W43", "2026-W45", "2026-W46", "2026-W47"]
        );
        let days = report(storage, all(), Period::Day);
        assert_eq!(days.buckets.len(), 6);
        assert_eq!(days.buckets[0].period, "2026-10-15");
    }

    fn periods_are_counted_in_the_organisations_zone(storage: &dyn Storage) {
        store_fixture(storage);
        let days = |time_zone: &str| -> Vec<String> {
            let filter = KpiFilter {
                time_zone: time_zone.into(),
                ..all()
            };
            let data = report(storage, filter, Period::Day);
            data.buckets.into_iter().map(|b| b.period).collect()
        };
        let utc = [
            "2026-10-15",
            "2026-10-20",
            "2026-11-02",
            "2026-11-05",
            "2026-11-10",
            "2026-11-19",
        ];
        assert_eq!(days(""), utc);
        assert_eq!(days("UTC"), utc);
        // Ten hours behind UTC: the calls at 08:00 and 09:00 UTC were the evening before.
        assert_eq!(
            days("Pacific/Honolulu"),
            [
                "2026-10-15",
                "2026-10-19",
                "2026-11-02",
                "2026-11-04",
                "2026-11-10",
                "2026-11-19"
            ]
        );
    }

    fn filters_narrow_the_jobs(storage: &dyn Storage) {
        store_fixture(storage);
        let jobs = |filter: KpiFilter| report(storage, filter, Period::Month).total.jobs;
        let south = KpiFilter {
            region: Some("south".into()),
            ..all()
        };
        assert_eq!(jobs(south), 3);
        let anna = KpiFilter {
            engineer: Some("anna".into()),
            ..all()
        };
        assert_eq!(jobs(anna), 3);
        let installations = KpiFilter {
            kind: Some(JobKind::Installation),
            ..all()
        };
        assert_eq!(jobs(installations), 2);
        let leaks = KpiFilter {
            category: Some("leak".into()),
            ..all()
        };
        assert_eq!(jobs(leaks), 2);
        let november = KpiFilter {
            from: parse_day("2026-11-01").expect("day"),
            ..all()
        };
        let data = report(storage, november, Period::Month);
        assert_eq!(data.total.jobs, 4);
        assert_eq!(
            data.total.sla.resolve,
            Ratio::new(2, 3),
            "j3, j4 met; j5 missed"
        );
        let empty = KpiFilter {
            region: Some("west".into()),
            ..all()
        };
        let data = report(storage, empty, Period::Month);
        assert_eq!(data.total, Metrics::default());
        assert!(data.buckets.is_empty() && data.engineers.is_empty());
    }

    fn engineer(user: &str, done: u64, happy: u64, rated: u64, fixed: u64) -> EngineerKpis {
        EngineerKpis {
            user: user.into(),
            name: user.into(),
            jobs_done: done,
            first_time_fix: Ratio::new(fixed, done),
            satisfaction: Ratio::new(happy, rated),
            mean_rating: None,
        }
    }

    #[test]
    fn the_star_needs_enough_jobs_then_the_happiest_customers() {
        let table = [
            engineer("lucky", 1, 1, 1, 1),
            engineer("anna", 10, 9, 10, 8),
            engineer("ben", 12, 9, 10, 11),
        ];
        assert_eq!(service_star(&table).map(|e| e.user.as_str()), Some("ben"));
        assert!(service_star(&table[..1]).is_none());
    }

    #[test]
    fn ratios_of_nothing_have_no_rate() {
        assert_eq!(Ratio::new(0, 0).rate, None);
        assert_eq!(Ratio::new(1, 4).rate, Some(0.25));
    }
}
