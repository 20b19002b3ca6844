//! Customer records: who calls, at which sites, with which products, so that a returning
//! customer is found instead of typed again. A record is stored whole (versioned JSON) beside a
//! search text that both backends match with `LIKE`.

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::{Product, Site, Tier};
use serde::{Deserialize, Serialize};

use super::StorageError;

/// The version of [`CustomerRecord`]'s stored JSON this code writes; it reads every earlier one.
pub const RECORD_VERSION: u32 = 1;

/// A customer of the service organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct CustomerRecord {
    /// The stored JSON's version ([`RECORD_VERSION`]).
    pub v: u32,
    /// The customer's id (`cus-…`), which jobs carry as `customer.id`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Service tier.
    pub tier: Tier,
    /// Phone numbers as given, the most recent first.
    pub phones: Vec<String>,
    /// E-mail address.
    pub email: String,
    /// The sites work was done at, the most recent first.
    pub sites: Vec<Site>,
    /// The products installed or serviced, by serial (or model when without one).
    pub products: Vec<Product>,
    /// When the record was made (ms since the Unix epoch).
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
    /// The record this one was merged into, as a duplicate; merged records are not found by
    /// search and their jobs count as the other's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
}

impl CustomerRecord {
    /// What search matches in this record: lower-case words of the name, e-mail, sites,
    /// product models and serials, one per line, and every phone number as digits only.
    pub fn search_text(&self) -> String {
        let mut lines = vec![self.name.to_lowercase(), self.email.to_lowercase()];
        lines.extend(self.phones.iter().map(|phone| phone_digits(phone)));
        for site in &self.sites {
            lines.push(site.full_address().to_lowercase());
            lines.push(site.region.to_lowercase());
        }
        for product in &self.products {
            lines.push(product.model.to_lowercase());
            lines.push(product.serial.to_lowercase());
        }
        lines.retain(|line| !line.is_empty());
        lines.join("\n")
    }
}

/// The digits of a phone number (full-width digits too): `+86 138-0013-8000` → `8613800138000`.
pub fn phone_digits(phone: &str) -> String {
    phone
        .chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(c),
            '０'..='９' => char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')),
            _ => None,
        })
        .collect()
}

/// What a search looks for in [`CustomerRecord::search_text`]: the digits of something that
/// reads as a phone number (digits with `+ - ( ) .` and spaces, at least three digits), else
/// each lower-case word, all of which must appear.
pub fn search_terms(query: &str) -> Vec<String> {
    let query = query.trim();
    let digits = phone_digits(query);
    let phone_like = query
        .chars()
        .all(|c| c.is_ascii_digit() || ('０'..='９').contains(&c) || "+-(). ".contains(c));
    if phone_like && digits.len() >= 3 {
        return vec![digits];
    }
    query
        .to_lowercase()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// `term` as a `LIKE` pattern that finds it anywhere, with `\` escaping `%`, `_` and itself.
pub fn like_pattern(term: &str) -> String {
    let mut pattern = String::from("%");
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The most patterns one query matches in the database; a search with more words checks the
/// rest in memory.
pub const MAX_PATTERNS: usize = 4;

/// The `WHERE` clause of a search for `n` patterns, numbered from `first` with `marker`
/// (`?` for SQLite, `$` for PostgreSQL): one escaped `LIKE` each.
pub(crate) fn like_clause(n: usize, marker: char, first: usize) -> String {
    let mut clause = String::from("merged_into IS NULL");
    for k in 0..n.min(MAX_PATTERNS) {
        clause.push_str(&format!(
            " AND search LIKE {marker}{} ESCAPE '\\'",
            first + k
        ));
    }
    clause
}

/// The version of [`CustomerJob`]'s stored JSON this code writes; it reads every earlier one.
pub const CUSTOMER_JOB_VERSION: u32 = 1;

/// One job as a customer's history shows it: a projection kept beside the job by every commit,
/// so a customer's history is one indexed read instead of a look at every job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CustomerJob {
    /// The stored JSON's version ([`CUSTOMER_JOB_VERSION`]).
    pub v: u32,
    /// The job.
    pub job_id: String,
    /// The customer id the job carries (maybe a record merged into another).
    pub customer_id: String,
    /// When the call came in.
    pub call_received_at: Millis,
    /// The job's kind, as the document writes it.
    pub kind: String,
    /// Its effective status, as the document writes it.
    pub status: String,
    /// The installer it is assigned to.
    pub engineer: Option<String>,
    /// When it was completed (its facts' `resolved_at`).
    pub completed_at: Option<Millis>,
    /// The site, as one line.
    pub site: String,
    /// The product.
    pub product: Product,
    /// The problem category.
    pub category: String,
    /// What the customer reported.
    pub description: String,
    /// The cause found.
    pub cause: String,
    /// The fix applied.
    pub fix: String,
    /// The summary for the customer.
    pub summary: String,
    /// Whether it was fixed on the first visit, once resolved.
    pub first_visit_fixed: Option<bool>,
    /// The rating the customer gave on the installer's phone.
    pub rating: Option<u8>,
}

/// Reads of customer records inside one transaction.
pub trait CustomerStore {
    /// The record with this id, merged or not.
    fn customer(&self, id: &str) -> Result<Option<CustomerRecord>, StorageError>;
    /// Records not merged away whose search text matches every one of `patterns` (each a
    /// [`like_pattern`]; at most [`MAX_PATTERNS`]), the most recently changed first (then by
    /// id), at most `limit`.
    fn customers_like(
        &self,
        patterns: &[String],
        limit: usize,
    ) -> Result<Vec<CustomerRecord>, StorageError>;
    /// The ids of the records merged into `id`.
    fn merged_into(&self, id: &str) -> Result<Vec<String>, StorageError>;
    /// The history lines of the jobs carrying one of `customer_ids`, the newest call first
    /// (then by job id), at most `limit`.
    fn customer_jobs(
        &self,
        customer_ids: &[String],
        limit: usize,
    ) -> Result<Vec<CustomerJob>, StorageError>;
    /// The history lines of these jobs (those that have one), by job id.
    fn customer_jobs_of(&self, job_ids: &[String]) -> Result<Vec<CustomerJob>, StorageError>;
    /// Jobs without a history line (stored before lines were kept), at most `limit`.
    fn jobs_without_customer_line(&self, limit: usize) -> Result<Vec<String>, StorageError>;
}

/// Writes of customer records.
pub trait CustomerStoreMut {
    /// Stores `record` (with its search text), replacing the one with its id.
    fn put_customer(&mut self, record: &CustomerRecord) -> Result<(), StorageError>;
    /// Stores a job's history line, replacing its previous one; a line equal to the stored one
    /// writes nothing.
    fn put_customer_job(&mut self, line: &CustomerJob) -> Result<(), StorageError>;
}

/// A history line as stored.
pub(crate) fn encode_line(line: &CustomerJob) -> Result<String, StorageError> {
    serde_json::to_string(line).map_err(|e| StorageError::Corrupt(format!("customer job: {e}")))
}

/// A stored history line.
pub(crate) fn decode_line(json: &str) -> Result<CustomerJob, StorageError> {
    serde_json::from_str(json).map_err(|e| StorageError::Corrupt(format!("customer job: {e}")))
}

/// The record as stored, and the error a stored record that does not decode gives.
pub(crate) fn encode(record: &CustomerRecord) -> Result<String, StorageError> {
    serde_json::to_string(record).map_err(|e| StorageError::Corrupt(format!("customer: {e}")))
}

/// A stored record.
pub(crate) fn decode(json: &str) -> Result<CustomerRecord, StorageError> {
    serde_json::from_str(json).map_err(|e| StorageError::Corrupt(format!("customer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Phone numbers are found by their digits however they were written; words are found in
    /// any case; `%` and `_` are matched as themselves.
    #[test]
    fn searches_read_phone_numbers_as_digits_and_words_in_any_case() {
        assert_eq!(phone_digits("+86 138-0013-8000"), "8613800138000");
        assert_eq!(phone_digits("１３８ ００１３"), "1380013");
        assert_eq!(search_terms(" 138 0013 8000 "), ["13800138000"]);
        assert_eq!(search_terms("(020) 7946"), ["0207946"]);
        assert_eq!(search_terms("Harbour  ROAD"), ["harbour", "road"]);
        assert_eq!(search_terms("12"), ["12"], "too short for a phone: a word");
        assert_eq!(search_terms("SN-1"), ["sn-1"]);
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
        let record = CustomerRecord {
            name: "Grace Hopper".into(),
            phones: vec!["+44 20 7946 0958".into()],
            sites: vec![Site {
                address: "12 Harbour Road".into(),
                city: "Leith".into(),
                ..Site::default()
            }],
            products: vec![Product {
                model: "HP-200".into(),
                serial: "SN-77".into(),
                ..Product::default()
            }],
            ..CustomerRecord::default()
        };
        let text = record.search_text();
        for term in [
            "grace",
            "442079460958",
            "harbour road, leith",
            "sn-77",
            "hp-200",
        ] {
            assert!(text.contains(term), "{term} in {text}");
        }
    }

    /// The stored JSON of a job's history line is pinned.
    #[test]
    fn the_stored_history_line_is_pinned() {
        let json = r#"{"v":1,"job_id":"job-1","customer_id":"cus-1","call_received_at":5,
            "kind":"repair","status":"closed","engineer":"anna","completed_at":9,
            "site":"上海市世纪大道100号","product":{"model":"KFR-35","serial":"SN-1",
            "install_date":null,"purchase_ref":"","warranty_end":null},"category":"no cooling",
            "description":"不制冷","cause":"leak","fix":"brazed","summary":"cold again",
            "first_visit_fixed":true,"rating":5}"#;
        let line = decode_line(json).expect("decodes");
        assert_eq!(line.product.serial, "SN-1");
        assert_eq!(line.first_visit_fixed, Some(true));
        assert_eq!(
            decode_line(&encode_line(&line).expect("encodes")).expect("again"),
            line
        );
    }

    /// The stored JSON of a record is pinned: a newer server reads what an older one wrote.
    #[test]
    fn the_stored_record_is_pinned() {
        let json = r#"{"v":1,"id":"cus-1","name":"张伟","tier":"vip","phones":["138 0013 8000"],
            "email":"","sites":[{"address":"世纪大道100号","region":"华东","province":"上海市"}],
            "products":[{"model":"KFR-35","serial":"SN-1","install_date":null,"purchase_ref":"",
            "warranty_end":1800000000000}],"created_at":1,"updated_at":2}"#;
        let record = decode(json).expect("decodes");
        assert_eq!(record.tier, Tier::Vip);
        assert_eq!(record.sites[0].province, "上海市");
        assert_eq!(record.products[0].warranty_end, Some(1_800_000_000_000));
        assert_eq!(
            decode(&encode(&record).expect("encodes")).expect("again"),
            record
        );
    }
}
