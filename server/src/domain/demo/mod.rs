//! Demo data: a month of a small service organisation's work, so a newcomer sees the console,
//! the queues and the dashboard working. Five engineers in three regions, customers of both
//! tiers, installations, repairs, maintenance, inspections and complaints; first visits that
//! fail and get a follow-up, help requests, jobs escalated past their deadline, ratings on site
//! and on customer service's return-visit calls, and today's board with fresh calls still to
//! dispatch. First-time fix and satisfaction improve over the month, as they do once a team
//! adopts the practice.
//!
//! Everything is written through the same paths as real work: dispatch's edits as the server,
//! the engineers' as Automerge changes from their phones, arriving some time after they were
//! made (so device and server times differ, as they do offline). The data is the same on every
//! run (a fixed pseudo-random sequence), relative to the time it is seeded.

use fieldsync_protocol::automerge::ActorId;
use fieldsync_protocol::job::{
    Appointment, CallOutcome, ChecklistUpdate, ComplaintKind, Customer, Editor, JobDoc, JobKind,
    NewJob, Outcome, PartUsed, Priority, Problem, Product, Rating, ReturnVisit, Role, Site, Tier,
    TimeEntry, TimeKind,
};
use fieldsync_protocol::rules::Status;
use fieldsync_protocol::{Millis, SchemaError};

use crate::domain::auth;
use crate::domain::dispatch::{self, Dispatch};
use crate::domain::error::DomainError;
use crate::domain::escalation;
use crate::domain::jobs::{self, Author, NO_FIELDS};
use crate::domain::lists;
use crate::domain::notify;
use crate::domain::planning::DAY;
use crate::domain::sla::{HOUR, MINUTE, SlaPolicy};
use crate::storage::{ListKind, Storage, User, WriteTx, atomically, write};
use fieldsync_protocol::Language;

mod words;

pub use words::{Engineer, OfficeUser};
use words::{Words, fill as fill_in};

/// The demo dispatcher's user id.
pub const DISPATCHER: &str = "dispatch";
/// The demo dispatcher's password: demo databases only, printed by `fieldsync serve --demo`.
pub const DISPATCHER_PASSWORD: &str = "dispatch-demo";
/// The demo organisation's texts in `locale`: people, customers, addresses, notes and manuals.
/// Ids, models, passwords and the shape of the month are the same in each.
fn words(locale: Language) -> &'static Words {
    match locale {
        Language::English => &words::ENGLISH,
        Language::Chinese => &words::CHINESE,
    }
}

/// The demo office users besides dispatch: (id, name, role, password).
pub fn office(locale: Language) -> &'static [OfficeUser] {
    &words(locale).office
}

/// The demo engineers: (id, name, region, skills).
pub fn engineers(locale: Language) -> &'static [Engineer] {
    &words(locale).engineers
}

const MODELS: [&str; 5] = ["HP-200", "HP-300", "BX-9", "AC-12", "AC-18"];

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
        note: "",
    };
    jobs::edit(tx, job_id, actor, &editor, author, received, f)?;
    Ok(())
}

/// One visit by `engineer` starting at `start`: travel, work through the checklist, parts,
/// and the visit's end (completed or incomplete), synced a while after it ended. Returns when
/// the visit ended.
/// A visit as planned: who, when, and whether it fixes the fault.
struct Visit<'a> {
    engineer: &'a str,
    start: Millis,
    fixed: bool,
    kind: JobKind,
}

fn visit(
    words: &Words,
    tx: &mut dyn WriteTx,
    job_id: &str,
    plan: Visit<'_>,
    dice: &mut Dice,
) -> Result<Millis, DomainError> {
    let Visit {
        engineer,
        start,
        fixed,
        kind,
    } = plan;
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
        words.fixed_note
    } else {
        words.unfixed_note
    };
    edit(tx, job_id, &Hand::Phone(engineer), synced, |doc, editor| {
        doc.transition(Status::EnRoute, editor, start, None)?;
        doc.transition(Status::OnSite, editor, on_site, arrival(doc)?)?;
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
                    JobKind::Installation => words.installation_cause.into(),
                    _ => words.repair_cause.into(),
                },
                fix: match kind {
                    JobKind::Installation => words.installation_fix.into(),
                    _ => words.repair_fix.into(),
                },
                summary: words.summary.into(),
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

/// The demo's managed lists: its regions (in Chinese, all of China's, as intake derives them
/// from provinces) and every problem category it gives jobs, complaints included, each named
/// in both languages.
fn put_lists(storage: &dyn Storage, locale: Language) -> Result<(), DomainError> {
    let (english, chinese) = (&words::ENGLISH, &words::CHINESE);
    let regions: Vec<(&str, &str, &str)> = match locale {
        Language::English => vec![
            ("north", "北区", "North"),
            ("south", "南区", "South"),
            ("east", "东区", "East"),
        ],
        Language::Chinese => dispatch::CHINESE_REGIONS
            .iter()
            .map(|&(code, name_en, _)| (code, code, name_en))
            .collect(),
    };
    let mut categories: Vec<(&str, &str)> = english
        .faults
        .into_iter()
        .zip(chinese.faults)
        .chain([
            (english.installation, chinese.installation),
            (english.annual_service, chinese.annual_service),
            (english.safety_inspection, chinese.safety_inspection),
        ])
        .collect();
    categories.extend(ComplaintKind::ALL.into_iter().map(|kind| {
        (
            dispatch::complaint_category(kind, Language::English),
            dispatch::complaint_category(kind, Language::Chinese),
        )
    }));
    let capitalised = |name: &str| {
        let mut chars = name.chars();
        chars.next().map_or_else(String::new, |first| {
            first.to_uppercase().chain(chars).collect()
        })
    };
    let categories = categories.into_iter().map(|(name_en, name_zh)| {
        let code = match locale {
            Language::English => name_en,
            Language::Chinese => name_zh,
        };
        (code, name_zh, name_en)
    });
    let entries = regions
        .into_iter()
        .map(|entry| (ListKind::Region, entry))
        .chain(categories.map(|entry| (ListKind::Category, entry)));
    for (list, (code, name_zh, name_en)) in entries {
        let body = lists::EntryBody {
            name_zh: name_zh.into(),
            name_en: capitalised(name_en),
            retired: false,
        };
        lists::put(storage, list, code, body)?;
    }
    Ok(())
}

fn put_people(storage: &dyn Storage, words: &Words) -> Result<(), DomainError> {
    auth::put_user(
        storage,
        &User {
            id: DISPATCHER.into(),
            name: words.dispatcher_name.into(),
            role: "dispatcher".into(),
            region: String::new(),
            skills: vec![],
        },
        Some(DISPATCHER_PASSWORD),
    )?;
    for &(id, name, role, password) in &words.office {
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
    for &(id, name, region, skills) in &words.engineers {
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
fn engineer_for(words: &Words, region: &str, model: &str, dice: &mut Dice) -> &'static str {
    let local: Vec<&Engineer> = words.engineers.iter().filter(|i| i.2 == region).collect();
    let skilled: Vec<&&Engineer> = local
        .iter()
        .filter(|i| i.3.iter().any(|s| model.starts_with(s)))
        .collect();
    if let Some(best) = skilled.first().filter(|_| dice.chance(0.8)) {
        return best.0;
    }
    match local.as_slice() {
        [] => dice.pick(&words.engineers).0,
        some => dice.pick(some).0,
    }
}

/// Fills an empty store with demo people and `days` days of work up to `now`, then lets the
/// escalation ladder catch up. Does nothing if there are users besides the admin. Returns how
/// many jobs it created.
pub fn seed(
    storage: &dyn Storage,
    policy: &SlaPolicy,
    now: Millis,
    locale: Language,
) -> Result<usize, DomainError> {
    seed_days(storage, policy, now, 30, locale)
}

/// [`seed`] with a chosen number of days. All of it commits together: a server stopped while
/// seeding leaves an empty store, which the next start fills again.
pub fn seed_days(
    storage: &dyn Storage,
    policy: &SlaPolicy,
    now: Millis,
    days: i64,
    locale: Language,
) -> Result<usize, DomainError> {
    atomically(storage, || fill(storage, policy, now, days, locale))
}

fn fill(
    storage: &dyn Storage,
    policy: &SlaPolicy,
    now: Millis,
    days: i64,
    locale: Language,
) -> Result<usize, DomainError> {
    let words = words(locale);
    let dispatch = Dispatch::new(storage, DISPATCHER)
        .with_sla(policy)
        .with_language(locale)
        .with_phone_region(crate::domain::dispatch::default_phone_region(locale));
    if dispatch.users()?.iter().any(|u| u.role != "admin") {
        return Ok(0);
    }
    put_lists(storage, locale)?;
    put_people(storage, words)?;
    let mut dice = Dice(0x5eed_f1e1_d5c0_ffee);
    let today = words.day_of(now);
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
            let month = Month {
                words,
                now,
                progress,
            };
            call(storage, &dispatch, &mut dice, received, &month, created)?;
        }
    }
    // Fresh calls still to dispatch, as the console opens.
    for n in 0..3 {
        let received = now - (n as Millis + 1) * 3 * MINUTE;
        let new = new_call(words, &mut dice, received, 9000 + n);
        dispatch.create(new, received + 40_000)?;
        created += 1;
    }
    created += trouble(words, storage, &dispatch, &mut dice, now)?;
    escalation::tick(storage, policy, now, escalation::Look::Everything)?;
    publish_manuals(words, storage, now)?;
    // The demo's customers are made up: what its month would have told them goes to nobody.
    write(storage, |tx| {
        for job in tx.list_jobs()? {
            notify::withdraw(tx, &job.id, now)?;
        }
        Ok::<_, DomainError>(())
    })?;
    Ok(created)
}

/// Where the engineer's phone records its arrival: at the site, a few metres off.
fn arrival(doc: &JobDoc) -> Result<Option<(f64, f64)>, SchemaError> {
    Ok(doc
        .read()?
        .site
        .position()
        .map(|(lat, lon)| (lat + 0.0001, lon - 0.0001)))
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
    words: &Words,
    storage: &dyn Storage,
    dispatch: &Dispatch<'_>,
    dice: &mut Dice,
    now: Millis,
) -> Result<usize, DomainError> {
    for (n, (ago, asks_for_help)) in [(3 * DAY, false), (5 * HOUR, true)].into_iter().enumerate() {
        let received = now - ago;
        let new = new_call(words, dice, received, 9100 + n);
        let engineer = engineer_for(words, &new.site.region, &new.product.model, dice);
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
                        doc.transition(Status::OnSite, editor, start + 30 * MINUTE, arrival(doc)?)?;
                        doc.request_help(editor, words.stalled_help, asked)
                    },
                )?;
            }
            Ok::<_, DomainError>(())
        })?;
    }
    Ok(2)
}

/// A manual for every demo model: what a phone finds offline for the products on its jobs.
fn publish_manuals(words: &Words, storage: &dyn Storage, now: Millis) -> Result<(), DomainError> {
    for model in MODELS {
        let (product, sections) = match &model[..2] {
            "HP" => &words.manuals[0],
            "BX" => &words.manuals[1],
            _ => &words.manuals[2],
        };
        let input = fieldsync_protocol::knowledge::ManualInput {
            model: model.into(),
            version: 1,
            title: fill_in(
                words.manual_title,
                &[("model", model), ("product", product)],
            ),
            sections: sections
                .iter()
                .map(|(id, title, body)| fieldsync_protocol::knowledge::Section {
                    id: (*id).into(),
                    title: (*title).into(),
                    body: fill_in(body, &[("model", model)]),
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

fn new_call(words: &Words, dice: &mut Dice, received: Millis, n: usize) -> NewJob {
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
    // About a quarter of the calls come from customers who called before: the same person,
    // number, site and unit, drawn from their own sequence.
    let who = if n > 20 && dice.chance(0.25) {
        dice.below(n as u64) as usize
    } else {
        n
    };
    let mut person =
        Dice(0x00c5_7043_e500_0001 ^ (who as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let vip = person.chance(0.2);
    let region_index = person.below(words.regions.len() as u64) as usize;
    let region = words.regions[region_index];
    let model = *person.pick(&MODELS);
    let category = match kind {
        JobKind::Installation => words.installation,
        JobKind::Maintenance => words.annual_service,
        JobKind::Inspection => words.safety_inspection,
        JobKind::Repair | JobKind::Complaint => *dice.pick(&words.faults),
    };
    let surname = *person.pick(&words.surnames);
    let described = match kind {
        JobKind::Installation => words.describe_installation,
        JobKind::Complaint => words.describe_complaint,
        JobKind::Maintenance => words.describe_maintenance,
        JobKind::Inspection => words.describe_inspection,
        JobKind::Repair => words.describe_repair,
    };
    let description = fill_in(described, &[("model", model), ("category", category)]);
    let house = 1 + person.below(120);
    let number = house.to_string();
    let street = person.below(words.streets.len() as u64) as usize;
    let street = if words.streets_by_region {
        2 * region_index + street % 2
    } else {
        street
    };
    // Houses spread over a kilometre or so around the street's point.
    let (lat, lon) = words.street_positions[street];
    let spread = |n: u64| (n % 11) as f64 - 5.0;
    let micro = |degrees: f64| (degrees * 1e6).round() / 1e6;
    let (lat, lon) = (
        micro(lat + spread(house) * 0.0009),
        micro(lon + spread(house / 11) * 0.0012),
    );
    let street = words.streets[street];
    let customer = if vip {
        words.vip_customer
    } else {
        words.customer
    };
    NewJob {
        kind,
        call_received_at: received,
        customer: Customer {
            id: format!("cust-{who}"),
            name: fill_in(customer, &[("surname", surname)]),
            tier: if vip { Tier::Vip } else { Tier::Standard },
            phone: fill_in(words.phone, &[("number", &format!("{:04}", who % 10_000))]),
            email: fill_in(
                words.email,
                &[
                    ("surname", &surname.to_lowercase()),
                    ("number", &who.to_string()),
                ],
            ),
        },
        site: Site {
            address: fill_in(words.address, &[("number", &number), ("street", street.3)]),
            region: region.into(),
            province: street.0.into(),
            city: street.1.into(),
            district: street.2.into(),
            lat: Some(lat),
            lon: Some(lon),
        },
        product: Product {
            model: model.into(),
            serial: format!("SN{who:06}"),
            ..Product::default()
        },
        problem: Problem {
            category: category.into(),
            description,
        },
        // The organisation's own templates (`Dispatch::with_language`).
        checklist: Vec::new(),
        priority: if vip {
            Priority::High
        } else {
            Priority::Normal
        },
        ..NewJob::default()
    }
}

/// What every call of the month shares: the words, the time the demo is seeded, and how far
/// into the month the team has come (0 to 1).
#[derive(Clone, Copy)]
struct Month {
    words: &'static Words,
    now: Millis,
    progress: f64,
}

/// One call and everything that happened to it up to `month.now`.
fn call(
    storage: &dyn Storage,
    dispatch: &Dispatch<'_>,
    dice: &mut Dice,
    received: Millis,
    month: &Month,
    n: usize,
) -> Result<(), DomainError> {
    let Month {
        words,
        now,
        progress,
    } = *month;
    let new = new_call(words, dice, received, n);
    let kind = new.kind;
    let new_tier_is_vip = new.customer.tier == Tier::Vip;
    let region = new.site.region.clone();
    let model = new.product.model.clone();
    // Usually opened within the minute, sometimes not.
    let slowest = if dice.chance(0.9) { 55_000 } else { 150_000 };
    let created = received + dice.between(15_000, slowest);
    let (summary, _) = dispatch.create(new, created)?;
    let job_id = summary.id;
    let engineer = engineer_for(words, &region, &model, dice);
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
    let day = words.day_of(received + wait);
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
                doc.transition(Status::OnSite, editor, start + 30 * MINUTE, arrival(doc)?)?;
                doc.request_help(editor, words.unknown_fault_help, asked)
            })?;
            asked
        } else {
            let plan = Visit {
                engineer,
                start,
                fixed: first_fix,
                kind,
            };
            visit(words, tx, &job_id, plan, dice)?
        };
        let mut resolved = end;
        if !first_fix {
            let again = words.day_of(end + DAY) + 8 * HOUR + dice.below(9) as Millis * HOUR;
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
            let plan = Visit {
                engineer,
                start: again,
                fixed: true,
                kind,
            };
            resolved = visit(words, tx, &job_id, plan, dice)?;
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
                words.happy_comment
            } else {
                words.unhappy_comment
            };
            doc.set_rating(
                &Rating {
                    score,
                    comment: comment.into(),
                },
                rated,
            )
        })?;
        // Customer service calls the customer back (回访), away from the installer: most are
        // reached at the first try, and say a little less on the phone than on site.
        let called = resolved
            + dice.between(
                2 * HOUR,
                if new_tier_is_vip {
                    20 * HOUR
                } else {
                    40 * HOUR
                },
            );
        if called > now {
            return Ok(());
        }
        let reached = dice.chance(0.85);
        let told = if happy && dice.chance(0.9) {
            score
        } else {
            score.saturating_sub(1).max(1)
        };
        edit(tx, &job_id, &Hand::Office, called, |doc, editor| {
            let comment = match (reached, told >= 4) {
                (false, _) => "",
                (true, true) => words.happy_comment,
                (true, false) => words.unhappy_comment,
            };
            let call = ReturnVisit {
                at: called,
                by: DISPATCHER.into(),
                outcome: if reached {
                    CallOutcome::Reached
                } else {
                    CallOutcome::NotReached
                },
                call_again_at: None,
                score: reached.then_some(told),
                comment: comment.into(),
            };
            doc.record_return_visit(&call, editor, called)
        })?;
        // Feedback in: dispatch closes the job (complaints owe it within the SLA).
        let closed =
            rated.max(called) + dice.between(HOUR, if complaint { 4 * HOUR } else { 20 * HOUR });
        if reached && closed <= now && (complaint || dice.chance(0.9)) {
            edit(tx, &job_id, &Hand::Office, closed, |doc, editor| {
                doc.transition(Status::Closed, editor, closed, None)
            })?;
        }
        Ok::<_, DomainError>(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::read;
    use crate::storage::sqlite::SqliteStorage;

    fn is_chinese(text: &str) -> bool {
        text.chars().any(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c))
    }

    #[test]
    fn the_chinese_demo_speaks_chinese_wherever_a_newcomer_looks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = SqliteStorage::open(dir.path().join("demo.sqlite3")).expect("open");
        auth::ensure_admin(&storage, Some("demo-admin-password")).expect("admin");
        let now = fieldsync_protocol::now_millis();
        let created =
            seed_days(&storage, &SlaPolicy::default(), now, 7, Language::Chinese).expect("seed");
        assert!(created > 40, "{created} jobs");

        let (users, jobs, manuals, lists) = read(&storage, |tx| {
            let jobs = tx
                .list_jobs()?
                .iter()
                .map(|summary| {
                    let stored = tx.job(&summary.id)?.expect("stored");
                    jobs::read_stored(tx, &summary.id, &stored)
                })
                .collect::<Result<Vec<_>, DomainError>>()?;
            Ok::<_, DomainError>((
                tx.users()?,
                jobs,
                tx.manual_summaries()?,
                crate::domain::lists::ManagedLists::load(tx)?,
            ))
        })
        .expect("read");
        for user in users.iter().filter(|u| u.role != "admin") {
            assert!(is_chinese(&user.name), "{user:?}");
            assert!(
                user.region.is_empty() || lists.admits(ListKind::Region, &user.region),
                "{user:?}"
            );
        }
        // Every region and category the demo gives is in its lists, named in both languages.
        for entry in lists.regions.iter().chain(&lists.categories) {
            assert!(
                is_chinese(&entry.name_zh) && entry.name_en.is_ascii(),
                "{entry:?}"
            );
        }
        for job in &jobs {
            assert!(is_chinese(&job.customer.name), "{:?}", job.customer);
            assert!(
                job.customer.phone.starts_with("+86 138 "),
                "{:?}",
                job.customer
            );
            // Addresses by province, city and district lie in the job's region.
            let city = match job.site.region.as_str() {
                "华东" => "上海市",
                "华南" => "广州市",
                "华北" => "北京市",
                other => panic!("region {other}"),
            };
            assert_eq!(job.site.city, city, "{:?}", job.site);
            assert_eq!(
                crate::domain::dispatch::region_of_province(&job.site.province),
                Some(job.site.region.as_str()),
                "{:?}",
                job.site
            );
            assert!(job.site.district.ends_with('区'), "{:?}", job.site);
            assert!(job.site.full_address().ends_with('号'), "{:?}", job.site);
            assert!(is_chinese(&job.problem.description), "{:?}", job.problem);
            assert!(
                lists.admits(ListKind::Category, &job.problem.category),
                "{:?}",
                job.problem
            );
            assert!(lists.admits(ListKind::Region, &job.site.region));
            for item in job.checklist.values() {
                assert!(is_chinese(&item.label), "{item:?}");
            }
        }
        assert!(
            jobs.iter()
                .any(|job| job.notes.contains("试机正常") && job.outcome.fix == "更换部件并测试"),
            "engineers write in Chinese"
        );
        assert_eq!(manuals.len(), MODELS.len());
        for manual in &manuals {
            assert!(manual.title.ends_with("安装与维护"), "{manual:?}");
        }
    }
}
