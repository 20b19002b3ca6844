//! Reference knowledge: manuals published by the office, the case library derived from
//! completed jobs, engineers' field tips, and the exchange that keeps a phone's copy current
//! (`POST /v1/knowledge`). The message shapes are in [`fieldsync_protocol::knowledge`].

use std::collections::{BTreeMap, BTreeSet};

use automerge::Change;
use automerge::ChangeHash;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use fieldsync_protocol::job::Job;
use fieldsync_protocol::knowledge::{
    self, Case, KNOWLEDGE_VERSION, KnowledgeRequest, KnowledgeResponse, Manual, ManualInput,
    TipsAnswer, TipsDoc, TipsPush,
};
use fieldsync_protocol::rules::Status;
use fieldsync_protocol::{Millis, holds_change};
use serde::Serialize;

use crate::domain::error::{DomainError, ErrorCode, Problem, Refusal};
use crate::domain::facts::JobFacts;
use crate::storage::{ReadTx, Storage, StorageError, WriteTx, read, write};

/// The most cases one exchange sends per model; `more` tells the phone to ask again.
const CASES_PER_MODEL: u64 = 500;

/// The case a job makes: completed (or closed after completion) with a cause and a fix.
pub fn case_of(job: &Job, facts: &JobFacts) -> Option<Case> {
    let done = matches!(job.status(), Status::Completed | Status::Closed);
    let outcome = &job.outcome;
    if !done || outcome.cause.trim().is_empty() || outcome.fix.trim().is_empty() {
        return None;
    }
    Some(Case {
        job_id: job.id.clone(),
        model: job.product.model.clone(),
        symptom: job.problem.description.clone(),
        cause: outcome.cause.clone(),
        fix: outcome.fix.clone(),
        completed_at: facts.resolved_at.unwrap_or(job.created_at),
        engineer: job.assignee.clone().unwrap_or_default(),
        cursor: 0,
        removed: false,
    })
}

/// Records a committed job's product model and case (called by [`crate::domain::jobs::commit`]).
pub fn record_job(tx: &mut dyn WriteTx, job: &Job, facts: &JobFacts) -> Result<(), StorageError> {
    tx.put_job_product(&job.id, &job.product.model, case_of(job, facts).as_ref())
}

/// Records the product model and case of jobs stored before the case library existed.
pub fn backfill(storage: &dyn Storage) -> Result<usize, DomainError> {
    let missing = read(storage, |tx| {
        Ok::<_, DomainError>(tx.jobs_without_product()?)
    })?;
    for job_id in &missing {
        write(storage, |tx| {
            let (Some(stored), Some(facts)) = (tx.job(job_id)?, tx.job_facts(job_id)?) else {
                return Ok(());
            };
            let job = crate::domain::jobs::read_stored(tx, job_id, &stored)?;
            record_job(tx, &job, &facts)?;
            Ok::<_, DomainError>(())
        })?;
    }
    Ok(missing.len())
}

/// What publishing a manual changed against the previous version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Published {
    /// The manual as stored.
    #[serde(flatten)]
    pub manual: Manual,
    /// Sections that are new or differ from the previous version.
    pub changed_sections: Vec<String>,
    /// Attachments the previous version did not have.
    pub changed_attachments: Vec<String>,
}

/// Publishes a manual version: checked field by field, newer than every published version of
/// its model, every attachment already held by the server.
pub fn publish(
    tx: &mut dyn WriteTx,
    input: ManualInput,
    user: &str,
    now: Millis,
) -> Result<Published, DomainError> {
    knowledge::validate_manual(&input).map_err(|e| match e {
        fieldsync_protocol::SchemaError::InvalidValue { field, value } => {
            DomainError::invalid_field(
                field,
                Problem::InvalidValue,
                format!("invalid {field}: {value}"),
            )
            .with("value", value)
        }
        other => DomainError::bad_request(ErrorCode::InvalidManual, other.to_string()),
    })?;
    let previous = tx.manual(&input.model, None)?;
    if let Some(previous) = &previous
        && previous.version >= input.version
    {
        return Err(DomainError::refused(
            Refusal::Conflict,
            ErrorCode::StaleVersion,
            format!(
                "{} version {} is published already; publish version {} or later",
                input.model,
                previous.version,
                previous.version + 1
            ),
        )
        .with("model", input.model.as_str())
        .with("version", input.version)
        .with("published", previous.version));
    }
    let mut attachments = input.attachments;
    for attachment in &mut attachments {
        let blob = tx.blob(&attachment.sha256)?.ok_or_else(|| {
            DomainError::bad_request(
                ErrorCode::MissingBlob,
                format!(
                    "attachment `{}` ({}) has not been uploaded: PUT /v1/blobs/{} first",
                    attachment.name, attachment.sha256, attachment.sha256
                ),
            )
            .with("name", attachment.name.as_str())
        })?;
        attachment.size = blob.size;
    }
    let manual = Manual {
        model: input.model,
        version: input.version,
        title: input.title,
        published_at: now,
        published_by: user.to_owned(),
        sections: input.sections,
        attachments,
    };
    tx.put_manual(&manual)?;
    let delta = knowledge::manual_delta(previous.as_ref(), &manual);
    let held: BTreeSet<&str> = previous
        .iter()
        .flat_map(|m| m.attachments.iter().map(|a| a.sha256.as_str()))
        .collect();
    let changed_attachments = manual
        .attachments
        .iter()
        .filter(|a| !held.contains(a.sha256.as_str()))
        .map(|a| a.sha256.clone())
        .collect();
    Ok(Published {
        changed_sections: delta.sections.into_iter().map(|s| s.id).collect(),
        changed_attachments,
        manual,
    })
}

/// The most models one request may push tips for, and changes per model.
const MAX_TIP_MODELS: usize = 200;
const MAX_TIP_CHANGES: usize = 1_000;

/// Checks a request's version and bounds before anything is read.
fn check_request(request: &KnowledgeRequest) -> Result<(), DomainError> {
    if request.v != KNOWLEDGE_VERSION {
        return Err(DomainError::bad_request(
            ErrorCode::UnsupportedVersion,
            format!(
                "knowledge message version {} is not supported (this server speaks {KNOWLEDGE_VERSION})",
                request.v
            ),
        )
        .with("version", request.v)
        .with("supported", KNOWLEDGE_VERSION));
    }
    if request.tips.len() > MAX_TIP_MODELS
        || request
            .tips
            .iter()
            .any(|t| t.changes.len() > MAX_TIP_CHANGES || t.heads.len() > MAX_TIP_CHANGES)
    {
        return Err(DomainError::invalid_field(
            "tips",
            Problem::TooManyTips,
            format!(
                "at most {MAX_TIP_MODELS} models and {MAX_TIP_CHANGES} changes or heads per model"
            ),
        ));
    }
    for push in &request.tips {
        knowledge::check_model(&push.model).map_err(|e| {
            DomainError::invalid_field("tips", Problem::InvalidValue, e.to_string())
                .with("value", push.model.as_str())
        })?;
    }
    Ok(())
}

/// One knowledge exchange for `user`'s phone: manual deltas, new cases and merged field tips
/// for the product models on the user's open jobs. Manuals and cases are read in one read
/// transaction; each model's tips merge in a short write of their own, so an exchange never
/// holds the database for long.
pub fn exchange(
    storage: &dyn Storage,
    user: &str,
    request: &KnowledgeRequest,
) -> Result<KnowledgeResponse, DomainError> {
    check_request(request)?;
    let mut response = read(storage, |tx| answer_reads(tx, user, request))?;
    let pushed: BTreeMap<&str, &TipsPush> =
        request.tips.iter().map(|t| (t.model.as_str(), t)).collect();
    // Tips written offline travel even when their model has left the phone's jobs since.
    let tip_models: BTreeSet<String> = response
        .models
        .iter()
        .cloned()
        .chain(pushed.keys().map(|m| (*m).to_owned()))
        .collect();
    for model in tip_models {
        let push = pushed.get(model.as_str()).copied();
        let answer = write(storage, |tx| exchange_tips(tx, user, &model, push))?;
        response.tips.push(answer);
    }
    Ok(response)
}

/// The read half of an exchange: models, manual deltas, cases, removed models.
fn answer_reads(
    tx: &dyn ReadTx,
    user: &str,
    request: &KnowledgeRequest,
) -> Result<KnowledgeResponse, DomainError> {
    let models = tx.models_of(user)?;
    let held: BTreeMap<&str, u32> = request
        .manuals
        .iter()
        .map(|m| (m.model.as_str(), m.version))
        .collect();
    let known: BTreeSet<&str> = held
        .keys()
        .copied()
        .chain(request.tips.iter().map(|t| t.model.as_str()))
        .chain(request.cases_since.keys().map(String::as_str))
        .collect();
    let mut response = KnowledgeResponse {
        v: KNOWLEDGE_VERSION,
        removed_models: known
            .iter()
            .filter(|model| !models.iter().any(|m| m == *model))
            .map(|model| (*model).to_owned())
            .collect(),
        ..KnowledgeResponse::default()
    };
    for model in &models {
        let base_version = held.get(model.as_str()).copied();
        // Only the version is read unless the phone is behind it.
        let behind = tx
            .latest_manual_version(model)?
            .is_some_and(|latest| base_version.is_none_or(|held| held < latest));
        if behind && let Some(latest) = tx.manual(model, None)? {
            let base = match base_version {
                Some(version) => tx.manual(model, Some(version))?,
                None => None,
            };
            response
                .manuals
                .push(knowledge::manual_delta(base.as_ref(), &latest));
        }
        let since = request.cases_since.get(model).copied().unwrap_or(0);
        let cases = tx.cases(Some(model), since, CASES_PER_MODEL, true)?;
        response.more |= cases.len() as u64 == CASES_PER_MODEL;
        response.cases.extend(cases);
    }
    response.models = models;
    Ok(response)
}

fn decode_changes(push: &TipsPush) -> Result<Vec<Change>, String> {
    push.changes
        .iter()
        .map(|text| {
            let bytes = BASE64
                .decode(text)
                .map_err(|e| format!("a change is not base64: {e}"))?;
            Change::from_bytes(bytes).map_err(|e| format!("a change does not decode: {e}"))
        })
        .collect()
}

fn decode_heads(push: &TipsPush) -> Vec<ChangeHash> {
    push.heads.iter().filter_map(|h| h.parse().ok()).collect()
}

/// Merges a phone's tip changes for one model (only additions by the phone's user are
/// accepted; anything else refuses all of them and sends the server's document instead) and
/// answers with the changes the phone lacks.
fn exchange_tips(
    tx: &mut dyn WriteTx,
    user: &str,
    model: &str,
    push: Option<&TipsPush>,
) -> Result<TipsAnswer, DomainError> {
    let stored = tx.tips_doc(model)?;
    let mut doc = match &stored {
        Some(bytes) => TipsDoc::load(bytes)
            .map_err(|e| DomainError::Internal(format!("stored tips of `{model}`: {e}")))?,
        None => TipsDoc::default(),
    };
    let mut answer = TipsAnswer {
        model: model.to_owned(),
        changes: Vec::new(),
        refused: None,
        doc: None,
    };
    let phone_heads = push.map(decode_heads).unwrap_or_default();
    if let Some(push) = push.filter(|p| !p.changes.is_empty()) {
        let before = doc.tips();
        let mut merged = TipsDoc(doc.0.clone());
        let verdict = decode_changes(push).and_then(|changes| {
            merged
                .0
                .apply_changes(changes)
                .map_err(|e| format!("the changes do not apply: {e}"))?;
            merged.check_shape().map_err(|e| e.to_string())?;
            knowledge::check_tips_change(&before, &merged.tips(), user).map_err(|e| e.to_string())
        });
        match verdict {
            Ok(()) => {
                doc = merged;
                tx.put_tips_doc(model, &doc.0.save())?;
            }
            Err(reason) => {
                answer.refused = Some(reason);
                answer.doc = Some(BASE64.encode(doc.0.save()));
                return Ok(answer);
            }
        }
    }
    // Heads the server does not know (the phone's changes not sent yet) say nothing about what
    // it lacks: the known ones do, and duplicates cost the phone nothing.
    let known_heads: Vec<ChangeHash> = phone_heads
        .into_iter()
        .filter(|h| holds_change(&mut doc.0, h))
        .collect();
    answer.changes = doc
        .0
        .get_changes(&known_heads)
        .into_iter()
        .map(|c| BASE64.encode(c.raw_bytes()))
        .collect();
    Ok(answer)
}
