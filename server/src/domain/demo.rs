//! Demo data: a month of a small service organisation's work, so a newcomer sees the console,
//! the queues and the dashboard working. Five engineers in three regions, customers of both
//! tiers, installations, repairs, maintenance, inspections and complaints; first visits that
//! fail and get a follow-up, help requests, jobs escalated past their deadline, ratings, and
//! today's board with fresh calls still to dispatch. First-time fix and satisfaction improve
//! over the month, as they do once a team adopts the practice.
//!
//! Everything is written through the same paths as real work: dispatch's edits as the server,
//! the engineers' as Automerge changes from their phones, arriving some time after they were
//! made (so device and server times differ, as they do offline). The data is the same on every
//! run (a fixed pseudo-random sequence), relative to the time it is seeded.

use fieldsync_protocol::automerge::ActorId;
use fieldsync_protocol::job::{
    Appointment, ChecklistUpdate, Customer, Editor, JobDoc, JobKind, NewJob, Outcome, PartUsed,
    Priority, Problem, Product, Rating, Role, Site, Tier, TimeEntry, TimeKind,
};
use fieldsync_protocol::rules::Status;
use fieldsync_protocol::{Millis, SchemaError};

use crate::domain::auth;
use crate::domain::dispatch::Dispatch;
use crate::domain::error::DomainError;
use crate::domain::escalation;
use crate::domain::jobs::{self, Author, NO_FIELDS};
use crate::domain::planning::DAY;
use crate::domain::sla::{HOUR, MINUTE, SlaPolicy};
use crate::storage::{Storage, User, WriteTx, atomically, write};

/// The demo dispatcher's user id.
pub const DISPATCHER: &str = "dispatch";
/// The demo dispatcher's password: demo databases only, printed by `fieldsync serve --demo`.
pub const DISPATCHER_PASSWORD: &str = "dispatch-demo";
/// The demo office users besides dispatch: (id, name, role, password).
pub const OFFICE: [(&str, &str, &str, &str); 2] = [
    ("sofia", "Sofia Lind", "supervisor", "supervisor-demo"),
    (
        "hugo",
        "Hugo Brandt",
        "head_of_engineering",
        "head-of-engineering-demo",
    ),
];

/// The demo engineers: (id, name, region, skills).
pub const INSTALLERS: [(&str, &str, &str, &[&str]); 5] = [
    (
        "anna",
        "Anna Berg",
        "north",
        &["HP", "installation", "no heat"],
    ),
    ("ben", "Ben Okafor", "south", &["BX", "repair", "leak"]),
    (
        "chen",
        "Chen Wei",
        "north",
        &["AC", "installation", "noise"],
    ),
    ("dora", "Dora Silva", "east", &["HP", "BX", "maintenance"]),
    ("emil", "Emil Novak", "south", &["AC", "HP", "error code"]),
];

const REGIONS: [&str; 3] = ["north", "south", "east"];
const MODELS: [&str; 5] = ["HP-200", "HP-300", "BX-9", "AC-12", "AC-18"];
const FAULTS: [&str; 4] = ["no heat", "leak", "noise", "error code"];
const STREETS: [&str; 6] = [
    "Main Street",
    "Harbour Road",
    "Mill Lane",
    "Station Square",
    "Orchard Way",
    "Kings Avenue",
];
const SURNAMES: [&str; 8] = [
    "Jensen",
    "Moreau",
    "Kowalski",
    "Tanaka",
    "Fischer",
    "Rossi",
    "Haddad",
    "Lindqvist",
];

/// A fixed pseudo-random sequence (xorshift), so the demo is the same on every run.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A whole number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 10_000) as f64 / 10_000.0 < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A duration between `lo` and `hi`.
    fn between(&mut self, lo: Millis, hi: Millis) -> Millis {
        lo + self.below(u64::try_from(hi - lo).unwrap_or(0) + 1) as Millis
    }
}

/// Who makes an edit: dispatch through the server, or an engineer on their phone.
enum Hand<'a> {
    Office,
    Phone(&'a str),
}

/// Applies one edit to a stored job inside `tx`, stored at `received`.
fn edit(
    tx: &mut dyn WriteTx,
    job_id: &str,
    hand: &Hand<'_>,
    received: Millis,
    f: impl FnOnce(&mut JobDoc, &Editor) -> Result<(), SchemaError>,
) -> Result<(), DomainError> {
    let (actor, editor, device) = match hand {
        Hand::Office => (
            ActorId::from(tx.server_actor()?.as_slice()),
            Editor {
                user: DISPATCHER.into(),
                device: "server".into(),
                role: Role::Dispatch,
            },
            None,
        ),
        Hand::Phone(user) => {
            let device = format!("demo-phone-{user}");
            (
                ActorId::from(device.as_bytes()),
                Editor {
                    user: (*user).into(),
                    device: device.clone(),
                    role: Role::Installer,
                },
                Some(device),
            )
        }
    };
    let author = Author {
        user: &editor.user,
        device: device.as_deref(),
        fields: NO_FIELDS,
        binds_actors: true,
    };
    jobs::edit(tx, job_id, actor, &editor, author, received, f)?;
    Ok(())
}

/// One visit by `engineer` starting at `start`: travel, work through the checklist, parts,
/// and the visit's end (completed or incomplete), synced a while after it ended. Returns when
/// the visit ended.
fn visit(
    tx: &mut dyn WriteTx,
    job_id: &str,
    engineer: &str,
    start: Millis,
    fixed: bool,
    kind: JobKind,
    dice: &mut Dice,
) -> Result<Millis, DomainError> {
    let on_site = start + dice.between(15 * MINUTE, 50 * MINUTE);
    let end = on_site + dice.between(40 * MINUTE, 3 * HOUR);
    let synced = end + dice.between(2 * MINUTE, 3 * HOUR);
    let part = dice.chance(0.4).then(|| PartUsed {
        part_number: format!("P-{}", 1000 + dice.below(40)),
        quantity: 1 + dice.below(2) as u32,
        under_warranty: dice.chance(0.6),
        by: engineer.to_owned(),
        at: on_site + 20 * MINUTE,
    });
    let note = if fixed {
        "Found the fault, replaced the part and tested with the customer."
    } else {
        "Part not on the van; ordered it, customer informed. Needs a second visit."
    };
    edit(tx, job_id, &Hand::Phone(engineer), synced, |doc, editor| {
        doc.transition(Status::EnRoute, editor, start, None)?;
        doc.transition(Status::OnSite, editor, on_site, None)?;
        let items: Vec<String> = doc.read()?.checklist.keys().cloned().collect();
        for (n, item) in items.iter().enumerate() {
            let done = fixed || n + 1 < items.len();
            let update = ChecklistUpdate {
                done: Some(done),
                ..ChecklistUpdate::default()
            };
            doc.update_checklist_item(item, &update, on_site + (n as Millis + 1) * 10 * MINUTE)?;
        }
        let notes_len = doc.read()?.notes.chars().count();
        doc.splice_notes(notes_len, 0, note, end)?;
        if let Some(part) = &part {
            doc.add_part(part, part.at)?;
        }
        for (kind, from, to) in [
            (TimeKind::Travel, start, on_site),
            (TimeKind::OnSite, on_site, end),
        ] {
            let entry = TimeEntry {
                kind,
                start: from,
                end: to,
                by: editor.user.clone(),
            };
            doc.add_time_entry(&entry, to)?;
        }
        if fixed {
            let outcome = Outcome {
                first_visit_success: None,
                cause: match kind {
                    JobKind::Installation => "new installation".into(),
                    _ => "worn component".into(),
                },
                fix: match kind {
                    JobKind::Installation => "installed and commissioned".into(),
                    _ => "replaced the component and tested".into(),
                },
                summary: "Done, customer satisfied with the result.".into(),
            };
            doc.set_outcome(&outcome, end)?;
        }
        let to = if fixed {
            Status::Completed
        } else {
            Status::Incomplete
        };
        doc.transition(to, editor, end, None)
    })?;
    Ok(end)
}

fn put_people(storage: &dyn Storage) -> Result<(), DomainError> {
    auth::put_user(
        storage,
        &User {
            id: DISPATCHER.into(),
            name: "Dana Dispatch".into(),
            role: "dispatcher".into(),
            region: String::new(),
            skills: vec![],
        },
        Some(DISPATCHER_PASSWORD),
    )?;
    for (id, name, role, password) in OFFICE {
        auth::put_user(
            storage,
            &User {
                id: id.into(),
                name: name.into(),
                role: role.into(),
                region: String::new(),
                skills: vec![],
            },
            Some(password),
        )?;
    }
    for (id, name, region, skills) in INSTALLERS {
        auth::put_user(
            storage,
            &User {
                id: id.into(),
                name: name.into(),
                role: "installer".into(),
                region: region.into(),
                skills: skills.iter().map(|s| (*s).to_owned()).collect(),
            },
            None,
        )?;
    }
    Ok(())
}

/// The engineer dispatch would pick: one of the region's, usually with a matching skill.
fn engineer_for<'a>(region: &str, model: &str, dice: &mut Dice) -> &'a str {
    let local: Vec<&(&str, &str, &str, &[&str])> =
        INSTALLERS.iter().filter(|i| i.2 == region).collect();
    let skilled: Vec<&&(&str, &str, &str, &[&str])> = local
        .iter()
        .filter(|i| i.3.iter().any(|s| model.starts_with(s)))
        .collect();
    if let Some(best) = skilled.first().filter(|_| dice.chance(0.8)) {
        return best.0;
    }
    match local.as_slice() {
        [] => dice.pick(&INSTALLERS).0,
        some => dice.pick(some).0,
    }
}

/// Fills an empty store with demo people and `days` days of work up to `now`, then lets the
/// escalation ladder catch up. Does nothing if there are users besides the admin. Returns how
/// many jobs it created.
pub fn seed(storage: &dyn Storage, policy: &SlaPolicy, now: Millis) -> Result<usize, DomainError> {
    seed_days(storage, policy, now, 30)
}

/// [`seed`] with a chosen number of days. All of it commits together: a server stopped while
/// seeding leaves an empty store, which the next start fills again.
pub fn seed_days(
    storage: &dyn Storage,
    policy: &SlaPolicy,
    now: Millis,
    days: i64,
) -> Result<usize, DomainError> {
    atomically(storage, || fill(storage, policy, now, days))
}

fn fill(
    storage: &dyn Storage,
    policy: &SlaPolicy,
    now: Millis,
    days: i64,
) -> Result<usize, DomainError> {
    let dispatch = Dispatch::new(storage, DISPATCHER).with_sla(policy);
    if dispatch.users()?.iter().any(|u| u.role != "admin") {
        return Ok(0);
    }
    put_people(storage)?;
    let mut dice = Dice(0x5eed_f1e1_d5c0_ffee);
    let today = now - now.rem_euclid(DAY);
    let mut created = 0;
    for day in (0..=days).rev() {
        let day_start = today - day * DAY;
        // The team gets better over the month: PRODUCT.md's 82% → 91% first-time fix.
        let progress = 1.0 - day as f64 / days.max(1) as f64;
        let calls = 6 + dice.below(5);
        for _ in 0..calls {
            let received = day_start + dice.between(7 * HOUR, 18 * HOUR);
            if received > now - 10 * MINUTE {
                continue;
            }
            created += 1;
            call(
                storage, &dispatch, &mut dice, received, now, progress, created,
            )?;
        }
    }
    // Fresh calls still to dispatch, as the console opens.
    for n in 0..3 {
        let received = now - (n as Millis + 1) * 3 * MINUTE;
        let new = new_call(&mut dice, received, 9000 + n);
        dispatch.create(new, received + 40_000)?;
        created += 1;
    }
    created += trouble(storage, &dispatch, &mut dice, now)?;
    escalation::tick(storage, policy, now, escalation::Look::Everything)?;
    publish_manuals(storage, now)?;
    Ok(created)
}

/// Dispatch books a two-hour appointment from `start` and assigns `engineer`, at `at`.
fn book(
    tx: &mut dyn WriteTx,
    job_id: &str,
    engineer: &str,
    start: Millis,
    at: Millis,
) -> Result<(), DomainError> {
    edit(tx, job_id, &Hand::Office, at, |doc, editor| {
        doc.set_appointment(
            Appointment {
                start,
                end: start + 2 * HOUR,
            },
            editor,
            at,
        )?;
        doc.assign(Some(engineer), editor, at)
    })
}

/// Trouble the console shows whatever the time of day the demo is seeded (the month's own
/// trouble depends on where its random calls fall): a job that stalled three days ago, past its
/// resolution deadline (the ladder takes it to ring 2), and one whose engineer asked for help on
/// site a few hours ago. Returns how many jobs it created.
fn trouble(
    storage: &dyn Storage,
    dispatch: &Dispatch<'_>,
    dice: &mut Dice,
    now: Millis,
) -> Result<usize, DomainError> {
    for (n, (ago, asks_for_help)) in [(3 * DAY, false), (5 * HOUR, true)].into_iter().enumerate() {
        let received = now - ago;
        let new = new_call(dice, received, 9100 + n);
        let engineer = engineer_for(&new.site.region, &new.product.model, dice);
        let (summary, _) = dispatch.create(new, received + 40_000)?;
        let dispatched = received + 3 * MINUTE;
        let start = received + 2 * HOUR;
        write(storage, |tx| {
            book(tx, &summary.id, engineer, start, dispatched)?;
            if asks_for_help {
                let asked = start + HOUR;
                edit(
                    tx,
                    &summary.id,
                    &Hand::Phone(engineer),
                    asked,
                    |doc, editor| {
                        doc.transition(Status::EnRoute, editor, start, None)?;
                        doc.transition(Status::OnSite, editor, start + 30 * MINUTE, None)?;
                        doc.request_help(
                            editor,
                            "Error E7 persists after a controller reset",
                            asked,
                        )
                    },
                )?;
            }
            Ok::<_, DomainError>(())
        })?;
    }
    Ok(2)
}

/// A manual for every demo model: what a phone finds offline for the products on its jobs.
fn publish_manuals(storage: &dyn Storage, now: Millis) -> Result<(), DomainError> {
    for model in MODELS {
        let (product, steps): (&str, [(&str, &str, String); 5]) = match &model[..2] {
            "HP" => ("heat pump", [
                ("safety", "Safety", "Isolate the supply at the fused spur and wait five minutes before opening the outdoor unit: the inverter capacitors hold a charge.".into()),
                ("installation", "Installation", format!("Mount the {model} on the wall brackets with 300 mm clearance at the back. Flush the heating circuit before connecting the flow and return.")),
                ("commissioning", "Commissioning", "Fill to 1.5 bar, bleed every radiator, then run the pump for ten minutes in service mode. Vérifier la soupape de sécurité avant la remise en service.".into()),
                ("faults", "Fault codes", "E4: low water pressure, top up and check for leaks. E7: flow sensor fault, check the sensor cable and the filter.".into()),
                ("install-zh", "安装说明", "安装前请关闭电源。安装完成后检查管道压力并排气。".into()),
            ]),
            "BX" => ("boiler", [
                ("safety", "Safety", "Turn off the gas at the appliance valve and test for tightness after any work on the gas train.".into()),
                ("installation", "Installation", format!("The {model} needs a 22 mm gas supply and a condensate drain with a trap. Fit the flue with a 3 degree fall back to the boiler.")),
                ("commissioning", "Commissioning", "Check the combustion ratio with an analyser at maximum and minimum rate; it must stay below 0.004.".into()),
                ("faults", "Fault codes", "F22: low pressure. F28: ignition failure, check the gas supply and the ignition electrode gap of 4 mm.".into()),
                ("maintenance", "Annual service", "Clean the heat exchanger, replace the burner gasket, check the expansion vessel charge at 1 bar.".into()),
            ]),
            _ => ("air conditioner", [
                ("safety", "Safety", "Recover the refrigerant before opening the circuit; never vent R32 to the air.".into()),
                ("installation", "Installation", format!("Keep the {model} indoor unit 150 mm below the ceiling. Pressure test the pipework with nitrogen at 40 bar for an hour.")),
                ("commissioning", "Commissioning", "Evacuate to 500 microns, open the service valves, then check the superheat after twenty minutes of running.".into()),
                ("faults", "Fault codes", "P4: compressor overheating, check the refrigerant charge. U4: communication error between the units, check the interconnecting cable.".into()),
                ("maintenance", "Maintenance", "Clean the filters every three months and the condensate pump every year.".into()),
            ]),
        };
        let input = fieldsync_protocol::knowledge::ManualInput {
            model: model.into(),
            version: 1,
            title: format!("{model} {product}: installation and service"),
            sections: steps
                .into_iter()
                .map(|(id, title, body)| fieldsync_protocol::knowledge::Section {
                    id: id.into(),
                    title: title.into(),
                    body,
                })
                .collect(),
            attachments: Vec::new(),
        };
        write(storage, |tx| {
            crate::domain::knowledge::publish(tx, input, DISPATCHER, now)
        })?;
    }
    Ok(())
}

fn new_call(dice: &mut Dice, received: Millis, n: usize) -> NewJob {
    let kind = *dice.pick(&[
        JobKind::Installation,
        JobKind::Installation,
        JobKind::Repair,
        JobKind::Repair,
        JobKind::Repair,
        JobKind::Maintenance,
        JobKind::Maintenance,
        JobKind::Inspection,
        JobKind::Complaint,
    ]);
    let vip = dice.chance(0.2);
    let region = *dice.pick(&REGIONS);
    let model = *dice.pick(&MODELS);
    let category = match kind {
        JobKind::Installation => "installation".to_owned(),
        JobKind::Maintenance => "annual service".to_owned(),
        JobKind::Inspection => "safety inspection".to_owned(),
        JobKind::Repair | JobKind::Complaint => (*dice.pick(&FAULTS)).to_owned(),
    };
    let surname = dice.pick(&SURNAMES);
    let description = match kind {
        JobKind::Installation => format!("New {model} to install; old unit to be removed."),
        JobKind::Complaint => format!("Customer unhappy: the {category} problem came back."),
        JobKind::Maintenance => "Yearly service due.".to_owned(),
        JobKind::Inspection => "Inspection required by the insurer.".to_owned(),
        JobKind::Repair => format!("Customer reports {category} on the {model}."),
    };
    NewJob {
        kind,
        call_received_at: received,
        customer: Customer {
            id: format!("cust-{n}"),
            name: format!("{} {surname}", if vip { "Hotel" } else { "Family" }),
            tier: if vip { Tier::Vip } else { Tier::Standard },
            phone: format!("+1 555 {:04}", n % 10_000),
            email: format!("{}{n}@example.com", surname.to_lowercase()),
        },
        site: Site {
            address: format!("{} {}", 1 + dice.below(120), dice.pick(&STREETS)),
            region: region.into(),
        },
        product: Product {
            model: model.into(),
            serial: format!("SN{n:06}"),
            ..Product::default()
        },
        problem: Problem {
            category,
            description,
        },
        priority: if vip {
            Priority::High
        } else {
            Priority::Normal
        },
        ..NewJob::default()
    }
}

/// One call and everything that happened to it up to `now`.
fn call(
    storage: &dyn Storage,
    dispatch: &Dispatch<'_>,
    dice: &mut Dice,
    received: Millis,
    now: Millis,
    progress: f64,
    n: usize,
) -> Result<(), DomainError> {
    let new = new_call(dice, received, n);
    let kind = new.kind;
    let new_tier_is_vip = new.customer.tier == Tier::Vip;
    let region = new.site.region.clone();
    let model = new.product.model.clone();
    // Usually opened within the minute, sometimes not.
    let slowest = if dice.chance(0.9) { 55_000 } else { 150_000 };
    let created = received + dice.between(15_000, slowest);
    let (summary, _) = dispatch.create(new, created)?;
    let job_id = summary.id;
    let engineer = engineer_for(&region, &model, dice);
    // VIP calls go first in the queue; the rest usually within the five minutes.
    let slowest = match (new_tier_is_vip, dice.chance(0.85)) {
        (true, true) => MINUTE + 20_000,
        (false, true) => 4 * MINUTE,
        (_, false) => 20 * MINUTE,
    };
    let dispatched = created + dice.between(MINUTE / 2, slowest);
    if dispatched > now {
        return Ok(());
    }
    // Planned work waits for a slot (less as the month goes on: the two-day installation wait
    // of PRODUCT.md by the end); repairs and complaints are seen the same or the next day.
    let wait = match kind {
        JobKind::Installation | JobKind::Maintenance | JobKind::Inspection => {
            dice.between(DAY / 2, ((3.0 - 1.5 * progress) * DAY as f64) as Millis)
        }
        _ => dice.between(2 * HOUR, 26 * HOUR),
    };
    // Appointments start on the hour, in working hours (08:00 to 16:00).
    let day = (received + wait).div_euclid(DAY) * DAY;
    let start = day + 8 * HOUR + dice.below(9) as Millis * HOUR;
    let start = if start < dispatched {
        start + DAY
    } else {
        start
    };
    write(storage, |tx| {
        book(tx, &job_id, engineer, start, dispatched)?;
        if start > now {
            return Ok(());
        }
        // A few jobs run into trouble: the engineer asks for help on site (the supervisor joins
        // a second visit), or, in the last days, the job stalls and waits on the ladder.
        let recent = start > now - 3 * DAY;
        if recent && dice.chance(0.06) {
            return Ok(());
        }
        let helped = dice.chance(0.04);
        let first_fix = !helped && dice.chance(0.80 + 0.12 * progress);
        let end = if helped {
            let asked = start + HOUR;
            edit(tx, &job_id, &Hand::Phone(engineer), asked, |doc, editor| {
                doc.transition(Status::EnRoute, editor, start, None)?;
                doc.transition(Status::OnSite, editor, start + 30 * MINUTE, None)?;
                doc.request_help(editor, "Controller fault I have not seen before", asked)
            })?;
            asked
        } else {
            visit(tx, &job_id, engineer, start, first_fix, kind, dice)?
        };
        let mut resolved = end;
        if !first_fix {
            let again =
                (end + DAY).div_euclid(DAY) * DAY + 8 * HOUR + dice.below(9) as Millis * HOUR;
            if again > now {
                return Ok(());
            }
            let planned = end + 3 * HOUR;
            edit(tx, &job_id, &Hand::Office, planned, |doc, editor| {
                doc.set_appointment(
                    Appointment {
                        start: again,
                        end: again + 2 * HOUR,
                    },
                    editor,
                    planned,
                )?;
                doc.transition(Status::Assigned, editor, planned, None)
            })?;
            resolved = visit(tx, &job_id, engineer, again, true, kind, dice)?;
        }
        // Complaints get a call back the same day; other customers rate in their own time.
        let complaint = kind == JobKind::Complaint;
        let rated = resolved + dice.between(HOUR, if complaint { 6 * HOUR } else { 2 * DAY });
        if rated > now {
            return Ok(());
        }
        let happy = dice.chance(0.76 + 0.14 * progress);
        let score = if happy {
            4 + dice.below(2) as u8
        } else {
            2 + dice.below(2) as u8
        };
        edit(tx, &job_id, &Hand::Phone(engineer), rated, |doc, _| {
            let comment = if happy {
                "Friendly and quick."
            } else {
                "Took too long to sort out."
            };
            doc.set_rating(
                &Rating {
                    score,
                    comment: comment.into(),
                },
                rated,
            )
        })?;
        // Feedback in: dispatch closes the job (complaints owe it within the SLA).
        let closed = rated + dice.between(HOUR, if complaint { 4 * HOUR } else { 20 * HOUR });
        if closed <= now && (complaint || dice.chance(0.9)) {
            edit(tx, &job_id, &Hand::Office, closed, |doc, editor| {
                doc.transition(Status::Closed, editor, closed, None)
            })?;
        }
        Ok::<_, DomainError>(())
    })
}
