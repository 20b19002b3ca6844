//! Reference knowledge on the phone: the manuals for the products on its jobs, the case library
//! and engineers' field tips, searchable offline with SQLite FTS5.
//!
//! A manual version arrives as a delta against the version the phone holds; it is stored beside
//! the old one and becomes the version shown (and searched) only when it is complete, that is
//! when every attachment's bytes are on the phone. Attachments are reference content: under the
//! storage budget they are evicted least recently used first, unlike captured media, which stays
//! until the server holds it.
//!
//! Search uses FTS5's `unicode61` tokenizer with diacritics removed. That tokenizer keeps a run
//! of Chinese (or Japanese, Korean) characters as one token, so such text is indexed with an
//! invisible separator (U+200B, which `unicode61` treats as a separator) around every CJK
//! character: each becomes a token of its own, and a query term like `安装` becomes the phrase
//! `"安 装"`, which matches those two characters next to each other anywhere in a sentence.
//! Traditional characters are indexed and searched as their Simplified forms (`fast2s`), so
//! 安裝 finds 安装 and the other way round; a snippet shows the Simplified form.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use fieldsync_protocol::automerge::Change;
use fieldsync_protocol::knowledge::{
    Attachment, Case, HeldManual, KNOWLEDGE_VERSION, KnowledgeRequest, KnowledgeResponse,
    ManualDelta, Section, Tip, TipsDoc, TipsPush,
};
use fieldsync_protocol::{Millis, now_millis};
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::CachedStatements;
use crate::error::{Error, Result};
use crate::store::{Store, hex, meta_get, meta_set};

/// The most tip changes sent for one model in one exchange (the server's limit).
const MAX_TIP_CHANGES_SENT: usize = 1_000;

/// Separates CJK characters in indexed text; `unicode61` treats it as a separator.
const CJK_SEPARATOR: char = '\u{200B}';
/// Marks the start and end of a match in FTS5 snippets (private-use characters, never in text).
const MATCH_START: char = '\u{E000}';
const MATCH_END: char = '\u{E001}';

/// What a search hit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HitKind {
    /// A section of a manual (`reference` is the section id).
    Manual,
    /// A case from a completed job (`reference` is the job id).
    Case,
    /// An engineer's field tip (`reference` is the tip id).
    Tip,
}

impl HitKind {
    fn as_str(self) -> &'static str {
        match self {
            HitKind::Manual => "manual",
            HitKind::Case => "case",
            HitKind::Tip => "tip",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "manual" => Some(HitKind::Manual),
            "case" => Some(HitKind::Case),
            "tip" => Some(HitKind::Tip),
            _ => None,
        }
    }
}

/// A piece of a snippet: matched text is highlighted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnippetPart {
    /// The text.
    pub text: String,
    /// Whether it matched the query.
    pub matched: bool,
}

/// One search result, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// What it is.
    pub kind: HitKind,
    /// The product model.
    pub model: String,
    /// The section id, job id or tip id.
    pub reference: String,
    /// Its title.
    pub title: String,
    /// A short passage around the matches.
    pub snippet: Vec<SnippetPart>,
}

/// An attachment and whether its bytes are on the phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldAttachment {
    /// The attachment.
    pub attachment: Attachment,
    /// Whether the bytes are here (they may have been evicted; fetch them again when online).
    pub held: bool,
}

/// The manual version a phone shows for a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualView {
    /// The product model.
    pub model: String,
    /// The version shown: the newest complete one.
    pub version: u32,
    /// Its title.
    pub title: String,
    /// Its sections in reading order.
    pub sections: Vec<Section>,
    /// Its attachments.
    pub attachments: Vec<HeldAttachment>,
}

/// How the phone's blob storage is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageUsage {
    /// The budget, if one is set.
    pub budget: Option<u64>,
    /// Captured media the server does not hold yet: never evicted.
    pub unsent_media: u64,
    /// Captured media the server holds.
    pub sent_media: u64,
    /// Manual attachments.
    pub reference: u64,
}

/// A knowledge request and what it sent, to acknowledge when the answer is applied.
#[derive(Debug, Clone)]
pub struct PreparedKnowledge {
    /// The request.
    pub request: KnowledgeRequest,
    sent_tips: Vec<i64>,
}

/// What applying an answer did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnowledgeApplied {
    /// Models whose manual is new or changed (complete or waiting for attachments).
    pub manuals: Vec<String>,
    /// Cases received (new or changed).
    pub cases: usize,
    /// Field tips merged from other phones.
    pub tip_changes: usize,
    /// Models whose local tips the server refused, with its reason (the server's tips replace
    /// them).
    pub refused_tips: Vec<(String, String)>,
}

fn is_cjk(c: char) -> bool {
    matches!(u32::from(c),
        0x1100..=0x11FF      // Hangul Jamo
        | 0x2E80..=0x2FDF    // CJK radicals
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x3100..=0x312F    // Bopomofo
        | 0x3130..=0x318F    // Hangul compatibility Jamo
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0x20000..=0x3FFFF) // CJK extensions B and later
}

fn is_combining_mark(c: char) -> bool {
    matches!(u32::from(c),
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// Text as it is indexed: every CJK character stands alone between separators.
pub(crate) fn index_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    for c in fast2s::convert(text).chars() {
        if is_cjk(c) {
            out.push(CJK_SEPARATOR);
            out.push(c);
            out.push(CJK_SEPARATOR);
        } else {
            out.push(c);
        }
    }
    out
}

/// Turns what the installer typed into an FTS5 query: every word must match (CJK runs as
/// phrases of single characters), the last one as a prefix while it is being typed. FTS5
/// syntax in the input has no effect. `None` when there is nothing to search for. A last word
/// of one character is matched whole (as a prefix it would match nearly everything; CJK
/// characters are whole tokens anyway).
pub fn fts_query(input: &str) -> Option<String> {
    let typing = !input.ends_with(char::is_whitespace);
    // Combining marks (text typed decomposed) are diacritics: the index has none.
    let input: String = input.chars().filter(|c| !is_combining_mark(*c)).collect();
    let words: Vec<Vec<String>> = input
        .split_whitespace()
        .map(|word| {
            index_text(word)
                .split(|c: char| c == CJK_SEPARATOR || !(c.is_alphanumeric()))
                .filter(|token| !token.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|tokens| !tokens.is_empty())
        .collect();
    let last = words.len().checked_sub(1)?;
    let terms: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, tokens)| {
            // Tokens are letters and digits only, so quoting cannot be escaped from.
            let phrase = format!("\"{}\"", tokens.join(" "));
            // A single letter just typed would match nearly every page: it waits for a second.
            let long_enough = tokens.last().is_some_and(|t| t.chars().count() >= 2);
            if i == last && typing && long_enough {
                format!("{phrase}*")
            } else {
                phrase
            }
        })
        .collect();
    Some(terms.join(" "))
}

fn snippet_parts(marked: &str) -> Vec<SnippetPart> {
    let mut parts: Vec<SnippetPart> = Vec::new();
    let mut matched = false;
    let mut current = String::new();
    // Adjacent pieces alike are one part (FTS5 marks each token of a CJK phrase on its own).
    let flush = |text: &mut String, matched: bool, parts: &mut Vec<SnippetPart>| {
        if text.is_empty() {
            return;
        }
        match parts.last_mut() {
            Some(last) if last.matched == matched => last.text.push_str(&std::mem::take(text)),
            _ => parts.push(SnippetPart {
                text: std::mem::take(text),
                matched,
            }),
        }
    };
    for c in marked.chars() {
        match c {
            MATCH_START | MATCH_END => {
                flush(&mut current, matched, &mut parts);
                matched = c == MATCH_START;
            }
            CJK_SEPARATOR => {}
            c => current.push(c),
        }
    }
    flush(&mut current, matched, &mut parts);
    parts
}

fn unseparated(text: String) -> String {
    text.replace(CJK_SEPARATOR, "")
}

impl Store {
    /// Searches manuals, cases and tips on the phone, best match first (BM25, titles weigh four
    /// times the text: the index's configured rank). Works offline. An empty query finds
    /// nothing.
    pub fn search(&self, query: &str, limit: u32) -> Result<Vec<SearchHit>> {
        let Some(fts) = fts_query(query) else {
            return Ok(Vec::new());
        };
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT kind, reference, model, title,
               snippet(knowledge_fts, 1, char(57344), char(57345), '…', 16)
             FROM knowledge_fts WHERE knowledge_fts MATCH ?1 ORDER BY rank LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![fts, limit], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
            ))
        })?;
        let mut hits = Vec::new();
        for row in rows {
            let (kind, reference, model, title, snippet) = row?;
            let Some(kind) = HitKind::parse(&kind) else {
                continue;
            };
            hits.push(SearchHit {
                kind,
                model,
                reference,
                title: unseparated(title),
                snippet: snippet_parts(&snippet),
            });
        }
        Ok(hits)
    }

    /// The manual the phone shows for `model`: the newest complete version. Marks its
    /// attachments as used (they are evicted last).
    pub fn manual(&self, model: &str) -> Result<Option<ManualView>> {
        let conn = self.conn();
        let Some((version, title)) = shown_version(&conn, model)? else {
            return Ok(None);
        };
        let sections = sections_of(&conn, model, version)?;
        let mut stmt = conn.prepare_cached(
            "SELECT a.sha256, a.name, a.mime, a.size, b.sha256 IS NOT NULL
             FROM manual_attachments a LEFT JOIN blobs b USING (sha256)
             WHERE a.model = ?1 AND a.version = ?2 ORDER BY a.position",
        )?;
        let attachments = stmt
            .query_map(params![model, version], |row| {
                Ok(HeldAttachment {
                    attachment: Attachment {
                        sha256: row.get(0)?,
                        name: row.get(1)?,
                        mime: row.get(2)?,
                        size: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
                    },
                    held: row.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        conn.execute_cached(
            "UPDATE blob_state SET last_used = ?3 WHERE sha256 IN
               (SELECT sha256 FROM manual_attachments WHERE model = ?1 AND version = ?2)",
            params![model, version, now_millis()],
        )?;
        Ok(Some(ManualView {
            model: model.to_owned(),
            version,
            title,
            sections,
            attachments,
        }))
    }

    /// The models the phone shows a manual for, with the version shown.
    pub fn manual_versions(&self) -> Result<Vec<HeldManual>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT model, MAX(version) FROM manuals WHERE complete = 1 GROUP BY model ORDER BY model",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(HeldManual {
                model: row.get(0)?,
                version: row.get(1)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The cases on the phone for a model, newest first.
    pub fn cases(&self, model: &str) -> Result<Vec<Case>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT job_id, model, symptom, cause, fix, completed_at, engineer, cursor
             FROM cases WHERE model = ?1 ORDER BY completed_at DESC",
        )?;
        let rows = stmt.query_map([model], |row| {
            Ok(Case {
                job_id: row.get(0)?,
                model: row.get(1)?,
                symptom: row.get(2)?,
                cause: row.get(3)?,
                fix: row.get(4)?,
                completed_at: row.get(5)?,
                engineer: row.get(6)?,
                cursor: u64::try_from(row.get::<_, i64>(7)?).unwrap_or(0),
                removed: false,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The field tips on the phone for a model, oldest first.
    pub fn tips(&self, model: &str) -> Result<Vec<Tip>> {
        let conn = self.conn();
        Ok(load_tips(&conn, model)?.tips())
    }

    /// Adds a field tip for a product model. Works offline: the tip is durable on the phone
    /// and searchable at once, and reaches other phones with the next knowledge exchange.
    pub fn add_tip(&self, model: &str, text: &str) -> Result<Tip> {
        fieldsync_protocol::knowledge::check_model(model)?;
        let tip = Tip {
            id: uuid::Uuid::new_v4().simple().to_string(),
            text: text.trim().to_owned(),
            by: self.identity().user_id.clone(),
            at: now_millis(),
        };
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // A loaded document writes with a random actor of its own: a model's tips document may
        // be dropped and started again, and sequence numbers must never repeat under one actor.
        let mut doc = load_tips(&tx, model)?;
        let before = doc.0.get_heads();
        doc.add(&tip)?;
        for change in doc.0.get_changes(&before) {
            tx.execute_cached(
                "INSERT INTO tip_outbox (model, change) VALUES (?1, ?2)",
                params![model, change.raw_bytes()],
            )?;
        }
        save_tips(&tx, model, &mut doc)?;
        reindex(&tx, model)?;
        tx.commit()?;
        Ok(tip)
    }

    /// Sets the budget for blob storage in bytes (`None`: no budget) and evicts at once.
    pub fn set_storage_budget(&self, budget: Option<u64>) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        match budget {
            Some(bytes) => meta_set(&tx, "storage_budget", &bytes.to_string())?,
            None => {
                tx.execute_cached("DELETE FROM meta WHERE key = 'storage_budget'", [])?;
            }
        }
        enforce_budget(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// How the blob storage is used.
    pub fn storage_usage(&self) -> Result<StorageUsage> {
        let conn = self.conn();
        let (unsent, sent, reference) = conn.query_row_cached(
            "SELECT
               COALESCE(SUM(CASE WHEN kind = 'captured' AND uploaded = 0 THEN size END), 0),
               COALESCE(SUM(CASE WHEN kind = 'captured' AND uploaded = 1 THEN size END), 0),
               COALESCE(SUM(CASE WHEN kind = 'reference' THEN size END), 0)
             FROM blob_state",
            [],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            },
        )?;
        let size = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(StorageUsage {
            budget: budget(&conn)?,
            unsent_media: size(unsent),
            sent_media: size(sent),
            reference: size(reference),
        })
    }

    /// The next knowledge request: the manuals held complete, the case cursors, and the field
    /// tips (unsent local changes and the heads held).
    pub fn prepare_knowledge(&self) -> Result<PreparedKnowledge> {
        let manuals = self.manual_versions()?;
        let conn = self.conn();
        let mut cases_since = BTreeMap::new();
        let mut stmt = conn.prepare_cached("SELECT model, cursor FROM case_cursors")?;
        for row in stmt.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })? {
            let (model, cursor) = row?;
            cases_since.insert(model, u64::try_from(cursor).unwrap_or(0));
        }
        let mut pending: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut sent_tips = Vec::new();
        let mut stmt =
            conn.prepare_cached("SELECT id, model, change FROM tip_outbox ORDER BY id")?;
        for row in stmt.query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Vec<u8>>(2)?,
            ))
        })? {
            let (id, model, change) = row?;
            let queued = pending.entry(model).or_default();
            // The server takes at most this many per model at once; the rest go next time.
            if queued.len() >= MAX_TIP_CHANGES_SENT {
                continue;
            }
            sent_tips.push(id);
            queued.push(BASE64.encode(change));
        }
        let mut stmt = conn.prepare_cached("SELECT model FROM tips_docs ORDER BY model")?;
        let models: Vec<String> = stmt
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut tips = Vec::new();
        for model in models.iter().chain(pending.keys()).collect::<BTreeSet<_>>() {
            let mut doc = load_tips(&conn, model)?;
            tips.push(TipsPush {
                model: model.clone(),
                heads: doc.0.get_heads().iter().map(ToString::to_string).collect(),
                changes: pending.get(model).cloned().unwrap_or_default(),
            });
        }
        Ok(PreparedKnowledge {
            request: KnowledgeRequest {
                v: KNOWLEDGE_VERSION,
                manuals,
                cases_since,
                tips,
            },
            sent_tips,
        })
    }

    /// Applies the server's answer in one transaction: new manual versions (complete at once
    /// when every attachment is held, else waiting for [`Store::put_reference_blob`]), cases,
    /// merged tips; knowledge for models no longer on the phone's jobs goes (unsent tips stay).
    pub fn apply_knowledge(
        &self,
        prepared: &PreparedKnowledge,
        response: &KnowledgeResponse,
    ) -> Result<KnowledgeApplied> {
        if response.v != KNOWLEDGE_VERSION {
            return Err(Error::Protocol(format!(
                "knowledge answer version {} (this app reads {KNOWLEDGE_VERSION})",
                response.v
            )));
        }
        let now = now_millis();
        let mut applied = KnowledgeApplied::default();
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut touched: BTreeSet<String> = BTreeSet::new();
        for id in &prepared.sent_tips {
            tx.execute_cached("DELETE FROM tip_outbox WHERE id = ?1", [id])?;
        }
        for delta in &response.manuals {
            install_delta(&tx, delta, now)?;
            applied.manuals.push(delta.model.clone());
            touched.insert(delta.model.clone());
        }
        for case in &response.cases {
            if case.removed {
                tx.execute_cached("DELETE FROM cases WHERE job_id = ?1", [&case.job_id])?;
            } else {
                tx.execute_cached(
                    "INSERT INTO cases (job_id, model, symptom, cause, fix, completed_at, engineer, cursor)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (job_id) DO UPDATE SET model = excluded.model, symptom = excluded.symptom,
                       cause = excluded.cause, fix = excluded.fix, completed_at = excluded.completed_at,
                       engineer = excluded.engineer, cursor = excluded.cursor",
                    params![
                        case.job_id,
                        case.model,
                        case.symptom,
                        case.cause,
                        case.fix,
                        case.completed_at,
                        case.engineer,
                        i64::try_from(case.cursor).unwrap_or(i64::MAX)
                    ],
                )?;
                applied.cases += 1;
            }
            tx.execute_cached(
                "INSERT INTO case_cursors (model, cursor) VALUES (?1, ?2)
                 ON CONFLICT (model) DO UPDATE SET cursor = MAX(cursor, excluded.cursor)",
                params![case.model, i64::try_from(case.cursor).unwrap_or(i64::MAX)],
            )?;
            touched.insert(case.model.clone());
        }
        for answer in &response.tips {
            let refused = answer.refused.as_ref().zip(answer.doc.as_ref());
            // A removed model's tips go with it (its sent tips are on the server), unless some
            // were refused: those are re-queued.
            let removed = response.removed_models.contains(&answer.model);
            if refused.is_none() && (removed || answer.changes.is_empty()) {
                continue;
            }
            let mut doc = if let Some((reason, server_doc)) = refused {
                applied
                    .refused_tips
                    .push((answer.model.clone(), reason.clone()));
                self.readd_own_tips(&tx, &answer.model, TipsDoc::load(&decode(server_doc)?)?)?
            } else {
                load_tips(&tx, &answer.model)?
            };
            let changes = answer
                .changes
                .iter()
                .map(|text| {
                    Change::from_bytes(decode(text)?)
                        .map_err(|e| Error::Protocol(format!("a tip change does not decode: {e}")))
                })
                .collect::<Result<Vec<_>>>()?;
            applied.tip_changes += changes.len();
            doc.0
                .apply_changes(changes)
                .map_err(|e| Error::Protocol(format!("tip changes do not apply: {e}")))?;
            save_tips(&tx, &answer.model, &mut doc)?;
            touched.insert(answer.model.clone());
        }
        // After the tips: a refused tip of a removed model was re-queued above, and a model
        // with queued tips keeps them.
        for model in &response.removed_models {
            forget_model(&tx, model)?;
            touched.insert(model.clone());
        }
        for model in &touched {
            reindex(&tx, model)?;
        }
        tx.commit()?;
        Ok(applied)
    }

    /// After a refusal: the server's tips document replaces the phone's, and this user's own
    /// well-formed tips the server lacks (including any written while the exchange was under
    /// way) are added to it again as new changes, queued to be sent. Nothing the installer
    /// wrote is lost to someone else's bad change.
    fn readd_own_tips(
        &self,
        tx: &Transaction<'_>,
        model: &str,
        mut server: TipsDoc,
    ) -> Result<TipsDoc> {
        let local = load_tips(tx, model)?;
        tx.execute_cached("DELETE FROM tip_outbox WHERE model = ?1", [model])?;
        let held: BTreeSet<String> = server.tips().into_iter().map(|t| t.id).collect();
        let before = server.0.get_heads();
        let user = &self.identity().user_id;
        for tip in local.tips() {
            let valid = fieldsync_protocol::knowledge::check_tip_text(&tip.text).is_ok();
            if &tip.by == user && valid && !held.contains(&tip.id) {
                server.add(&tip)?;
            }
        }
        for change in server.0.get_changes(&before) {
            tx.execute_cached(
                "INSERT INTO tip_outbox (model, change) VALUES (?1, ?2)",
                params![model, change.raw_bytes()],
            )?;
        }
        Ok(server)
    }

    /// Attachments the phone must fetch to complete a manual version it is waiting for.
    pub fn missing_attachments(&self) -> Result<Vec<Attachment>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT a.sha256, a.name, a.mime, a.size FROM manual_attachments a
             JOIN manuals m USING (model, version)
             WHERE m.complete = 0 AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = a.sha256)
             ORDER BY a.model, a.position",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(Attachment {
                sha256: row.get(0)?,
                name: row.get(1)?,
                mime: row.get(2)?,
                size: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Stores a manual attachment's bytes (checked against its hash) and completes the manual
    /// versions that were waiting only for it; then keeps to the storage budget.
    pub fn put_reference_blob(&self, attachment: &Attachment, bytes: &[u8]) -> Result<()> {
        let actual = hex(&Sha256::digest(bytes));
        if actual != attachment.sha256 {
            return Err(Error::Protocol(format!(
                "attachment `{}` hashes to {actual}, not {}",
                attachment.name, attachment.sha256
            )));
        }
        let now = now_millis();
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_cached(
            "INSERT INTO blobs (sha256, mime, bytes, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (sha256) DO NOTHING",
            params![attachment.sha256, attachment.mime, bytes, now],
        )?;
        tx.execute_cached(
            "INSERT INTO blob_state (sha256, kind, size, last_used) VALUES (?1, 'reference', ?2, ?3)
             ON CONFLICT (sha256) DO NOTHING",
            params![attachment.sha256, i64::try_from(bytes.len()).unwrap_or(i64::MAX), now],
        )?;
        let mut stmt = tx.prepare_cached(
            "SELECT model, version FROM manuals m WHERE complete = 0 AND NOT EXISTS
               (SELECT 1 FROM manual_attachments a WHERE a.model = m.model AND a.version = m.version
                  AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = a.sha256))",
        )?;
        let ready: Vec<(String, u32)> = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        drop(stmt);
        for (model, version) in ready {
            complete_version(&tx, &model, version)?;
            reindex(&tx, &model)?;
        }
        enforce_budget(&tx)?;
        tx.commit()?;
        Ok(())
    }
}

fn decode(text: &str) -> Result<Vec<u8>> {
    BASE64
        .decode(text)
        .map_err(|e| Error::Protocol(format!("not base64: {e}")))
}

fn shown_version(conn: &rusqlite::Connection, model: &str) -> Result<Option<(u32, String)>> {
    Ok(conn
        .query_row_cached(
            "SELECT version, title FROM manuals WHERE model = ?1 AND complete = 1
             ORDER BY version DESC LIMIT 1",
            [model],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?)
}

fn sections_of(conn: &rusqlite::Connection, model: &str, version: u32) -> Result<Vec<Section>> {
    let mut stmt = conn.prepare_cached(
        "SELECT section_id, title, body FROM manual_sections
         WHERE model = ?1 AND version = ?2 ORDER BY position",
    )?;
    let rows = stmt.query_map(params![model, version], |row| {
        Ok(Section {
            id: row.get(0)?,
            title: row.get(1)?,
            body: row.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Stores a new manual version from a delta: unchanged sections are copied from the version
/// the delta is based on. It is complete (shown) at once when every attachment is held.
fn install_delta(tx: &Transaction<'_>, delta: &ManualDelta, now: Millis) -> Result<()> {
    let base: BTreeMap<String, Section> = match delta.base_version {
        Some(base) => sections_of(tx, &delta.model, base)?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect(),
        None => BTreeMap::new(),
    };
    let changed: BTreeMap<&str, &Section> =
        delta.sections.iter().map(|s| (s.id.as_str(), s)).collect();
    // A half-installed copy of the same version (from an earlier answer) is replaced.
    drop_version(tx, &delta.model, delta.version)?;
    tx.execute_cached(
        "INSERT INTO manuals (model, version, title, complete, installed_at) VALUES (?1, ?2, ?3, 0, ?4)",
        params![delta.model, delta.version, delta.title, now],
    )?;
    for (position, id) in delta.section_order.iter().enumerate() {
        let section = changed
            .get(id.as_str())
            .copied()
            .or_else(|| base.get(id))
            .ok_or_else(|| {
                Error::Protocol(format!(
                    "manual {} v{} lists section `{id}`, which is neither sent nor held",
                    delta.model, delta.version
                ))
            })?;
        tx.execute_cached(
            "INSERT INTO manual_sections (model, version, position, section_id, title, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                delta.model,
                delta.version,
                i64::try_from(position).unwrap_or(i64::MAX),
                section.id,
                section.title,
                section.body
            ],
        )?;
    }
    for (position, attachment) in delta.attachments.iter().enumerate() {
        tx.execute_cached(
            "INSERT INTO manual_attachments (model, version, position, sha256, name, mime, size)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                delta.model,
                delta.version,
                i64::try_from(position).unwrap_or(i64::MAX),
                attachment.sha256,
                attachment.name,
                attachment.mime,
                i64::try_from(attachment.size).unwrap_or(i64::MAX)
            ],
        )?;
    }
    let missing: bool = tx.query_row_cached(
        "SELECT EXISTS (SELECT 1 FROM manual_attachments a WHERE a.model = ?1 AND a.version = ?2
           AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = a.sha256))",
        params![delta.model, delta.version],
        |row| row.get(0),
    )?;
    if !missing {
        complete_version(tx, &delta.model, delta.version)?;
    }
    Ok(())
}

/// Makes a version the one shown and drops the older ones (the caller reindexes the model).
fn complete_version(tx: &Transaction<'_>, model: &str, version: u32) -> Result<()> {
    tx.execute_cached(
        "UPDATE manuals SET complete = 1 WHERE model = ?1 AND version = ?2",
        params![model, version],
    )?;
    let mut stmt =
        tx.prepare_cached("SELECT version FROM manuals WHERE model = ?1 AND version < ?2")?;
    let older: Vec<u32> = stmt
        .query_map(params![model, version], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    drop(stmt);
    for old in older {
        drop_version(tx, model, old)?;
    }
    drop_unreferenced_attachments(tx)
}

fn drop_version(tx: &Transaction<'_>, model: &str, version: u32) -> Result<()> {
    for table in ["manual_sections", "manual_attachments", "manuals"] {
        tx.execute_cached(
            &format!("DELETE FROM {table} WHERE model = ?1 AND version = ?2"),
            params![model, version],
        )?;
    }
    Ok(())
}

fn drop_unreferenced_attachments(tx: &Transaction<'_>) -> Result<()> {
    tx.execute_cached(
        "DELETE FROM blobs WHERE sha256 IN (SELECT sha256 FROM blob_state WHERE kind = 'reference')
           AND NOT EXISTS (SELECT 1 FROM manual_attachments a WHERE a.sha256 = blobs.sha256)
           AND NOT EXISTS (SELECT 1 FROM job_blobs j WHERE j.sha256 = blobs.sha256)",
        [],
    )?;
    Ok(())
}

/// Drops a model's manuals, cases and tips (its unsent tips stay, and with them its tips).
fn forget_model(tx: &Transaction<'_>, model: &str) -> Result<()> {
    for table in [
        "manual_sections",
        "manual_attachments",
        "manuals",
        "cases",
        "case_cursors",
    ] {
        tx.execute_cached(&format!("DELETE FROM {table} WHERE model = ?1"), [model])?;
    }
    tx.execute_cached(
        "DELETE FROM tips_docs WHERE model = ?1
           AND NOT EXISTS (SELECT 1 FROM tip_outbox WHERE model = ?1)",
        [model],
    )?;
    drop_unreferenced_attachments(tx)
}

fn load_tips(conn: &rusqlite::Connection, model: &str) -> Result<TipsDoc> {
    let saved: Option<Vec<u8>> = conn
        .query_row_cached(
            "SELECT doc FROM tips_docs WHERE model = ?1",
            [model],
            |row| row.get(0),
        )
        .optional()?;
    Ok(match saved {
        Some(bytes) => TipsDoc::load(&bytes)?,
        None => TipsDoc::default(),
    })
}

fn save_tips(tx: &Transaction<'_>, model: &str, doc: &mut TipsDoc) -> Result<()> {
    tx.execute_cached(
        "INSERT INTO tips_docs (model, doc) VALUES (?1, ?2)
         ON CONFLICT (model) DO UPDATE SET doc = excluded.doc",
        params![model, doc.0.save()],
    )?;
    Ok(())
}

/// What the search index is built with; a store indexed otherwise is indexed again when opened.
const SEARCH_INDEX: &str = "traditional-folded";

/// Indexes every model again if the index was built by an earlier version (before Traditional
/// characters were folded to Simplified ones).
pub(crate) fn refresh_search_index(tx: &Transaction<'_>) -> Result<()> {
    if meta_get(tx, "search_index")?.as_deref() == Some(SEARCH_INDEX) {
        return Ok(());
    }
    let models: Vec<String> = tx
        .prepare("SELECT DISTINCT model FROM knowledge_fts")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for model in models {
        reindex(tx, &model)?;
    }
    meta_set(tx, "search_index", SEARCH_INDEX)
}

/// Rebuilds a model's rows in the search index from the shown manual, its cases and tips.
pub(crate) fn reindex(tx: &Transaction<'_>, model: &str) -> Result<()> {
    tx.execute_cached("DELETE FROM knowledge_fts WHERE model = ?1", [model])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO knowledge_fts (title, body, kind, reference, model) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut add = |title: &str, body: &str, kind: HitKind, reference: &str| {
        insert.execute(params![
            index_text(title),
            index_text(body),
            kind.as_str(),
            reference,
            model
        ])
    };
    if let Some((version, manual_title)) = shown_version(tx, model)? {
        for section in sections_of(tx, model, version)? {
            add(
                &format!("{manual_title} · {}", section.title),
                &section.body,
                HitKind::Manual,
                &section.id,
            )?;
        }
    }
    let mut stmt =
        tx.prepare_cached("SELECT job_id, symptom, cause, fix FROM cases WHERE model = ?1")?;
    let cases: Vec<(String, String, String, String)> = stmt
        .query_map([model], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (job_id, symptom, cause, fix) in cases {
        add(
            &symptom,
            &format!("Cause: {cause}\nFix: {fix}"),
            HitKind::Case,
            &job_id,
        )?;
    }
    for tip in load_tips(tx, model)?.tips() {
        add(
            &format!("Tip by {}", tip.by),
            &tip.text,
            HitKind::Tip,
            &tip.id,
        )?;
    }
    Ok(())
}

fn budget(conn: &rusqlite::Connection) -> Result<Option<u64>> {
    Ok(meta_get(conn, "storage_budget")?.and_then(|v| v.parse().ok()))
}

/// Evicts blobs, least recently used first, until the store is within its budget. Only
/// reference content and media the server holds are evicted; captured media not yet uploaded
/// and attachments a waiting manual version needs never are.
pub(crate) fn enforce_budget(tx: &Transaction<'_>) -> Result<()> {
    let Some(budget) = budget(tx)? else {
        return Ok(());
    };
    let mut used: u64 =
        tx.query_row_cached("SELECT COALESCE(SUM(size), 0) FROM blob_state", [], |row| {
            row.get::<_, i64>(0).map(|v| u64::try_from(v).unwrap_or(0))
        })?;
    if used <= budget {
        return Ok(());
    }
    let mut stmt = tx.prepare_cached(
        "SELECT sha256, size FROM blob_state
         WHERE (kind = 'reference' OR uploaded = 1)
           AND NOT EXISTS (SELECT 1 FROM manual_attachments a JOIN manuals m USING (model, version)
                           WHERE a.sha256 = blob_state.sha256 AND m.complete = 0)
         ORDER BY last_used, sha256",
    )?;
    let candidates: Vec<(String, i64)> = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    drop(stmt);
    for (sha256, size) in candidates {
        if used <= budget {
            break;
        }
        tx.execute_cached("DELETE FROM job_blobs WHERE sha256 = ?1", [&sha256])?;
        tx.execute_cached("DELETE FROM blobs WHERE sha256 = ?1", [&sha256])?;
        used = used.saturating_sub(u64::try_from(size).unwrap_or(0));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_indexed_by_an_earlier_version_is_indexed_again_when_opened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("phone.sqlite3");
        let store = Store::open(&path, "anna").expect("open");
        let index = |store: &Store| meta_get(&store.conn(), "search_index").expect("meta");
        assert_eq!(index(&store).as_deref(), Some(SEARCH_INDEX));
        // An index built before folding: a row whose model has nothing left to index.
        store
            .conn()
            .execute_batch(
                "DELETE FROM meta WHERE key = 'search_index';
                 INSERT INTO knowledge_fts (title, body, kind, reference, model)
                   VALUES ('安裝', '', 'manual', 'x', 'OLD-1');",
            )
            .expect("tamper");
        drop(store);
        let store = Store::open(&path, "anna").expect("reopen");
        assert_eq!(index(&store).as_deref(), Some(SEARCH_INDEX));
        let rows: i64 = store
            .conn()
            .query_row_cached("SELECT COUNT(*) FROM knowledge_fts", [], |row| row.get(0))
            .expect("count");
        assert_eq!(
            rows, 0,
            "the model was indexed again from what the phone holds"
        );
    }

    #[test]
    fn traditional_and_simplified_characters_are_indexed_alike() {
        assert_eq!(index_text("安裝說明"), index_text("安装说明"));
        assert_eq!(fts_query("電源"), fts_query("电源"));
        // Latin text is left as it is.
        assert_eq!(index_text("Vérifier E7"), "Vérifier E7");
    }

    #[test]
    fn cjk_characters_are_indexed_one_by_one() {
        assert_eq!(
            index_text("安装ab"),
            "\u{200B}安\u{200B}\u{200B}装\u{200B}ab"
        );
        assert_eq!(index_text("valve"), "valve");
    }

    #[test]
    fn queries_are_phrases_and_the_last_word_a_prefix() {
        assert_eq!(fts_query("安装").as_deref(), Some("\"安 装\""));
        assert_eq!(fts_query("t").as_deref(), Some("\"t\""));
        assert_eq!(fts_query("th").as_deref(), Some("\"th\"*"));
        assert_eq!(
            fts_query("reset valv").as_deref(),
            Some("\"reset\" \"valv\"*")
        );
        assert_eq!(fts_query("reset ").as_deref(), Some("\"reset\""));
        // FTS5 syntax is just text.
        assert_eq!(
            fts_query("a\" OR b*").as_deref(),
            Some("\"a\" \"OR\" \"b\"")
        );
        assert_eq!(fts_query("  "), None);
        // Typed decomposed (e + combining acute), a word stays one word.
        assert_eq!(
            fts_query("se\u{301}curite\u{301} ").as_deref(),
            Some("\"securite\"")
        );
        assert_eq!(fts_query("*\"()"), None);
    }

    #[test]
    fn snippets_split_into_highlighted_parts() {
        let parts = snippet_parts("the \u{E000}安\u{E001}\u{200B}\u{200B}\u{E000}装\u{E001} step");
        assert_eq!(
            parts,
            vec![
                SnippetPart {
                    text: "the ".into(),
                    matched: false
                },
                SnippetPart {
                    text: "安装".into(),
                    matched: true
                },
                SnippetPart {
                    text: " step".into(),
                    matched: false
                },
            ]
        );
    }
}
