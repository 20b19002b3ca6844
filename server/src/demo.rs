//! Demo data: a few installers, customers of both tiers, and today's jobs, so a newcomer sees the
//! whole path work.

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::{
    Appointment, Customer, JobKind, NewJob, Priority, Problem, Product, Site, Tier,
};

use crate::auth;
use crate::dispatch::Dispatch;
use crate::error::AppError;
use crate::storage::{Storage, User};

const HOUR: Millis = 3_600_000;

/// The demo dispatcher's user id.
pub const DISPATCHER: &str = "dispatch";
/// The demo dispatcher's password: demo databases only, printed by `fieldsync serve --demo`.
pub const DISPATCHER_PASSWORD: &str = "dispatch-demo";

/// The demo installers: (id, name, region, skills).
pub const INSTALLERS: [(&str, &str, &str); 3] = [
    ("anna", "Anna Berg", "north"),
    ("ben", "Ben Okafor", "south"),
    ("chen", "Chen Wei", "north"),
];

fn checklist(kind: JobKind) -> Vec<(String, String)> {
    let items: &[(&str, &str)] = match kind {
        JobKind::Installation => &[
            ("site", "Site prepared"),
            ("mount", "Unit mounted"),
            ("commission", "Commissioned and tested"),
            ("handover", "Customer shown how to use it"),
        ],
        _ => &[
            ("power", "Power supply checked"),
            ("diagnose", "Fault diagnosed"),
            ("repair", "Repair done"),
            ("test", "Tested after repair"),
        ],
    };
    items
        .iter()
        .map(|(id, label)| ((*id).to_owned(), (*label).to_owned()))
        .collect()
}

/// Fills an empty store with demo users and `jobs_per_installer` jobs for each installer today,
/// plus two unassigned calls. Does nothing if there are users already.
pub fn seed(
    storage: &dyn Storage,
    jobs_per_installer: usize,
    now: Millis,
) -> Result<usize, AppError> {
    let dispatch = Dispatch::new(storage, DISPATCHER);
    if dispatch.users()?.iter().any(|u| u.role != "admin") {
        return Ok(0);
    }
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
    for (id, name, region) in INSTALLERS {
        auth::put_user(
            storage,
            &User {
                id: id.into(),
                name: name.into(),
                role: "installer".into(),
                region: region.into(),
                skills: vec!["boilers".into(), "heat pumps".into()],
            },
            None,
        )?;
    }
    let kinds = [
        JobKind::Repair,
        JobKind::Installation,
        JobKind::Maintenance,
        JobKind::Complaint,
        JobKind::Inspection,
    ];
    let models = ["HP-200", "HP-300", "BX-9", "AC-12"];
    let start_of_day = now - now.rem_euclid(24 * HOUR) + 8 * HOUR;
    let mut created = 0;
    for (n, (installer, _, region)) in INSTALLERS.iter().enumerate() {
        for i in 0..jobs_per_installer {
            let k = n * jobs_per_installer + i;
            let kind = kinds[k % kinds.len()];
            let new = NewJob {
                kind,
                call_received_at: now - (k as Millis + 1) * HOUR / 4,
                customer: Customer {
                    id: format!("cust-{k}"),
                    name: format!("Customer {k}"),
                    tier: if k.is_multiple_of(4) {
                        Tier::Vip
                    } else {
                        Tier::Standard
                    },
                    phone: format!("+1 555 01{k:02}"),
                    email: format!("customer{k}@example.com"),
                },
                site: Site {
                    address: format!("{} Main Street", 10 + k),
                    region: (*region).into(),
                },
                product: Product {
                    model: models[k % models.len()].into(),
                    serial: format!("SN{k:06}"),
                    ..Product::default()
                },
                problem: Problem {
                    category: if kind == JobKind::Installation {
                        "install".into()
                    } else {
                        "no heat".into()
                    },
                    description: "Customer reports the unit stopped working".into(),
                },
                priority: if k.is_multiple_of(4) {
                    Priority::High
                } else {
                    Priority::Normal
                },
                checklist: checklist(kind),
                ..NewJob::default()
            };
            let (summary, _) = dispatch.create(new, now)?;
            let slot = start_of_day + (i as Millis % 8) * HOUR;
            dispatch.set_appointment(
                &summary.id,
                Appointment {
                    start: slot,
                    end: slot + 2 * HOUR,
                },
                now,
            )?;
            dispatch.assign(&summary.id, Some(installer), now)?;
            created += 1;
        }
    }
    for k in 0..2 {
        let new = NewJob {
            kind: JobKind::Repair,
            customer: Customer {
                name: format!("Walk-in caller {k}"),
                ..Customer::default()
            },
            problem: Problem {
                category: "leak".into(),
                description: "Water under the unit".into(),
            },
            ..NewJob::default()
        };
        dispatch.create(new, now)?;
        created += 1;
    }
    Ok(created)
}
