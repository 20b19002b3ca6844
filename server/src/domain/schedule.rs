//! Engineers' working weeks and time off: checked when the office sets them, and held against
//! every booking with the other planning checks (`Dispatch::book`), the day board, the week
//! view and the suggestions. Times and days are the organisation's (`serve --time-zone`); an
//! engineer without a schedule may be booked at any time.

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::Appointment;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::domain::error::{DomainError, ErrorCode, Problem, Thing};
use crate::domain::{dispatch, planning};
use crate::storage::{SCHEDULE_VERSION, Shift, Storage, WorkSchedule, read, write};

/// The most periods of time off one schedule keeps.
pub const MAX_TIME_OFF: usize = 100;

/// The longest reason for time off, in characters.
const MAX_REASON: usize = 200;

/// The weekdays in the order of [`WorkSchedule::week`], for messages.
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Minutes since midnight of `HH:MM` (`24:00` is the day's end), if it is one.
fn minutes(time: &str) -> Option<u32> {
    let (hours, mins) = time.split_once(':')?;
    let two_digits = |part: &str| part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(hours) || !two_digits(mins) {
        return None;
    }
    let (hours, mins): (u32, u32) = (hours.parse().ok()?, mins.parse().ok()?);
    let total = hours * 60 + mins;
    (mins < 60 && total <= 24 * 60).then_some(total)
}

/// The date `YYYY-MM-DD`, if it is one.
fn date(day: &str) -> Option<Date> {
    (day.len() == 10).then(|| day.parse().ok()).flatten()
}

/// `schedule` as the office sent it, checked (every problem at once, each naming its part:
/// `week` or `time_off` with the `index` of the day or period) and tidied: the stored version
/// set, time off in order of its first day.
pub fn checked(mut schedule: WorkSchedule) -> Result<WorkSchedule, DomainError> {
    let mut problems = Vec::new();
    if schedule.week.len() != 7 {
        problems.push(
            DomainError::invalid_field(
                "week",
                Problem::InvalidValue,
                format!(
                    "a week has seven days, Monday first, not {}",
                    schedule.week.len()
                ),
            )
            .with("value", schedule.week.len()),
        );
    }
    for (index, shift) in schedule.week.iter().enumerate() {
        let Some(shift) = shift else { continue };
        let day = WEEKDAYS.get(index).copied().unwrap_or("day");
        match (minutes(&shift.start), minutes(&shift.end)) {
            (Some(start), Some(end)) if start < end => {}
            (Some(_), Some(_)) => problems.push(
                DomainError::invalid_field(
                    "week",
                    Problem::StartAfterEnd,
                    format!("{day}'s hours end before they start"),
                )
                .with("index", index),
            ),
            _ => problems.push(
                DomainError::invalid_field(
                    "week",
                    Problem::InvalidValue,
                    format!(
                        "{day}'s hours `{}`–`{}` are not two times HH:MM",
                        shift.start, shift.end
                    ),
                )
                .with("index", index)
                .with("value", format!("{}–{}", shift.start, shift.end)),
            ),
        }
    }
    if schedule.time_off.len() > MAX_TIME_OFF {
        problems.push(
            DomainError::invalid_field(
                "time_off",
                Problem::TooMany,
                format!("a schedule keeps at most {MAX_TIME_OFF} periods of time off"),
            )
            .with("max", MAX_TIME_OFF),
        );
    }
    for (index, away) in schedule.time_off.iter().enumerate() {
        match (date(&away.from), date(&away.to)) {
            (Some(from), Some(to)) if from <= to => {}
            (Some(_), Some(_)) => problems.push(
                DomainError::invalid_field(
                    "time_off",
                    Problem::StartAfterEnd,
                    format!("time off from {} cannot end on {}", away.from, away.to),
                )
                .with("index", index),
            ),
            _ => problems.push(
                DomainError::invalid_field(
                    "time_off",
                    Problem::InvalidValue,
                    format!(
                        "time off `{}` to `{}` is not two days YYYY-MM-DD",
                        away.from, away.to
                    ),
                )
                .with("index", index)
                .with("value", format!("{} – {}", away.from, away.to)),
            ),
        }
        if away.reason.chars().count() > MAX_REASON {
            problems.push(
                DomainError::invalid_field(
                    "time_off",
                    Problem::TooLong,
                    format!("the reason for time off is longer than {MAX_REASON} characters"),
                )
                .with("index", index)
                .with("max", MAX_REASON),
            );
        }
    }
    dispatch::every_problem(problems)?;
    schedule.v = SCHEDULE_VERSION;
    for away in &mut schedule.time_off {
        away.reason = away.reason.trim().to_owned();
    }
    schedule
        .time_off
        .sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    Ok(schedule)
}

/// Sets (`Some`) or removes the working week and time off of the installer `user_id`; returns
/// what is stored.
pub fn set(
    storage: &dyn Storage,
    user_id: &str,
    schedule: Option<WorkSchedule>,
) -> Result<Option<WorkSchedule>, DomainError> {
    let schedule = schedule.map(checked).transpose()?;
    write(storage, |tx| {
        let user = tx
            .user(user_id)?
            .ok_or_else(|| DomainError::not_found(Thing::User, user_id))?;
        // Anyone's may be removed (a user who is no installer any more keeps none).
        if schedule.is_some() && user.role != "installer" {
            return Err(DomainError::bad_request(
                ErrorCode::UnknownInstaller,
                format!("`{user_id}` is not an installer: only installers have working hours"),
            )
            .with("user", user_id));
        }
        tx.set_work_schedule(user_id, schedule.as_ref())?;
        Ok(())
    })?;
    Ok(schedule)
}

/// The working week and time off of `user_id`, if the office gave them one.
pub fn of(storage: &dyn Storage, user_id: &str) -> Result<Option<WorkSchedule>, DomainError> {
    read(storage, |tx| {
        tx.user(user_id)?
            .ok_or_else(|| DomainError::not_found(Thing::User, user_id))?;
        Ok(tx.work_schedule(user_id)?)
    })
}

/// Why an engineer cannot take a visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Unavailable {
    /// They are away that day (why stays with their schedule, which only the office's
    /// people pages read: a board is read by everyone who plans).
    TimeOff {
        /// The first day away.
        from: String,
        /// The last day away.
        to: String,
    },
    /// They do not work that weekday.
    DayOff,
    /// The visit is not within their hours that day.
    OutsideHours {
        /// When their day starts.
        start: String,
        /// When it ends.
        end: String,
    },
}

impl Unavailable {
    /// The conflict a booking meets, naming `engineer`, and the history's words for booking it
    /// anyway.
    pub fn conflict(&self, engineer: &str) -> (DomainError, String) {
        match self {
            Unavailable::TimeOff { from, to } => (
                DomainError::conflict(
                    Problem::TimeOff,
                    format!(
                        "{engineer} is away from {from} to {to}; give a reason to book it anyway"
                    ),
                )
                .with("user", engineer)
                .with("from", from.as_str())
                .with("to", to.as_str()),
                format!("booked while {engineer} is away"),
            ),
            Unavailable::DayOff => (
                DomainError::conflict(
                    Problem::DayOff,
                    format!("{engineer} does not work that day; give a reason to book it anyway"),
                )
                .with("user", engineer),
                format!("booked on {engineer}'s day off"),
            ),
            Unavailable::OutsideHours { start, end } => (
                DomainError::conflict(
                    Problem::OutsideWorkingHours,
                    format!(
                        "{engineer} works {start}–{end} that day and the visit is not within \
                         it; give a reason to book it anyway"
                    ),
                )
                .with("user", engineer)
                .with("shift_start", start.as_str())
                .with("shift_end", end.as_str()),
                format!("booked outside {engineer}'s hours"),
            ),
        }
    }
}

/// What `schedule` says of `day`: the time off covering it, else whether the engineer works
/// that weekday and when.
pub fn on_day(schedule: &WorkSchedule, day: Date) -> Result<Option<Shift>, Unavailable> {
    let label = day.to_string();
    if let Some(away) = schedule
        .time_off
        .iter()
        .find(|away| away.from <= label && label <= away.to)
    {
        return Err(Unavailable::TimeOff {
            from: away.from.clone(),
            to: away.to.clone(),
        });
    }
    let weekday = usize::try_from(day.weekday().to_monday_zero_offset()).unwrap_or(0);
    match schedule.week.get(weekday) {
        Some(Some(shift)) => Ok(Some(shift.clone())),
        _ => Err(Unavailable::DayOff),
    }
}

/// Why the engineer whose schedule this is cannot take a visit in `slot`, if they cannot: a
/// day of the visit they are away, a weekday they do not work, or a visit that does not fit
/// within that day's hours (a visit over midnight never does).
pub fn unavailable(
    schedule: &WorkSchedule,
    slot: Appointment,
    zone: &TimeZone,
) -> Option<Unavailable> {
    let local = |at: Millis| {
        let at = jiff::Timestamp::from_millisecond(at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        at.to_zoned(zone.clone()).datetime()
    };
    let (start, end) = (local(slot.start), local(slot.end));
    let shift = match on_day(schedule, start.date()) {
        Ok(shift) => shift?,
        Err(why) => return Some(why),
    };
    // The minute the visit ends on its own day (a visit ending at midnight ends at 24:00).
    let end_minutes = if end.date() == start.date() {
        Some(minutes_of(end.time()))
    } else if end.date() == start.date().tomorrow().ok()? && end.time() == Time::midnight() {
        Some(24 * 60)
    } else {
        None
    };
    let within = match (minutes(&shift.start), minutes(&shift.end), end_minutes) {
        (Some(from), Some(to), Some(end)) => from <= minutes_of(start.time()) && end <= to,
        _ => false,
    };
    (!within).then_some(Unavailable::OutsideHours {
        start: shift.start,
        end: shift.end,
    })
}

fn minutes_of(time: Time) -> u32 {
    u32::try_from(time.hour()).unwrap_or(0) * 60 + u32::try_from(time.minute()).unwrap_or(0)
}

/// The date of a planning day (its label is `YYYY-MM-DD`).
pub fn date_of(day: &planning::Day) -> Result<Date, DomainError> {
    planning::parse_date(&day.label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::TimeOff;

    fn week(shift: Option<(&str, &str)>) -> WorkSchedule {
        let shift = shift.map(|(start, end)| Shift {
            start: start.into(),
            end: end.into(),
        });
        let mut week = vec![shift; 5];
        week.extend([None, None]);
        WorkSchedule {
            v: SCHEDULE_VERSION,
            week,
            time_off: vec![TimeOff {
                from: "2030-01-09".into(),
                to: "2030-01-10".into(),
                reason: "training".into(),
            }],
        }
    }

    /// Milliseconds of `HH:MM` on `YYYY-MM-DD` in UTC.
    fn at(day: &str, time: &str) -> Millis {
        let date: Date = day.parse().expect("date");
        date.at(0, 0, 0, 0)
            .to_zoned(TimeZone::UTC)
            .expect("zoned")
            .timestamp()
            .as_millisecond()
            + i64::from(minutes(time).expect("time")) * 60_000
    }

    #[test]
    fn a_visit_fits_within_the_days_hours_or_says_why_not() {
        let schedule = week(Some(("08:00", "17:00")));
        let zone = TimeZone::UTC;
        let slot = |day: &str, start: &str, end: &str| Appointment {
            start: at(day, start),
            end: at(day, end),
        };
        // Monday 7 January 2030.
        assert_eq!(
            unavailable(&schedule, slot("2030-01-07", "08:00", "17:00"), &zone),
            None
        );
        assert_eq!(
            unavailable(&schedule, slot("2030-01-07", "16:00", "18:00"), &zone),
            Some(Unavailable::OutsideHours {
                start: "08:00".into(),
                end: "17:00".into()
            })
        );
        assert_eq!(
            unavailable(&schedule, slot("2030-01-12", "10:00", "11:00"), &zone),
            Some(Unavailable::DayOff),
            "Saturday"
        );
        assert_eq!(
            unavailable(&schedule, slot("2030-01-10", "10:00", "11:00"), &zone),
            Some(Unavailable::TimeOff {
                from: "2030-01-09".into(),
                to: "2030-01-10".into()
            })
        );
        // Over midnight never fits; ending at midnight fits a day that ends at 24:00.
        let late = week(Some(("18:00", "24:00")));
        let overnight = Appointment {
            start: at("2030-01-07", "23:00"),
            end: at("2030-01-08", "01:00"),
        };
        assert!(unavailable(&late, overnight, &zone).is_some());
        let to_midnight = Appointment {
            start: at("2030-01-07", "22:00"),
            end: at("2030-01-08", "00:00"),
        };
        assert_eq!(unavailable(&late, to_midnight, &zone), None);
        // Hours are the organisation's: 08:00 in Shanghai is 00:00 UTC.
        let shanghai = TimeZone::get("Asia/Shanghai").expect("zone");
        let morning = slot("2030-01-07", "00:30", "01:30");
        assert_eq!(unavailable(&schedule, morning, &shanghai), None);
        assert!(unavailable(&schedule, morning, &zone).is_some());
    }

    /// Hours are wall-clock hours: on the day the clocks go forward, 08:00 is still 08:00.
    #[test]
    fn hours_follow_the_organisations_clock_through_daylight_saving() {
        let berlin = TimeZone::get("Europe/Berlin").expect("zone");
        let mut schedule = week(Some(("08:00", "17:00")));
        schedule.week[6] = schedule.week[0].clone();
        let local = |at: &str| {
            let at: jiff::civil::DateTime = at.parse().expect("date and time");
            at.to_zoned(berlin.clone())
                .expect("zoned")
                .timestamp()
                .as_millisecond()
        };
        // Sunday 31 March 2030: the clocks go from 02:00 to 03:00.
        let visit = |from: &str, to: &str| Appointment {
            start: local(&format!("2030-03-31T{from}")),
            end: local(&format!("2030-03-31T{to}")),
        };
        assert_eq!(
            unavailable(&schedule, visit("08:00", "09:00"), &berlin),
            None
        );
        assert_eq!(
            unavailable(&schedule, visit("16:00", "17:00"), &berlin),
            None
        );
        assert!(unavailable(&schedule, visit("07:30", "08:30"), &berlin).is_some());
    }

    #[test]
    fn a_schedule_is_checked_whole_and_tidied() {
        let mut schedule = week(Some(("08:00", "17:00")));
        schedule.time_off.push(TimeOff {
            from: "2030-01-02".into(),
            to: "2030-01-03".into(),
            reason: "  sick  ".into(),
        });
        let tidied = checked(schedule.clone()).expect("valid");
        assert_eq!(
            tidied.time_off[0].from, "2030-01-02",
            "in order of the first day"
        );
        assert_eq!(tidied.time_off[0].reason, "sick");

        let mut bad = schedule;
        bad.week[0] = Some(Shift {
            start: "9".into(),
            end: "17:00".into(),
        });
        bad.week[1] = Some(Shift {
            start: "17:00".into(),
            end: "08:00".into(),
        });
        bad.time_off[0].to = "2030-01-01".into();
        bad.time_off[1].from = "yesterday".into();
        let error = checked(bad).expect_err("refused");
        let errors = error.params()["errors"].clone();
        let found: Vec<(String, i64)> = errors
            .as_array()
            .expect("every problem")
            .iter()
            .map(|e| {
                (
                    e["params"]["problem"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    e["params"]["index"].as_i64().unwrap_or(-1),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                ("invalid_value".to_owned(), 0),
                ("start_after_end".to_owned(), 1),
                ("start_after_end".to_owned(), 0),
                ("invalid_value".to_owned(), 1),
            ]
        );
        let short = WorkSchedule {
            week: vec![None; 6],
            ..week(None)
        };
        assert!(checked(short).is_err());
        for bad in ["24:01", "7:00", "08:60", "ab:cd", "+8:00", "08:+5"] {
            assert_eq!(minutes(bad), None, "{bad}");
        }
    }
}
