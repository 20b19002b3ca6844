//! What a Fieldsync phone and the Fieldsync server must agree on: the job document schema
//! ([`job`]), the domain rules applied to merged documents ([`rules`]), who may change which
//! field ([`access`]), the knowledge and upload messages ([`knowledge`]) and the sync wire
//! messages ([`wire`]).
//!
//! This crate does no I/O. Both `fieldsync-client-core` and `fieldsync-server` depend on it, and
//! nothing else in the workspace defines a persisted or wire shape that both sides read.

pub mod access;
pub mod enrollment;
pub mod job;
pub mod knowledge;
pub mod language;
mod reader;
pub mod rules;
pub mod wire;

pub use automerge;
pub use language::Language;

/// Wall-clock time in milliseconds since the Unix epoch.
pub type Millis = i64;

/// The current wall-clock time in milliseconds since the Unix epoch.
pub fn now_millis() -> Millis {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Millis::try_from(since_epoch.as_millis()).unwrap_or(Millis::MAX)
}

/// Whether `doc` holds the change `hash`: applied, not merely queued waiting for its history.
///
/// `get_change_by_hash` answers the same question by rebuilding the whole change from the
/// document's columns, only for the caller to drop it; this looks in the change graph alone.
pub fn holds_change(doc: &mut automerge::AutoCommit, hash: &automerge::ChangeHash) -> bool {
    doc.get_change_meta_by_hash(hash).is_some()
}

/// Lower-case hex of `bytes` (how SHA-256 digests are written everywhere).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a job document could not be read or an edit was refused.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The document lacks a field every version has.
    #[error("the job document has no `{0}`")]
    MissingField(&'static str),
    /// A value does not fit its field.
    #[error("invalid {field}: {value}")]
    InvalidValue {
        /// The field.
        field: &'static str,
        /// The offending value or what is wrong with it.
        value: String,
    },
    /// The document's shape does not match the schema.
    #[error("the job document does not match the schema: {0}")]
    Unreadable(String),
    /// A status move the rules forbid.
    #[error("{} may not move a job from {} to {}", role.described(), from.as_str(), to.as_str())]
    TransitionNotAllowed {
        /// The current status.
        from: rules::Status,
        /// The requested status.
        to: rules::Status,
        /// Who asked.
        role: job::Role,
    },
    /// A planning field edited by someone other than dispatch.
    #[error("only dispatch may change the {field}")]
    NotYourField {
        /// The field.
        field: &'static str,
    },
    /// A checklist update for an item that does not exist, without a label to create it.
    #[error("checklist item `{0}` does not exist (give a label to add it)")]
    UnknownChecklistItem(String),
    /// Automerge refused the operation or the bytes.
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

impl SchemaError {
    /// Every code [`SchemaError::code`] gives, for clients that keep a text for each.
    pub const CODES: &'static [&'static str] = &[
        "transition_not_allowed",
        "not_your_field",
        "invalid_value",
        "unknown_checklist_item",
        "unreadable_job",
    ];

    /// The stable code of this refusal, e.g. `transition_not_allowed`.
    pub fn code(&self) -> &'static str {
        match self {
            SchemaError::TransitionNotAllowed { .. } => "transition_not_allowed",
            SchemaError::NotYourField { .. } => "not_your_field",
            SchemaError::InvalidValue { .. } => "invalid_value",
            SchemaError::UnknownChecklistItem(_) => "unknown_checklist_item",
            SchemaError::MissingField(_)
            | SchemaError::Unreadable(_)
            | SchemaError::Automerge(_) => "unreadable_job",
        }
    }

    /// The parts of the message a translation needs, by name, with wire names for statuses,
    /// roles and fields (`from`, `to`, `role`; `field`, `value`; `item`; `detail`).
    pub fn params(&self) -> Vec<(&'static str, String)> {
        match self {
            SchemaError::TransitionNotAllowed { from, to, role } => vec![
                ("from", from.as_str().to_owned()),
                ("to", to.as_str().to_owned()),
                ("role", role.as_str().to_owned()),
            ],
            SchemaError::NotYourField { field } => vec![("field", (*field).to_owned())],
            SchemaError::InvalidValue { field, value } => {
                vec![("field", (*field).to_owned()), ("value", value.clone())]
            }
            SchemaError::UnknownChecklistItem(item) => vec![("item", item.clone())],
            SchemaError::MissingField(_)
            | SchemaError::Unreadable(_)
            | SchemaError::Automerge(_) => {
                vec![("detail", self.to_string())]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SchemaError;
    use crate::job::Role;
    use crate::rules::Status;

    /// One refusal of each kind. The match below stops compiling when a kind is added, so the
    /// list (and with it the check of `CODES`) cannot fall behind.
    fn one_of_each() -> Vec<SchemaError> {
        let all = vec![
            SchemaError::MissingField("id"),
            SchemaError::InvalidValue {
                field: "kind",
                value: "x".into(),
            },
            SchemaError::Unreadable("x".into()),
            SchemaError::TransitionNotAllowed {
                from: Status::New,
                to: Status::Closed,
                role: Role::Installer,
            },
            SchemaError::NotYourField { field: "assignee" },
            SchemaError::UnknownChecklistItem("x".into()),
            SchemaError::Automerge(automerge::AutomergeError::Fail),
        ];
        for error in &all {
            match error {
                SchemaError::MissingField(_)
                | SchemaError::InvalidValue { .. }
                | SchemaError::Unreadable(_)
                | SchemaError::TransitionNotAllowed { .. }
                | SchemaError::NotYourField { .. }
                | SchemaError::UnknownChecklistItem(_)
                | SchemaError::Automerge(_) => {}
            }
        }
        all
    }

    #[test]
    fn codes_lists_every_code_a_refusal_has() {
        let given: std::collections::BTreeSet<&str> =
            one_of_each().iter().map(SchemaError::code).collect();
        let listed: std::collections::BTreeSet<&str> = SchemaError::CODES.iter().copied().collect();
        assert_eq!(given, listed);
    }
}
