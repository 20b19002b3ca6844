//! What dispatch does to jobs: open, schedule, assign, move status. Every edit is an Automerge
//! change by the server's actor, committed like a device's.

use fieldsync_protocol::automerge::ActorId;
use fieldsync_protocol::job::{
    Appointment, CallOutcome, ComplaintHandling, ComplaintInfo, ComplaintKind, ComplaintOutcome,
    ComplaintRef, Editor, FieldChange, Job, JobDetails, JobDoc, JobKind, JobSummary, NewJob,
    Priority, ReturnVisit, Role, Site, Survey, field_changes,
};
use fieldsync_protocol::rules::Status;
use fieldsync_protocol::{Millis, SchemaError};
use serde::{Deserialize, Serialize};

use std::sync::LazyLock;

use crate::domain::customers;
use crate::domain::error::{DomainError, ErrorCode, Problem, Thing};
use crate::domain::facts::JobFacts;
use crate::domain::jobs::{self, Author, Committed};
use crate::domain::lists::ManagedLists;
use crate::domain::notify;
use crate::domain::planning;
use crate::domain::schedule;
use crate::domain::sla::{ClockView, MINUTE, SlaPolicy};
use crate::domain::travel::{self, TravelSpeed};
use crate::storage::{
    AuditEntry, AuditKind, ListKind, ReadTx, Reminder, Storage, StoredJob, User, WriteTx, read,
    write,
};
use fieldsync_protocol::Language;
use jiff::tz::TimeZone;

static DEFAULT_POLICY: LazyLock<SlaPolicy> = LazyLock::new(SlaPolicy::default);

/// The checklist a new job starts with when the call did not bring one: a template per kind of
/// work, in the organisation's language. The ids are the same in every language.
pub fn default_checklist(kind: JobKind, language: Language) -> Vec<(String, String)> {
    let items: &[(&str, &str, &str)] = match kind {
        JobKind::Installation => &[
            ("site", "Site prepared", "现场已准备"),
            ("mount", "Unit mounted", "主机已固定"),
            ("commission", "Commissioned and tested", "调试并试机"),
            (
                "handover",
                "Customer shown how to use it",
                "已向客户讲解使用方法",
            ),
        ],
        JobKind::Maintenance | JobKind::Inspection => &[
            ("inspect", "Unit inspected", "设备已检查"),
            (
                "clean",
                "Filters and heat exchanger cleaned",
                "滤网和换热器已清洁",
            ),
            ("safety", "Safety checks passed", "安全检查通过"),
            (
                "report",
                "Findings explained to the customer",
                "已向客户说明检查结果",
            ),
        ],
        JobKind::Repair | JobKind::Complaint => &[
            ("power", "Power supply checked", "电源已检查"),
            ("diagnose", "Fault diagnosed", "故障已判断"),
            ("repair", "Repair done", "维修完成"),
            ("test", "Tested after repair", "维修后试机"),
        ],
    };
    items
        .iter()
        .map(|(id, english, chinese)| {
            let label = match language {
                Language::English => english,
                Language::Chinese => chinese,
            };
            ((*id).to_owned(), (*label).to_owned())
        })
        .collect()
}

/// Checks a customer's phone number (none is fine). With the organisation's region, it must be
/// a valid number of its numbering plan, or, written with `+`, of another country's: a Chinese
/// mobile number has 11 digits starting with 1. Without one only its shape is checked: 5 to 20
/// digits, with spaces, dots, dashes, brackets and a leading `+`.
fn check_phone(typed: &str, region: Option<PhoneRegion>) -> Result<(), DomainError> {
    if typed.is_empty() {
        return Ok(());
    }
    // Chinese keyboards often type full-width digits and signs (１３８, ＋８６).
    let phone: String = typed
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            other => other,
        })
        .collect();
    let phone = phone.as_str();
    let valid = match region {
        Some(region) => phonenumber::parse(Some(region), phone)
            .is_ok_and(|number| phonenumber::is_valid(&number)),
        None => {
            let digits = phone.chars().filter(char::is_ascii_digit).count();
            let rest = phone.strip_prefix('+').unwrap_or(phone);
            (5..=20).contains(&digits)
                && rest
                    .chars()
                    .all(|c| c.is_ascii_digit() || " .-()/".contains(c))
        }
    };
    if valid {
        return Ok(());
    }
    let error = DomainError::invalid_field(
        "customer.phone",
        Problem::NotAPhone,
        match region {
            Some(region) => format!("`{typed}` is not a phone number of {}", region.as_ref()),
            None => format!("`{typed}` is not a phone number"),
        },
    )
    .with("value", typed);
    Err(match region {
        Some(region) => error.with("region", region.as_ref()),
        None => error,
    })
}

/// China's seven geographic regions (and 港澳台), with their English names, by their
/// provincial-level divisions, as service organisations there divide their engineers.
pub const CHINESE_REGIONS: &[(&str, &str, &[&str])] = &[
    (
        "华北",
        "North China",
        &["北京", "天津", "河北", "山西", "内蒙古"],
    ),
    ("东北", "Northeast China", &["辽宁", "吉林", "黑龙江"]),
    (
        "华东",
        "East China",
        &["上海", "江苏", "浙江", "安徽", "福建", "江西", "山东"],
    ),
    ("华中", "Central China", &["河南", "湖北", "湖南"]),
    ("华南", "South China", &["广东", "广西", "海南"]),
    (
        "西南",
        "Southwest China",
        &["重庆", "四川", "贵州", "云南", "西藏"],
    ),
    (
        "西北",
        "Northwest China",
        &["陕西", "甘肃", "青海", "宁夏", "新疆"],
    ),
    (
        "港澳台",
        "Hong Kong, Macao and Taiwan",
        &["香港", "澳门", "台湾"],
    ),
];

/// The region of a Chinese province, however it is written (`上海`, `上海市`, `廣東省`,
/// `广西壮族自治区`); `None` for anything else.
pub fn region_of_province(province: &str) -> Option<&'static str> {
    let province = fast2s::convert(province.trim());
    CHINESE_REGIONS.iter().find_map(|(region, _, provinces)| {
        provinces
            .iter()
            .any(|p| province.starts_with(p))
            .then_some(*region)
    })
}

/// The longest free-text field accepted from a call.
pub const MAX_TEXT: usize = 4000;

/// The longest text a customer sends through their link (a comment, a complaint).
pub const MAX_CUSTOMER_TEXT: usize = 2000;

/// The most ratings, and the most complaints, one job takes through customers' links.
pub const MAX_LINK_ENTRIES: usize = 5;

/// `text` (the request's `field`, trimmed) as problems when empty or longer than `max`
/// characters.
pub(crate) fn required_text(field: &'static str, text: &str, max: usize) -> Vec<DomainError> {
    let mut problems = too_long(field, text, max);
    if text.trim().is_empty() {
        problems.push(DomainError::invalid_field(
            field,
            Problem::Required,
            format!("{field} needs words"),
        ));
    }
    problems
}

/// `text` (the request's `field`) as a problem when longer than `max` characters.
fn too_long(field: &'static str, text: &str, max: usize) -> Vec<DomainError> {
    if text.chars().count() <= max {
        return Vec::new();
    }
    vec![
        DomainError::invalid_field(
            field,
            Problem::TooLong,
            format!("{field} is longer than {max} characters"),
        )
        .with("max", max),
    ]
}

/// Refuses one more of `what` on a job that has `max` already.
fn limit_reached(what: &str, max: usize) -> DomainError {
    DomainError::conflict(
        Problem::LimitReached,
        format!("this job has taken its {max} {what}; call the service desk"),
    )
    .with("max", max)
}

/// A complaint's kind as the problem category of its job, in the organisation's language
/// (categories are words people read and the KPIs group by).
pub(crate) fn complaint_category(kind: ComplaintKind, language: Language) -> &'static str {
    let (english, chinese) = match kind {
        ComplaintKind::QualityOfWork => ("quality of work", "施工质量"),
        ComplaintKind::Delay => ("delay", "延误"),
        ComplaintKind::Attitude => ("attitude", "服务态度"),
        ComplaintKind::ProductFault => ("product fault", "产品故障"),
        ComplaintKind::Charges => ("charges", "收费问题"),
        ComplaintKind::Other => ("other complaint", "其他投诉"),
    };
    match language {
        Language::English => english,
        Language::Chinese => chinese,
    }
}

/// The stored job `job_id`, or `not_found`.
fn stored_job(tx: &dyn ReadTx, job_id: &str) -> Result<crate::storage::StoredJob, DomainError> {
    tx.job(job_id)?
        .ok_or_else(|| DomainError::not_found(Thing::Job, job_id))
}

/// The longest reason for a cancel, a reopen or a double booking, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// A reason the office gave (`field` of the request), trimmed; empty when none was given.
fn checked_reason<'r>(
    field: &'static str,
    reason: Option<&'r str>,
) -> Result<&'r str, DomainError> {
    let reason = reason.map(str::trim).unwrap_or_default();
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(DomainError::invalid_field(
            field,
            Problem::TooLong,
            format!("a reason is at most {MAX_REASON_CHARS} characters"),
        )
        .with("max", MAX_REASON_CHARS));
    }
    Ok(reason)
}

/// Checks a call before anything is stored; the error names the first bad field and carries
/// every one in its `errors` parameter.
pub fn validate_call(
    new: &NewJob,
    now: Millis,
    phone_region: Option<PhoneRegion>,
    lists: &ManagedLists,
) -> Result<(), DomainError> {
    every_problem(call_problems(new, now, phone_region, lists))
}

/// Everything wrong with a call, each naming its field: the region and the category must be in
/// the organisation's lists once it manages them.
fn call_problems(
    new: &NewJob,
    now: Millis,
    phone_region: Option<PhoneRegion>,
    lists: &ManagedLists,
) -> Vec<DomainError> {
    let mut problems: Vec<DomainError> = Vec::new();
    // What dispatch needs to send someone; the region and the product model may be unknown
    // on the phone and filled in later.
    let required: [(&'static str, &str, &str); 4] = [
        ("customer.name", &new.customer.name, "the customer's name"),
        ("site.address", &new.site.address, "the site address"),
        (
            "problem.category",
            &new.problem.category,
            "the problem category",
        ),
        (
            "problem.description",
            &new.problem.description,
            "a description of the problem",
        ),
    ];
    for (field, value, what) in required {
        if value.trim().is_empty() {
            problems.push(DomainError::invalid_field(
                field,
                Problem::Required,
                format!("{what} is required"),
            ));
        }
    }
    let texts: [(&'static str, &str); 12] = [
        ("customer.name", &new.customer.name),
        ("customer.phone", &new.customer.phone),
        ("customer.email", &new.customer.email),
        ("site.address", &new.site.address),
        ("site.region", &new.site.region),
        ("site.province", &new.site.province),
        ("site.city", &new.site.city),
        ("site.district", &new.site.district),
        ("product.model", &new.product.model),
        ("product.serial", &new.product.serial),
        ("problem.category", &new.problem.category),
        ("problem.description", &new.problem.description),
    ];
    for (field, value) in texts {
        if value.chars().count() > MAX_TEXT {
            problems.push(
                DomainError::invalid_field(
                    field,
                    Problem::TooLong,
                    format!("{field} is longer than {MAX_TEXT} characters"),
                )
                .with("max", MAX_TEXT),
            );
        }
    }
    let email = new.customer.email.trim();
    if !email.is_empty() && !email.contains('@') {
        problems.push(
            DomainError::invalid_field(
                "customer.email",
                Problem::NotAnEmail,
                format!("`{email}` is not an e-mail address"),
            )
            .with("value", email),
        );
    }
    if let Err(problem) = check_phone(new.customer.phone.trim(), phone_region) {
        problems.push(problem);
    }
    problems.extend(position_problems(&new.site));
    if new.call_received_at > now + MINUTE {
        problems.push(DomainError::invalid_field(
            "call_received_at",
            Problem::InFuture,
            "the call's received time is in the future",
        ));
    }
    if new.call_received_at < 0 {
        problems.push(DomainError::invalid_field(
            "call_received_at",
            Problem::BeforeEpoch,
            "the call's received time is before 1970",
        ));
    }
    problems.extend(lists.problem(ListKind::Region, "site.region", &new.site.region));
    problems.extend(lists.problem(
        ListKind::Category,
        "problem.category",
        &new.problem.category,
    ));
    problems
}

/// What is wrong with a site's coordinates: both or neither, each a finite number in its
/// range.
fn position_problems(site: &Site) -> Vec<DomainError> {
    let mut problems = Vec::new();
    for (field, value, other, limit) in [
        ("site.lat", site.lat, site.lon, 90.0),
        ("site.lon", site.lon, site.lat, 180.0),
    ] {
        match value {
            Some(degrees) if !degrees.is_finite() || degrees.abs() > limit => problems.push(
                DomainError::invalid_field(
                    field,
                    Problem::OutOfRange,
                    format!("{field} must be between -{limit} and {limit} degrees"),
                )
                .with("value", degrees.to_string())
                .with("max", limit),
            ),
            None if other.is_some() => problems.push(DomainError::invalid_field(
                field,
                Problem::Required,
                format!("{field} is required with the other coordinate"),
            )),
            _ => {}
        }
    }
    problems
}

/// The parts of a job a correction may name, as the request names them.
const DETAIL_PARTS: [&str; 6] = ["kind", "priority", "customer", "site", "product", "problem"];

/// `details` with `patch` applied as a JSON merge patch (RFC 7396: an object merges key by
/// key, `null` empties a text or a date, anything else replaces it). Every key the patch names
/// must be a field of [`JobDetails`]: one the details do not have (the assignee, the notes, a
/// misspelt key) is refused with `not_correctable`, emptying the kind, priority, tier or a whole
/// part with `required`, and a value of the wrong type with `invalid_value`, each naming it.
fn corrected(
    details: &JobDetails,
    patch: &serde_json::Map<String, serde_json::Value>,
) -> Result<JobDetails, DomainError> {
    use serde_json::Value as Json;
    let internal = |e: serde_json::Error| DomainError::Internal(e.to_string());
    // Every key the details have: the site's optional parts are written only when given.
    let every_key = JobDetails {
        site: Site {
            province: "-".into(),
            city: "-".into(),
            district: "-".into(),
            lat: Some(0.0),
            lon: Some(0.0),
            ..Site::default()
        },
        ..JobDetails::default()
    };
    let known = serde_json::to_value(&every_key).map_err(internal)?;
    let part_of = |key: &str| DETAIL_PARTS.into_iter().find(|part| *part == key);
    let not_correctable = |part: Option<&'static str>, field: String| {
        DomainError::invalid_field(
            part.unwrap_or("details"),
            Problem::NotCorrectable,
            format!(
                "`{field}` is not a detail of a job that dispatch corrects (the kind, priority, \
                 customer, site, product and problem are; assignment, appointment and status \
                 have their own calls, the field record is the installer's)"
            ),
        )
        .with("value", field)
    };
    let not_emptied = |part: &'static str, field: String| {
        DomainError::invalid_field(
            part,
            Problem::Required,
            format!("`{field}` cannot be emptied, only changed"),
        )
        .with("value", field)
    };
    for (key, value) in patch {
        let part = part_of(key).ok_or_else(|| not_correctable(None, key.clone()))?;
        match (value, &known[key.as_str()]) {
            (Json::Null, _) => return Err(not_emptied(part, key.clone())),
            (Json::Object(fields), Json::Object(keys)) => {
                for (field, value) in fields {
                    let path = format!("{key}.{field}");
                    if !keys.contains_key(field) {
                        return Err(not_correctable(Some(part), path));
                    }
                    if value.is_null() && path == "customer.tier" {
                        return Err(not_emptied(part, path));
                    }
                }
            }
            _ => {}
        }
    }
    let mut merged = serde_json::to_value(details).map_err(internal)?;
    merge_patch(&mut merged, &Json::Object(patch.clone()));
    serde_json::from_value(merged.clone()).map_err(|error| {
        // The first part the patch gives that does not read names the field.
        let part = DETAIL_PARTS
            .into_iter()
            .filter(|part| patch.contains_key(*part))
            .find(|part| {
                let alone = serde_json::json!({ *part: merged[*part] });
                serde_json::from_value::<JobDetails>(alone).is_err()
            })
            .unwrap_or("details");
        DomainError::invalid_field(
            part,
            Problem::InvalidValue,
            format!("`{part}` cannot be read: {error}"),
        )
        .with("value", error.to_string())
    })
}

/// Fills the site's region from a Chinese province when it has none, or when the province
/// changed (from `before`) and the region was the old province's; only with a region the
/// organisation's list admits. A region left over from the old province is cleared when the
/// new one gives none, rather than kept wrong.
fn derive_region(site: &mut Site, before: Option<&Site>, lists: &ManagedLists) {
    let stale = before.is_some_and(|old| {
        old.province != site.province
            && region_of_province(&old.province).is_some_and(|region| region == site.region)
            && region_of_province(&site.province) != Some(site.region.as_str())
    });
    if site.region.trim().is_empty() || stale {
        site.region = region_of_province(&site.province)
            .filter(|region| lists.admits(ListKind::Region, region))
            .map_or_else(String::new, str::to_owned);
    }
}

/// Applies a JSON merge patch (RFC 7396) to `target`.
fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    let serde_json::Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(serde_json::Map::new());
    }
    if let serde_json::Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(
                    target.entry(key.clone()).or_insert(serde_json::Value::Null),
                    value,
                );
            }
        }
    }
}

/// The history's words for a correction: a line per field, `field: before → after` with the
/// values as JSON (so that a console can word each field and format each time), then the
/// reason when one was given.
fn correction_note(changes: &[FieldChange], reason: &str) -> String {
    changes
        .iter()
        .map(|change| format!("{}: {} → {}", change.field, change.before, change.after))
        .chain((!reason.is_empty()).then(|| reason.to_owned()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first of `problems` as the error, carrying all of them (itself included) in its
/// `errors` parameter, each with its `field`, `code`, `error` and `params`: a form marks every
/// field at once instead of one per submit.
pub(crate) fn every_problem(mut problems: Vec<DomainError>) -> Result<(), DomainError> {
    if problems.is_empty() {
        return Ok(());
    }
    let all: Vec<serde_json::Value> = problems
        .iter()
        .map(|problem| {
            serde_json::json!({
                "field": problem.field(),
                "code": problem.code().as_str(),
                "error": problem.to_string(),
                "params": problem.params(),
            })
        })
        .collect();
    Err(problems.swap_remove(0).with("errors", all))
}

/// `conflict`, naming the engineer's other visit it is about (`job`, `customer`, `start`,
/// `end`).
fn about_visit(conflict: DomainError, other: &JobSummary) -> DomainError {
    conflict
        .with("job", other.id.as_str())
        .with("customer", other.customer_name.as_str())
        .with("start", other.appointment_start)
        .with("end", other.appointment_end)
}

/// The first of a booking's `conflicts` as the error, carrying all of them (itself included)
/// in its `conflicts` parameter, each with its `problem` and the other parameters: one reason
/// overrides them all, so the dispatcher is shown them all.
fn every_conflict(mut conflicts: Vec<(DomainError, String)>) -> DomainError {
    let all: Vec<serde_json::Value> = conflicts
        .iter()
        .map(|(conflict, _)| serde_json::Value::Object(conflict.params()))
        .collect();
    let (first, _) = conflicts.swap_remove(0);
    first.with("conflicts", all)
}

/// A return-visit call as customer service records it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub struct ReturnVisitCall {
    /// How the call went: `reached`, `not_reached` or `call_again`.
    pub outcome: CallOutcome,
    /// The customer's satisfaction, 1 to 5 (only when reached; optional).
    #[serde(default)]
    pub score: Option<u8>,
    /// What the customer said, or a note on the call (at most 4,000 characters).
    #[serde(default)]
    pub comment: String,
    /// When to call again (ms since the Unix epoch; required for `call_again`, in the future).
    #[serde(default)]
    pub call_again_at: Option<Millis>,
}

/// A job with its projection, as the dispatch API returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobView {
    /// The projection row.
    pub summary: JobSummary,
    /// The whole read model.
    pub job: Job,
    /// The job's audit trail: every change (who, which fields, device and server time), scope
    /// move, violation, compensation, purge and flag, oldest first.
    pub history: Vec<AuditEntry>,
    /// The document's current heads (hex change hashes), for comparing replicas.
    pub heads: Vec<String>,
    /// The SLA clocks and where they stand.
    pub clocks: Vec<ClockView>,
    /// The reminders the escalation ladder sent about it, oldest first.
    pub reminders: Vec<Reminder>,
    /// Visits ended on site.
    pub visits: u32,
    /// Flags raised about it (e.g. work arrived from a previous assignee).
    pub flags: Vec<String>,
    /// The service facts: clock stop times, with the device's and the server's time of the
    /// completion.
    pub facts: Option<JobFacts>,
    /// The photos, signature and service report it refers to, and whether the server holds
    /// each.
    pub media: Vec<crate::domain::media::MediaItem>,
    /// The customer's signature and the report it signs, once signed.
    pub report: Option<crate::domain::media::ReportView>,
}

/// The dispatch service over a storage backend.
pub struct Dispatch<'s> {
    storage: &'s dyn Storage,
    editor: Editor,
    policy: &'s SlaPolicy,
    language: Language,
    phone_region: Option<PhoneRegion>,
    travel: TravelSpeed,
    zone: TimeZone,
}

/// The country whose numbering plan a customer's phone number without a `+` follows (ISO 3166
/// code, e.g. `CN`).
pub type PhoneRegion = phonenumber::country::Id;

/// The country whose phone numbers an organisation working in `language` has unless it says
/// otherwise: China's for Chinese; none for English, which is spoken in too many.
pub fn default_phone_region(language: Language) -> Option<PhoneRegion> {
    match language {
        Language::English => None,
        Language::Chinese => Some(PhoneRegion::CN),
    }
}

/// The phone-number region of `code` (e.g. `CN`), `None` for `none` (only the shape of a
/// number is checked), or an error that names it.
pub fn phone_region(code: &str) -> Result<Option<PhoneRegion>, String> {
    if code.trim().eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    code.trim()
        .to_ascii_uppercase()
        .parse()
        .map(Some)
        .map_err(|_| {
            format!(
                "`{}` is not a country code such as CN or GB, or none",
                code.trim()
            )
        })
}

impl<'s> Dispatch<'s> {
    /// Dispatch acting as `user`.
    pub fn new(storage: &'s dyn Storage, user: &str) -> Self {
        Dispatch {
            storage,
            editor: Editor {
                user: user.to_owned(),
                device: "server".into(),
                role: Role::Dispatch,
            },
            policy: &DEFAULT_POLICY,
            language: Language::English,
            phone_region: None,
            travel: TravelSpeed::default(),
            zone: TimeZone::UTC,
        }
    }

    /// The same, holding bookings to engineers' hours in the organisation's time `zone`.
    pub fn with_time_zone(mut self, zone: TimeZone) -> Self {
        self.zone = zone;
        self
    }

    /// The same, checking the time between an engineer's visits against travel at `speed`.
    pub fn with_travel(mut self, speed: TravelSpeed) -> Self {
        self.travel = speed;
        self
    }

    /// The same, opening jobs under `policy` instead of the default SLA targets.
    pub fn with_sla(mut self, policy: &'s SlaPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The same, giving new jobs their checklist in the organisation's `language`.
    pub fn with_language(mut self, language: Language) -> Self {
        self.language = language;
        self
    }

    /// The same, checking customers' phone numbers against `region`'s numbering plan (a
    /// number without `+` is read as one of that country's).
    pub fn with_phone_region(mut self, region: Option<PhoneRegion>) -> Self {
        self.phone_region = region;
        self
    }

    /// The office as the author of changes made for `note` (a reason the user gave).
    fn author_noting<'n>(&'n self, note: &'n str) -> Author<'n> {
        Author {
            user: &self.editor.user,
            device: None,
            fields: jobs::NO_FIELDS,
            binds_actors: true,
            note,
        }
    }

    /// Opens a job from a call: checks it ([`validate_call`]), then fills the id and the call
    /// time when absent, sets the SLA deadlines from the policy (deadlines sent with the call
    /// are ignored: the policy is the contract) and the kind's checklist when absent. A
    /// complaint taken on a call may name the job it is about (`complaint.about_job`, which
    /// must exist and then lists it) and its kind; how it is handled is recorded later.
    pub fn create(
        &self,
        mut new: NewJob,
        now: Millis,
    ) -> Result<(JobSummary, Committed), DomainError> {
        if new.call_received_at == 0 {
            new.call_received_at = now;
        }
        new.complaint = new
            .complaint
            .filter(|_| new.kind == JobKind::Complaint)
            .map(|c| ComplaintInfo {
                about_job: c.about_job.trim().to_owned(),
                kind: c.kind,
                source: "office".into(),
                ..ComplaintInfo::default()
            });
        write(self.storage, |tx| {
            // Checked against the lists in the transaction that stores the job, so that an
            // entry deleted meanwhile is not written.
            let lists = ManagedLists::load(tx)?;
            validate_call(&new, now, self.phone_region, &lists)?;
            let new = self.fill_call(new, now, &lists);
            let about = new
                .complaint
                .as_ref()
                .map(|c| c.about_job.clone())
                .filter(|about| !about.is_empty());
            if let Some(about) = &about
                && tx.job(about)?.is_none()
            {
                return Err(DomainError::invalid_field(
                    "complaint.about_job",
                    Problem::InvalidValue,
                    format!("there is no job `{about}` to complain about"),
                )
                .with("value", about.as_str()));
            }
            let (summary, committed) = self.create_in(tx, new.clone(), now)?;
            if let (Some(about), Some(complaint)) = (about, &new.complaint) {
                self.note_complaint_on(tx, &about, &summary.id, complaint.kind, now)?;
            }
            Ok((summary, committed))
        })
    }

    /// Lists complaint job `complaint` on the job it is `about`.
    fn note_complaint_on(
        &self,
        tx: &mut dyn WriteTx,
        about: &str,
        complaint: &str,
        kind: ComplaintKind,
        now: Millis,
    ) -> Result<(JobSummary, Committed), DomainError> {
        let raised = ComplaintRef {
            job_id: complaint.to_owned(),
            at: now,
            kind,
        };
        let note = format!("complaint {complaint} raised ({})", kind.as_str());
        self.edit_in(tx, about, &note, now, |doc, editor| {
            doc.note_complaint(&raised, editor, now)
        })
    }

    /// A checked call completed as [`Dispatch::create`] describes.
    fn fill_call(&self, mut new: NewJob, now: Millis, lists: &ManagedLists) -> NewJob {
        if new.id.is_empty() {
            new.id = format!("job-{}", uuid::Uuid::new_v4().simple());
        }
        if new.call_received_at == 0 {
            new.call_received_at = now;
        }
        // A caller's clock a little ahead of ours: the call came in now.
        new.call_received_at = new.call_received_at.min(now);
        new.sla = self
            .policy
            .deadlines(new.customer.tier, new.kind, new.call_received_at);
        if new.checklist.is_empty() {
            new.checklist = default_checklist(new.kind, self.language);
        }
        // The region follows from a Chinese province when the call names none.
        derive_region(&mut new.site, None, lists);
        new
    }

    /// Opens the prepared call `new` inside the write transaction `tx`, linked to its
    /// customer's record.
    fn create_in(
        &self,
        tx: &mut dyn WriteTx,
        mut new: NewJob,
        now: Millis,
    ) -> Result<(JobSummary, Committed), DomainError> {
        if tx.job(&new.id)?.is_some() {
            return Err(DomainError::conflict(
                Problem::JobExists,
                format!("job `{}` already exists", new.id),
            )
            .with("job", new.id.as_str()));
        }
        new.customer.id = customers::link_call(tx, &new.customer, &new.site, &new.product, now)?;
        let actor = ActorId::from(tx.server_actor()?.as_slice());
        let mut doc = JobDoc::create(actor, &new, &self.editor, now)?.into_automerge();
        let changes = doc.get_changes(&[]);
        let committed = jobs::commit(
            tx,
            &new.id,
            (doc, None),
            None,
            &changes,
            self.author_noting(""),
            now,
        )?;
        let summary = committed
            .summary
            .clone()
            .ok_or_else(|| DomainError::Internal("no summary".into()))?;
        Ok((summary, committed))
    }

    /// Records the customer's own rating of job `job_id` (through their link): a score of 1 to
    /// 5 and a comment of at most [`MAX_CUSTOMER_TEXT`] characters, at most
    /// [`MAX_LINK_ENTRIES`] per job (`409 conflict`, problem `limit_reached`).
    pub fn record_survey(
        &self,
        job_id: &str,
        score: u8,
        comment: &str,
        now: Millis,
    ) -> Result<(JobSummary, Committed), DomainError> {
        let mut problems = Vec::new();
        if !(1..=5).contains(&score) {
            problems.push(
                DomainError::invalid_field(
                    "score",
                    Problem::InvalidValue,
                    format!("a rating is 1 to 5, not {score}"),
                )
                .with("value", score),
            );
        }
        problems.extend(too_long("comment", comment, MAX_CUSTOMER_TEXT));
        every_problem(problems)?;
        let survey = Survey {
            at: now,
            score,
            comment: comment.trim().to_owned(),
        };
        write(self.storage, |tx| {
            let job = jobs::read_stored(tx, job_id, &stored_job(tx, job_id)?)?;
            if job.surveys.len() >= MAX_LINK_ENTRIES {
                return Err(limit_reached("ratings", MAX_LINK_ENTRIES));
            }
            let note = format!("the customer rated the service {score}/5");
            self.edit_in(tx, job_id, &note, now, |doc, editor| {
                doc.record_survey(&survey, editor, now)
            })
        })
    }

    /// Opens a complaint job about job `about` for the customer (through their link): the same
    /// customer, site and product, the kind of complaint (in the organisation's language) as
    /// its category, `description` (1 to [`MAX_CUSTOMER_TEXT`] characters) as its problem, high
    /// priority, and the complaint clocks of the policy; the job complained about lists it. At
    /// most [`MAX_LINK_ENTRIES`] complaints about one job. Returns the complaint job and both
    /// commits.
    pub fn raise_complaint(
        &self,
        about: &str,
        kind: ComplaintKind,
        description: &str,
        now: Millis,
    ) -> Result<(JobSummary, Committed, Committed), DomainError> {
        let description = description.trim();
        every_problem(required_text("description", description, MAX_CUSTOMER_TEXT))?;
        write(self.storage, |tx| {
            let job = jobs::read_stored(tx, about, &stored_job(tx, about)?)?;
            if job.complaints.len() >= MAX_LINK_ENTRIES {
                return Err(limit_reached("complaints", MAX_LINK_ENTRIES));
            }
            let call = NewJob {
                kind: JobKind::Complaint,
                customer: job.customer.clone(),
                site: job.site.clone(),
                product: job.product.clone(),
                problem: fieldsync_protocol::job::Problem {
                    category: complaint_category(kind, self.language).to_owned(),
                    description: description.to_owned(),
                },
                priority: Priority::High,
                complaint: Some(ComplaintInfo {
                    about_job: about.to_owned(),
                    kind,
                    source: "customer".into(),
                    ..ComplaintInfo::default()
                }),
                ..NewJob::default()
            };
            // What the job already holds is not checked again: the customer can fix only
            // what they wrote.
            let call = self.fill_call(call, now, &ManagedLists::load(tx)?);
            let (complaint, opened) = self.create_in(tx, call, now)?;
            let (_, noted) = self.note_complaint_on(tx, about, &complaint.id, kind, now)?;
            Ok((complaint, opened, noted))
        })
    }

    /// Applies a dispatch edit to a job and commits it.
    fn edit(
        &self,
        job_id: &str,
        now: Millis,
        f: impl FnOnce(&mut JobDoc, &Editor) -> Result<(), SchemaError>,
    ) -> Result<(JobSummary, Committed), DomainError> {
        write(self.storage, |tx| self.edit_in(tx, job_id, "", now, f))
    }

    /// Edits a job inside the write transaction `tx` as the office, noting why (`note`, which
    /// the job's history keeps; empty for none).
    fn edit_in(
        &self,
        tx: &mut dyn WriteTx,
        job_id: &str,
        note: &str,
        now: Millis,
        f: impl FnOnce(&mut JobDoc, &Editor) -> Result<(), SchemaError>,
    ) -> Result<(JobSummary, Committed), DomainError> {
        let actor = ActorId::from(tx.server_actor()?.as_slice());
        jobs::edit(
            tx,
            job_id,
            actor,
            &self.editor,
            self.author_noting(note),
            now,
            f,
        )
    }

    /// Assigns, reassigns or (with `None`) unassigns a job, and with `window` sets its
    /// appointment in the same change. The assignee must be a known installer; a visit that
    /// overlaps another of theirs is refused (see [`Dispatch::book`]).
    pub fn assign(
        &self,
        job_id: &str,
        assignee: Option<&str>,
        window: Option<Appointment>,
        override_reason: Option<&str>,
        now: Millis,
    ) -> Result<(JobSummary, Committed), DomainError> {
        if let Some(user) = assignee {
            let users = read(self.storage, |tx| tx.users())?;
            if !users.iter().any(|u| u.id == user && u.role == "installer") {
                return Err(DomainError::bad_request(
                    ErrorCode::UnknownInstaller,
                    format!("`{user}` is not an installer"),
                )
                .with("user", user));
            }
        }
        self.book(job_id, Some(assignee), window, override_reason, now)
    }

    /// Sets or moves the appointment window; a visit that overlaps another of the job's
    /// engineer is refused (see [`Dispatch::book`]).
    pub fn set_appointment(
        &self,
        job_id: &str,
        window: Appointment,
        override_reason: Option<&str>,
        now: Millis,
    ) -> Result<(JobSummary, Committed), DomainError> {
        self.book(job_id, None, Some(window), override_reason, now)
    }

    /// Changes who does a job (`assignee`, `None` to keep it) and when (`window`, `None` to
    /// keep it) in one change, checked in the same transaction against the engineer's other
    /// visits: one that shares any moment with this one is refused (`409 conflict`,
    /// `double_booked`, naming it), and so is a visit next to one too far away to get between
    /// them in the time left (`no_travel_time`: a straight line at the travel speed, when both
    /// places are known), unless `override_reason` says why it is booked anyway; the job's
    /// history keeps that reason.
    fn book(
        &self,
        job_id: &str,
        assignee: Option<Option<&str>>,
        window: Option<Appointment>,
        override_reason: Option<&str>,
        now: Millis,
    ) -> Result<(JobSummary, Committed), DomainError> {
        if let Some(window) = window
            && window.end <= window.start
        {
            return Err(DomainError::invalid_field(
                "end",
                Problem::EndBeforeStart,
                "the appointment must end after it starts",
            ));
        }
        let override_reason = checked_reason("override_reason", override_reason)?;
        write(self.storage, |tx| {
            let stored = tx
                .job(job_id)?
                .ok_or_else(|| DomainError::not_found(Thing::Job, job_id))?;
            let current = &stored.summary;
            let engineer = assignee.map_or(current.assignee.as_deref(), |a| a);
            let slot = window.or(match (current.appointment_start, current.appointment_end) {
                (Some(start), Some(end)) => Some(Appointment { start, end }),
                _ => None,
            });
            let mut note = String::new();
            if let (Some(engineer), Some(slot)) = (engineer, slot)
                && !current.status.is_terminal()
            {
                let conflicts = self.planning_conflicts(tx, &stored, engineer, slot)?;
                if !conflicts.is_empty() {
                    let words: Vec<&str> = conflicts.iter().map(|(_, w)| w.as_str()).collect();
                    let words = words.join("; ");
                    if override_reason.is_empty() {
                        return Err(every_conflict(conflicts));
                    }
                    note = format!("{words}: {override_reason}");
                }
            }
            self.edit_in(tx, job_id, &note, now, |doc, editor| {
                if let Some(window) = window {
                    doc.set_appointment(window, editor, now)?;
                }
                match assignee {
                    Some(assignee) => doc.assign(assignee, editor, now),
                    None => Ok(()),
                }
            })
        })
    }

    /// Everything that stands against `engineer` doing the stored job in `slot`, in this
    /// order: another visit at the same time (`double_booked`), their time off, weekday off or
    /// hours (`time_off`, `day_off`, `outside_working_hours`), a neighbouring visit too far
    /// away for the time between them (`no_travel_time`); each as the conflict to answer with
    /// and the history's words for booking it anyway.
    fn planning_conflicts(
        &self,
        tx: &dyn ReadTx,
        stored: &StoredJob,
        engineer: &str,
        slot: Appointment,
    ) -> Result<Vec<(DomainError, String)>, DomainError> {
        let job_id = stored.summary.id.as_str();
        let mut conflicts = Vec::new();
        if let Some(other) = planning::clash(tx, job_id, engineer, slot)? {
            conflicts.push((
                about_visit(
                    DomainError::conflict(
                        Problem::DoubleBooked,
                        format!(
                            "{engineer} already has job `{}` ({}) at that time; give a reason \
                             to book it anyway",
                            other.id, other.customer_name
                        ),
                    )
                    .with("user", engineer),
                    &other,
                ),
                format!("booked over job {}", other.id),
            ));
        }
        if let Some(why) = tx
            .work_schedule(engineer)?
            .and_then(|week| schedule::unavailable(&week, slot, &self.zone))
        {
            conflicts.push(why.conflict(engineer));
        }
        let job = jobs::read_stored(tx, job_id, stored)?;
        let Some(short) = travel::too_little_travel(tx, &job, engineer, slot, self.travel)? else {
            return Ok(conflicts);
        };
        let other = &short.other;
        let km = (short.km * 10.0).round() / 10.0;
        conflicts.push((
            about_visit(
                DomainError::conflict(
                    Problem::NoTravelTime,
                    format!(
                        "{engineer} needs about {} min to travel the {km} km {} job `{}` ({}) \
                         and would have {} min; give a reason to book it anyway",
                        short.needed,
                        if short.before { "from" } else { "to" },
                        other.id,
                        other.customer_name,
                        short.free
                    ),
                )
                .with("user", engineer),
                other,
            )
            .with("km", km)
            .with("needed", short.needed)
            .with("free", short.free)
            .with("before", short.before),
            format!("booked without travel time next to job {}", other.id),
        ));
        Ok(conflicts)
    }

    /// Corrects what was recorded at intake ([`JobDetails`]: the kind, priority, customer,
    /// site, product and problem) from `patch`, a JSON merge patch of them (see [`corrected`]).
    /// Only the fields whose values change are written, each as its own value in one server
    /// change, so phones merge it with their own work. The changed fields are checked as a call
    /// is (every problem at once); a new tier or kind sets the SLA deadlines the policy gives
    /// it from the call's time. The history records each field's old and new value and the
    /// `reason`, when given. A patch that changes nothing makes no change.
    pub fn correct(
        &self,
        job_id: &str,
        patch: &serde_json::Map<String, serde_json::Value>,
        reason: Option<&str>,
        now: Millis,
    ) -> Result<(JobSummary, Committed), DomainError> {
        let reason = checked_reason("reason", reason)?;
        write(self.storage, |tx| {
            let stored = tx
                .job(job_id)?
                .ok_or_else(|| DomainError::not_found(Thing::Job, job_id))?;
            let job = jobs::read_stored(tx, job_id, &stored)?;
            let before = job.details();
            let mut after = corrected(&before, patch)?;
            let lists = ManagedLists::load(tx)?;
            derive_region(&mut after.site, Some(&before.site), &lists);
            let changes = field_changes("", &before, &after)?;
            if changes.is_empty() {
                return Ok((stored.summary, Committed::default()));
            }
            let call = NewJob {
                kind: after.kind,
                call_received_at: job.call_received_at,
                customer: after.customer.clone(),
                site: after.site.clone(),
                product: after.product.clone(),
                problem: after.problem.clone(),
                priority: after.priority,
                ..NewJob::default()
            };
            // The coordinates are checked as a pair: clearing one leaves the other alone.
            let coordinate = |field: &str| field == "site.lat" || field == "site.lon";
            let changed = |field: Option<&str>| {
                field.is_some_and(|field| {
                    changes
                        .iter()
                        .any(|c| c.field == field || (coordinate(field) && coordinate(&c.field)))
                })
            };
            every_problem(
                call_problems(&call, now, self.phone_region, &lists)
                    .into_iter()
                    .filter(|problem| changed(problem.field()))
                    .collect(),
            )?;
            // The customer's record follows (a job opened before records existed gets one).
            let about_customer = |field: &str| {
                ["customer.", "site.", "product."]
                    .iter()
                    .any(|part| field.starts_with(part))
            };
            if changes.iter().any(|c| about_customer(&c.field)) {
                after.customer.id = customers::follow_correction(tx, job_id, &before, &after, now)?;
            }
            let mut changes = field_changes("", &before, &after)?;
            if after.kind != before.kind || after.customer.tier != before.customer.tier {
                let sla =
                    self.policy
                        .deadlines(after.customer.tier, after.kind, job.call_received_at);
                changes.extend(field_changes("sla", &job.sla, &sla)?);
            }
            let note = correction_note(&changes, reason);
            self.edit_in(tx, job_id, &note, now, |doc, editor| {
                doc.correct(&changes, editor, now)
            })
        })
    }

    /// Moves the status as dispatch (cancel, close, reopen, schedule a follow-up).
    ///
    /// Cancelling a job and reopening one (moving it back from completed, incomplete, cancelled
    /// or closed) need a `reason`, which the job's history records with the move, and so does
    /// closing a job whose return-visit call has not reached the customer (closing ends that
    /// task; the KPIs count the call as missed once its deadline passes); closing is refused for
    /// a job that was never worked (`transition_not_allowed`).
    pub fn move_status(
        &self,
        job_id: &str,
        to: Status,
        reason: Option<&str>,
        now: Millis,
    ) -> Result<(JobSummary, Committed), DomainError> {
        let reason = checked_reason("reason", reason)?;
        write(self.storage, |tx| {
            let stored = tx
                .job(job_id)?
                .ok_or_else(|| DomainError::not_found(Thing::Job, job_id))?;
            let from = stored.summary.status;
            // Out of a cancelled or closed job, or back from an ended visit to planning.
            let reopens = matches!(from, Status::Cancelled | Status::Closed)
                || (from.is_terminal() && !to.is_terminal());
            // Closing ends customer service's task: without the return-visit call, say why.
            let uncalled = to == Status::Closed
                && tx
                    .job_facts(job_id)?
                    .is_some_and(|f| f.return_visit_by.is_some() && f.return_visit_at.is_none());
            if (to == Status::Cancelled || reopens || uncalled) && from != to && reason.is_empty() {
                let what = match (reopens, uncalled) {
                    (true, _) => "reopening a job",
                    (_, true) => "closing a job whose customer was not called back",
                    _ => "cancelling a job",
                };
                return Err(DomainError::invalid_field(
                    "reason",
                    Problem::Required,
                    format!("{what} needs a reason, which its history keeps"),
                ));
            }
            // A job reopened into planning keeps its engineer and visit: what now stands against
            // that visit is booked over with the reopening's reason, and the history says so.
            let mut note = reason.to_owned();
            let current = &stored.summary;
            if reopens
                && !to.is_terminal()
                && let (Some(engineer), Some(start), Some(end)) = (
                    current.assignee.as_deref(),
                    current.appointment_start,
                    current.appointment_end,
                )
            {
                let conflicts =
                    self.planning_conflicts(tx, &stored, engineer, Appointment { start, end })?;
                let words: Vec<&str> = conflicts.iter().map(|(_, w)| w.as_str()).collect();
                if !words.is_empty() {
                    note = format!("{reason} ({})", words.join("; "));
                }
            }
            self.edit_in(tx, job_id, &note, now, |doc, editor| {
                doc.transition(to, editor, now, None)
            })
        })
    }

    /// Records customer service's return-visit call on a completed (or closed) job: how it went,
    /// the customer's satisfaction (1 to 5, only when reached) and words, and when to call again
    /// (required for `call_again`, in the future). A reached call stops the return-visit clock;
    /// its score is the return-visit satisfaction the KPIs count, apart from the rating given on
    /// the installer's phone.
    pub fn record_return_visit(
        &self,
        job_id: &str,
        call: ReturnVisitCall,
        now: Millis,
    ) -> Result<(JobSummary, Committed), DomainError> {
        let mut problems = Vec::new();
        match (call.outcome, call.score) {
            (_, Some(score)) if !(1..=5).contains(&score) => problems.push(
                DomainError::invalid_field(
                    "score",
                    Problem::InvalidValue,
                    format!("a satisfaction score is 1 to 5, not {score}"),
                )
                .with("value", score),
            ),
            (CallOutcome::NotReached | CallOutcome::CallAgain, Some(_)) => {
                problems.push(DomainError::invalid_field(
                    "score",
                    Problem::InvalidValue,
                    "only a customer reached gives a score",
                ))
            }
            _ => {}
        }
        match (call.outcome, call.call_again_at) {
            (CallOutcome::CallAgain, None) => problems.push(DomainError::invalid_field(
                "call_again_at",
                Problem::Required,
                "a call-again needs the time to call",
            )),
            (CallOutcome::CallAgain, Some(at)) if at <= now => {
                problems.push(DomainError::invalid_field(
                    "call_again_at",
                    Problem::InvalidValue,
                    "the time to call again must be in the future",
                ))
            }
            _ => {}
        }
        if call.comment.chars().count() > MAX_TEXT {
            problems.push(
                DomainError::invalid_field(
                    "comment",
                    Problem::TooLong,
                    format!("a comment is at most {MAX_TEXT} characters"),
                )
                .with("max", MAX_TEXT),
            );
        }
        every_problem(problems)?;
        let visit = ReturnVisit {
            at: now,
            by: self.editor.user.clone(),
            outcome: call.outcome,
            call_again_at: call
                .call_again_at
                .filter(|_| call.outcome == CallOutcome::CallAgain),
            score: call.score,
            comment: call.comment.trim().to_owned(),
        };
        write(self.storage, |tx| {
            let stored = tx
                .job(job_id)?
                .ok_or_else(|| DomainError::not_found(Thing::Job, job_id))?;
            if !matches!(stored.summary.status, Status::Completed | Status::Closed) {
                return Err(DomainError::conflict(
                    Problem::NotCompleted,
                    format!(
                        "job `{job_id}` is {}: a return visit follows a completed job",
                        stored.summary.status.as_str()
                    ),
                )
                .with("status", stored.summary.status.as_str()));
            }
            let edited = self.edit_in(tx, job_id, "", now, |doc, editor| {
                doc.record_return_visit(&visit, editor, now)
            })?;
            // Unreachable by phone: the customer is asked to rate through their link.
            if visit.outcome == CallOutcome::NotReached {
                let job = jobs::read_stored(tx, job_id, &stored_job(tx, job_id)?)?;
                notify::survey(tx, &job, &self.editor.user, now)?;
            }
            Ok(edited)
        })
    }

    /// Answers the field's help request `index` (in the order they were made): the answer (1 to
    /// [`MAX_CUSTOMER_TEXT`] characters) goes into the request, so it reaches the installer's
    /// phone with the job's next sync.
    pub fn answer_help(
        &self,
        job_id: &str,
        index: usize,
        answer: &str,
        now: Millis,
    ) -> Result<(JobSummary, Committed), DomainError> {
        let answer = answer.trim();
        every_problem(required_text("answer", answer, MAX_CUSTOMER_TEXT))?;
        write(self.storage, |tx| {
            let job = jobs::read_stored(tx, job_id, &stored_job(tx, job_id)?)?;
            if index >= job.escalation.help_requests.len() {
                return Err(DomainError::not_found(
                    Thing::HelpRequest,
                    index.to_string(),
                ));
            }
            let note = format!("help request {} answered", index + 1);
            self.edit_in(tx, job_id, &note, now, |doc, editor| {
                doc.answer_help(index, answer, editor, now)
            })
        })
    }

    /// Records how the office handles complaint job `job_id` (only what `handling` gives): its
    /// kind, severity, owner (an office user), the answer given to the customer (which stops the
    /// complaint's feedback clock) and the outcome (a rejection needs its reason in
    /// `outcome_note`). A job that is not a complaint is refused (`400 invalid_field`, `kind`).
    pub fn handle_complaint(
        &self,
        job_id: &str,
        handling: &ComplaintHandling,
        now: Millis,
    ) -> Result<(JobSummary, Committed), DomainError> {
        let mut handling = handling.clone();
        for text in [
            &mut handling.owner,
            &mut handling.answer,
            &mut handling.outcome_note,
        ]
        .into_iter()
        .flatten()
        {
            *text = text.trim().to_owned();
        }
        let mut problems = match handling.answer.as_deref() {
            Some(answer) => required_text("answer", answer, MAX_CUSTOMER_TEXT),
            None => Vec::new(),
        };
        problems.extend(too_long(
            "outcome_note",
            handling.outcome_note.as_deref().unwrap_or(""),
            MAX_CUSTOMER_TEXT,
        ));
        write(self.storage, |tx| {
            let job = jobs::read_stored(tx, job_id, &stored_job(tx, job_id)?)?;
            let mut problems = problems;
            if job.kind != JobKind::Complaint {
                problems.push(
                    DomainError::invalid_field(
                        "kind",
                        Problem::InvalidValue,
                        format!("job `{job_id}` is not a complaint"),
                    )
                    .with("value", job.kind.as_str()),
                );
            }
            if let Some(owner) = handling.owner.as_deref().filter(|o| !o.is_empty())
                && !tx
                    .users()?
                    .iter()
                    .any(|u| u.id == owner && u.role != "installer")
            {
                problems.push(
                    DomainError::invalid_field(
                        "owner",
                        Problem::InvalidValue,
                        format!("`{owner}` is not a user of the office"),
                    )
                    .with("value", owner),
                );
            }
            let current = job.complaint.clone().unwrap_or_default();
            let note = handling
                .outcome_note
                .clone()
                .unwrap_or(current.outcome_note);
            let outcome = handling.outcome.or(current.outcome);
            if outcome == Some(ComplaintOutcome::Rejected) && note.is_empty() {
                problems.push(DomainError::invalid_field(
                    "outcome_note",
                    Problem::Required,
                    "a rejected complaint needs the reason, which the customer is told",
                ));
            }
            every_problem(problems)?;
            let edited = self.edit_in(tx, job_id, "", now, |doc, editor| {
                doc.handle_complaint(&handling, editor, now)
            })?;
            if let Some(answer) = handling.answer.as_deref()
                && answer != current.answer
            {
                notify::complaint_answered(tx, &job, answer, now)?;
            }
            Ok(edited)
        })
    }

    /// Escalates a job by hand to `ring` (2: the engineering supervisor, 3: the head of
    /// engineering) for `reason`, which the history keeps and a reminder to that ring carries
    /// (its `message`). Only upwards, and not for a cancelled or closed job. Returns the commit
    /// and the reminder stored.
    pub fn escalate_by_hand(
        &self,
        job_id: &str,
        ring: u8,
        reason: Option<&str>,
        now: Millis,
    ) -> Result<(JobSummary, Committed, Option<Reminder>), DomainError> {
        let reason = checked_reason("reason", reason)?;
        let mut problems = Vec::new();
        if !(2..=3).contains(&ring) {
            problems.push(
                DomainError::invalid_field(
                    "ring",
                    Problem::InvalidValue,
                    "a job is escalated by hand to ring 2 or 3",
                )
                .with("value", ring),
            );
        }
        if reason.is_empty() {
            problems.push(DomainError::invalid_field(
                "reason",
                Problem::Required,
                "escalating a job needs a reason, which its history keeps",
            ));
        }
        every_problem(problems)?;
        write(self.storage, |tx| {
            let job = jobs::read_stored(tx, job_id, &stored_job(tx, job_id)?)?;
            if job.ring() >= ring {
                return Err(DomainError::invalid_field(
                    "ring",
                    Problem::InvalidValue,
                    format!("the job is in ring {} already", job.ring()),
                )
                .with("value", ring));
            }
            if matches!(job.status(), Status::Cancelled | Status::Closed) {
                return Err(DomainError::invalid_field(
                    "ring",
                    Problem::InvalidValue,
                    format!(
                        "job `{job_id}` is {}: nothing to escalate",
                        job.status().as_str()
                    ),
                )
                .with("value", ring));
            }
            let note = format!("escalated by hand to ring {ring}: {reason}");
            let (summary, committed) = self.edit_in(tx, job_id, &note, now, |doc, editor| {
                doc.escalate(ring, editor, now)
            })?;
            let reminder = Reminder {
                id: 0,
                job_id: job_id.to_owned(),
                rule: format!("manual:ring{ring}"),
                to_user: None,
                to_role: Some(
                    if ring == 2 {
                        "supervisor"
                    } else {
                        "head_of_engineering"
                    }
                    .into(),
                ),
                ring,
                clock: "manual".into(),
                // The reason is what the ring reads; the rule says the rest.
                message: reason.to_owned(),
                created_at: now,
                acknowledged_at: None,
                acknowledged_by: None,
            };
            let stored = tx.add_reminder(&reminder)?;
            Ok((summary, committed, stored))
        })
    }

    /// Raises the escalation ring to `ring`, checked against the stored document in the same
    /// transaction: a job already at or above it is left alone (no change is made).
    pub fn raise_ring(
        &self,
        job_id: &str,
        ring: u8,
        now: Millis,
    ) -> Result<(JobSummary, Committed), DomainError> {
        self.edit(job_id, now, |doc, editor| {
            if doc.read()?.ring() < ring {
                doc.escalate(ring, editor, now)?;
            }
            Ok(())
        })
    }

    /// One job with its history, clocks and reminders, as seen at `now`.
    pub fn get(&self, job_id: &str, now: Millis) -> Result<JobView, DomainError> {
        read(self.storage, |tx| {
            let stored = tx
                .job(job_id)?
                .ok_or_else(|| DomainError::not_found(Thing::Job, job_id))?;
            let mut doc = jobs::document(tx, job_id, &stored)?;
            let job = jobs::read(job_id, &doc)?;
            let heads = doc.get_heads().iter().map(ToString::to_string).collect();
            jobs::keep(tx, job_id, doc);
            let history = tx.audit(Some(job_id), None, usize::MAX >> 1)?;
            let facts = tx.job_facts(job_id)?;
            let flags = history
                .iter()
                .filter(|e| e.kind == AuditKind::Flag)
                .map(|e| e.detail.clone())
                .collect();
            let media = crate::domain::media::job_media(tx, &job)?;
            let report = crate::domain::media::report_view(&job, &media);
            Ok(JobView {
                media,
                report,
                summary: stored.summary,
                job,
                history,
                heads,
                clocks: facts
                    .as_ref()
                    .map(|f| planning::clocks(f, now))
                    .unwrap_or_default(),
                reminders: tx.job_reminders(job_id)?,
                visits: facts.as_ref().map_or(0, |f| f.visits),
                flags,
                facts,
            })
        })
    }

    /// Every job's projection.
    pub fn list(&self) -> Result<Vec<JobSummary>, DomainError> {
        read(self.storage, |tx| Ok(tx.list_jobs()?))
    }

    /// Every user.
    pub fn users(&self) -> Result<Vec<User>, DomainError> {
        read(self.storage, |tx| Ok(tx.users()?))
    }
}

#[cfg(test)]
mod tests {
    use fieldsync_protocol::job::{Customer, JobKind, NewJob, Problem, Site};

    use super::{Dispatch, Language, check_phone, default_checklist, phone_region};
    use crate::storage::sqlite::SqliteStorage;

    /// A corrected province moves the region it gave along, only to a region the list admits;
    /// a province in the same region leaves it, retired or not.
    #[test]
    fn a_corrected_province_moves_its_region_only_within_the_list() {
        use super::derive_region;
        use crate::domain::lists::ManagedLists;
        use crate::storage::ListEntry;
        use fieldsync_protocol::job::Site;
        let entry = |code: &str, retired| ListEntry {
            code: code.into(),
            name_zh: code.into(),
            name_en: code.into(),
            retired,
        };
        let lists = ManagedLists {
            regions: vec![entry("华东", true), entry("华北", false)],
            categories: Vec::new(),
        };
        let site = |province: &str, region: &str| Site {
            province: province.into(),
            region: region.into(),
            ..Site::default()
        };
        let before = site("上海市", "华东");
        for (province, region) in [("江苏省", "华东"), ("北京", "华北"), ("广东省", "")]
        {
            let mut after = site(province, "华东");
            derive_region(&mut after, Some(&before), &lists);
            assert_eq!(after.region, region, "{province}");
        }
    }

    /// A call that names a Chinese province and no region gets the province's region.
    #[test]
    fn the_region_follows_from_a_chinese_province() {
        use super::region_of_province;
        for (province, region) in [
            ("上海市", "华东"),
            ("上海", "华东"),
            ("廣東省", "华南"),
            ("广西壮族自治区", "华南"),
            ("北京市", "华北"),
            ("黑龙江省", "东北"),
            ("新疆维吾尔自治区", "西北"),
            ("香港特别行政区", "港澳台"),
        ] {
            assert_eq!(region_of_province(province), Some(region), "{province}");
        }
        assert_eq!(region_of_province("Scotland"), None);
        assert_eq!(region_of_province(""), None);
    }

    /// In China a customer's number is a Chinese one (or written with `+`, any valid number);
    /// without a region only the shape of a number is checked.
    #[test]
    fn phone_numbers_follow_the_organisations_numbering_plan() {
        let china = phone_region("cn").expect("CN");
        assert!(china.is_some());
        assert_eq!(phone_region("none"), Ok(None));
        for good in [
            "138 0013 8000",
            "+86 138 0013 8000",
            "021 6888 8888",
            "+44 20 7946 0958",
            "１３８ ００１３ ８０００",
        ] {
            assert!(check_phone(good, china).is_ok(), "{good}");
        }
        for bad in [
            "12345",
            "138 0013 800",
            "call the front desk",
            "+86 000 0000 0000",
        ] {
            let refused = check_phone(bad, china).expect_err(bad);
            let params = serde_json::Value::Object(refused.params());
            assert_eq!(params["problem"], "not_a_phone", "{bad}");
            assert_eq!(params["field"], "customer.phone");
            assert_eq!(params["region"], "CN");
        }
        for good in ["+1 555 0100", "(020) 7946 0958", "555-0100"] {
            assert!(check_phone(good, None).is_ok(), "{good}");
        }
        for bad in ["call the front desk", "12", "+1 555 0100 ext. 4"] {
            assert!(check_phone(bad, None).is_err(), "{bad}");
        }
        assert!(phone_region("Narnia").is_err());
    }

    /// A correction writes only what it names and changes, checks it as a call is (every
    /// problem at once, nothing stored), refuses what is not a detail, moves the SLA deadlines
    /// with the tier, and leaves each field's old and new value in the history.
    #[test]
    fn a_correction_changes_only_what_it_names_and_the_history_says_what_it_was() {
        use crate::domain::error::ErrorCode;
        use crate::domain::sla::SlaPolicy;
        use fieldsync_protocol::job::Tier;
        use serde_json::json;

        let dir = tempfile::tempdir().expect("tempdir");
        let storage = SqliteStorage::open(dir.path().join("server.db")).expect("open");
        let dispatch = Dispatch::new(&storage, "dispatch");
        let now = 1_790_000_000_000;
        let call = NewJob {
            id: "job-1".into(),
            customer: Customer {
                name: "Grace Hopper".into(),
                email: "grace@example.com".into(),
                ..Customer::default()
            },
            site: Site {
                address: "12 Harbor Rd".into(),
                ..Site::default()
            },
            problem: Problem {
                category: "leak".into(),
                description: "water under the unit".into(),
            },
            ..NewJob::default()
        };
        dispatch.create(call, now - 60_000).expect("create");
        let patch = |value: serde_json::Value| value.as_object().expect("object").clone();
        let view = |dispatch: &Dispatch<'_>| dispatch.get("job-1", now).expect("job");
        let received = view(&dispatch).job.call_received_at;

        let (summary, committed) = dispatch
            .correct(
                "job-1",
                &patch(
                    json!({"site": {"address": "12 Harbour Road"}, "customer": {"tier": "vip"}}),
                ),
                Some(" misheard on the call "),
                now,
            )
            .expect("correct");
        assert!(committed.summary.is_some());
        assert_eq!(summary.tier, Tier::Vip);
        let corrected = view(&dispatch);
        assert_eq!(corrected.job.site.address, "12 Harbour Road");
        assert_eq!(corrected.job.customer.name, "Grace Hopper", "untouched");
        let vip = SlaPolicy::default().deadlines(Tier::Vip, JobKind::Repair, received);
        assert_eq!(corrected.job.sla, vip, "the VIP deadlines, from the call");
        let entry = corrected.history.last().expect("history");
        let lines: Vec<&str> = entry.detail.lines().collect();
        assert!(
            lines.contains(&"customer.tier: \"standard\" → \"vip\""),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"site.address: \"12 Harbor Rd\" → \"12 Harbour Road\""),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("sla.resolve_by: ")),
            "{lines:?}"
        );
        assert_eq!(lines.last(), Some(&"misheard on the call"));

        // Bad values: every problem at once, nothing stored.
        let refused = dispatch
            .correct(
                "job-1",
                &patch(json!({"customer": {"name": " ", "email": "nope"}})),
                None,
                now,
            )
            .expect_err("refused");
        let params = serde_json::Value::Object(refused.params());
        assert_eq!(params["field"], "customer.name");
        assert_eq!(
            params["errors"].as_array().map(Vec::len),
            Some(2),
            "{params}"
        );
        // What is not a detail, and a value of the wrong type, are named.
        let refused = dispatch
            .correct("job-1", &patch(json!({"assignee": "anna"})), None, now)
            .expect_err("refused");
        let params = serde_json::Value::Object(refused.params());
        assert_eq!(params["problem"], "not_correctable");
        assert_eq!(params["value"], "assignee");
        let refused = dispatch
            .correct("job-1", &patch(json!({"site": {"adress": "x"}})), None, now)
            .expect_err("refused");
        let params = serde_json::Value::Object(refused.params());
        assert_eq!(
            (params["field"].as_str(), params["value"].as_str()),
            (Some("site"), Some("site.adress"))
        );
        let refused = dispatch
            .correct(
                "job-1",
                &patch(json!({"customer": {"phone": 5}})),
                None,
                now,
            )
            .expect_err("refused");
        let params = serde_json::Value::Object(refused.params());
        assert_eq!(
            (params["field"].as_str(), params["problem"].as_str()),
            (Some("customer"), Some("invalid_value"))
        );
        assert_eq!(view(&dispatch).heads, corrected.heads, "nothing stored");

        // Emptying what cannot be empty, or naming a key the details lack, is refused, even
        // with an empty value.
        for (patch_value, problem, value) in [
            (json!({"kind": null}), "required", "kind"),
            (
                json!({"customer": {"tier": null}}),
                "required",
                "customer.tier",
            ),
            (json!({"product": null}), "required", "product"),
            (
                json!({"site": {"adress": ""}}),
                "not_correctable",
                "site.adress",
            ),
            (json!({"notes": null}), "not_correctable", "notes"),
            (json!({"assignee": {}}), "not_correctable", "assignee"),
        ] {
            let refused = dispatch
                .correct("job-1", &patch(patch_value.clone()), None, now)
                .expect_err("refused");
            let params = serde_json::Value::Object(refused.params());
            assert_eq!(
                (params["problem"].as_str(), params["value"].as_str()),
                (Some(problem), Some(value)),
                "{patch_value}"
            );
        }
        // The part that does not read is named, not one the patch emptied.
        let refused = dispatch
            .correct(
                "job-1",
                &patch(json!({"site": {"address": 5}, "problem": {"category": "leak"}})),
                None,
                now,
            )
            .expect_err("refused");
        assert_eq!(serde_json::Value::Object(refused.params())["field"], "site");
        assert_eq!(view(&dispatch).heads, corrected.heads, "nothing stored");

        // A new province brings its region when the old one came from the old province.
        dispatch
            .correct(
                "job-1",
                &patch(json!({"site": {"province": "上海市", "region": ""}})),
                None,
                now,
            )
            .expect("province");
        assert_eq!(view(&dispatch).job.site.region, "华东");
        dispatch
            .correct(
                "job-1",
                &patch(json!({"site": {"province": "广东省"}})),
                None,
                now,
            )
            .expect("province");
        assert_eq!(view(&dispatch).job.site.region, "华南");

        // A patch that changes nothing makes no change; null empties a field.
        let (_, committed) = dispatch
            .correct(
                "job-1",
                &patch(json!({"site": {"address": "12 Harbour Road"}})),
                None,
                now,
            )
            .expect("unchanged");
        assert!(committed.summary.is_none());
        dispatch
            .correct(
                "job-1",
                &patch(json!({"customer": {"email": null}})),
                None,
                now,
            )
            .expect("emptied");
        assert_eq!(view(&dispatch).job.customer.email, "");
        let missing = dispatch
            .correct("job-2", &patch(json!({"priority": "high"})), None, now)
            .expect_err("no such job");
        assert_eq!(missing.code(), ErrorCode::NotFound);
    }

    /// A job opened without a checklist gets the kind's template in the organisation's
    /// language; the item ids are the same in every language.
    #[test]
    fn a_new_job_gets_its_checklist_in_the_organisations_language() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = SqliteStorage::open(dir.path().join("server.db")).expect("open");
        let call = |id: &str| NewJob {
            id: id.into(),
            kind: JobKind::Installation,
            customer: Customer {
                name: "张伟".into(),
                ..Customer::default()
            },
            site: Site {
                address: "世纪大道 100 号".into(),
                province: "上海市".into(),
                district: "浦东新区".into(),
                ..Site::default()
            },
            problem: Problem {
                category: "新机安装".into(),
                description: "新购空调需要安装".into(),
            },
            ..NewJob::default()
        };
        let now = 1_790_000_000_000;
        let chinese = Dispatch::new(&storage, "dispatch").with_language(Language::Chinese);
        chinese.create(call("job-zh"), now).expect("create");
        let english = Dispatch::new(&storage, "dispatch");
        english.create(call("job-en"), now).expect("create");
        let checklist = |id: &str| {
            let view = english.get(id, now).expect("job");
            let mut items: Vec<(String, String)> = view
                .job
                .checklist
                .iter()
                .map(|(id, item)| (id.clone(), item.label.clone()))
                .collect();
            items.sort();
            items
        };
        let mut expected = default_checklist(JobKind::Installation, Language::Chinese);
        expected.sort();
        assert_eq!(checklist("job-zh"), expected);
        let site = english.get("job-zh", now).expect("job").job.site;
        assert_eq!(site.region, "华东", "from the province");
        assert_eq!(site.full_address(), "上海市浦东新区世纪大道 100 号");
        assert!(
            checklist("job-zh")
                .iter()
                .any(|(_, label)| label == "调试并试机")
        );
        let ids =
            |items: Vec<(String, String)>| items.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        assert_eq!(ids(checklist("job-zh")), ids(checklist("job-en")));
        assert!(
            checklist("job-en")
                .iter()
                .any(|(_, label)| label == "Commissioned and tested")
        );
    }
}
