//! Customers: the records behind the calls. Intake links every job to a record (the one the
//! call taker picked, one with the same name and phone number, or a new one) and adds the
//! job's site and product to it; a correction of the job's customer, site or product updates
//! the record too. Search finds records by name, phone number (by its digits, however it was
//! written), address, product model or serial; duplicates are merged into one record.

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::{Customer, JobSummary, Product, Site};
use serde::Serialize;

use crate::domain::error::{DomainError, Problem, Thing};
use crate::storage::customers::{
    CustomerRecord, RECORD_VERSION, like_pattern, phone_digits, search_terms,
};
use crate::storage::{ReadTx, WriteTx};

/// The most records one search returns.
pub const MAX_RESULTS: usize = 50;

/// How many records the database hands over for one search before the words other than the
/// most telling one are checked.
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
    // The longest word narrows most in the database; the others are checked here.
    let telling = terms
        .iter()
        .max_by_key(|term| term.chars().count())
        .map_or("", String::as_str);
    let mut found: Vec<CustomerRecord> = tx
        .customers_like(&like_pattern(telling), CANDIDATES)?
        .into_iter()
        .filter(|record| {
            let text = record.search_text();
            terms.iter().all(|term| text.contains(term.as_str()))
        })
        .collect();
    found.truncate(limit);
    Ok(found)
}

/// The customer `id` with their jobs and those of the duplicates merged into them.
pub fn view(tx: &dyn ReadTx, id: &str) -> Result<CustomerView, DomainError> {
    let customer = tx
        .customer(id)?
        .ok_or_else(|| DomainError::not_found(Thing::Customer, id))?;
    let merged = tx.merged_into(id)?;
    let mut jobs: Vec<JobSummary> = tx
        .list_jobs()?
        .into_iter()
        .filter(|job| job.customer_id == id || merged.contains(&job.customer_id))
        .collect();
    jobs.sort_by_key(|job| std::cmp::Reverse(job.call_received_at));
    Ok(CustomerView {
        customer,
        merged,
        jobs,
    })
}

/// The longest customer id.
pub const MAX_ID_CHARS: usize = 100;

/// Keeps the record of a job's customer up to date and returns its id: the record `customer.id`
/// names (a merged duplicate stands for the record it was merged into; an id no record has yet
/// starts a record under that id, as the organisation's own), else the record with the same
/// name and phone number, else a new one (`cus-…`). The name,
/// tier, e-mail and phone number become the record's; the site and product join its lists
/// (most recent first, one entry per address and per serial).
pub fn remember(
    tx: &mut dyn WriteTx,
    customer: &Customer,
    site: &Site,
    product: &Product,
    now: Millis,
) -> Result<String, DomainError> {
    let mut record = match customer.id.trim() {
        "" => same_customer(tx, customer)?.unwrap_or_else(|| CustomerRecord {
            id: format!("cus-{}", uuid::Uuid::new_v4().simple()),
            created_at: now,
            ..CustomerRecord::default()
        }),
        id if id.chars().count() > MAX_ID_CHARS || id.chars().any(char::is_control) => {
            return Err(DomainError::invalid_field(
                "customer.id",
                Problem::InvalidValue,
                format!("a customer id is at most {MAX_ID_CHARS} printable characters"),
            )
            .with("value", id));
        }
        id => match tx.customer(id)? {
            Some(CustomerRecord {
                merged_into: Some(target),
                ..
            }) => tx
                .customer(&target)?
                .ok_or_else(|| DomainError::not_found(Thing::Customer, target.as_str()))?,
            Some(record) => record,
            // The organisation's own id for someone new (as from its customer system).
            None => CustomerRecord {
                id: id.to_owned(),
                created_at: now,
                ..CustomerRecord::default()
            },
        },
    };
    record.v = RECORD_VERSION;
    if !customer.name.trim().is_empty() {
        record.name = customer.name.trim().to_owned();
    }
    record.tier = customer.tier;
    if !customer.email.trim().is_empty() {
        record.email = customer.email.trim().to_owned();
    }
    add_phone(&mut record.phones, &customer.phone);
    add_site(&mut record.sites, site);
    add_product(&mut record.products, product);
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
        .customers_like(&like_pattern(&digits), CANDIDATES)?
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

fn add_site(sites: &mut Vec<Site>, site: &Site) {
    if site.address.trim().is_empty() {
        return;
    }
    let address = site.full_address().to_lowercase();
    sites.retain(|known| known.full_address().to_lowercase() != address);
    sites.insert(0, site.clone());
}

fn add_product(products: &mut Vec<Product>, product: &Product) {
    let key = |p: &Product| {
        if p.serial.trim().is_empty() {
            (p.model.trim().to_lowercase(), String::new())
        } else {
            (String::new(), p.serial.trim().to_lowercase())
        }
    };
    if product.model.trim().is_empty() && product.serial.trim().is_empty() {
        return;
    }
    products.retain(|known| key(known) != key(product));
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
    for phone in duplicate.phones.iter().rev() {
        if !kept
            .phones
            .iter()
            .any(|p| phone_digits(p) == phone_digits(phone))
        {
            kept.phones.push(phone.clone());
        }
    }
    for site in &duplicate.sites {
        let address = site.full_address().to_lowercase();
        if !kept
            .sites
            .iter()
            .any(|s| s.full_address().to_lowercase() == address)
        {
            kept.sites.push(site.clone());
        }
    }
    for product in &duplicate.products {
        if !kept.products.contains(product) {
            kept.products.push(product.clone());
        }
    }
    if kept.email.is_empty() {
        kept.email = duplicate.email.clone();
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
