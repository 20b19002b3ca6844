//! The customers of the jobs on the phone ("customer 360 on site"): who they are, the products
//! they own with their warranties, and what was done for them before, as the server last sent
//! them; readable offline. The phone keeps exactly the set the server sent last, and sends its
//! token back so that an unchanged set costs nothing.

use fieldsync_protocol::wire::{CustomerCard, CustomerCards};
use rusqlite::{Connection, Transaction};

use crate::db::CachedStatements;
use crate::error::{Error, Result};
use crate::store::{Store, meta_get, meta_set};

/// Where the token of the cards held is kept in `meta`.
pub(crate) const TOKEN: &str = "customers_token";

/// Migration 5: the customer cards, each the server's card as JSON (the wire's fields).
pub(crate) const MIGRATION: &str = "CREATE TABLE customer_cards (
        customer_id TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        card TEXT NOT NULL
    ) STRICT;";

fn decode(json: &str) -> Result<CustomerCard> {
    serde_json::from_str(json).map_err(|e| Error::Protocol(format!("stored customer card: {e}")))
}

impl Store {
    /// The customers of the jobs on the phone, by name. Works offline: they are what the last
    /// sync brought.
    pub fn customer_cards(&self) -> Result<Vec<CustomerCard>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT card FROM customer_cards ORDER BY name, customer_id")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|json| decode(&json?)).collect()
    }

    /// The customer of job `job_id` with their products, warranties and jobs, offline; `None`
    /// when the phone holds no card for them (the job names no customer record, or no sync
    /// brought it yet). A job the phone does not hold is [`Error::UnknownJob`].
    pub fn customer_card(&self, job_id: &str) -> Result<Option<CustomerCard>> {
        let customer = self.job(job_id)?.customer.id.trim().to_owned();
        if customer.is_empty() {
            return Ok(None);
        }
        Ok(self
            .customer_cards()?
            .into_iter()
            .find(|card| card.id == customer || card.merged.contains(&customer)))
    }
}

/// Keeps what the server sent: a new token, and exactly its cards unless they are unchanged.
/// Returns whether the cards changed.
pub(crate) fn apply(tx: &Transaction<'_>, sent: &CustomerCards) -> Result<bool> {
    meta_set(tx, TOKEN, &sent.token)?;
    if sent.unchanged {
        return Ok(false);
    }
    tx.execute_cached("DELETE FROM customer_cards", [])?;
    for card in &sent.cards {
        let json = serde_json::to_string(card)
            .map_err(|e| Error::Protocol(format!("customer card: {e}")))?;
        tx.execute_cached(
            "INSERT OR REPLACE INTO customer_cards (customer_id, name, card) VALUES (?1, ?2, ?3)",
            (&card.id, &card.name, json),
        )?;
    }
    Ok(true)
}

/// The token of the cards held, for the next request.
pub(crate) fn token(conn: &Connection) -> Result<Option<String>> {
    meta_get(conn, TOKEN)
}

/// Forgets every card and their token (the lease's wipe, a revoked phone, another server: the
/// cards are the server's data, and the next sync brings them whole). Returns whether there
/// were cards.
pub(crate) fn forget(conn: &Connection) -> Result<bool> {
    let cards = conn.execute_cached("DELETE FROM customer_cards", [])?;
    conn.execute_cached("DELETE FROM meta WHERE key = ?1", [TOKEN])?;
    Ok(cards > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A card as the phone stores it is pinned: a newer library reads what an older one wrote.
    #[test]
    fn the_stored_card_is_pinned() {
        let json = r#"{"id":"cus-1","merged":["cus-0"],"name":"张伟","tier":"vip",
            "phones":["138 0013 8000"],"sites":["上海市世纪大道100号"],
            "products":[{"model":"KFR-35","serial":"SN-1","install_date":null,
            "purchase_ref":"PO-7","warranty_end":1800000000000}],
            "jobs":[{"job":"job-0","kind":"repair","status":"closed","call_received_at":5,
            "completed_at":9,"engineer":"anna","site":"上海市世纪大道100号","model":"KFR-35",
            "serial":"SN-1","category":"no cooling","description":"不制冷","cause":"leak",
            "fix":"brazed","summary":"cold again","first_visit_fixed":true,"rating":5}]}"#;
        let card = decode(json).expect("decodes");
        assert_eq!(card.products[0].warranty_end, Some(1_800_000_000_000));
        assert_eq!(card.jobs[0].cause, "leak");
        let again = serde_json::to_string(&card).expect("encodes");
        assert_eq!(decode(&again).expect("again"), card);
    }
}
