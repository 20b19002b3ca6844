//! What the domain fails with. Each variant says what kind of failure it is, never how a
//! transport shows it: the HTTP layer maps these to status codes in one place
//! (`crate::http::error`).

use crate::storage::StorageError;

/// Why a request for a particular thing (an upload, a download, a report) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// What was asked for does not exist, or the caller may not know that it does.
    NotFound,
    /// The request conflicts with what is stored (a gap in an upload, media still missing).
    Conflict,
    /// The thing is larger than the server accepts.
    TooLarge,
    /// The request is well formed but its content is wrong (bytes that do not hash to the
    /// blob's name).
    Unprocessable,
}

/// Declares a closed set of stable codes: an enum, its wire names, and the list of them all
/// (so a client's catalog can be checked against every code the server can produce).
macro_rules! codes {
    ($(#[doc = $doc:literal])* $name:ident { $($(#[doc = $vdoc:literal])* $variant:ident = $code:literal,)* }) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[doc = $vdoc])* $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stable wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)*
                }
            }
        }
    };
}

codes! {
    /// The stable machine-readable code of an error answer (`ErrorBody.code`). A code is never
    /// renamed or reused; clients translate by it.
    ErrorCode {
        /// A malformed or out-of-range query parameter.
        InvalidQuery = "invalid_query",
        /// A path segment that cannot be what it names.
        InvalidPath = "invalid_path",
        /// A request body that is not the JSON the endpoint takes.
        InvalidJson = "invalid_json",
        /// One field of a form or object is invalid (`field`, `problem`).
        InvalidField = "invalid_field",
        /// An edit the job schema or the rules refuse (`problem` is the schema's code).
        InvalidEdit = "invalid_edit",
        /// A manual that is not well formed.
        InvalidManual = "invalid_manual",
        /// A user record that cannot be stored.
        InvalidUser = "invalid_user",
        /// A password shorter than the minimum (`min`).
        WeakPassword = "weak_password",
        /// A message version this server does not speak (`version` and `supported`, when the
        /// message could be read that far).
        UnsupportedVersion = "unsupported_version",
        /// A sync message that cannot be decoded.
        MalformedMessage = "malformed_message",
        /// A device id that is empty, too long or reserved.
        BadDevice = "bad_device",
        /// A user id in a sync message that is empty or too long.
        BadUser = "bad_user",
        /// An actor id in a sync message that is empty or too long.
        BadActor = "bad_actor",
        /// The named user is not an installer (`user`).
        UnknownInstaller = "unknown_installer",
        /// No credential, or one that is not (or no longer) valid.
        Unauthenticated = "unauthenticated",
        /// Wrong user id or password.
        BadCredentials = "bad_credentials",
        /// The office session has expired.
        SessionExpired = "session_expired",
        /// The device's credential has been revoked (`device`).
        DeviceRevoked = "device_revoked",
        /// The enrollment code is unknown, used or expired.
        InvalidEnrollmentCode = "invalid_enrollment_code",
        /// Installers sign in through an enrolled device, not the console.
        InstallerSignIn = "installer_sign_in",
        /// The caller's role may not do this (`role`, `action`).
        Forbidden = "forbidden",
        /// A signed-in browser request without the CSRF header.
        CsrfFailed = "csrf_failed",
        /// An office-only request from a device.
        OfficeOnly = "office_only",
        /// A sync message for another device or user than the credential's.
        ForgedIdentity = "forged_identity",
        /// A sync message with another device's actor id.
        ForgedActor = "forged_actor",
        /// Too many failed sign-ins (`seconds` until the next try).
        TooManyAttempts = "too_many_attempts",
        /// Too many requests from one device (`seconds` until the next try).
        TooManyRequests = "too_many_requests",
        /// The thing asked for does not exist (`thing`, `id`).
        NotFound = "not_found",
        /// The request conflicts with stored state (`problem`).
        Conflict = "conflict",
        /// The server has no such route (`path`).
        NoRoute = "no_route",
        /// A blob name that is not a SHA-256 digest.
        InvalidSha256 = "invalid_sha256",
        /// A `Content-Range` the upload cannot use.
        BadContentRange = "bad_content_range",
        /// The connection broke before the whole body arrived (`received`).
        IncompleteBody = "incomplete_body",
        /// An upload part that does not start where the server's copy ends (`received`).
        ChunkOutOfOrder = "chunk_out_of_order",
        /// Another upload of the same blob is running.
        UploadInProgress = "upload_in_progress",
        /// A blob larger than the server accepts (`max`).
        BlobTooLarge = "blob_too_large",
        /// The uploaded bytes do not hash to the blob's name.
        HashMismatch = "hash_mismatch",
        /// The job does not exist or the caller may not see it.
        UnknownJob = "unknown_job",
        /// The blob does not exist or the caller may not read it.
        UnknownBlob = "unknown_blob",
        /// A manual version not newer than the published one (`version`, `published`).
        StaleVersion = "stale_version",
        /// A manual attachment the server does not hold yet (`name`).
        MissingBlob = "missing_blob",
        /// There is no such manual (`model`, `version`).
        UnknownManual = "unknown_manual",
        /// The job has no signed service report yet.
        NoReport = "no_report",
        /// The report link is unknown or expired.
        UnknownReport = "unknown_report",
        /// Photos or the signature of the job have not all arrived yet.
        MediaMissing = "media_missing",
        /// The reminder is addressed to someone else (`recipient`); only they acknowledge it.
        NotRecipient = "not_recipient",
        /// A failure inside the server; details are in its log under the request id.
        Internal = "internal",
    }
}

codes! {
    /// What is wrong with an invalid field (`invalid_field`) or what a conflict is about
    /// (`conflict`): the `problem` parameter of the error answer.
    Problem {
        /// The field is required (`invalid_field`).
        Required = "required",
        /// Longer than `max` characters.
        TooLong = "too_long",
        /// Longer than `max` bytes.
        TooManyBytes = "too_many_bytes",
        /// Not an e-mail address (`value`).
        NotAnEmail = "not_an_email",
        /// Not a phone number, or not one of the organisation's country (`value`, `region`
        /// when the organisation has one).
        NotAPhone = "not_a_phone",
        /// A time in the future.
        InFuture = "in_future",
        /// A time before 1970.
        BeforeEpoch = "before_epoch",
        /// An appointment that ends before it starts.
        EndBeforeStart = "end_before_start",
        /// A range whose start is after its end.
        StartAfterEnd = "start_after_end",
        /// A day outside the calendar the server keeps, or a number outside its range
        /// (`max`).
        OutOfRange = "out_of_range",
        /// A value the field cannot take (`value`).
        InvalidValue = "invalid_value",
        /// More entries than the field keeps (`max`).
        TooMany = "too_many",
        /// A phone's upload names no job.
        JobRequired = "job_required",
        /// More field tips than one exchange takes (`models`, `changes`).
        TooManyTips = "too_many_tips",
        /// A job with this id exists already (`job`; `conflict`).
        JobExists = "job_exists",
        /// The device is enrolled to another user (`device`; `conflict`).
        DeviceOfAnotherUser = "device_of_another_user",
        /// The enrollment code was issued for another installer (`user`; `conflict`).
        CodeForAnotherInstaller = "code_for_another_installer",
        /// The engineer already has a visit then (`user`, `job`, `customer`, `start`, `end`:
        /// the other visit; `conflict`). Sent again with an `override_reason`, it is booked.
        DoubleBooked = "double_booked",
        /// The engineer's visit just before or after is too far away to get between them in
        /// the time left (`user`, `job`, `customer`, `start`, `end`: the other visit; `km`,
        /// `needed` and `free` minutes, `before`: whether it comes first; `conflict`). Sent
        /// again with an `override_reason`, it is booked.
        NoTravelTime = "no_travel_time",
        /// The engineer is away that day (`user`, `from`, `to`: the time off; `conflict`). Sent again with an `override_reason`, it is booked.
        TimeOff = "time_off",
        /// The engineer does not work that weekday (`user`; `conflict`). Sent again with an
        /// `override_reason`, it is booked.
        DayOff = "day_off",
        /// The visit is not within the engineer's hours that day (`user`, `shift_start`,
        /// `shift_end`; `conflict`). Sent again with an `override_reason`, it is booked.
        OutsideWorkingHours = "outside_working_hours",
        /// A correction names something that is not a detail dispatch corrects (`value`: the
        /// field as the request named it).
        NotCorrectable = "not_correctable",
        /// The customer record was merged into another already (`customer`, `into`;
        /// `conflict`).
        AlreadyMerged = "already_merged",
        /// The job has not been completed (`status`; `conflict`): a return visit follows a
        /// completed job.
        NotCompleted = "not_completed",
        /// A job has taken the most it takes of something through customers' links (`max`;
        /// `conflict`).
        LimitReached = "limit_reached",
        /// A region or problem category that is not in the organisation's managed list, or
        /// whose entry is retired (`value`, `list`: `region` or `category`, `retired`).
        NotInList = "not_in_list",
        /// A list entry still carried by jobs or engineers cannot be deleted, only retired
        /// (`list`, `code`; `conflict`).
        InUse = "in_use",
    }
}

codes! {
    /// The kind of thing a `not_found` answer could not find: its `thing` parameter.
    Thing {
        /// A job.
        Job = "job",
        /// A user.
        User = "user",
        /// A device.
        Device = "device",
        /// A reminder.
        Reminder = "reminder",
        /// A customer record.
        Customer = "customer",
        /// A help request from the field (`id`: its index in the job).
        HelpRequest = "help_request",
        /// An entry of a managed list (`id`: its code).
        ListEntry = "list_entry",
    }
}

/// Values that complete an error's message (`{"seconds": 30}`), by name, so that a client can
/// word the error in its own language.
pub type Params = Vec<(&'static str, serde_json::Value)>;

/// Everything a domain operation can fail with. Client errors name the problem with a stable
/// machine-readable code and the values a translation needs; internal errors are logged and
/// answered with a generic message.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The request is malformed or breaks a rule.
    #[error("{message}")]
    BadRequest {
        /// A stable machine-readable code.
        code: ErrorCode,
        /// What is wrong.
        message: String,
        /// The values of the message.
        params: Params,
    },
    /// No credential, or one that does not (or no longer) work.
    #[error("{message}")]
    Unauthorized {
        /// A stable machine-readable code.
        code: ErrorCode,
        /// What is wrong.
        message: String,
        /// The values of the message.
        params: Params,
    },
    /// The caller is known but may not do this.
    #[error("{message}")]
    Forbidden {
        /// A stable machine-readable code.
        code: ErrorCode,
        /// What is wrong.
        message: String,
        /// The values of the message.
        params: Params,
    },
    /// Too many attempts; try again after the given number of seconds.
    #[error("too many attempts; try again in {0} seconds")]
    TooManyAttempts(u64),
    /// Too many requests from this device; try again after the given number of seconds.
    #[error("too many requests from this device; try again in {0} seconds")]
    TooManyRequests(u64),
    /// One field of a submitted form or object is invalid.
    #[error("{message}")]
    InvalidField {
        /// The field, as the API names it (e.g. `customer.name`).
        field: &'static str,
        /// What is wrong with it.
        problem: Problem,
        /// What is wrong with it, in English.
        message: String,
        /// The values of the message.
        params: Params,
    },
    /// The thing asked for does not exist (code `not_found`).
    #[error("there is no {} `{id}`", thing.as_str())]
    NotFound {
        /// What kind of thing.
        thing: Thing,
        /// Its id.
        id: String,
    },
    /// The request conflicts with stored state (code `conflict`).
    #[error("{message}")]
    Conflict {
        /// What the conflict is.
        problem: Problem,
        /// What the conflict is, in English.
        message: String,
        /// The values of the message.
        params: Params,
    },
    /// Refused for a particular reason with its own code (uploads, downloads, reports);
    /// `received` tells an uploader where to continue.
    #[error("{message}")]
    Refused {
        /// Why.
        reason: Refusal,
        /// A stable machine-readable code.
        code: ErrorCode,
        /// What is wrong.
        message: String,
        /// For uploads: how many bytes of the blob the server holds.
        received: Option<u64>,
        /// The values of the message.
        params: Params,
    },
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A bug or a corrupt store.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    /// A bad request with a code and a message.
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        DomainError::BadRequest {
            code,
            message: message.into(),
            params: Params::new(),
        }
    }

    /// A bad request naming the invalid field and what is wrong with it (code `invalid_field`).
    pub fn invalid_field(
        field: &'static str,
        problem: Problem,
        message: impl Into<String>,
    ) -> Self {
        DomainError::InvalidField {
            field,
            problem,
            message: message.into(),
            params: Params::new(),
        }
    }

    /// An unusable credential, with a code and a message.
    pub fn unauthorized(code: ErrorCode, message: impl Into<String>) -> Self {
        DomainError::Unauthorized {
            code,
            message: message.into(),
            params: Params::new(),
        }
    }

    /// A refusal for `reason`, with a code and a message.
    pub fn refused(reason: Refusal, code: ErrorCode, message: impl Into<String>) -> Self {
        DomainError::Refused {
            reason,
            code,
            message: message.into(),
            received: None,
            params: Params::new(),
        }
    }

    /// A known caller who may not do this, with a code and a message.
    pub fn forbidden(code: ErrorCode, message: impl Into<String>) -> Self {
        DomainError::Forbidden {
            code,
            message: message.into(),
            params: Params::new(),
        }
    }

    /// There is no `thing` called `id` (code `not_found`).
    pub fn not_found(thing: Thing, id: impl Into<String>) -> Self {
        DomainError::NotFound {
            thing,
            id: id.into(),
        }
    }

    /// The request conflicts with stored state (code `conflict`).
    pub fn conflict(problem: Problem, message: impl Into<String>) -> Self {
        DomainError::Conflict {
            problem,
            message: message.into(),
            params: Params::new(),
        }
    }

    /// The same error with one more value for translations of its message.
    #[must_use]
    pub fn with(mut self, name: &'static str, value: impl Into<serde_json::Value>) -> Self {
        if let Some(params) = self.extra_params_mut() {
            params.push((name, value.into()));
        }
        self
    }

    /// The values added with [`DomainError::with`]; `None` for the kinds that carry their
    /// values in their own fields.
    fn extra_params_mut(&mut self) -> Option<&mut Params> {
        match self {
            DomainError::BadRequest { params, .. }
            | DomainError::Unauthorized { params, .. }
            | DomainError::Forbidden { params, .. }
            | DomainError::InvalidField { params, .. }
            | DomainError::Conflict { params, .. }
            | DomainError::Refused { params, .. } => Some(params),
            DomainError::TooManyAttempts(_)
            | DomainError::TooManyRequests(_)
            | DomainError::NotFound { .. }
            | DomainError::Storage(_)
            | DomainError::Internal(_) => None,
        }
    }

    /// The field an invalid-field error names.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            DomainError::InvalidField { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            DomainError::BadRequest { code, .. }
            | DomainError::Unauthorized { code, .. }
            | DomainError::Forbidden { code, .. }
            | DomainError::Refused { code, .. } => *code,
            DomainError::TooManyAttempts(_) => ErrorCode::TooManyAttempts,
            DomainError::TooManyRequests(_) => ErrorCode::TooManyRequests,
            DomainError::InvalidField { .. } => ErrorCode::InvalidField,
            DomainError::NotFound { .. } => ErrorCode::NotFound,
            DomainError::Conflict { .. } => ErrorCode::Conflict,
            DomainError::Storage(_) | DomainError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Every value a translation of the message needs, by name (`ErrorBody.params`).
    pub fn params(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut all = serde_json::Map::new();
        let mut put = |name: &str, value: serde_json::Value| {
            all.insert(name.to_owned(), value);
        };
        match self {
            DomainError::TooManyAttempts(seconds) | DomainError::TooManyRequests(seconds) => {
                put("seconds", (*seconds).into());
            }
            DomainError::InvalidField { field, problem, .. } => {
                put("field", (*field).into());
                put("problem", problem.as_str().into());
            }
            DomainError::NotFound { thing, id } => {
                put("thing", thing.as_str().into());
                put("id", id.as_str().into());
            }
            DomainError::Conflict { problem, .. } => put("problem", problem.as_str().into()),
            DomainError::Refused {
                received: Some(received),
                ..
            } => put("received", (*received).into()),
            _ => {}
        }
        if let DomainError::BadRequest { params, .. }
        | DomainError::Unauthorized { params, .. }
        | DomainError::Forbidden { params, .. }
        | DomainError::InvalidField { params, .. }
        | DomainError::Conflict { params, .. }
        | DomainError::Refused { params, .. } = self
        {
            for (name, value) in params {
                put(name, value.clone());
            }
        }
        all
    }
}

impl From<fieldsync_protocol::SchemaError> for DomainError {
    fn from(e: fieldsync_protocol::SchemaError) -> Self {
        let mut error = DomainError::bad_request(ErrorCode::InvalidEdit, e.to_string())
            .with("problem", e.code());
        for (name, value) in e.params() {
            error = error.with(name, value);
        }
        error
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use fieldsync_protocol::SchemaError;
    use fieldsync_protocol::job::Role;
    use fieldsync_protocol::rules::Status;
    use serde_json::json;

    use super::{DomainError, ErrorCode, Problem, Thing};

    /// Codes are how clients translate: within each list, none is spelt twice.
    #[test]
    fn every_code_is_distinct_and_snake_case() {
        let lists: [Vec<&str>; 3] = [
            ErrorCode::ALL.iter().map(|c| c.as_str()).collect(),
            Problem::ALL.iter().map(|p| p.as_str()).collect(),
            Thing::ALL.iter().map(|t| t.as_str()).collect(),
        ];
        for names in lists {
            let distinct: BTreeSet<&str> = names.iter().copied().collect();
            assert_eq!(distinct.len(), names.len(), "{names:?}");
            for name in names {
                assert!(
                    name.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                    "{name}"
                );
            }
        }
    }

    /// A refused edit names the schema's refusal and its values, in wire names.
    #[test]
    fn a_refused_edit_carries_the_schemas_code_and_values() {
        let refused: DomainError = SchemaError::TransitionNotAllowed {
            from: Status::New,
            to: Status::Closed,
            role: Role::Installer,
        }
        .into();
        assert_eq!(refused.code(), ErrorCode::InvalidEdit);
        assert_eq!(
            serde_json::Value::Object(refused.params()),
            json!({ "problem": "transition_not_allowed", "from": "new", "to": "closed", "role": "installer" })
        );
    }

    /// The values of the generic codes say what exactly is wrong.
    #[test]
    fn generic_codes_carry_what_is_wrong() {
        let missing = DomainError::not_found(Thing::Reminder, "7");
        assert_eq!(missing.to_string(), "there is no reminder `7`");
        assert_eq!(
            serde_json::Value::Object(missing.params()),
            json!({ "thing": "reminder", "id": "7" })
        );
        let long = DomainError::invalid_field("customer.name", Problem::TooLong, "too long")
            .with("max", 4000);
        assert_eq!(
            serde_json::Value::Object(long.params()),
            json!({ "field": "customer.name", "problem": "too_long", "max": 4000 })
        );
        let locked = DomainError::TooManyAttempts(30);
        assert_eq!(
            serde_json::Value::Object(locked.params()),
            json!({ "seconds": 30 })
        );
    }
}
