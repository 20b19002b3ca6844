//! Customers: the records behind the calls. Intake links every job to a record (the one the
//! call taker picked, one with the same name and phone number, or a new one) and adds the
//! job's number, site and product to it; a correction of the job's customer, site or product
//! follows into the record (see [`follow_correction`]). Search finds records by name, phone number (by its digits, however it was
//! written), address, product model or serial; duplicates are merged into one record.

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::{Customer, JobDetails, JobSummary, Product, Site, Tier};
use serde::Serialize;

use crate::domain::error::{DomainError, Problem, Thing};
use crate::domain::jobs;
use crate::storage::customers::{
    CustomerRecord, MAX_PATTERNS, RECORD_VERSION, like_pattern, phone_digits, search_terms,
};
use crate::storage::{ReadTx, WriteTx};

/// The most records one search returns.
pub const MAX_RESULTS: usize = 50;

/// How many records the database hands over for one search before the words beyond the most
/// telling ones are checked.
const CANDIDATES: usize = 500;

/// A customer with every job done for them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerView {
    /// The record.
    pub customer: CustomerRecord,
    /// The ids of the duplicates merged into it.
    pub merged: Vec<String>,
    /// Their jobs (also those of the merged duplicates), newest call first.
    pub jobs: Vec<JobSummary>,
}

/// The records `query` finds (see [`search_terms`]: a phone number by its digits, else every
/// word), the most recently changed first, at most `limit`; an empty query gives the most
/// recently changed records.
pub fn find(
    tx: &dyn ReadTx,
    query: &str,
    limit: usize,
) -> Result<Vec<CustomerRecord>, DomainError> {
    let terms = search_terms(query);
    // The longest words narrow most: they go to the database, any others are checked here.
    let mut telling: Vec<&String> = terms.iter().collect();
    telling.sort_by_key(|term| std::cmp::Reverse(term.chars().count()));
    let patterns: Vec<String> = telling
        .iter()
        .take(MAX_PATTERNS)
        .map(|term| like_pattern(term))
        .collect();
    let mut found: Vec<CustomerRecord> = tx
        .customers_like(&patterns, CANDIDATES)?
        .into_iter()
        .filter(|record| {
            let text = record.search_text();
            terms.iter().all(|term| text.contains(term.as_str()))
        })
        .collect();
    found.truncate(limit);
    Ok(found)
}

/// The customer `id` with their jobs and those of the duplicates merged into them. An id that
/// jobs carry but no record has (a job opened before records were kept) shows as the customer
/// its newest job names, until a call or a correction makes the record.
pub fn view(tx: &dyn ReadTx, id: &str) -> Result<CustomerView, DomainError> {
    let merged = tx.merged_into(id)?;
    let mut jobs: Vec<JobSummary> = tx
        .list_jobs()?
        .into_iter()
        .filter(|job| job.customer_id == id || merged.contains(&job.customer_id))
        .collect();
    jobs.sort_by_key(|job| std::cmp::Reverse(job.call_received_at));
    let customer = match (tx.customer(id)?, jobs.first()) {
        (Some(record), _) => record,
        (None, Some(newest)) => record_of_job(tx, &newest.id)?,
        (None, None) => return Err(DomainError::not_found(Thing::Customer, id)),
    };
    Ok(CustomerView {
        customer,
        merged,
        jobs,
    })
}

/// The customer job `job_id` names, as a record (not stored).
fn record_of_job(tx: &dyn ReadTx, job_id: &str) -> Result<CustomerRecord, DomainError> {
    let stored = tx
        .job(job_id)?
        .ok_or_else(|| DomainError::not_found(Thing::Job, job_id))?;
    let job = jobs::read_stored(tx, job_id, &stored)?;
    let mut record = CustomerRecord {
        v: RECORD_VERSION,
        id: job.customer.id.clone(),
        name: job.customer.name.clone(),
        tier: job.customer.tier,
        email: job.customer.email.clone(),
        created_at: job.created_at,
        updated_at: job.created_at,
        ..CustomerRecord::default()
    };
    add_phone(&mut record.phones, &job.customer.phone);
    add_site(&mut record.sites, &job.site);
    add_product(&mut record.products, &job.product);
    Ok(record)
}

/// The longest customer id.
pub const MAX_ID_CHARS: usize = 100;

/// Links a call to its customer's record and returns the record's id: the record
/// `customer.id` names (a merged duplicate stands for the record it was merged into; an id no
/// record has yet starts a record under that id, as the organisation's own), else the record
/// with the same name and phone number, else a new one (`cus-…`). A known record keeps its name
/// and is never lowered from VIP by a call; it gains the call's phone number, site and product
/// (most recent first, one entry per number, address and serial), and an e-mail address when
/// it has none.
pub fn link_call(
    tx: &mut dyn WriteTx,
    customer: &Customer,
    site: &Site,
    product: &Product,
    now: Millis,
) -> Result<String, DomainError> {
    let mut record = match checked_id(&customer.id)? {
        None => same_customer(tx, customer)?,
        Some(id) => Some(live_record(tx, id)?.unwrap_or_else(|| CustomerRecord {
            // The organisation's own id for someone new (as from its customer system).
            id: id.to_owned(),
            created_at: now,
            ..CustomerRecord::default()
        })),
    }
    .unwrap_or_else(|| CustomerRecord {
        id: format!("cus-{}", uuid::Uuid::new_v4().simple()),
        created_at: now,
        ..CustomerRecord::default()
    });
    if record.name.is_empty() {
        record.name = customer.name.trim().to_owned();
    }
    if customer.tier == Tier::Vip {
        record.tier = Tier::Vip;
    }
    if record.email.is_empty() {
        record.email = customer.email.trim().to_owned();
    }
    add_phone(&mut record.phones, &customer.phone);
    add_site(&mut record.sites, site);
    add_product(&mut record.products, product);
    store(tx, record, now)
}

/// Keeps the record of job `job_id`'s customer in step with a correction of its details from
/// `before` to `after`, and returns the id the job is linked to. A job moved to another record
/// (`customer.id` changed) needs one that exists, which gains the job's number, site and
/// product. A record that only this job uses takes the corrected name, tier and e-mail, and the
/// corrected number, site and product replace the old ones (a misspelt address stops being
/// found); a record other jobs share only gains them, so correcting one job never renames
/// another customer's record. A job without a record is linked as a call is.
pub fn follow_correction(
    tx: &mut dyn WriteTx,
    job_id: &str,
    before: &JobDetails,
    after: &JobDetails,
    now: Millis,
) -> Result<String, DomainError> {
    let (old, new) = (&before.customer, &after.customer);
    let Some(id) = checked_id(&new.id)? else {
        return link_call(tx, new, &after.site, &after.product, now);
    };
    let relinked = id != old.id.trim();
    let Some(mut record) = live_record(tx, id)? else {
        if relinked {
            return Err(DomainError::invalid_field(
                "customer.id",
                Problem::InvalidValue,
                format!("there is no customer `{id}` to move the job to"),
            )
            .with("value", id));
        }
        return link_call(tx, new, &after.site, &after.product, now);
    };
    let shared = tx
        .list_jobs()?
        .iter()
        .any(|job| job.id != job_id && job.customer_id == record.id);
    if relinked || shared {
        let linked = Customer {
            id: record.id,
            ..new.clone()
        };
        return link_call(tx, &linked, &after.site, &after.product, now);
    }
    record.name = new.name.trim().to_owned();
    record.tier = new.tier;
    record.email = new.email.trim().to_owned();
    record
        .phones
        .retain(|p| phone_digits(p) != phone_digits(&old.phone));
    record.sites.retain(|s| !same_site(s, &before.site));
    record
        .products
        .retain(|p| product_key(p) != product_key(&before.product));
    add_phone(&mut record.phones, &new.phone);
    add_site(&mut record.sites, &after.site);
    add_product(&mut record.products, &after.product);
    store(tx, record, now)
}

/// `id` trimmed, or `None` when empty; refused when too long or not printable.
fn checked_id(id: &str) -> Result<Option<&str>, DomainError> {
    match id.trim() {
        "" => Ok(None),
        id if id.chars().count() > MAX_ID_CHARS || id.chars().any(char::is_control) => {
            Err(DomainError::invalid_field(
                "customer.id",
                Problem::InvalidValue,
                format!("a customer id is at most {MAX_ID_CHARS} printable characters"),
            )
            .with("value", id))
        }
        id => Ok(Some(id)),
    }
}

/// The record `id`, or the one it was merged into.
fn live_record(tx: &dyn ReadTx, id: &str) -> Result<Option<CustomerRecord>, DomainError> {
    match tx.customer(id)? {
        Some(CustomerRecord {
            merged_into: Some(target),
            ..
        }) => Ok(Some(tx.customer(&target)?.ok_or_else(|| {
            DomainError::not_found(Thing::Customer, target.as_str())
        })?)),
        found => Ok(found),
    }
}

/// Stores `record` as changed at `now` and returns its id.
fn store(
    tx: &mut dyn WriteTx,
    mut record: CustomerRecord,
    now: Millis,
) -> Result<String, DomainError> {
    record.v = RECORD_VERSION;
    record.updated_at = now;
    tx.put_customer(&record)?;
    Ok(record.id)
}

/// The record of someone with this name and phone number, if exactly that one exists.
fn same_customer(
    tx: &dyn ReadTx,
    customer: &Customer,
) -> Result<Option<CustomerRecord>, DomainError> {
    let digits = phone_digits(&customer.phone);
    if digits.len() < 3 {
        return Ok(None);
    }
    let name = customer.name.trim().to_lowercase();
    Ok(tx
        .customers_like(&[like_pattern(&digits)], CANDIDATES)?
        .into_iter()
        .find(|record| {
            record.name.to_lowercase() == name
                && record.phones.iter().any(|p| phone_digits(p) == digits)
        }))
}

fn add_phone(phones: &mut Vec<String>, phone: &str) {
    let phone = phone.trim();
    if phone_digits(phone).is_empty() {
        return;
    }
    phones.retain(|known| phone_digits(known) != phone_digits(phone));
    phones.insert(0, phone.to_owned());
}

/// Whether two sites are one address (however its case was typed).
fn same_site(a: &Site, b: &Site) -> bool {
    a.full_address().to_lowercase() == b.full_address().to_lowercase()
}

fn add_site(sites: &mut Vec<Site>, site: &Site) {
    if site.address.trim().is_empty() {
        return;
    }
    sites.retain(|known| !same_site(known, site));
    sites.insert(0, site.clone());
}

/// What makes two products one unit: the serial, or the model for a unit without one.
fn product_key(p: &Product) -> (String, String) {
    if p.serial.trim().is_empty() {
        (p.model.trim().to_lowercase(), String::new())
    } else {
        (String::new(), p.serial.trim().to_lowercase())
    }
}

fn add_product(products: &mut Vec<Product>, product: &Product) {
    if product.model.trim().is_empty() && product.serial.trim().is_empty() {
        return;
    }
    products.retain(|known| product_key(known) != product_key(product));
    products.insert(0, product.clone());
}

/// Merges the duplicate `from` into `into`: its phone numbers, sites and products join
/// `into`'s, it is no longer found, and its jobs (and those of records merged into it) count as
/// `into`'s. Both must exist and not be merged already.
pub fn merge(
    tx: &mut dyn WriteTx,
    from: &str,
    into: &str,
    now: Millis,
) -> Result<CustomerRecord, DomainError> {
    if from == into {
        return Err(DomainError::invalid_field(
            "into",
            Problem::InvalidValue,
            "a customer cannot be merged into itself",
        )
        .with("value", into));
    }
    let live = |tx: &dyn ReadTx, id: &str| -> Result<CustomerRecord, DomainError> {
        let record = tx
            .customer(id)?
            .ok_or_else(|| DomainError::not_found(Thing::Customer, id))?;
        match &record.merged_into {
            Some(target) => Err(DomainError::conflict(
                Problem::AlreadyMerged,
                format!("customer `{id}` was merged into `{target}` already"),
            )
            .with("customer", id)
            .with("into", target.as_str())),
            None => Ok(record),
        }
    };
    let mut duplicate = live(tx, from)?;
    let mut kept = live(tx, into)?;
    // The duplicate's entries come after the kept record's own, in their order.
    for phone in &duplicate.phones {
        if !kept
            .phones
            .iter()
            .any(|p| phone_digits(p) == phone_digits(phone))
        {
            kept.phones.push(phone.clone());
        }
    }
    for site in &duplicate.sites {
        if !kept.sites.iter().any(|s| same_site(s, site)) {
            kept.sites.push(site.clone());
        }
    }
    for product in &duplicate.products {
        if !kept
            .products
            .iter()
            .any(|p| product_key(p) == product_key(product))
        {
            kept.products.push(product.clone());
        }
    }
    if kept.email.is_empty() {
        kept.email = duplicate.email.clone();
    }
    if duplicate.tier == Tier::Vip {
        kept.tier = Tier::Vip;
    }
    kept.created_at = kept.created_at.min(duplicate.created_at);
    kept.updated_at = now;
    duplicate.merged_into = Some(kept.id.clone());
    duplicate.updated_at = now;
    for earlier in tx.merged_into(from)? {
        if let Some(mut record) = tx.customer(&earlier)? {
            record.merged_into = Some(kept.id.clone());
            tx.put_customer(&record)?;
        }
    }
    tx.put_customer(&duplicate)?;
    tx.put_customer(&kept)?;
    Ok(kept)
}
