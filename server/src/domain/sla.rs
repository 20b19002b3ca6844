//! The SLA policy (targets per customer tier and kind of job, all configuration) and the clocks
//! it starts on every job.
//!
//! PRODUCT.md's defaults: a job is created within 1 minute of the call, dispatched within 5
//! minutes and technically resolved within 48 hours; a complaint gets feedback within 48 hours and
//! climbs to the supervisor after 24 hours unresolved; customer service calls the customer back
//! within 48 hours of the completion. VIP customers get tighter targets.

use std::path::Path;

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::{JobKind, SlaDeadlines, Tier};
use serde::{Deserialize, Serialize};

/// One minute in milliseconds.
pub const MINUTE: Millis = 60_000;
/// One hour in milliseconds.
pub const HOUR: Millis = 60 * MINUTE;
/// The longest target a policy may set: a year.
pub const MAX_TARGET: Millis = 366 * 24 * HOUR;

/// The targets one job runs under, in milliseconds from the call's received time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlaTargets {
    /// Call received → job created.
    pub respond_ms: Millis,
    /// Call received → dispatched (assigned).
    pub dispatch_ms: Millis,
    /// Call received → technically resolved (completed).
    pub resolve_ms: Millis,
    /// Call received → feedback to the customer (the complaint answered, or the job closed);
    /// complaints only.
    pub feedback_ms: Option<Millis>,
    /// Unresolved this long after the call, the job climbs to the supervisor (ring 2) whatever
    /// its resolution clock says; complaints only.
    pub escalate_unresolved_ms: Option<Millis>,
    /// Completed → customer service's return-visit call (回访) reached the customer. Counted
    /// from the completion, not the call; `null`: no return-visit clock. A policy file that
    /// leaves it out gets the built-in target.
    pub return_visit_ms: Option<Millis>,
}

/// One row of the policy: the targets for a tier and a kind of job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlaRule {
    /// The customer tier.
    pub tier: Tier,
    /// The kind of job.
    pub kind: JobKind,
    /// Its targets.
    #[serde(flatten)]
    pub targets: SlaTargets,
}

/// The whole SLA configuration: one rule per tier and kind, and how long overdue work waits
/// before the next ring up is reminded too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlaPolicy {
    /// Targets per tier and kind; every pair has exactly one rule.
    pub targets: Vec<SlaRule>,
    /// Overdue this long after the owner was reminded, the next ring up is reminded (and a job
    /// past its resolution deadline climbs from ring 2 to ring 3).
    pub remind_next_ring_after_ms: Millis,
}

/// Why an SLA configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read the SLA configuration `{path}`: {message}")]
    Read {
        /// The file.
        path: String,
        /// The reason.
        message: String,
    },
    /// The file is not a valid policy.
    #[error("invalid SLA configuration: {0}")]
    Invalid(String),
}

const KINDS: [JobKind; 5] = [
    JobKind::Installation,
    JobKind::Repair,
    JobKind::Maintenance,
    JobKind::Inspection,
    JobKind::Complaint,
];
const TIERS: [Tier; 2] = [Tier::Standard, Tier::Vip];

const FALLBACK: SlaTargets = SlaTargets {
    respond_ms: MINUTE,
    dispatch_ms: 5 * MINUTE,
    resolve_ms: 48 * HOUR,
    feedback_ms: None,
    escalate_unresolved_ms: None,
    return_visit_ms: Some(48 * HOUR),
};

impl Default for SlaPolicy {
    /// PRODUCT.md's defaults; VIP customers are dispatched within 2 minutes instead of 5, get
    /// half the resolution and feedback time, and their complaint reaches the supervisor after
    /// 12 hours instead of 24. Every completed job gets a return-visit call within 48 hours
    /// (VIP 24).
    fn default() -> Self {
        let mut targets = Vec::new();
        for tier in TIERS {
            let vip = tier == Tier::Vip;
            for kind in KINDS {
                let complaint = kind == JobKind::Complaint;
                targets.push(SlaRule {
                    tier,
                    kind,
                    targets: SlaTargets {
                        respond_ms: MINUTE,
                        dispatch_ms: if vip { 2 * MINUTE } else { 5 * MINUTE },
                        resolve_ms: if vip { 24 * HOUR } else { 48 * HOUR },
                        feedback_ms: complaint.then_some(if vip { 24 * HOUR } else { 48 * HOUR }),
                        escalate_unresolved_ms: complaint.then_some(if vip {
                            12 * HOUR
                        } else {
                            24 * HOUR
                        }),
                        return_visit_ms: Some(if vip { 24 * HOUR } else { 48 * HOUR }),
                    },
                });
            }
        }
        SlaPolicy {
            targets,
            remind_next_ring_after_ms: HOUR,
        }
    }
}

impl SlaPolicy {
    /// Reads and checks a policy from a JSON file.
    pub fn from_file(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_json(&text)
    }

    /// Parses and checks a policy. Unknown keys are refused: a misspelt optional target
    /// would otherwise silently turn its clock off.
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| PolicyError::Invalid(e.to_string()))?;
        refuse_unknown_keys(&value)?;
        let mut value = value;
        default_return_visits(&mut value);
        let policy: SlaPolicy =
            serde_json::from_value(value).map_err(|e| PolicyError::Invalid(e.to_string()))?;
        policy.check()?;
        Ok(policy)
    }

    /// Every tier and kind has exactly one rule, and every target is positive.
    pub fn check(&self) -> Result<(), PolicyError> {
        for tier in TIERS {
            for kind in KINDS {
                let count = self
                    .targets
                    .iter()
                    .filter(|r| r.tier == tier && r.kind == kind)
                    .count();
                if count != 1 {
                    return Err(PolicyError::Invalid(format!(
                        "{count} rules for tier `{}` and kind `{}`; there must be exactly one",
                        tier.as_str(),
                        kind.as_str()
                    )));
                }
            }
        }
        for rule in &self.targets {
            let t = rule.targets;
            let all = [Some(t.respond_ms), Some(t.dispatch_ms), Some(t.resolve_ms)]
                .into_iter()
                .chain([t.feedback_ms, t.escalate_unresolved_ms, t.return_visit_ms]);
            if all.flatten().any(|ms| !(1..=MAX_TARGET).contains(&ms)) {
                return Err(PolicyError::Invalid(format!(
                    "the targets for tier `{}` and kind `{}` must be positive and at most a year",
                    rule.tier.as_str(),
                    rule.kind.as_str()
                )));
            }
        }
        if !(1..=MAX_TARGET).contains(&self.remind_next_ring_after_ms) {
            return Err(PolicyError::Invalid(
                "remind_next_ring_after_ms must be positive and at most a year".into(),
            ));
        }
        Ok(())
    }

    /// The targets for a tier and kind. A checked policy has every pair; a hand-built one
    /// missing a pair falls back to the standard repair targets.
    pub fn targets(&self, tier: Tier, kind: JobKind) -> SlaTargets {
        self.targets
            .iter()
            .find(|r| r.tier == tier && r.kind == kind)
            .map_or(FALLBACK, |r| r.targets)
    }

    /// The deadlines a job opened from a call received at `received` runs against.
    pub fn deadlines(&self, tier: Tier, kind: JobKind, received: Millis) -> SlaDeadlines {
        let t = self.targets(tier, kind);
        SlaDeadlines {
            respond_by: Some(received.saturating_add(t.respond_ms)),
            dispatch_by: Some(received.saturating_add(t.dispatch_ms)),
            resolve_by: Some(received.saturating_add(t.resolve_ms)),
            feedback_by: t.feedback_ms.map(|ms| received.saturating_add(ms)),
            return_visit_within_ms: t.return_visit_ms,
        }
    }
}

/// Gives every rule that does not name `return_visit_ms` (a policy file written before return
/// visits were tracked) the built-in target: 24 hours for VIP customers, else 48. An explicit
/// `null` keeps the clock off.
fn default_return_visits(value: &mut serde_json::Value) {
    let Some(rules) = value
        .get_mut("targets")
        .and_then(serde_json::Value::as_array_mut)
    else {
        return;
    };
    for rule in rules
        .iter_mut()
        .filter_map(serde_json::Value::as_object_mut)
    {
        if !rule.contains_key("return_visit_ms") {
            let vip = rule.get("tier").and_then(serde_json::Value::as_str) == Some("vip");
            let target = if vip { 24 * HOUR } else { 48 * HOUR };
            rule.insert("return_visit_ms".into(), target.into());
        }
    }
}

/// Refuses keys a policy does not have (serde cannot, through the flattened targets).
fn refuse_unknown_keys(value: &serde_json::Value) -> Result<(), PolicyError> {
    const POLICY: [&str; 2] = ["targets", "remind_next_ring_after_ms"];
    const RULE: [&str; 8] = [
        "tier",
        "kind",
        "respond_ms",
        "dispatch_ms",
        "resolve_ms",
        "feedback_ms",
        "escalate_unresolved_ms",
        "return_visit_ms",
    ];
    let unknown = |object: &serde_json::Map<String, serde_json::Value>, known: &[&str]| {
        object
            .keys()
            .find(|k| !known.contains(&k.as_str()))
            .map(|k| PolicyError::Invalid(format!("unknown key `{k}`")))
    };
    if let Some(object) = value.as_object() {
        if let Some(error) = unknown(object, &POLICY) {
            return Err(error);
        }
        for rule in object
            .get("targets")
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(error) = rule.as_object().and_then(|r| unknown(r, &RULE)) {
                return Err(error);
            }
        }
    }
    Ok(())
}

/// The four SLA clocks of PRODUCT.md.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SlaClock {
    /// Call received → job created.
    Respond,
    /// → dispatched (assigned to an installer).
    Dispatch,
    /// → technically resolved (completed).
    Resolve,
    /// Complaints: → feedback to the customer (answered, or closed).
    Feedback,
    /// Completed → customer service's return-visit call reached the customer.
    ReturnVisit,
}

impl SlaClock {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            SlaClock::Respond => "respond",
            SlaClock::Dispatch => "dispatch",
            SlaClock::Resolve => "resolve",
            SlaClock::Feedback => "feedback",
            SlaClock::ReturnVisit => "return_visit",
        }
    }
}

/// Where a clock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    /// Not done, not yet due.
    Running,
    /// Done by the deadline.
    Met,
    /// Done after the deadline.
    Missed,
    /// Not done and past the deadline.
    Overdue,
}

/// One clock of one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ClockView {
    /// Which clock.
    pub clock: SlaClock,
    /// Its deadline.
    pub due: Millis,
    /// When it stopped (the work was done), if it did.
    pub done_at: Option<Millis>,
    /// Where it stands at `now`.
    pub state: ClockState,
}

impl ClockView {
    /// A clock due at `due`, stopped at `done_at`, seen at `now`.
    pub fn new(clock: SlaClock, due: Millis, done_at: Option<Millis>, now: Millis) -> Self {
        let state = match done_at {
            Some(done) if done <= due => ClockState::Met,
            Some(_) => ClockState::Missed,
            None if now > due => ClockState::Overdue,
            None => ClockState::Running,
        };
        ClockView {
            clock,
            due,
            done_at,
            state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_deadlines_per_tier_and_kind() {
        let policy = SlaPolicy::default();
        let t0 = 1_000_000;
        let standard = policy.deadlines(Tier::Standard, JobKind::Repair, t0);
        assert_eq!(standard.respond_by, Some(t0 + MINUTE));
        assert_eq!(standard.dispatch_by, Some(t0 + 5 * MINUTE));
        assert_eq!(standard.resolve_by, Some(t0 + 48 * HOUR));
        assert_eq!(standard.feedback_by, None, "only complaints owe feedback");
        let complaint = policy.deadlines(Tier::Standard, JobKind::Complaint, t0);
        assert_eq!(complaint.feedback_by, Some(t0 + 48 * HOUR));
        assert_eq!(
            policy
                .targets(Tier::Standard, JobKind::Complaint)
                .escalate_unresolved_ms,
            Some(24 * HOUR)
        );
        let vip = policy.deadlines(Tier::Vip, JobKind::Repair, t0);
        assert_eq!(vip.dispatch_by, Some(t0 + 2 * MINUTE));
        assert_eq!(vip.resolve_by, Some(t0 + 24 * HOUR));
        assert!(vip.resolve_by < standard.resolve_by);
    }

    /// A policy file written before return visits were tracked gets the built-in return-visit
    /// targets; `null` turns the clock off for a rule.
    #[test]
    fn a_policy_without_return_visits_gets_the_default_and_null_turns_it_off() {
        let mut json = serde_json::to_value(SlaPolicy::default()).expect("json");
        for rule in json["targets"].as_array_mut().expect("rules") {
            rule.as_object_mut()
                .expect("rule")
                .remove("return_visit_ms");
        }
        json["targets"][0]["return_visit_ms"] = serde_json::Value::Null;
        let read = SlaPolicy::from_json(&json.to_string()).expect("valid");
        let first = read.targets[0];
        assert_eq!(first.targets.return_visit_ms, None, "null: off");
        assert_eq!(
            read.targets(Tier::Vip, JobKind::Repair).return_visit_ms,
            Some(24 * HOUR)
        );
        assert_eq!(
            read.targets(Tier::Standard, JobKind::Maintenance)
                .return_visit_ms,
            Some(48 * HOUR)
        );
    }

    #[test]
    fn a_policy_file_overrides_one_pair_and_is_checked() {
        let mut policy = SlaPolicy::default();
        for rule in &mut policy.targets {
            if rule.tier == Tier::Vip && rule.kind == JobKind::Installation {
                rule.targets.dispatch_ms = 90_000;
            }
        }
        let json = serde_json::to_string(&policy).expect("json");
        let read = SlaPolicy::from_json(&json).expect("valid");
        assert_eq!(
            read.deadlines(Tier::Vip, JobKind::Installation, 0)
                .dispatch_by,
            Some(90_000)
        );
        assert_eq!(
            read.deadlines(Tier::Vip, JobKind::Repair, 0).dispatch_by,
            Some(2 * MINUTE)
        );

        let mut missing = policy.clone();
        missing.targets.pop();
        let error = missing.check().expect_err("a pair without a rule");
        assert!(
            error.to_string().contains("0 rules for tier `vip`"),
            "{error}"
        );

        let mut negative = policy;
        negative.targets[0].targets.resolve_ms = 0;
        let error = negative.check().expect_err("zero target");
        assert!(error.to_string().contains("must be positive"), "{error}");
        let mut endless = SlaPolicy::default();
        endless.targets[0].targets.resolve_ms = Millis::MAX;
        assert!(endless.check().is_err(), "a target beyond a year");

        let misspelt = json.replace("\"feedback_ms\"", "\"feedbak_ms\"");
        let error = SlaPolicy::from_json(&misspelt).expect_err("a misspelt key");
        assert!(
            error.to_string().contains("unknown key `feedbak_ms`"),
            "{error}"
        );

        let error = SlaPolicy::from_json("{\"targets\": 3}").expect_err("not a policy");
        assert!(error.to_string().starts_with("invalid SLA configuration"));
    }

    #[test]
    fn clock_states() {
        assert_eq!(
            ClockView::new(SlaClock::Dispatch, 10, Some(10), 99).state,
            ClockState::Met
        );
        assert_eq!(
            ClockView::new(SlaClock::Dispatch, 10, Some(11), 99).state,
            ClockState::Missed
        );
        assert_eq!(
            ClockView::new(SlaClock::Dispatch, 10, None, 10).state,
            ClockState::Running
        );
        assert_eq!(
            ClockView::new(SlaClock::Dispatch, 10, None, 11).state,
            ClockState::Overdue
        );
    }
}
