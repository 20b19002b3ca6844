//! Who may change which field of a job document, and how the server holds phones to it.
//!
//! [`FIELD_RULES`] is the one table of field ownership (PRODUCT.md): installers' phones change
//! the execution record of their own jobs, dispatch changes planning fields, and nobody from a
//! phone changes the customer's data, the assignee, the priority or the SLA deadlines. The phone
//! consults it before it makes an edit ([`check_edit`]); the server enforces it anyway on every
//! change a phone uploads ([`inspect_phone_change`]).
//!
//! A change that breaks a rule cannot simply be dropped: later changes from the same phone
//! depend on it. So the server accepts it into history and writes a compensating change
//! ([`compensate`]) that puts the protected fields back as they were before it.

use std::collections::{BTreeMap, BTreeSet};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, Change, ChangeHash, ObjId, ObjType, Prop, ReadDoc, Value};

use crate::SchemaError;
use crate::job::Role;
use crate::rules::{INSTALLER_TARGETS, Status};

/// What a phone may do to a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneAccess {
    /// Nothing: the field belongs to dispatch or to nobody.
    None,
    /// Any edit (the execution record).
    Edit,
    /// Add new entries to the list, made by the phone's own user; existing entries stay as they
    /// are.
    Append,
}

/// Who may change one field of the job document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRule {
    /// The field: a top-level key, or `parent.key` for a field inside `escalation`.
    pub field: &'static str,
    /// What an installer's phone may do.
    pub phone: PhoneAccess,
    /// Whether dispatch (the office, through the server) may change it.
    pub dispatch: bool,
}

const fn rule(field: &'static str, phone: PhoneAccess, dispatch: bool) -> FieldRule {
    FieldRule {
        field,
        phone,
        dispatch,
    }
}

/// Field ownership. Any field not listed belongs to nobody: a phone that adds one is
/// compensated, and dispatch has no writer for it.
pub const FIELD_RULES: &[FieldRule] = &[
    // Identity: written once when the job is created.
    rule("schema_version", PhoneAccess::None, false),
    rule("id", PhoneAccess::None, false),
    rule("created_at", PhoneAccess::None, false),
    // What the customer called about, and the plan: dispatch's.
    rule("kind", PhoneAccess::None, true),
    rule("call_received_at", PhoneAccess::None, true),
    rule("customer", PhoneAccess::None, true),
    rule("site", PhoneAccess::None, true),
    rule("product", PhoneAccess::None, true),
    rule("problem", PhoneAccess::None, true),
    rule("priority", PhoneAccess::None, true),
    rule("appointment", PhoneAccess::None, true),
    rule("assignee", PhoneAccess::None, true),
    rule("sla", PhoneAccess::None, true),
    rule("escalation", PhoneAccess::None, true),
    rule("escalation.ring", PhoneAccess::None, true),
    // Customer service's calls after the visit, the customer's own survey and complaints
    // (written by the server for the customer's link): the office's.
    rule("return_visits", PhoneAccess::None, true),
    rule("surveys", PhoneAccess::None, true),
    rule("complaints", PhoneAccess::None, true),
    rule("complaint", PhoneAccess::None, true),
    // The field record: the installer's.
    rule("escalation.help_requests", PhoneAccess::Append, true),
    rule("transitions", PhoneAccess::Append, true),
    rule("checklist", PhoneAccess::Edit, true),
    rule("notes", PhoneAccess::Edit, false),
    rule("parts", PhoneAccess::Edit, false),
    rule("time_entries", PhoneAccess::Edit, false),
    rule("outcome", PhoneAccess::Edit, false),
    rule("photos", PhoneAccess::Edit, false),
    rule("signature", PhoneAccess::Edit, false),
    rule("rating", PhoneAccess::Edit, false),
];

const NOBODYS: FieldRule = rule("", PhoneAccess::None, false);

/// The rule for a field name as [`FIELD_RULES`] spells it.
pub fn rule_for(field: &str) -> &'static FieldRule {
    FIELD_RULES
        .iter()
        .find(|rule| rule.field == field)
        .unwrap_or(&NOBODYS)
}

/// Refuses an edit of `field` that `role` may not make, before anything is written.
pub fn check_edit(role: Role, field: &'static str) -> Result<(), SchemaError> {
    let rule = rule_for(field);
    let allowed = match role {
        Role::Dispatch => rule.dispatch,
        Role::Installer => rule.phone != PhoneAccess::None,
    };
    if allowed {
        Ok(())
    } else {
        Err(SchemaError::NotYourField { field })
    }
}

/// The field a path into the document belongs to: the top-level key, or `escalation.<key>`.
fn field_of(keys: &[String]) -> String {
    match keys {
        [] => String::new(),
        [parent, child, ..] if parent == "escalation" => format!("{parent}.{child}"),
        [top, ..] => top.clone(),
    }
}

/// How deep the list of an append-only field sits (the number of map keys leading to it).
fn list_depth(field: &str) -> usize {
    field.split('.').count()
}

/// A rule broken by one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The field (as [`FIELD_RULES`] names it).
    pub field: String,
    /// What was wrong, for people.
    pub reason: String,
    repair: Repair,
}

/// How [`compensate`] undoes a violation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Repair {
    /// Put the field back as it was.
    RestoreField(Vec<String>),
    /// Take out an entry the phone appended to an append-only list.
    RemoveEntry { field: String, entry: String },
}

/// What one change touched, and the rules it broke.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inspection {
    /// Every field the change wrote to (as [`FIELD_RULES`] names them), for the audit trail.
    pub fields: BTreeSet<String>,
    /// The rules it broke (empty for an honest phone, and for dispatch's own changes).
    pub violations: Vec<Violation>,
}

impl Inspection {
    /// Violations that put back every field the change touched, for a change that left the
    /// document unreadable: `reason` says what no longer reads.
    pub fn schema_repairs(&self, reason: &str) -> Vec<Violation> {
        self.fields
            .iter()
            .map(|field| Violation {
                field: field.clone(),
                reason: format!("the change breaks the job document: {reason}"),
                repair: Repair::RestoreField(field.split('.').map(str::to_owned).collect()),
            })
            .collect()
    }
}

/// Checks one change against [`FIELD_RULES`] for a writer in `role` (`user` is the writer's
/// user id). `doc` must already contain the change. Dispatch's own changes are only recorded.
pub fn inspect_change(doc: &AutoCommit, change: &Change, role: Role, user: &str) -> Inspection {
    let expanded = change.decode();
    // Paths are resolved as of the change itself: an object deleted later still has the path
    // it had when this change touched it.
    let heads = [change.hash()];
    let actor = change.actor_id().to_hex_string();
    let start = change.start_op().get();
    let ops = || expanded.operations.iter().zip(start..);
    // Objects this change made: edits inside them are part of making them.
    let created: BTreeSet<String> = ops()
        .filter(|(op, _)| matches!(op.action, automerge::legacy::OpType::Make(_)))
        .map(|(_, counter)| format!("{counter}@{actor}"))
        .collect();
    let mut inspection = Inspection::default();
    let mut found: BTreeMap<String, Violation> = BTreeMap::new();
    let mut appended: BTreeSet<(String, String)> = BTreeSet::new();
    let mut add = |violation: Violation| {
        found
            .entry(format!("{}:{:?}", violation.field, violation.repair))
            .or_insert(violation);
    };
    // Most ops of a change work on a few objects (a notes splice is one op per character).
    let mut chains: BTreeMap<String, Result<Vec<(String, String)>, String>> = BTreeMap::new();
    for (op, counter) in ops() {
        // The map keys (and list entry object ids) from the root to the op's object.
        let obj = op.obj.to_string();
        let chain = chains
            .entry(obj)
            .or_insert_with_key(|obj| object_chain(doc, obj, &heads))
            .clone();
        let chain = match chain {
            Ok(chain) => chain,
            Err(reason) => {
                add(Violation {
                    field: String::new(),
                    reason,
                    repair: Repair::RestoreField(Vec::new()),
                });
                continue;
            }
        };
        let mut keys: Vec<String> = chain.iter().map(|(key, _)| key.clone()).collect();
        if let automerge::legacy::Key::Map(key) = &op.key {
            keys.push(key.to_string());
        }
        let field = field_of(&keys);
        inspection.fields.insert(field.clone());
        if role == Role::Dispatch {
            continue;
        }
        let rule = rule_for(&field);
        let restore = |reason: String| Violation {
            reason,
            field: field.clone(),
            repair: Repair::RestoreField(field.split('.').map(str::to_owned).collect()),
        };
        let frozen = || restore(format!("entries of `{field}` cannot be changed or removed"));
        match rule.phone {
            PhoneAccess::Edit => {}
            PhoneAccess::None if rule.field.is_empty() => {
                add(restore(format!(
                    "`{field}` is not a job field a phone may write"
                )));
            }
            PhoneAccess::None => add(restore(format!("phones may not change `{field}`"))),
            PhoneAccess::Append => {
                let depth = list_depth(&field);
                if chain.len() < depth {
                    add(restore(format!(
                        "`{field}` is append-only and cannot be replaced"
                    )));
                } else if chain.len() == depth {
                    // An op on the list itself: a new entry, or a change to an entry. A value
                    // put over an entry is checked like a new entry (its object id is this op's).
                    let value = format!("{counter}@{actor}");
                    let puts_value = !matches!(op.action, automerge::legacy::OpType::Delete);
                    let target_is_new = op
                        .key
                        .to_opid()
                        .is_some_and(|target| created.contains(&target.to_string()));
                    if op.insert || (target_is_new && puts_value) {
                        appended.insert((field.clone(), value));
                    } else if !target_is_new {
                        add(frozen());
                        if puts_value {
                            add(Violation {
                                reason: format!("entries of `{field}` cannot be replaced"),
                                field: field.clone(),
                                repair: Repair::RemoveEntry {
                                    field: field.clone(),
                                    entry: value,
                                },
                            });
                        }
                    }
                } else if !created.contains(&chain[depth].1) {
                    // Inside an entry this change did not make.
                    add(frozen());
                }
            }
        }
    }
    for (field, entry) in appended {
        if let Err(reason) = check_entry(doc, &field, &entry, user) {
            add(Violation {
                reason,
                field: field.clone(),
                repair: Repair::RemoveEntry { field, entry },
            });
        }
    }
    inspection.violations = found.into_values().collect();
    inspection
}

/// The path from the root to `obj` as (key, object id) pairs: the key is the map key, or `#`
/// for a list position; the object id is the object at that step.
fn object_chain(
    doc: &AutoCommit,
    obj: &str,
    heads: &[ChangeHash],
) -> Result<Vec<(String, String)>, String> {
    if obj == "_root" {
        return Ok(Vec::new());
    }
    let id = doc
        .import_obj(obj)
        .map_err(|e| format!("the change names an unknown object: {e}"))?;
    let path = doc
        .parents_at(&id, heads)
        .map_err(|e| format!("the change names an unknown object: {e}"))?
        .path();
    // `path` pairs each parent with the prop leading out of it; the object reached by step i
    // is the parent of step i + 1, or `obj` itself for the last step.
    let mut chain = Vec::with_capacity(path.len());
    for (i, (_, prop)) in path.iter().enumerate() {
        let reached = path
            .get(i + 1)
            .map_or_else(|| id.to_string(), |(parent, _)| parent.to_string());
        let key = match prop {
            Prop::Map(key) => key.clone(),
            Prop::Seq(_) => "#".to_owned(),
        };
        chain.push((key, reached));
    }
    Ok(chain)
}

const NOT_A_RECORD: &str = "a new list entry must be a record";

/// Checks a list entry a phone appended: it must be a record in the phone user's own name, and
/// a status move an installer may make. The entry is read by its object id, wherever concurrent
/// appends put it in the list.
fn check_entry(doc: &AutoCommit, field: &str, entry: &str, user: &str) -> Result<(), String> {
    let id = doc.import_obj(entry).map_err(|_| NOT_A_RECORD)?;
    if doc.object_type(&id).ok() != Some(ObjType::Map) {
        return Err(NOT_A_RECORD.into());
    }
    let text = |key: &str| match doc.get(&id, key) {
        Ok(Some((Value::Scalar(scalar), _))) => match scalar.as_ref() {
            automerge::ScalarValue::Str(text) => text.to_string(),
            _ => String::new(),
        },
        _ => String::new(),
    };
    let by = text("by");
    if by != user {
        return Err(format!(
            "a new entry of `{field}` must be made in the phone user's name, not `{by}`"
        ));
    }
    if field == "transitions" {
        let role = text("role");
        if !role.is_empty() && role != "installer" {
            return Err("a phone may only move a job as an installer".into());
        }
        let to = Status::parse(&text("to")).map_err(|e| e.to_string())?;
        if !INSTALLER_TARGETS.contains(&to) {
            return Err(format!(
                "an installer may not move a job to {}",
                to.as_str()
            ));
        }
    }
    Ok(())
}

/// Undoes `violations` in `doc` as one change (by `doc`'s actor), restoring each broken field to
/// its value at `before` (the heads just before the violating change was applied) and taking out
/// entries that should not have been appended. Fields nobody broke are left alone, so concurrent
/// honest edits survive. Returns whether anything was written.
pub fn compensate(
    doc: &mut AutoCommit,
    before: &[ChangeHash],
    violations: &[Violation],
    message: &str,
    now_seconds: i64,
) -> Result<bool, SchemaError> {
    if violations.is_empty() {
        return Ok(false);
    }
    let earlier = doc.fork_at(before)?;
    let mut removed = BTreeSet::new();
    for violation in violations {
        match &violation.repair {
            Repair::RestoreField(keys) if keys.is_empty() || keys[0].is_empty() => {
                let restorer = Restorer {
                    earlier: &earlier,
                    keep_new_entries: false,
                };
                for key in union_keys(doc, &earlier, &automerge::ROOT, &automerge::ROOT) {
                    restorer.restore(doc, &automerge::ROOT, &automerge::ROOT, &key)?;
                }
            }
            Repair::RestoreField(keys) => {
                let field = keys.join(".");
                let restorer = Restorer {
                    earlier: &earlier,
                    // An append-only list keeps entries appended alongside (checked on their
                    // own); anything else goes back exactly.
                    keep_new_entries: rule_for(&field).phone == PhoneAccess::Append,
                };
                restorer.restore_path(doc, keys)?;
            }
            Repair::RemoveEntry { field, entry } => {
                if removed.insert(entry.clone()) {
                    remove_entry(doc, field, entry)?;
                }
            }
        }
    }
    if doc.pending_ops() == 0 {
        return Ok(false);
    }
    let options = automerge::transaction::CommitOptions::default()
        .with_message(message.to_owned())
        .with_time(now_seconds);
    doc.commit_with(options);
    Ok(true)
}

fn union_keys(doc: &AutoCommit, earlier: &AutoCommit, here: &ObjId, there: &ObjId) -> Vec<String> {
    let mut keys: BTreeSet<String> = doc.keys(here).collect();
    keys.extend(earlier.keys(there));
    keys.into_iter().collect()
}

/// Puts parts of a document back as they were in `earlier`, touching only what differs: objects
/// that are still the same object are restored entry by entry, so the parts nobody broke keep
/// concurrent edits (and entries appended to a list by others stay where they are).
struct Restorer<'e> {
    earlier: &'e AutoCommit,
    keep_new_entries: bool,
}

impl Restorer<'_> {
    /// Restores the value at a path of map keys (one or two levels).
    fn restore_path(&self, doc: &mut AutoCommit, keys: &[String]) -> Result<(), SchemaError> {
        let (mut here, mut there) = (automerge::ROOT, automerge::ROOT);
        let Some((last, parents)) = keys.split_last() else {
            return Ok(());
        };
        for key in parents {
            let now = doc.get(&here, key.as_str())?;
            let then = self.earlier.get(&there, key.as_str())?;
            match (now, then) {
                (
                    Some((Value::Object(ObjType::Map), a)),
                    Some((Value::Object(ObjType::Map), b)),
                ) if a == b => {
                    here = a;
                    there = b;
                }
                // The parent itself changed: restore it whole.
                _ => return self.restore(doc, &here, &there, key),
            }
        }
        self.restore(doc, &here, &there, last)
    }

    /// Makes `doc[here][key]` equal `earlier[there][key]`.
    fn restore(
        &self,
        doc: &mut AutoCommit,
        here: &ObjId,
        there: &ObjId,
        key: &str,
    ) -> Result<(), SchemaError> {
        let now = doc.get(here, key)?;
        let then = self.earlier.get(there, key)?;
        match (now, then) {
            (None, None) => {}
            (Some(_), None) => doc.delete(here, key)?,
            (Some((Value::Scalar(a), _)), Some((Value::Scalar(b), _))) if a == b => {}
            (Some((Value::Object(ObjType::Map), a)), Some((Value::Object(ObjType::Map), b)))
                if a == b =>
            {
                self.restore_map(doc, &a, &b)?;
            }
            (Some((Value::Object(ObjType::List), a)), Some((Value::Object(ObjType::List), b)))
                if a == b =>
            {
                self.restore_list(doc, &a, &b)?;
            }
            (Some((Value::Object(kind), a)), Some((Value::Object(same), b)))
                if kind == same && a == b && hydrated(doc, &a) == hydrated(self.earlier, &b) => {}
            (_, Some((value, source))) => {
                copy_into_map(doc, self.earlier, here, key, value, &source)?;
            }
        }
        Ok(())
    }

    fn restore_map(
        &self,
        doc: &mut AutoCommit,
        here: &ObjId,
        there: &ObjId,
    ) -> Result<(), SchemaError> {
        for key in union_keys(doc, self.earlier, here, there) {
            self.restore(doc, here, there, &key)?;
        }
        Ok(())
    }

    /// Restores a list that is still the same object: entries deleted come back at their
    /// place, entries edited are restored, entries added go (unless kept).
    fn restore_list(
        &self,
        doc: &mut AutoCommit,
        here: &ObjId,
        there: &ObjId,
    ) -> Result<(), SchemaError> {
        let then: Vec<(Value<'static>, ObjId)> = (0..self.earlier.length(there))
            .filter_map(|i| self.earlier.get(there, i).ok().flatten())
            .map(|(value, id)| (value.into_owned(), id))
            .collect();
        let ids_now = |doc: &AutoCommit| -> Vec<ObjId> {
            (0..doc.length(here))
                .filter_map(|i| doc.get(here, i).ok().flatten().map(|(_, id)| id))
                .collect()
        };
        if !self.keep_new_entries {
            let known: BTreeSet<String> = then.iter().map(|(_, id)| id.to_string()).collect();
            for (index, id) in ids_now(doc).iter().enumerate().rev() {
                if !known.contains(&id.to_string()) {
                    doc.delete(here, index)?;
                }
            }
        }
        // Where the previous surviving entry of `earlier` now is: a missing entry goes after it.
        let mut insert_at = 0;
        for (value, id) in &then {
            match ids_now(doc).iter().position(|now| now == id) {
                Some(index) => {
                    if let Value::Object(ObjType::Map) = value {
                        self.restore_map(doc, id, id)?;
                    }
                    insert_at = index + 1;
                }
                None => {
                    match value {
                        Value::Scalar(scalar) => {
                            doc.insert(here, insert_at, scalar.clone().into_owned())?;
                        }
                        Value::Object(kind) => {
                            let copy = doc.insert_object(here, insert_at, *kind)?;
                            copy_contents(doc, self.earlier, &copy, id, *kind)?;
                        }
                    }
                    insert_at += 1;
                }
            }
        }
        Ok(())
    }
}

fn hydrated(doc: &AutoCommit, obj: &ObjId) -> Option<automerge::hydrate::Value> {
    doc.hydrate(obj, None).ok()
}

/// Writes a copy of `earlier`'s value (a scalar, or the object `source`) at `doc[here][key]`.
fn copy_into_map(
    doc: &mut AutoCommit,
    earlier: &AutoCommit,
    here: &ObjId,
    key: &str,
    value: Value<'_>,
    source: &ObjId,
) -> Result<(), SchemaError> {
    match value {
        Value::Scalar(scalar) => doc.put(here, key, scalar.into_owned())?,
        Value::Object(kind) => {
            let target = doc.put_object(here, key, kind)?;
            copy_contents(doc, earlier, &target, source, kind)?;
        }
    }
    Ok(())
}

fn copy_contents(
    doc: &mut AutoCommit,
    earlier: &AutoCommit,
    target: &ObjId,
    source: &ObjId,
    kind: ObjType,
) -> Result<(), SchemaError> {
    match kind {
        ObjType::Text => {
            let text = earlier.text(source)?;
            doc.splice_text(target, 0, 0, &text)?;
        }
        ObjType::Map | ObjType::Table => {
            for key in earlier.keys(source).collect::<Vec<_>>() {
                if let Some((value, child)) = earlier.get(source, key.as_str())? {
                    copy_into_map(doc, earlier, target, &key, value, &child)?;
                }
            }
        }
        ObjType::List => {
            for index in 0..earlier.length(source) {
                if let Some((value, child)) = earlier.get(source, index)? {
                    match value {
                        Value::Scalar(scalar) => {
                            doc.insert(target, index, scalar.into_owned())?;
                        }
                        Value::Object(kind) => {
                            let inserted = doc.insert_object(target, index, kind)?;
                            copy_contents(doc, earlier, &inserted, &child, kind)?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Deletes the list entry whose object id is `entry` from the list at `field`.
fn remove_entry(doc: &mut AutoCommit, field: &str, entry: &str) -> Result<(), SchemaError> {
    let mut list = automerge::ROOT;
    for key in field.split('.') {
        match doc.get(&list, key)? {
            Some((Value::Object(_), id)) => list = id,
            _ => return Ok(()),
        }
    }
    let position = (0..doc.length(&list)).find(|&index| {
        doc.get(&list, index)
            .ok()
            .flatten()
            .is_some_and(|(_, id)| id.to_string() == entry)
    });
    if let Some(index) = position {
        doc.delete(&list, index)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_field_is_in_the_schema_and_listed_once() {
        let job = serde_json::to_value(crate::job::Job::default()).expect("json");
        let mut seen = BTreeSet::new();
        for rule in FIELD_RULES {
            assert!(seen.insert(rule.field), "{} listed twice", rule.field);
            let mut value = &job;
            for key in rule.field.split('.') {
                value = value
                    .get(key)
                    .unwrap_or_else(|| panic!("{} is not in the read model", rule.field));
            }
        }
        // Every top-level field of the read model has a rule.
        for key in job.as_object().expect("object").keys() {
            assert!(seen.contains(key.as_str()), "no rule for {key}");
        }
    }

    #[test]
    fn phones_may_not_touch_planning_or_customer_data() {
        for field in ["assignee", "customer", "priority", "sla", "escalation.ring"] {
            assert!(check_edit(Role::Installer, field).is_err(), "{field}");
            assert!(check_edit(Role::Dispatch, field).is_ok(), "{field}");
        }
        for field in ["notes", "checklist", "transitions", "signature"] {
            assert!(check_edit(Role::Installer, field).is_ok(), "{field}");
        }
        assert!(check_edit(Role::Dispatch, "id").is_err());
        assert!(check_edit(Role::Installer, "nonsense").is_err());
    }

    use crate::job::{Editor, JobDoc, NewJob, Transition, read_job};
    use crate::rules::Status;
    use automerge::ActorId;

    fn editor(user: &str, role: Role) -> Editor {
        Editor {
            user: user.into(),
            device: format!("{user}-device"),
            role,
        }
    }

    /// A job created and assigned to `anna` by dispatch, and a phone's fork of it.
    fn job_and_phone() -> (AutoCommit, AutoCommit) {
        let office = editor("dispatch", Role::Dispatch);
        let mut job = JobDoc::create(
            ActorId::from(vec![1; 16]),
            &NewJob {
                id: "j1".into(),
                checklist: vec![("power".into(), "Check power".into())],
                ..NewJob::default()
            },
            &office,
            1_000,
        )
        .expect("create");
        job.assign(Some("anna"), &office, 2_000).expect("assign");
        let mut server = job.into_automerge();
        let phone = server.fork().with_actor(ActorId::from(vec![2; 16]));
        (server, phone)
    }

    /// Applies the phone's latest change to the server document, inspects it and compensates.
    fn receive(server: &mut AutoCommit, phone: &mut AutoCommit) -> Inspection {
        let change = phone.get_last_local_change().expect("a change").clone();
        let before = server.get_heads();
        server.apply_changes([change.clone()]).expect("apply");
        let inspection = inspect_change(server, &change, Role::Installer, "anna");
        compensate(server, &before, &inspection.violations, "compensate", 3).expect("compensate");
        inspection
    }

    fn job_of(doc: &AutoCommit) -> crate::job::Job {
        read_job(doc).expect("reads")
    }

    #[test]
    fn honest_edits_pass_and_are_recorded_by_field() {
        let (mut server, phone) = job_and_phone();
        let mut phone = JobDoc::from_automerge(phone);
        let anna = editor("anna", Role::Installer);
        phone
            .transition(Status::EnRoute, &anna, 3_000, None)
            .expect("move");
        let mut phone = phone.into_automerge();
        let inspection = receive(&mut server, &mut phone);
        assert!(inspection.violations.is_empty(), "{inspection:?}");
        assert!(inspection.fields.contains("transitions"));
        assert_eq!(job_of(&server).status(), Status::EnRoute);
    }

    #[test]
    fn protected_fields_are_put_back_and_the_rest_kept() {
        let (mut server, mut phone) = job_and_phone();
        phone
            .put(automerge::ROOT, "assignee", "mallory")
            .expect("put");
        let (_, customer) = phone
            .get(automerge::ROOT, "customer")
            .expect("get")
            .expect("customer");
        phone.put(&customer, "name", "Mallory Inc").expect("put");
        phone.put(automerge::ROOT, "bogus", 1_i64).expect("put");
        let (_, notes) = phone
            .get(automerge::ROOT, "notes")
            .expect("get")
            .expect("notes");
        phone.splice_text(&notes, 0, 0, "fixed it").expect("splice");
        phone.commit();
        let inspection = receive(&mut server, &mut phone);
        let fields: BTreeSet<&str> = inspection
            .violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, BTreeSet::from(["assignee", "bogus", "customer"]));
        let job = job_of(&server);
        assert_eq!(job.assignee.as_deref(), Some("anna"));
        assert_eq!(job.customer.name, "");
        assert_eq!(job.notes, "fixed it");
        assert!(server.get(automerge::ROOT, "bogus").expect("get").is_none());
    }

    #[test]
    fn appended_entries_are_checked_and_history_is_frozen() {
        let (mut server, mut phone) = job_and_phone();
        // A dispatch-role move in someone else's name, appended with raw ops.
        let forged = Transition {
            to: Status::Closed,
            by: "dispatch".into(),
            role: Role::Dispatch,
            ..Transition::default()
        };
        let (_, list) = phone
            .get(automerge::ROOT, "transitions")
            .expect("get")
            .expect("transitions");
        let at = phone.length(&list);
        let entry = phone
            .insert_object(&list, at, ObjType::Map)
            .expect("insert");
        for (key, value) in serde_json::to_value(&forged)
            .expect("json")
            .as_object()
            .expect("map")
        {
            if let Some(text) = value.as_str() {
                phone.put(&entry, key.as_str(), text).expect("put");
            }
        }
        phone.commit();
        let inspection = receive(&mut server, &mut phone);
        assert_eq!(inspection.violations.len(), 1, "{inspection:?}");
        assert_eq!(job_of(&server).transitions.len(), 2);
        assert_eq!(job_of(&server).status(), Status::Assigned);

        // Rewriting history: the first transition edited, the second deleted.
        let (_, first) = phone.get(&list, 0).expect("get").expect("first");
        phone.put(&first, "to", "closed").expect("put");
        phone.delete(&list, 1).expect("delete");
        phone.commit();
        let inspection = receive(&mut server, &mut phone);
        assert!(!inspection.violations.is_empty());
        let job = job_of(&server);
        assert_eq!(job.transitions.len(), 2);
        assert_eq!(job.transitions[0].to, Status::New);
        assert_eq!(job.status(), Status::Assigned);
    }

    #[test]
    fn restoring_a_rewritten_list_keeps_concurrent_honest_appends() {
        let (mut server, mut hostile) = job_and_phone();
        let mut honest =
            JobDoc::from_automerge(server.fork().with_actor(ActorId::from(vec![3; 16])));
        honest
            .transition(
                Status::EnRoute,
                &editor("anna", Role::Installer),
                3_000,
                None,
            )
            .expect("move");
        let mut honest = honest.into_automerge();
        let change = honest.get_last_local_change().expect("change").clone();
        // The hostile phone, not having seen it, deletes the assignment from the history.
        let (_, list) = hostile
            .get(automerge::ROOT, "transitions")
            .expect("get")
            .expect("list");
        hostile.delete(&list, 1).expect("delete");
        hostile.commit();
        server.apply_changes([change]).expect("honest");
        receive(&mut server, &mut hostile);
        let job = job_of(&server);
        let moves: Vec<Status> = job.transitions.iter().map(|t| t.to).collect();
        assert_eq!(moves.len(), 3, "{moves:?}");
        assert!(moves.contains(&Status::Assigned) && moves.contains(&Status::EnRoute));
        assert_eq!(job.status(), Status::EnRoute);
    }

    #[test]
    fn dispatch_changes_are_recorded_not_judged() {
        let (mut server, _) = job_and_phone();
        let mut office = JobDoc::from_automerge(server.fork());
        office
            .assign(Some("ben"), &editor("dispatch", Role::Dispatch), 5_000)
            .expect("assign");
        let mut office = office.into_automerge();
        let change = office.get_last_local_change().expect("change").clone();
        server.apply_changes([change.clone()]).expect("apply");
        let inspection = inspect_change(&server, &change, Role::Dispatch, "dispatch");
        assert!(inspection.violations.is_empty());
        assert!(inspection.fields.contains("assignee"));
    }

    #[test]
    fn field_names_follow_the_table() {
        let keys = |k: &[&str]| k.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(field_of(&keys(&["customer", "name"])), "customer");
        assert_eq!(field_of(&keys(&["escalation", "ring"])), "escalation.ring");
        assert_eq!(field_of(&keys(&["escalation"])), "escalation");
        assert_eq!(list_depth("escalation.help_requests"), 2);
    }
}
