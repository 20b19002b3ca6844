//! What a Fieldsync phone and the Fieldsync server must agree on: the job document schema
//! ([`job`]), the domain rules applied to merged documents ([`rules`]), who may change which
//! field ([`access`]), the knowledge and upload messages ([`knowledge`]) and the sync wire
//! messages ([`wire`]).
//!
//! This crate does no I/O. Both `fieldsync-client-core` and `fieldsync-server` depend on it, and
//! nothing else in the workspace defines a persisted or wire shape that both sides read.

pub mod access;
pub mod job;
pub mod knowledge;
pub mod rules;
pub mod wire;

pub use automerge;

/// Wall-clock time in milliseconds since the Unix epoch.
pub type Millis = i64;

/// The current wall-clock time in milliseconds since the Unix epoch.
pub fn now_millis() -> Millis {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Millis::try_from(since_epoch.as_millis()).unwrap_or(Millis::MAX)
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
