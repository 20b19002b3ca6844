//! Reference knowledge and media: product manuals, the case library, engineers' field tips and
//! the resumable blob upload. These are the JSON shapes of `docs/knowledge-and-media.md`; both the
//! phone and the server read and write them through these types, and a test pins them.
//!
//! Manuals are versioned per product model. A phone that holds version `n` is sent only what
//! changed in the latest version ([`manual_delta`]): every section whose id, title or body
//! differs and the attachments it does not hold yet, plus the new section order, so it can
//! rebuild the new version from the old one.

use std::collections::{BTreeMap, BTreeSet};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ReadDoc, ScalarValue, Value};
use serde::{Deserialize, Serialize};

use crate::{Millis, SchemaError};

/// The version of the knowledge messages (`v` in [`KnowledgeRequest`] and
/// [`KnowledgeResponse`]).
pub const KNOWLEDGE_VERSION: u32 = 1;
/// The largest blob (photo, signature, report, manual attachment) the server accepts.
pub const MAX_BLOB_BYTES: u64 = 64 << 20;
/// The most sections a manual may have.
pub const MAX_SECTIONS: usize = 5_000;
/// The longest section body, in bytes.
pub const MAX_SECTION_BYTES: usize = 1 << 20;
/// The most attachments a manual may have.
pub const MAX_ATTACHMENTS: usize = 500;
/// The longest field tip, in characters.
pub const MAX_TIP_CHARS: usize = 2_000;

/// One section of a manual: the unit a new version is sent in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Section {
    /// Stable id within the manual (`a-z`, `0-9`, `-`): the same section keeps its id across
    /// versions, which is what makes deltas small.
    pub id: String,
    /// The heading.
    pub title: String,
    /// The text, Markdown or HTML.
    pub body: String,
}

/// A file that belongs to a manual: an image or a PDF, stored as a blob by its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    /// The blob's SHA-256, 64 lower-case hex digits.
    pub sha256: String,
    /// The file name sections refer to it by.
    pub name: String,
    /// Its MIME type.
    pub mime: String,
    /// Its size in bytes (filled in by the server from the blob it holds).
    #[serde(default)]
    pub size: u64,
}

/// A manual version as the office publishes it (`POST /v1/manuals`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ManualInput {
    /// The product model it documents, as jobs name it (`Product::model`).
    pub model: String,
    /// Its version: greater than every version published before for the model.
    pub version: u32,
    /// The manual's title.
    pub title: String,
    /// The sections, in reading order.
    #[serde(default)]
    pub sections: Vec<Section>,
    /// Images and PDFs, uploaded before as blobs.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// A published manual version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Manual {
    /// The product model.
    pub model: String,
    /// The version.
    pub version: u32,
    /// The title.
    pub title: String,
    /// When it was published (server clock).
    pub published_at: Millis,
    /// Who published it.
    pub published_by: String,
    /// The sections, in reading order.
    pub sections: Vec<Section>,
    /// The attachments.
    pub attachments: Vec<Attachment>,
}

/// A manual version in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ManualSummary {
    /// The product model.
    pub model: String,
    /// The version.
    pub version: u32,
    /// The title.
    pub title: String,
    /// When it was published.
    pub published_at: Millis,
    /// Who published it.
    pub published_by: String,
    /// How many sections it has.
    pub sections: u64,
    /// How many attachments it has.
    pub attachments: u64,
}

/// A manual version a phone holds complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldManual {
    /// The product model.
    pub model: String,
    /// The version.
    pub version: u32,
}

/// What a phone sends to `POST /v1/knowledge`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KnowledgeRequest {
    /// [`KNOWLEDGE_VERSION`].
    pub v: u32,
    /// The complete manual versions it holds.
    #[serde(default)]
    pub manuals: Vec<HeldManual>,
    /// Per model, the case cursor it has read up to (absent: none yet).
    #[serde(default)]
    pub cases_since: BTreeMap<String, u64>,
    /// Its field tips: local changes and what it holds.
    #[serde(default)]
    pub tips: Vec<TipsPush>,
}

/// A phone's field tips for one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TipsPush {
    /// The product model.
    pub model: String,
    /// The heads of its tips document (hex change hashes).
    pub heads: Vec<String>,
    /// Its changes the server has not acknowledged (Automerge change bytes, base64).
    pub changes: Vec<String>,
}

/// What a phone should hold of a model's latest manual, relative to the version it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ManualDelta {
    /// The product model.
    pub model: String,
    /// The latest version.
    pub version: u32,
    /// Its title.
    pub title: String,
    /// The version the delta applies to (`None`: the whole manual is in `sections`).
    pub base_version: Option<u32>,
    /// Every section id of the latest version, in reading order.
    pub section_order: Vec<String>,
    /// The sections that are new or changed since `base_version`.
    pub sections: Vec<Section>,
    /// Every attachment of the latest version (the phone fetches those it lacks).
    pub attachments: Vec<Attachment>,
}

/// A completed job's diagnosis: searchable by installers working on the same model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Case {
    /// The job it came from.
    pub job_id: String,
    /// The product model.
    pub model: String,
    /// What the customer reported (the problem description).
    pub symptom: String,
    /// What the engineer found.
    pub cause: String,
    /// What fixed it.
    pub fix: String,
    /// When the job was completed.
    pub completed_at: Millis,
    /// Who fixed it.
    pub engineer: String,
    /// Its position in the case library (grows with every new, changed or removed case).
    pub cursor: u64,
    /// The job is no longer a case (it was reopened, or its cause or fix cleared): a phone
    /// deletes it.
    #[serde(default)]
    pub removed: bool,
}

/// The server's answer for one model's field tips.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TipsAnswer {
    /// The product model.
    pub model: String,
    /// Changes the phone lacks (base64).
    pub changes: Vec<String>,
    /// Why the phone's changes were refused, if they were.
    pub refused: Option<String>,
    /// When refused: the server's whole document (base64), which replaces the phone's.
    pub doc: Option<String>,
}

/// The server's answer to a [`KnowledgeRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KnowledgeResponse {
    /// [`KNOWLEDGE_VERSION`].
    pub v: u32,
    /// The product models on the phone's open jobs: what it should hold knowledge for.
    pub models: Vec<String>,
    /// Manuals newer than the phone's (or new to it).
    pub manuals: Vec<ManualDelta>,
    /// Models the phone holds knowledge for (a manual, cases or tips) but no longer needs.
    pub removed_models: Vec<String>,
    /// New or changed cases for those models.
    pub cases: Vec<Case>,
    /// Field tips per model.
    pub tips: Vec<TipsAnswer>,
    /// More cases are waiting: the phone exchanges again (with its new cursors) to get them.
    #[serde(default)]
    pub more: bool,
}

/// How much of a blob the server holds (`GET /v1/blobs/{sha256}/upload`, `PUT /v1/blobs/{sha256}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadStatus {
    /// The blob's SHA-256.
    pub sha256: String,
    /// Its total size, when known (0 before the first part arrived).
    pub size: u64,
    /// How many bytes, from the start, the server holds.
    pub received: u64,
    /// Whether the server holds the whole blob, verified against its hash.
    pub complete: bool,
}

fn invalid(field: &'static str, value: impl Into<String>) -> SchemaError {
    SchemaError::InvalidValue {
        field,
        value: value.into(),
    }
}

/// Checks a section id: 1 to 100 of `a-z`, `0-9` and `-`.
pub fn check_section_id(id: &str) -> Result<(), SchemaError> {
    let valid = !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(invalid(
            "section id",
            format!("`{id}` (1 to 100 of a-z, 0-9 and -)"),
        ))
    }
}

/// Checks a MIME type: `type/subtype`, printable ASCII, at most 100 characters.
pub fn check_mime(mime: &str) -> Result<(), SchemaError> {
    let valid = mime.len() <= 100
        && mime.split_once('/').is_some_and(|(kind, sub)| {
            !kind.is_empty()
                && !sub.is_empty()
                && mime
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        });
    if valid {
        Ok(())
    } else {
        Err(invalid("mime", format!("`{mime}` is not a MIME type")))
    }
}

/// Checks a product model name: 1 to 100 characters, no control characters.
pub fn check_model(model: &str) -> Result<(), SchemaError> {
    if model.trim().is_empty() || model.chars().count() > 100 || model.chars().any(char::is_control)
    {
        return Err(invalid(
            "model",
            format!("`{model}` (1 to 100 characters, no control characters)"),
        ));
    }
    Ok(())
}

/// Checks a manual before it is published: the model, a version of at least 1, a title, at
/// least one section or attachment, unique well-formed section ids, bounded sizes, well-formed
/// attachment hashes and types. Each error names the field.
pub fn validate_manual(input: &ManualInput) -> Result<(), SchemaError> {
    check_model(&input.model)?;
    if input.version == 0 {
        return Err(invalid("version", "0 (versions start at 1)"));
    }
    if input.title.trim().is_empty() || input.title.chars().count() > 200 {
        return Err(invalid(
            "title",
            "a manual needs a title of 1 to 200 characters",
        ));
    }
    if input.sections.is_empty() && input.attachments.is_empty() {
        return Err(invalid(
            "sections",
            "a manual needs at least one section or attachment",
        ));
    }
    if input.sections.len() > MAX_SECTIONS {
        return Err(invalid(
            "sections",
            format!("{} sections (at most {MAX_SECTIONS})", input.sections.len()),
        ));
    }
    let mut ids = BTreeSet::new();
    for section in &input.sections {
        check_section_id(&section.id)?;
        if !ids.insert(section.id.as_str()) {
            return Err(invalid(
                "section id",
                format!("`{}` appears twice", section.id),
            ));
        }
        if section.body.len() > MAX_SECTION_BYTES || section.title.chars().count() > 200 {
            return Err(invalid(
                "sections",
                format!(
                    "section `{}` is too long (title at most 200 characters, body at most {MAX_SECTION_BYTES} bytes)",
                    section.id
                ),
            ));
        }
    }
    if input.attachments.len() > MAX_ATTACHMENTS {
        return Err(invalid(
            "attachments",
            format!(
                "{} attachments (at most {MAX_ATTACHMENTS})",
                input.attachments.len()
            ),
        ));
    }
    let mut names = BTreeSet::new();
    for attachment in &input.attachments {
        crate::rules::check_sha256(&attachment.sha256)?;
        check_mime(&attachment.mime)?;
        if attachment.name.trim().is_empty() || attachment.name.chars().count() > 200 {
            return Err(invalid("attachment name", attachment.name.clone()));
        }
        if !names.insert(attachment.name.as_str()) {
            return Err(invalid(
                "attachment name",
                format!("`{}` appears twice", attachment.name),
            ));
        }
    }
    Ok(())
}

/// What a phone holding `base` needs to rebuild `latest`: the sections that are new or differ.
/// Attachments are always listed whole (they are references; the phone fetches the blobs it
/// lacks).
pub fn manual_delta(base: Option<&Manual>, latest: &Manual) -> ManualDelta {
    let held: BTreeMap<&str, &Section> = base
        .map(|m| m.sections.iter().map(|s| (s.id.as_str(), s)).collect())
        .unwrap_or_default();
    ManualDelta {
        model: latest.model.clone(),
        version: latest.version,
        title: latest.title.clone(),
        base_version: base.map(|m| m.version),
        section_order: latest.sections.iter().map(|s| s.id.clone()).collect(),
        sections: latest
            .sections
            .iter()
            .filter(|s| held.get(s.id.as_str()) != Some(s))
            .cloned()
            .collect(),
        attachments: latest.attachments.clone(),
    }
}

/// An engineer's field tip for a product model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tip {
    /// A random id, also the tip's key in the document.
    pub id: String,
    /// The text.
    pub text: String,
    /// Who wrote it.
    pub by: String,
    /// When (device clock).
    pub at: Millis,
}

/// One product model's field tips as an Automerge document: the root map holds one map per
/// tip, keyed by the tip's id, so tips written offline on different phones merge without
/// conflict (there is no shared container object two phones could each create).
#[derive(Debug)]
pub struct TipsDoc(pub AutoCommit);

impl Default for TipsDoc {
    fn default() -> Self {
        TipsDoc(AutoCommit::new())
    }
}

impl TipsDoc {
    /// Loads a saved document.
    pub fn load(bytes: &[u8]) -> Result<Self, SchemaError> {
        Ok(TipsDoc(AutoCommit::load(bytes)?))
    }

    /// Adds a tip; the change is committed with `now` as its time.
    pub fn add(&mut self, tip: &Tip) -> Result<(), SchemaError> {
        check_tip_text(&tip.text)?;
        let map = self.0.put_object(automerge::ROOT, &tip.id, ObjType::Map)?;
        self.0.put(&map, "text", tip.text.as_str())?;
        self.0.put(&map, "by", tip.by.as_str())?;
        self.0.put(&map, "at", tip.at)?;
        self.0
            .commit_with(automerge::transaction::CommitOptions::default().with_time(tip.at / 1000));
        Ok(())
    }

    /// Every tip, oldest first.
    pub fn tips(&self) -> Vec<Tip> {
        let scalar = |obj: &automerge::ObjId, key: &str| match self.0.get(obj, key) {
            Ok(Some((Value::Scalar(value), _))) => Some(value.into_owned()),
            _ => None,
        };
        let mut tips: Vec<Tip> = self
            .0
            .keys(automerge::ROOT)
            .filter_map(|id| {
                let Ok(Some((Value::Object(ObjType::Map), obj))) = self.0.get(automerge::ROOT, &id)
                else {
                    return None;
                };
                let text = |key: &str| match scalar(&obj, key) {
                    Some(ScalarValue::Str(text)) => Some(text.to_string()),
                    _ => None,
                };
                let at = match scalar(&obj, "at") {
                    Some(ScalarValue::Int(at)) => at,
                    _ => 0,
                };
                Some(Tip {
                    text: text("text")?,
                    by: text("by")?,
                    at,
                    id,
                })
            })
            .collect();
        tips.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        tips
    }
}

impl TipsDoc {
    /// Checks the whole document has the tips shape and nothing else: every root key a tip id
    /// (1 to 64 of `A-Z a-z 0-9 - _`) holding a map of exactly `text` (text), `by` (text) and
    /// `at` (integer). Changes that write anything else are refused.
    pub fn check_shape(&self) -> Result<(), SchemaError> {
        let readable: BTreeSet<String> = self.tips().into_iter().map(|t| t.id).collect();
        for id in self.0.keys(automerge::ROOT) {
            let id_ok = !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            let Ok(Some((Value::Object(ObjType::Map), tip))) = self.0.get(automerge::ROOT, &id)
            else {
                return Err(invalid("tip", format!("`{id}` is not a tip")));
            };
            let keys: Vec<String> = self.0.keys(&tip).collect();
            let fields_ok = keys.len() == 3
                && ["text", "by", "at"]
                    .iter()
                    .all(|k| keys.iter().any(|key| key == k));
            if !id_ok || !fields_ok || !readable.contains(&id) {
                return Err(invalid(
                    "tip",
                    format!("`{id}` is not a tip of text, author and time"),
                ));
            }
        }
        Ok(())
    }
}

/// Checks a tip's text: 1 to [`MAX_TIP_CHARS`] characters.
pub fn check_tip_text(text: &str) -> Result<(), SchemaError> {
    if text.trim().is_empty() || text.chars().count() > MAX_TIP_CHARS {
        return Err(invalid(
            "tip",
            format!("a tip has 1 to {MAX_TIP_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Checks what merged changes did to a model's tips: tips are only ever added, each by the
/// user who sent it and well formed; nothing that existed before is changed or removed.
pub fn check_tips_change(before: &[Tip], after: &[Tip], user: &str) -> Result<(), SchemaError> {
    let after_by_id: BTreeMap<&str, &Tip> = after.iter().map(|t| (t.id.as_str(), t)).collect();
    for tip in before {
        if after_by_id.get(tip.id.as_str()) != Some(&tip) {
            return Err(invalid(
                "tip",
                format!(
                    "tip `{}` was changed or removed; tips are only added",
                    tip.id
                ),
            ));
        }
    }
    let before_ids: BTreeSet<&str> = before.iter().map(|t| t.id.as_str()).collect();
    for tip in after.iter().filter(|t| !before_ids.contains(t.id.as_str())) {
        if tip.by != user {
            return Err(invalid(
                "tip",
                format!(
                    "tip `{}` claims to be by `{}`, not by `{user}`",
                    tip.id, tip.by
                ),
            ));
        }
        check_tip_text(&tip.text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(id: &str, body: &str) -> Section {
        Section {
            id: id.into(),
            title: id.to_uppercase(),
            body: body.into(),
        }
    }

    fn manual(version: u32, sections: Vec<Section>) -> Manual {
        Manual {
            model: "HX-200".into(),
            version,
            title: "HX-200 heat pump".into(),
            published_at: 1,
            published_by: "dispatch".into(),
            sections,
            attachments: vec![],
        }
    }

    #[test]
    fn a_delta_carries_only_new_and_changed_sections() {
        let v1 = manual(
            1,
            vec![
                section("intro", "a"),
                section("wiring", "b"),
                section("faults", "c"),
            ],
        );
        let v2 = manual(
            2,
            vec![
                section("intro", "a"),
                section("faults", "c2"),
                section("service", "d"),
            ],
        );
        let delta = manual_delta(Some(&v1), &v2);
        assert_eq!(delta.base_version, Some(1));
        assert_eq!(delta.section_order, ["intro", "faults", "service"]);
        let sent: Vec<&str> = delta.sections.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(sent, ["faults", "service"]);
        let whole = manual_delta(None, &v2);
        assert_eq!(whole.base_version, None);
        assert_eq!(whole.sections, v2.sections);
    }

    #[test]
    fn manuals_are_checked_field_by_field() {
        let good = ManualInput {
            model: "HX-200".into(),
            version: 1,
            title: "Manual".into(),
            sections: vec![section("intro", "x")],
            attachments: vec![],
        };
        validate_manual(&good).expect("valid");
        let field_of = |input: ManualInput| match validate_manual(&input) {
            Err(SchemaError::InvalidValue { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        };
        assert_eq!(
            field_of(ManualInput {
                version: 0,
                ..good.clone()
            }),
            "version"
        );
        assert_eq!(
            field_of(ManualInput {
                model: " ".into(),
                ..good.clone()
            }),
            "model"
        );
        assert_eq!(
            field_of(ManualInput {
                sections: vec![section("intro", "x"), section("intro", "y")],
                ..good.clone()
            }),
            "section id"
        );
        assert_eq!(
            field_of(ManualInput {
                sections: vec![section("Bad Id", "x")],
                ..good.clone()
            }),
            "section id"
        );
        assert_eq!(
            field_of(ManualInput {
                sections: vec![],
                ..good.clone()
            }),
            "sections"
        );
        let attachment = Attachment {
            sha256: "ab".into(),
            name: "a.png".into(),
            mime: "image/png".into(),
            size: 0,
        };
        assert_eq!(
            field_of(ManualInput {
                attachments: vec![attachment],
                ..good.clone()
            }),
            "sha256"
        );
        assert!(check_mime("image/png").is_ok());
        assert!(check_mime("image").is_err());
        assert!(check_mime("image/png\r\nx: y").is_err());
    }

    #[test]
    fn tips_merge_and_only_grow() {
        let mut anna = TipsDoc::default();
        let mut ben = TipsDoc::load(&anna.0.save()).expect("load");
        let tip = |id: &str, by: &str, at| Tip {
            id: id.into(),
            text: format!("tip {id}"),
            by: by.into(),
            at,
        };
        anna.add(&tip("t1", "anna", 10)).expect("add");
        ben.add(&tip("t2", "ben", 20)).expect("add");
        let before = anna.tips();
        anna.0.merge(&mut ben.0).expect("merge");
        let after = anna.tips();
        assert_eq!(
            after.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["t1", "t2"]
        );
        // What ben added is fine coming from ben, not from anna.
        check_tips_change(&before, &after, "ben").expect("ben adds");
        assert!(check_tips_change(&before, &after, "anna").is_err());
        anna.check_shape().expect("tips only");
        // Anything but tips is refused.
        let mut odd = TipsDoc::default();
        odd.0
            .put(automerge::ROOT, "note", "not a tip")
            .expect("put");
        assert!(odd.check_shape().is_err());
        // Removing a tip is refused.
        anna.0.delete(automerge::ROOT, "t1").expect("delete");
        assert!(check_tips_change(&after, &anna.tips(), "anna").is_err());
        assert!(
            TipsDoc::default()
                .add(&Tip {
                    text: " ".into(),
                    ..tip("t4", "anna", 1)
                })
                .is_err()
        );
    }

    #[test]
    fn the_json_shapes_are_pinned() {
        let request = KnowledgeRequest {
            v: KNOWLEDGE_VERSION,
            manuals: vec![HeldManual {
                model: "HX-200".into(),
                version: 3,
            }],
            cases_since: BTreeMap::from([("HX-200".to_owned(), 7)]),
            tips: vec![TipsPush {
                model: "HX-200".into(),
                heads: vec!["ab".into()],
                changes: vec!["AQ==".into()],
            }],
        };
        assert_eq!(
            serde_json::to_string(&request).expect("json"),
            r#"{"v":1,"manuals":[{"model":"HX-200","version":3}],"cases_since":{"HX-200":7},"tips":[{"model":"HX-200","heads":["ab"],"changes":["AQ=="]}]}"#
        );
        let status = UploadStatus {
            sha256: "ab".into(),
            size: 10,
            received: 4,
            complete: false,
        };
        assert_eq!(
            serde_json::to_string(&status).expect("json"),
            r#"{"sha256":"ab","size":10,"received":4,"complete":false}"#
        );
        let delta = manual_delta(None, &manual(1, vec![section("intro", "a")]));
        assert_eq!(
            serde_json::to_string(&delta).expect("json"),
            r#"{"model":"HX-200","version":1,"title":"HX-200 heat pump","base_version":null,"section_order":["intro"],"sections":[{"id":"intro","title":"INTRO","body":"a"}],"attachments":[]}"#
        );
    }
}
