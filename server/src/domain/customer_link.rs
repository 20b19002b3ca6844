//! The customer's own page, behind the link the office sends once a job is completed: the job
//! as the customer knows it, the signed report once the server holds it, their rating of the
//! service, and complaints. The link is the credential until it expires; what the customer
//! sends lands in the job as a change by the server (user [`CUSTOMER`]) with an audit entry,
//! through [`crate::domain::dispatch::Dispatch`].

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::{ComplaintKind, ComplaintOutcome, JobKind, Survey};
use fieldsync_protocol::rules::Status;
use serde::Serialize;

use crate::domain::DomainError;
use crate::domain::jobs;
use crate::domain::media::{self, customer_link};
use crate::storage::blobs::BlobStore;
use crate::storage::{Storage, read};

/// The user that what customers send through their links is attributed to.
pub const CUSTOMER: &str = "@customer";

/// What the customer's page shows. Nothing the customer did not give or would not expect to
/// see: no ids beyond the job's and their complaints' references, no engineer's login.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerPage {
    /// The job.
    pub job_id: String,
    /// The customer's name as the job has it.
    pub customer_name: String,
    /// What kind of work.
    pub kind: JobKind,
    /// Where it stands.
    pub status: Status,
    /// When the customer called.
    pub call_received_at: Millis,
    /// When the work was completed, once it was.
    pub completed_at: Option<Millis>,
    /// The engineer's name (none when the office has no name for them).
    pub engineer: Option<String>,
    /// The site's whole address.
    pub address: String,
    /// The product's model.
    pub product_model: String,
    /// Whether the signed report can be downloaded (from `/v1/reports/{token}`).
    pub report: bool,
    /// When the link stops working.
    pub expires_at: Millis,
    /// The customer's latest rating through a link, if any.
    pub rating: Option<Survey>,
    /// The complaints raised about the job, with the office's answers.
    pub complaints: Vec<ComplaintView>,
    /// The kinds of complaint the page offers.
    pub complaint_kinds: Vec<ComplaintKind>,
}

/// A complaint as the customer who raised it sees it: when, what about, and what the office
/// answered.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComplaintView {
    /// Its reference (the complaint job).
    pub job_id: String,
    /// When it was raised.
    pub at: Millis,
    /// What it is about.
    pub kind: ComplaintKind,
    /// The office's answer, once given.
    pub answer: String,
    /// When it was first given.
    pub answered_at: Option<Millis>,
    /// How it ended, once it did.
    pub outcome: Option<ComplaintOutcome>,
}

/// The page the customer's `token` opens, at `now`.
pub fn page(
    storage: &dyn Storage,
    blobs: &dyn BlobStore,
    token: &str,
    now: Millis,
) -> Result<CustomerPage, DomainError> {
    let link = customer_link(storage, token, now)?;
    let report = media::signed_report(storage, blobs, &link.job_id).is_ok();
    read(storage, |tx| {
        let stored = tx.job(&link.job_id)?.ok_or_else(|| {
            DomainError::Internal(format!("linked job `{}` is gone", link.job_id))
        })?;
        let job = jobs::read_stored(tx, &link.job_id, &stored)?;
        let facts = tx.job_facts(&link.job_id)?;
        // The engineer by name; a login is not for the customer.
        let engineer = match &job.assignee {
            Some(user) => tx
                .user(user)?
                .map(|u| u.name)
                .filter(|name| !name.is_empty()),
            None => None,
        };
        let mut complaints = Vec::new();
        for raised in &job.complaints {
            let answer = match tx.job(&raised.job_id)? {
                Some(stored) => jobs::read_stored(tx, &raised.job_id, &stored)?
                    .complaint
                    .unwrap_or_default(),
                None => Default::default(),
            };
            complaints.push(ComplaintView {
                job_id: raised.job_id.clone(),
                at: raised.at,
                kind: raised.kind,
                answer: answer.answer,
                answered_at: answer.answered_at,
                outcome: answer.outcome,
            });
        }
        Ok(CustomerPage {
            job_id: job.id.clone(),
            customer_name: job.customer.name.clone(),
            kind: job.kind,
            status: job.status(),
            call_received_at: job.call_received_at,
            completed_at: facts.and_then(|f| f.resolved_at),
            engineer,
            address: job.site.full_address(),
            product_model: job.product.model.clone(),
            report,
            expires_at: link.expires_at,
            rating: job.surveys.last().cloned(),
            complaints,
            complaint_kinds: ComplaintKind::ALL.to_vec(),
        })
    })
}
