//! Customers: the records behind the calls. Intake links every job to a record (the one the
//! call taker picked, one with the same name and phone number, or a new one) and adds the
//! job's number, site and product to it; a correction of the job's customer, site or product
//! follows into the record (see [`follow_correction`]). Search finds records by name, phone number (by its digits, however it was
//! written), address, product model or serial; duplicates are merged into one record.

use std::collections::BTreeMap;

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::{Customer, Job, JobDetails, JobSummary, Product, Site, Tier};
use fieldsync_protocol::wire::{CardJob, CardProduct, CustomerCard, CustomerCards, MAX_CARD_JOBS};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::error::{DomainError, Problem, Thing};
use crate::domain::facts::JobFacts;
use crate::domain::jobs;
use crate::storage::customers::{
    CUSTOMER_JOB_VERSION, CustomerJob, CustomerRecord, MAX_PATTERNS, RECORD_VERSION, like_pattern,
    phone_digits, search_terms,
};
use crate::storage::{ReadTx, Storage, WriteTx, read, write};

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
    let mut jobs = Vec::new();
    for line in tx.customer_jobs(&with_merged(id, &merged), usize::MAX)? {
        if let Some(stored) = tx.job(&line.job_id)? {
            jobs.push(stored.summary);
        }
    }
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
        .customer_jobs(std::slice::from_ref(&record.id), 2)?
        .iter()
        .any(|line| line.job_id != job_id);
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

/// Keeps job `job`'s line in its customer's history (called by [`jobs::commit`]).
pub fn record_job(tx: &mut dyn WriteTx, job: &Job, facts: &JobFacts) -> Result<(), DomainError> {
    tx.put_customer_job(&CustomerJob {
        v: CUSTOMER_JOB_VERSION,
        job_id: job.id.clone(),
        customer_id: job.customer.id.trim().to_owned(),
        call_received_at: job.call_received_at,
        kind: job.kind.as_str().to_owned(),
        status: facts.status.as_str().to_owned(),
        engineer: job.assignee.clone(),
        completed_at: facts.resolved_at,
        site: job.site.full_address(),
        product: job.product.clone(),
        category: job.problem.category.clone(),
        description: job.problem.description.clone(),
        cause: job.outcome.cause.clone(),
        fix: job.outcome.fix.clone(),
        summary: job.outcome.summary.clone(),
        first_visit_fixed: facts.first_visit_fixed,
        rating: job.rating.as_ref().map(|r| r.score),
    })?;
    Ok(())
}

/// How many jobs one startup pass gives their history line.
const BACKFILL_BATCH: usize = 200;

/// Gives jobs stored before customer histories were kept their line. Returns how many.
pub fn backfill_history(storage: &dyn Storage) -> Result<usize, DomainError> {
    let mut done = 0;
    loop {
        let missing = read(storage, |tx| {
            Ok::<_, DomainError>(tx.jobs_without_customer_line(BACKFILL_BATCH)?)
        })?;
        if missing.is_empty() {
            return Ok(done);
        }
        let written = write(storage, |tx| {
            let mut written = 0;
            for job_id in &missing {
                let Some(stored) = tx.job(job_id)? else {
                    continue;
                };
                let job = jobs::read_stored(tx, job_id, &stored)?;
                // Facts are backfilled first; a job without them still gets its line.
                let facts = match tx.job_facts(job_id)? {
                    Some(facts) => facts,
                    None => JobFacts::derive(&job, None, job.created_at),
                };
                record_job(tx, &job, &facts)?;
                written += 1;
            }
            Ok::<_, DomainError>(written)
        })?;
        done += written;
        // A batch that wrote nothing would come back the same: stop rather than loop.
        if written == 0 || missing.len() < BACKFILL_BATCH {
            return Ok(done);
        }
    }
}

/// How long a phone's customer cards go unchecked at most while its scope stays the same.
pub const CARDS_REFRESH_MS: Millis = 10 * 60 * 1000;

/// What a phone's cards token says: when the server issued it, the phone's scope then (the
/// `seq` of its installer's latest scope event), and the digest of the cards.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CardsToken {
    issued_at: Millis,
    scope_seq: u64,
    digest: String,
}

impl CardsToken {
    fn encode(&self) -> String {
        format!("1.{}.{}.{}", self.issued_at, self.scope_seq, self.digest)
    }

    /// A token this server issued; anything else reads as none.
    fn decode(token: &str) -> Option<CardsToken> {
        let mut parts = token.split('.');
        let (Some("1"), Some(issued_at), Some(scope_seq), Some(digest), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        Some(CardsToken {
            issued_at: issued_at.parse().ok()?,
            scope_seq: scope_seq.parse().ok()?,
            digest: digest.to_owned(),
        })
    }
}

/// The customer cards for `user`'s phone, which holds those `token` describes (none without
/// one), at `now`: `None` when they need no look (the same scope, looked at less than
/// [`CARDS_REFRESH_MS`] ago), else the cards whole, or `unchanged` when they equal what the
/// phone holds.
pub fn phone_cards(
    tx: &dyn ReadTx,
    user: &str,
    token: Option<&str>,
    now: Millis,
) -> Result<Option<CustomerCards>, DomainError> {
    let scope_seq = tx.latest_scope_seq(user)?;
    let held = token.and_then(CardsToken::decode);
    if let Some(held) = &held
        && held.scope_seq == scope_seq
        && (held.issued_at..held.issued_at.saturating_add(CARDS_REFRESH_MS)).contains(&now)
    {
        return Ok(None);
    }
    let cards = cards_in_scope(tx, user)?;
    let digest = jobs::hex(&Sha256::digest(fieldsync_protocol::wire::encode(&cards))[..16]);
    let unchanged = held.is_some_and(|held| held.digest == digest);
    Ok(Some(CustomerCards {
        token: CardsToken {
            issued_at: now,
            scope_seq,
            digest,
        }
        .encode(),
        unchanged,
        cards: if unchanged { Vec::new() } else { cards },
    }))
}

/// One card for every customer of a job in `user`'s scope, by customer id. A customer whose
/// record or history does not read is left out (and logged), not the others.
fn cards_in_scope(tx: &dyn ReadTx, user: &str) -> Result<Vec<CustomerCard>, DomainError> {
    let lines = tx.customer_jobs_of(&tx.jobs_in_scope(user)?)?;
    // The customers by the id of the live record their jobs' ids lead to, with a job of each.
    let mut customers: BTreeMap<String, &CustomerJob> = BTreeMap::new();
    for line in lines.iter().filter(|line| !line.customer_id.is_empty()) {
        let live = live_record(tx, &line.customer_id)
            .ok()
            .flatten()
            .map_or_else(|| line.customer_id.clone(), |record| record.id);
        customers.entry(live).or_insert(line);
    }
    let mut cards = Vec::with_capacity(customers.len());
    for (id, line) in customers {
        match customer_card(tx, &id, &line.job_id) {
            Ok(card) => cards.push(card),
            Err(e) => tracing::warn!(customer = %id, error = %e, "customer card left out"),
        }
    }
    Ok(cards)
}

/// The card of the customer `id` (a live record, or the customer job `a_job` names when no
/// record exists).
fn customer_card(tx: &dyn ReadTx, id: &str, a_job: &str) -> Result<CustomerCard, DomainError> {
    let record = match tx.customer(id)? {
        Some(record) => record,
        None => record_of_job(tx, a_job)?,
    };
    let merged = tx.merged_into(id)?;
    let jobs = tx.customer_jobs(&with_merged(id, &merged), MAX_CARD_JOBS)?;
    Ok(card(id.to_owned(), merged, record, jobs))
}

/// `id` and the ids of the records merged into it.
fn with_merged(id: &str, merged: &[String]) -> Vec<String> {
    std::iter::once(id.to_owned())
        .chain(merged.iter().cloned())
        .collect()
}

/// A customer's record and history as the phone keeps them.
fn card(
    id: String,
    merged: Vec<String>,
    record: CustomerRecord,
    jobs: Vec<CustomerJob>,
) -> CustomerCard {
    CustomerCard {
        id,
        merged,
        name: record.name,
        tier: record.tier.as_str().to_owned(),
        phones: record.phones,
        sites: record.sites.iter().map(Site::full_address).collect(),
        products: record
            .products
            .into_iter()
            .map(|p| CardProduct {
                model: p.model,
                serial: p.serial,
                install_date: p.install_date,
                purchase_ref: p.purchase_ref,
                warranty_end: p.warranty_end,
            })
            .collect(),
        jobs: jobs
            .into_iter()
            .map(|line| CardJob {
                job: line.job_id,
                kind: line.kind,
                status: line.status,
                call_received_at: line.call_received_at,
                completed_at: line.completed_at,
                engineer: line.engineer.unwrap_or_default(),
                site: line.site,
                model: line.product.model,
                serial: line.product.serial,
                category: line.category,
                description: line.description,
                cause: line.cause,
                fix: line.fix,
                summary: line.summary,
                first_visit_fixed: line.first_visit_fixed,
                rating: line.rating,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use fieldsync_protocol::job::{Customer, NewJob, Problem, Product, Site};

    use super::*;
    use crate::domain::dispatch::Dispatch;
    use crate::storage::sqlite::SqliteStorage;

    /// Every commit keeps the job's line in its customer's history; a database from before
    /// lines were kept gets them at startup, once, with what the documents say.
    #[test]
    fn every_job_has_a_history_line_and_older_databases_get_theirs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("server.db");
        let storage = SqliteStorage::open(&path).expect("open");
        let dispatch = Dispatch::new(&storage, "dispatch");
        let call = NewJob {
            id: "job-1".into(),
            customer: Customer {
                name: "Grace Hopper".into(),
                phone: "+44 20 7946 0958".into(),
                ..Customer::default()
            },
            site: Site {
                address: "12 Harbour Road".into(),
                ..Site::default()
            },
            product: Product {
                model: "HP-200".into(),
                serial: "SN-77".into(),
                ..Product::default()
            },
            problem: Problem {
                category: "leak".into(),
                description: "water under the unit".into(),
            },
            ..NewJob::default()
        };
        dispatch.create(call, 1_790_000_000_000).expect("create");
        let line = |storage: &SqliteStorage| {
            read(storage, |tx| {
                Ok::<_, DomainError>(tx.customer_jobs_of(&["job-1".to_owned()])?)
            })
            .expect("read")
        };
        let kept = line(&storage);
        assert_eq!(kept.len(), 1);
        assert!(kept[0].customer_id.starts_with("cus-"), "{kept:?}");
        assert_eq!(
            (
                kept[0].site.as_str(),
                kept[0].product.serial.as_str(),
                kept[0].description.as_str(),
                kept[0].status.as_str()
            ),
            ("12 Harbour Road", "SN-77", "water under the unit", "new")
        );

        // As before the history was kept: the line is gone, and startup restores it.
        rusqlite::Connection::open(&path)
            .expect("open")
            .execute("DELETE FROM customer_jobs", [])
            .expect("delete");
        assert!(line(&storage).is_empty());
        assert_eq!(backfill_history(&storage).expect("backfill"), 1);
        assert_eq!(line(&storage), kept);
        assert_eq!(backfill_history(&storage).expect("again"), 0);
    }

    /// A phone's cards: whole at first, nothing while the token is fresh and the scope the
    /// same, `unchanged` when looked at again and equal, whole again when a job enters; a job
    /// naming a merged duplicate finds the record it was merged into.
    #[test]
    fn a_phones_cards_follow_its_scope_and_cost_nothing_while_unchanged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = SqliteStorage::open(dir.path().join("server.db")).expect("open");
        crate::domain::auth::put_user(
            &storage,
            &crate::storage::User {
                id: "anna".into(),
                name: "Anna".into(),
                role: "installer".into(),
                region: String::new(),
                skills: Vec::new(),
            },
            None,
        )
        .expect("anna");
        let dispatch = Dispatch::new(&storage, "dispatch");
        let now = 1_790_000_000_000;
        let call = |id: &str, name: &str, phone: &str| NewJob {
            id: id.into(),
            customer: Customer {
                name: name.into(),
                phone: phone.into(),
                ..Customer::default()
            },
            site: Site {
                address: "12 Harbour Road".into(),
                ..Site::default()
            },
            problem: Problem {
                category: "leak".into(),
                description: "water".into(),
            },
            ..NewJob::default()
        };
        let (first, _) = dispatch
            .create(call("job-1", "Grace Hopper", "+44 20 7946 0958"), now)
            .expect("create");
        dispatch
            .assign("job-1", Some("anna"), None, None, now)
            .expect("assign");
        let cards = |token: Option<&str>, at: Millis| {
            read(&storage, |tx| phone_cards(tx, "anna", token, at)).expect("cards")
        };

        let whole = cards(None, now).expect("looked: the phone holds none");
        assert!(!whole.unchanged);
        assert_eq!(whole.cards.len(), 1);
        assert_eq!(whole.cards[0].id, first.customer_id);
        assert_eq!(whole.cards[0].jobs[0].job, "job-1");
        assert_eq!(
            cards(Some(&whole.token), now + 60_000),
            None,
            "fresh, same scope"
        );
        let again = cards(Some(&whole.token), now + CARDS_REFRESH_MS).expect("looked again");
        assert!(again.unchanged && again.cards.is_empty(), "{again:?}");
        assert!(cards(Some("garbage"), now).is_some_and(|c| !c.unchanged));

        // A second job for a duplicate record, merged into the first; it enters Anna's scope.
        let (twin, _) = dispatch
            .create(call("job-2", "Grace H.", "+44 20 7946 0000"), now)
            .expect("create");
        assert_ne!(twin.customer_id, first.customer_id);
        write(&storage, |tx| {
            merge(tx, &twin.customer_id, &first.customer_id, now)
        })
        .expect("merge");
        dispatch
            .assign("job-2", Some("anna"), None, None, now)
            .expect("assign");
        let moved = cards(Some(&again.token), now + CARDS_REFRESH_MS + 1).expect("scope moved");
        assert!(!moved.unchanged);
        assert_eq!(moved.cards.len(), 1, "one customer: {moved:?}");
        let card = &moved.cards[0];
        assert_eq!(card.merged, std::slice::from_ref(&twin.customer_id));
        let jobs: Vec<&str> = card.jobs.iter().map(|j| j.job.as_str()).collect();
        assert_eq!(jobs.len(), 2, "{jobs:?}");
        assert!(card.phones.contains(&"+44 20 7946 0000".to_owned()));
    }
}
