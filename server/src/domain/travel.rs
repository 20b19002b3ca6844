//! Where jobs and engineers are, how long it takes to get from one visit to the next, and the
//! day's map.
//!
//! A job is where its site's coordinates say (dispatch gives them at intake or in a
//! correction), else where its engineer arrived (the phone records its position when it moves a
//! job to on site). Travel is estimated as the straight line between two places at the
//! organisation's speed (`serve --travel-kmh`): there is no road network here, so the estimate
//! is a floor that a dispatcher can override with a reason, never a route.

use std::collections::HashMap;

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::{Appointment, Job, JobSummary};
use fieldsync_protocol::rules::Status;
use serde::Serialize;

use crate::domain::error::DomainError;
use crate::domain::jobs;
use crate::domain::planning::{self, Day};
use crate::storage::ReadTx;

/// The travel speed when none is configured: a van in a city, stops and traffic included.
pub const DEFAULT_TRAVEL_KMH: f64 = 30.0;

/// Visits further apart than this in time are not consecutive: the engineer went home between.
const SAME_STRETCH: Millis = 12 * 3_600_000;

/// A place on Earth, WGS-84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Position {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

impl Position {
    /// The great-circle distance to `other`, in kilometres.
    pub fn km_to(self, other: Position) -> f64 {
        const EARTH_RADIUS_KM: f64 = 6_371.0;
        let (lat1, lat2) = (self.lat.to_radians(), other.lat.to_radians());
        let half_dlat = (lat2 - lat1) / 2.0;
        let half_dlon = (other.lon - self.lon).to_radians() / 2.0;
        let a = half_dlat.sin().powi(2) + lat1.cos() * lat2.cos() * half_dlon.sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
    }
}

/// Where a job's position comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LocatedBy {
    /// The site's coordinates, as dispatch gave them.
    Site,
    /// Where the engineer's phone was when the visit started.
    Arrival,
}

impl Position {
    /// A position a phone reported, if it can be one: finite, within range, and not the 0, 0
    /// a phone without a fix may send.
    pub fn reported(lat: Option<f64>, lon: Option<f64>) -> Option<Position> {
        let (lat, lon) = (lat?, lon?);
        let plausible = lat.is_finite()
            && lon.is_finite()
            && lat.abs() <= 90.0
            && lon.abs() <= 180.0
            && (lat, lon) != (0.0, 0.0);
        plausible.then_some(Position { lat, lon })
    }
}

/// Where `job` is, and how that is known: the site's coordinates (checked when dispatch gave
/// them), else where the phone was at the latest arrival on site that reported a plausible
/// position.
pub fn job_position(job: &Job) -> Option<(Position, LocatedBy)> {
    if let Some((lat, lon)) = job.site.position() {
        return Some((Position { lat, lon }, LocatedBy::Site));
    }
    job.transitions
        .iter()
        .rev()
        .filter(|t| t.to == Status::OnSite)
        .find_map(|t| Position::reported(t.lat, t.lon).map(|p| (p, LocatedBy::Arrival)))
}

/// How fast engineers get from one site to the next, in a straight line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TravelSpeed {
    kmh: f64,
}

impl Default for TravelSpeed {
    fn default() -> Self {
        TravelSpeed {
            kmh: DEFAULT_TRAVEL_KMH,
        }
    }
}

impl TravelSpeed {
    /// A speed of `kmh` kilometres an hour, between 1 and 200, or an error that says so.
    pub fn new(kmh: f64) -> Result<Self, String> {
        if kmh.is_finite() && (1.0..=200.0).contains(&kmh) {
            Ok(TravelSpeed { kmh })
        } else {
            Err(format!(
                "the travel speed must be between 1 and 200 km/h, not {kmh}"
            ))
        }
    }

    /// The speed in kilometres an hour.
    pub fn kmh(self) -> f64 {
        self.kmh
    }

    /// Whole minutes (rounded up) to cover `km`.
    pub fn minutes(self, km: f64) -> i64 {
        (km / self.kmh * 60.0).ceil() as i64
    }
}

/// A visit next to a planned one that leaves the engineer too little time to travel between
/// them.
#[derive(Debug, Clone)]
pub struct TooLittleTravel {
    /// The other visit.
    pub other: JobSummary,
    /// Whether it comes before the planned one.
    pub before: bool,
    /// The straight-line distance between the two sites.
    pub km: f64,
    /// Minutes the travel needs at the organisation's speed.
    pub needed: i64,
    /// Minutes between the two visits.
    pub free: i64,
}

/// The engineer's visit just before `slot` or just after it (the nearest within the same
/// stretch of work) when the time between them is shorter than the travel between the two
/// sites; `None` when there is time, or when either place is unknown.
pub fn too_little_travel(
    tx: &dyn ReadTx,
    job: &Job,
    engineer: &str,
    slot: Appointment,
    speed: TravelSpeed,
) -> Result<Option<TooLittleTravel>, DomainError> {
    let Some((here, _)) = job_position(job) else {
        return Ok(None);
    };
    let visits: Vec<(JobSummary, Appointment)> = tx
        .list_jobs()?
        .into_iter()
        .filter(|j| j.id != job.id && j.assignee.as_deref() == Some(engineer))
        // A finished (or closed) visit is where the engineer sets off from; a called-off one
        // is not.
        .filter(|j| j.status != Status::Cancelled)
        .filter_map(|j| match (j.appointment_start, j.appointment_end) {
            (Some(start), Some(end)) => Some((j, Appointment { start, end })),
            _ => None,
        })
        .collect();
    let before = visits
        .iter()
        .filter(|(_, a)| a.end <= slot.start && slot.start - a.end < SAME_STRETCH)
        .max_by_key(|(_, a)| a.end)
        .map(|(j, a)| (j, slot.start - a.end, true));
    let after = visits
        .iter()
        .filter(|(_, a)| a.start >= slot.end && a.start - slot.end < SAME_STRETCH)
        .min_by_key(|(_, a)| a.start)
        .map(|(j, a)| (j, a.start - slot.end, false));
    for (other, gap, before) in before.into_iter().chain(after) {
        let Some(there) = position_of(tx, &other.id)? else {
            continue;
        };
        let km = here.km_to(there);
        let needed = speed.minutes(km);
        let free = gap / 60_000;
        if free < needed {
            return Ok(Some(TooLittleTravel {
                other: other.clone(),
                before,
                km,
                needed,
                free,
            }));
        }
    }
    Ok(None)
}

/// Where the stored job `job_id` is, if it exists and its place is known.
pub(crate) fn position_of(tx: &dyn ReadTx, job_id: &str) -> Result<Option<Position>, DomainError> {
    let Some(stored) = tx.job(job_id)? else {
        return Ok(None);
    };
    let job = jobs::read_stored(tx, job_id, &stored)?;
    Ok(job_position(&job).map(|(position, _)| position))
}

/// A job on the map.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MapJob {
    /// The job.
    pub job: JobSummary,
    /// Where it is.
    pub position: Position,
    /// How that is known.
    pub located_by: LocatedBy,
}

/// An engineer on the map: where their phone last was that day.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MapEngineer {
    /// The engineer.
    pub user: String,
    /// Their name.
    pub name: String,
    /// Their region.
    pub region: String,
    /// Where their phone was at their latest arrival that day at one of the day's visits or
    /// jobs to plan, if any.
    pub position: Option<Position>,
    /// When (the phone's clock).
    pub at: Option<Millis>,
    /// The job they arrived at.
    pub job: Option<String>,
}

/// The map of one day: its visits and the jobs still to plan, with where each is, and every
/// engineer where their phone last arrived that day.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DayMap {
    /// The day, `YYYY-MM-DD`.
    pub day: String,
    /// Its start.
    pub start: Millis,
    /// Its end.
    pub end: Millis,
    /// The tile server the console draws under the points (`{z}`, `{x}`, `{y}` in the
    /// address: `serve --map-tiles`), if one is configured; without it the points are drawn
    /// on a plain background.
    pub tiles: Option<String>,
    /// The straight-line travel speed planning assumes (`serve --travel-kmh`).
    pub travel_kmh: f64,
    /// The day's visits and the open jobs still needing an engineer or an appointment, with a
    /// known place.
    pub jobs: Vec<MapJob>,
    /// The same jobs whose place is not known (no coordinates, no arrival yet).
    pub unlocated: Vec<JobSummary>,
    /// Every installer, by name.
    pub engineers: Vec<MapEngineer>,
}

/// The map of `day`.
pub fn day_map(
    tx: &dyn ReadTx,
    day: &Day,
    tiles: Option<String>,
    speed: TravelSpeed,
) -> Result<DayMap, DomainError> {
    let board = planning::board(tx, day)?;
    let visits = board.engineers.iter().flat_map(|row| row.jobs.iter());
    let mut jobs = Vec::new();
    let mut unlocated = Vec::new();
    // Each engineer's latest arrival that day with a position: (at, where, job).
    let mut arrivals: HashMap<String, (Millis, Position, String)> = HashMap::new();
    for summary in visits.chain(board.unplanned.iter()) {
        let Some(stored) = tx.job(&summary.id)? else {
            continue;
        };
        let job = jobs::read_stored(tx, &summary.id, &stored)?;
        for t in job.transitions.iter().filter(|t| t.to == Status::OnSite) {
            if let Some(position) = Position::reported(t.lat, t.lon)
                && (day.start..day.end).contains(&t.at)
                && arrivals.get(&t.by).is_none_or(|(at, _, _)| *at < t.at)
            {
                arrivals.insert(t.by.clone(), (t.at, position, job.id.clone()));
            }
        }
        match job_position(&job) {
            Some((position, located_by)) => jobs.push(MapJob {
                job: summary.clone(),
                position,
                located_by,
            }),
            None => unlocated.push(summary.clone()),
        }
    }
    let engineers = board
        .engineers
        .into_iter()
        .map(|row| {
            let arrival = arrivals.remove(&row.user);
            MapEngineer {
                position: arrival.as_ref().map(|a| a.1),
                at: arrival.as_ref().map(|a| a.0),
                job: arrival.map(|a| a.2),
                user: row.user,
                name: row.name,
                region: row.region,
            }
        })
        .collect();
    Ok(DayMap {
        day: board.day,
        start: board.start,
        end: board.end,
        tiles,
        travel_kmh: speed.kmh(),
        jobs,
        unlocated,
        engineers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_are_great_circles() {
        let shanghai = Position {
            lat: 31.2304,
            lon: 121.4737,
        };
        let beijing = Position {
            lat: 39.9042,
            lon: 116.4074,
        };
        let km = shanghai.km_to(beijing);
        assert!((1060.0..1075.0).contains(&km), "{km}");
        assert_eq!(shanghai.km_to(shanghai), 0.0);
        // Across the antimeridian it is the short way round.
        let west = Position {
            lat: 0.0,
            lon: 179.5,
        };
        let east = Position {
            lat: 0.0,
            lon: -179.5,
        };
        assert!((west.km_to(east) - 111.2).abs() < 0.5);
    }

    #[test]
    fn a_phone_without_a_fix_places_nothing() {
        assert_eq!(Position::reported(Some(0.0), Some(0.0)), None);
        assert_eq!(Position::reported(Some(f64::NAN), Some(1.0)), None);
        assert_eq!(Position::reported(Some(91.0), Some(1.0)), None);
        assert_eq!(Position::reported(Some(1.0), None), None);
        assert_eq!(
            Position::reported(Some(31.2), Some(121.5)),
            Some(Position {
                lat: 31.2,
                lon: 121.5
            })
        );
    }

    #[test]
    fn travel_minutes_round_up_and_speeds_are_bounded() {
        let speed = TravelSpeed::new(30.0).expect("valid");
        assert_eq!(speed.minutes(0.0), 0);
        assert_eq!(speed.minutes(10.0), 20);
        assert_eq!(speed.minutes(10.01), 21);
        for bad in [0.0, -5.0, 500.0, f64::NAN, f64::INFINITY] {
            assert!(TravelSpeed::new(bad).is_err(), "{bad}");
        }
    }
}
