//! Who is calling and what they may do: office sign-in, device enrollment and credentials, and
//! the one table of which role may do what ([`ACCESS`]).
//!
//! Secrets (session tokens, device credentials, enrollment codes) are 64 hex digits carrying 244
//! random bits, handed out once and stored only as their SHA-256: a copy of the database lets
//! nobody sign in.
//! Passwords are hashed with Argon2id. Every request except sign-in, enrollment and the health
//! check carries a secret; [`authenticate`] turns it into a [`Principal`] and [`Principal::require`]
//! checks it against [`ACCESS`].

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use fieldsync_protocol::Millis;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::error::{DomainError, ErrorCode, Problem, Thing};
use crate::domain::lists::ManagedLists;
use crate::storage::{
    Credential, EnrollmentCode, ListKind, ReadTx, Session, Storage, User, WriteTx, read, write,
};

/// The roles of PRODUCT.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserRole {
    /// An installer or service engineer: works from an enrolled phone.
    Installer,
    /// Dispatch staff: take calls, plan and assign.
    Dispatcher,
    /// Engineering supervisor: ring 2 of the escalation ladder.
    Supervisor,
    /// Head of engineering: ring 3.
    HeadOfEngineering,
    /// Manages people and devices.
    Admin,
}

impl UserRole {
    /// Every role.
    pub const ALL: [UserRole; 5] = [
        UserRole::Installer,
        UserRole::Dispatcher,
        UserRole::Supervisor,
        UserRole::HeadOfEngineering,
        UserRole::Admin,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::Installer => "installer",
            UserRole::Dispatcher => "dispatcher",
            UserRole::Supervisor => "supervisor",
            UserRole::HeadOfEngineering => "head_of_engineering",
            UserRole::Admin => "admin",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        UserRole::ALL.into_iter().find(|role| role.as_str() == s)
    }
}

/// Something a request does, as [`ACCESS`] grants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Sync a device's jobs (`/v1/sync`, `/v1/events`): enrolled devices only.
    Sync,
    /// Read jobs, their audit trail, violations and flags.
    ReadJobs,
    /// Open, plan, assign and move jobs.
    EditJobs,
    /// List users.
    ReadUsers,
    /// Create users, change roles, set passwords; keep the organisation's lists of regions and
    /// problem categories.
    ManageUsers,
    /// List devices.
    ReadDevices,
    /// Issue enrollment codes and revoke devices.
    ManageDevices,
    /// Listen to every change (the console's live updates).
    WatchAll,
    /// Publish manuals and upload their attachments.
    PublishManuals,
    /// Read the server's metrics (`/metrics`; a scraper may instead be allowed by address).
    ReadMetrics,
}

impl Permission {
    /// Every permission.
    pub const ALL: &'static [Permission] = &[
        Permission::Sync,
        Permission::ReadJobs,
        Permission::EditJobs,
        Permission::ReadUsers,
        Permission::ManageUsers,
        Permission::ReadDevices,
        Permission::ManageDevices,
        Permission::WatchAll,
        Permission::PublishManuals,
        Permission::ReadMetrics,
    ];

    /// The permission's name in a `forbidden` answer's parameters, e.g. `edit_jobs`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Sync => "sync",
            Permission::ReadJobs => "read_jobs",
            Permission::EditJobs => "edit_jobs",
            Permission::ReadUsers => "read_users",
            Permission::ManageUsers => "manage_users",
            Permission::ReadDevices => "read_devices",
            Permission::ManageDevices => "manage_devices",
            Permission::WatchAll => "watch_all",
            Permission::PublishManuals => "publish_manuals",
            Permission::ReadMetrics => "read_metrics",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Permission::Sync => "sync jobs",
            Permission::ReadJobs => "read jobs",
            Permission::EditJobs => "change jobs",
            Permission::ReadUsers => "list users",
            Permission::ManageUsers => "manage users",
            Permission::ReadDevices => "list devices",
            Permission::ManageDevices => "enroll or revoke devices",
            Permission::WatchAll => "watch every change",
            Permission::PublishManuals => "publish manuals",
            Permission::ReadMetrics => "read the metrics",
        }
    }
}

const OFFICE: &[UserRole] = &[
    UserRole::Dispatcher,
    UserRole::Supervisor,
    UserRole::HeadOfEngineering,
    UserRole::Admin,
];

/// Which office role may do what. [`Permission::Sync`] is no office role's: devices
/// (whatever their user's role) may only sync, and only for their own user.
pub const ACCESS: &[(Permission, &[UserRole])] = &[
    (Permission::ReadJobs, OFFICE),
    (
        Permission::EditJobs,
        &[
            UserRole::Dispatcher,
            UserRole::Supervisor,
            UserRole::HeadOfEngineering,
        ],
    ),
    (Permission::ReadUsers, OFFICE),
    (Permission::ManageUsers, &[UserRole::Admin]),
    (Permission::ReadDevices, OFFICE),
    (
        Permission::ManageDevices,
        &[UserRole::Dispatcher, UserRole::Admin],
    ),
    (Permission::WatchAll, OFFICE),
    (
        Permission::PublishManuals,
        &[
            UserRole::Dispatcher,
            UserRole::Supervisor,
            UserRole::HeadOfEngineering,
        ],
    ),
    (Permission::ReadMetrics, &[UserRole::Admin]),
];

/// Whether an office `role` has `permission`.
pub fn office_may(role: UserRole, permission: Permission) -> bool {
    ACCESS
        .iter()
        .any(|(granted, roles)| *granted == permission && roles.contains(&role))
}

/// How long an office session lasts.
pub const SESSION_LIFETIME_MS: Millis = 12 * 60 * 60 * 1000;
/// How long an enrollment code works.
pub const ENROLLMENT_CODE_LIFETIME_MS: Millis = 24 * 60 * 60 * 1000;
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "fieldsync_session";
/// The header a cookie-authenticated state-changing request must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A signed-in office user.
    Office {
        /// The user's id.
        user: String,
        /// Their role.
        role: UserRole,
        /// The CSRF token, when the session came in a cookie (browsers send cookies on their
        /// own, so state-changing requests must prove they come from our page).
        csrf: Option<String>,
    },
    /// An enrolled device.
    Device(Credential),
}

impl Principal {
    /// The user id.
    pub fn user(&self) -> &str {
        match self {
            Principal::Office { user, .. } => user,
            Principal::Device(credential) => &credential.user_id,
        }
    }

    /// The office user's role (`None` for a device).
    pub fn role(&self) -> Option<UserRole> {
        match self {
            Principal::Office { role, .. } => Some(*role),
            Principal::Device(_) => None,
        }
    }

    /// Checks the principal may do `permission` with a request described by `request`.
    pub fn require(
        &self,
        permission: Permission,
        request: &RequestFacts<'_>,
    ) -> Result<(), DomainError> {
        match self {
            Principal::Device(_) if permission == Permission::Sync => Ok(()),
            Principal::Device(_) => Err(DomainError::forbidden(
                ErrorCode::Forbidden,
                format!(
                    "devices may only sync; {} needs an office sign-in",
                    permission.describe()
                ),
            )
            .with("role", "device")
            .with("permission", permission.as_str())),
            Principal::Office { role, csrf, .. } => {
                if !office_may(*role, permission) {
                    return Err(DomainError::forbidden(
                        ErrorCode::Forbidden,
                        format!(
                            "the role {} may not {}",
                            role.as_str(),
                            permission.describe()
                        ),
                    )
                    .with("role", role.as_str())
                    .with("permission", permission.as_str()));
                }
                if let Some(expected) = csrf
                    && request.changes_state
                    && request.csrf_echo != Some(expected.as_str())
                {
                    return Err(DomainError::forbidden(
                        ErrorCode::CsrfFailed,
                        format!(
                            "a signed-in browser request must carry the `{CSRF_HEADER}` header given at sign-in"
                        ),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// What a request presents, as the transport read it: enough to authenticate the caller and to
/// check a browser's CSRF token, without knowing HTTP.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFacts<'r> {
    /// The `Authorization: Bearer …` token.
    pub bearer: Option<&'r str>,
    /// The session cookie's value.
    pub session_cookie: Option<&'r str>,
    /// Whether the request changes state (anything but a read).
    pub changes_state: bool,
    /// The value of the [`CSRF_HEADER`] it carries.
    pub csrf_echo: Option<&'r str>,
}

/// A new secret as 64 hex digits: two version-4 UUIDs' worth of OS randomness (244 random bits).
pub fn new_secret() -> String {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    format!("{}{}", a.simple(), b.simple())
}

/// What is stored for a secret.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Hashes a password with Argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, DomainError> {
    let salt = SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes())
        .map_err(|e| DomainError::Internal(format!("salt: {e}")))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| DomainError::Internal(format!("password hash: {e}")))
}

fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// A hash no password matches in practice, checked when the account does not exist.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&new_secret()).unwrap_or_default())
}

/// The shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;

/// Turns a request's secret (a bearer token, or the session cookie) into a principal.
pub fn authenticate(
    storage: &dyn Storage,
    request: &RequestFacts<'_>,
    now: Millis,
) -> Result<Principal, DomainError> {
    let (secret, from_cookie) = match (request.bearer, request.session_cookie) {
        (Some(token), _) => (token, false),
        (None, Some(cookie)) => (cookie, true),
        (None, None) => {
            return Err(DomainError::unauthorized(
                ErrorCode::Unauthenticated,
                "sign in, or send the device's credential as `Authorization: Bearer …`",
            ));
        }
    };
    let hash = secret_hash(secret);
    read(storage, |tx| {
        if let Some(session) = tx.session(&hash)? {
            if session.expires_at <= now {
                return Err(DomainError::unauthorized(
                    ErrorCode::SessionExpired,
                    "the session has expired; sign in again",
                ));
            }
            let role = role_of(tx, &session.user_id)?;
            return Ok(Principal::Office {
                user: session.user_id,
                role,
                csrf: from_cookie.then_some(session.csrf),
            });
        }
        match tx.credential_by_token(&hash)? {
            Some(credential) if from_cookie => Err(DomainError::unauthorized(
                ErrorCode::Unauthenticated,
                format!(
                    "device `{}` must send its credential as a bearer token",
                    credential.device_id
                ),
            )),
            Some(credential) if credential.revoked_at.is_some() => Err(DomainError::unauthorized(
                ErrorCode::DeviceRevoked,
                format!("device `{}` has been revoked", credential.device_id),
            )
            .with("device", credential.device_id.as_str())),
            Some(credential) => Ok(Principal::Device(credential)),
            None => Err(DomainError::unauthorized(
                ErrorCode::Unauthenticated,
                "the credential is not valid; sign in again or re-enroll the device",
            )),
        }
    })
}

fn role_of(tx: &dyn ReadTx, user_id: &str) -> Result<UserRole, DomainError> {
    tx.user(user_id)?
        .and_then(|u| UserRole::parse(&u.role))
        .ok_or_else(|| {
            DomainError::unauthorized(
                ErrorCode::Unauthenticated,
                format!("`{user_id}` is no longer a user"),
            )
        })
}

/// What keeps sign-in from being abused: every client address gets
/// [`LoginLimiter::ATTEMPTS_PER_ADDRESS_PER_MINUTE`] attempts on each server node before any
/// account is looked up or any password hashed (it guards the node's CPU, so it is counted in
/// the node's memory); an account gets [`LoginLimiter::MAX_FAILURES`] failures from one address
/// in [`LoginLimiter::WINDOW_MS`], counted in the database so that every node agrees (a guesser
/// elsewhere never locks out the real user); and at most one password hash runs per core, so a
/// flood costs bounded CPU and memory.
pub struct LoginLimiter {
    /// Attempts per client address, before any lookup or password hash.
    per_address: RateLimiter<IpAddr, HashMapStateStore<IpAddr>, DefaultClock>,
    /// Password hashes running now: each costs tens of milliseconds of CPU and 19 MiB.
    hashing: Mutex<usize>,
    hashing_done: Condvar,
    /// Password hashes run since start (failed and successful, real and for unknown accounts).
    hashes: AtomicU64,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter {
            per_address: RateLimiter::hashmap(
                Quota::per_minute(Self::ATTEMPTS_PER_ADDRESS_PER_MINUTE)
                    .allow_burst(Self::ATTEMPTS_PER_ADDRESS_PER_MINUTE),
            ),
            hashing: Mutex::new(0),
            hashing_done: Condvar::new(),
            hashes: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLimiter").finish_non_exhaustive()
    }
}

impl LoginLimiter {
    /// Failures allowed per account and address in a window.
    pub const MAX_FAILURES: usize = 5;
    /// The window, in milliseconds of the server's clock.
    pub const WINDOW_MS: Millis = 15 * 60 * 1000;
    /// Sign-in attempts per client address per minute (a burst of as many).
    pub const ATTEMPTS_PER_ADDRESS_PER_MINUTE: NonZeroU32 = match NonZeroU32::new(10) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    };
    /// How long an attempt waits for a free password-hashing slot before it is turned away.
    pub const HASH_WAIT: Duration = Duration::from_secs(2);

    /// Addresses tracked at most; beyond it, those not seen lately are forgotten.
    const MAX_TRACKED: usize = 10_000;

    /// Password hashes run at once at most: one per core.
    fn hash_slots() -> usize {
        std::thread::available_parallelism().map_or(2, usize::from)
    }

    /// How many password hashes ran since start.
    pub fn hashes(&self) -> u64 {
        self.hashes.load(Ordering::Relaxed)
    }

    /// Counts an attempt as failed before the password is checked (so parallel guesses cannot
    /// all pass the check while the slow hash runs), or refuses it: too many attempts from the
    /// address, or too many failures for the account from it. Returns the recorded failure,
    /// for [`LoginLimiter::take_back`].
    fn attempt(
        &self,
        storage: &dyn Storage,
        user: &str,
        from: Option<IpAddr>,
        now: Millis,
    ) -> Result<u64, DomainError> {
        let from = from.map(network_of);
        if let Some(address) = from {
            if self.per_address.len() >= Self::MAX_TRACKED {
                self.per_address.retain_recent();
            }
            if let Err(not_until) = self.per_address.check_key(&address) {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                return Err(DomainError::TooManyAttempts(wait.as_secs().max(1)));
            }
        }
        let network = from.map(|address| address.to_string()).unwrap_or_default();
        let since = now - Self::WINDOW_MS;
        write(storage, |tx| {
            let recent = tx.sign_in_failures(user, &network, since)?;
            if recent.len() >= Self::MAX_FAILURES {
                let oldest = recent.first().copied().unwrap_or(now);
                let wait_ms = oldest + Self::WINDOW_MS - now;
                return Err(DomainError::TooManyAttempts(
                    u64::try_from(wait_ms / 1000).unwrap_or(0).max(1),
                ));
            }
            Ok(tx.record_sign_in_failure(user, &network, now, since)?)
        })
    }

    /// Takes back the failure recorded as `id`: the password was right, or was never checked.
    fn take_back(&self, storage: &dyn Storage, id: u64) {
        if let Err(e) = write(storage, |tx| tx.forget_sign_in_failure(id)) {
            tracing::warn!(error = %e, "a sign-in that was not a failure stays counted as one");
        }
    }

    /// Runs a password check in a free hashing slot, waiting at most [`Self::HASH_WAIT`] for
    /// one; a flood of sign-ins then costs at most one core per slot.
    fn hash<T>(&self, check: impl FnOnce() -> T) -> Result<T, DomainError> {
        {
            let running = self.hashing.lock().unwrap_or_else(|p| p.into_inner());
            let (mut running, waited) = self
                .hashing_done
                .wait_timeout_while(running, Self::HASH_WAIT, |running| {
                    *running >= Self::hash_slots()
                })
                .unwrap_or_else(|p| p.into_inner());
            if waited.timed_out() && *running >= Self::hash_slots() {
                return Err(DomainError::TooManyAttempts(1));
            }
            *running += 1;
        }
        // Frees the slot however `check` ends.
        struct Slot<'l>(&'l LoginLimiter);
        impl Drop for Slot<'_> {
            fn drop(&mut self) {
                let mut running = self.0.hashing.lock().unwrap_or_else(|p| p.into_inner());
                *running = running.saturating_sub(1);
                drop(running);
                self.0.hashing_done.notify_one();
            }
        }
        let _slot = Slot(self);
        self.hashes.fetch_add(1, Ordering::Relaxed);
        Ok(check())
    }
}

/// A new office session.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    /// The session token: a bearer token for API clients, and the session cookie's value.
    pub token: String,
    /// Echo in `x-csrf-token` on state-changing requests authenticated by the cookie.
    pub csrf: String,
    /// The user.
    pub user: String,
    /// Their role.
    pub role: UserRole,
    /// When the session ends.
    pub expires_at: Millis,
}

/// The longest user id a sign-in accepts.
pub const MAX_USER_ID_LEN: usize = 128;
/// The longest password a sign-in accepts.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// The user's role when `password` is theirs; `None` when it is not (or there is no such
/// account, checked as slowly, so the timing does not tell which accounts exist).
fn check_password(
    storage: &dyn Storage,
    limiter: &LoginLimiter,
    user: &str,
    password: &str,
) -> Result<Option<UserRole>, DomainError> {
    let found = read(storage, |tx| {
        Ok::<_, DomainError>((tx.user(user)?, tx.password_hash(user)?))
    })?;
    Ok(match found {
        (Some(u), Some(hash)) if limiter.hash(|| verify_password(password, &hash))? => {
            UserRole::parse(&u.role)
        }
        (Some(_), Some(_)) => None,
        _ => {
            limiter.hash(|| verify_password(password, dummy_hash()))?;
            None
        }
    })
}

/// The address a limit counts: IPv6 clients by their /64 (one subscriber's network).
pub fn network_of(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(
                segments[0],
                segments[1],
                segments[2],
                segments[3],
                0,
                0,
                0,
                0,
            ))
        }
        v4 => v4,
    }
}

/// One sign-in attempt: who, with which password, from which client address (when known).
#[derive(Debug, Clone, Copy)]
pub struct SignInAttempt<'a> {
    /// The account.
    pub user: &'a str,
    /// The password given.
    pub password: &'a str,
    /// The client's address, when the transport knows it.
    pub from: Option<IpAddr>,
}

/// Forgets an account's failed sign-ins from every address (an admin's unlock), on every
/// node.
pub fn unlock(storage: &dyn Storage, user: &str) -> Result<(), DomainError> {
    Ok(write(storage, |tx| tx.forget_sign_in_failures(user))?)
}

/// Signs an office user in with their password.
pub fn sign_in(
    storage: &dyn Storage,
    limiter: &LoginLimiter,
    attempt: &SignInAttempt<'_>,
    now: Millis,
) -> Result<SignedIn, DomainError> {
    let SignInAttempt {
        user,
        password,
        from,
    } = *attempt;
    // Bounded before anything is counted or hashed: an id or a password of megabytes is not a
    // guess, it is a load.
    if user.len() > MAX_USER_ID_LEN {
        return Err(DomainError::invalid_field(
            "user",
            Problem::TooManyBytes,
            "a user id is at most 128 bytes",
        )
        .with("max", MAX_USER_ID_LEN));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(DomainError::invalid_field(
            "password",
            Problem::TooManyBytes,
            "a password is at most 1,024 bytes",
        )
        .with("max", MAX_PASSWORD_LEN));
    }
    let attempted = limiter.attempt(storage, user, from, now)?;
    let checked = check_password(storage, limiter, user, password);
    // Only a password checked and found wrong counts against the account.
    if !matches!(checked, Ok(None)) {
        limiter.take_back(storage, attempted);
    }
    let Some(role) = checked? else {
        return Err(DomainError::unauthorized(
            ErrorCode::BadCredentials,
            "the user id or the password is wrong",
        ));
    };
    if role == UserRole::Installer {
        return Err(DomainError::forbidden(
            ErrorCode::InstallerSignIn,
            "installers work from an enrolled device; ask dispatch for an enrollment code",
        ));
    }
    let token = new_secret();
    let session = Session {
        user_id: user.to_owned(),
        csrf: new_secret(),
        expires_at: now + SESSION_LIFETIME_MS,
    };
    write(storage, |tx| tx.put_session(&secret_hash(&token), &session))?;
    Ok(SignedIn {
        token,
        csrf: session.csrf,
        user: user.to_owned(),
        role,
        expires_at: session.expires_at,
    })
}

/// Ends the session whose token the request carries (bearer or cookie).
pub fn sign_out(storage: &dyn Storage, request: &RequestFacts<'_>) -> Result<(), DomainError> {
    if let Some(token) = request.bearer.or(request.session_cookie) {
        write(storage, |tx| tx.delete_session(&secret_hash(token)))?;
    }
    Ok(())
}

/// An enrollment code, as handed to dispatch (shown once).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IssuedCode {
    /// The one-time code.
    pub code: String,
    /// The user the device will act for.
    pub user: String,
    /// When it stops working.
    pub expires_at: Millis,
}

/// Issues a one-time enrollment code for an installer's device.
pub fn issue_enrollment_code(
    storage: &dyn Storage,
    issuer: &str,
    user: &str,
    now: Millis,
) -> Result<IssuedCode, DomainError> {
    let code = new_secret();
    let expires_at = now + ENROLLMENT_CODE_LIFETIME_MS;
    write(storage, |tx| {
        match tx.user(user)? {
            Some(u) if u.role == UserRole::Installer.as_str() => {}
            _ => {
                return Err(DomainError::bad_request(
                    ErrorCode::UnknownInstaller,
                    format!("`{user}` is not an installer"),
                )
                .with("user", user));
            }
        }
        tx.put_enrollment_code(
            &secret_hash(&code),
            &EnrollmentCode {
                user_id: user.to_owned(),
                created_by: issuer.to_owned(),
                expires_at,
                used_at: None,
            },
        )?;
        Ok(())
    })?;
    Ok(IssuedCode {
        code,
        user: user.to_owned(),
        expires_at,
    })
}

/// An enrollment code with the link a phone scans to enroll (shown once).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Invitation {
    /// The code, whose user and expiry the link carries too.
    #[serde(flatten)]
    pub issued: IssuedCode,
    /// `fieldsync://enroll?server=…&user=…&code=…` (`docs/mobile.md`): the server, the user
    /// and the code in one text.
    pub link: String,
    /// The link as a QR code: one string per row of modules, `1` dark and `0` light, without
    /// the quiet zone (leave four light modules around it).
    pub qr: Vec<String>,
}

impl Invitation {
    /// The invitation to enroll at `server` (the base URL phones reach) with `issued`.
    pub fn new(server: &str, issued: IssuedCode) -> Result<Invitation, DomainError> {
        let link = fieldsync_protocol::enrollment::EnrollmentLink {
            server: server.trim_end_matches('/').to_owned(),
            user: issued.user.clone(),
            code: issued.code.clone(),
        }
        .to_uri();
        // What phones would refuse is never handed out.
        fieldsync_protocol::enrollment::EnrollmentLink::parse(&link)
            .map_err(|e| DomainError::Internal(format!("the enrollment link: {e}")))?;
        let code = qrcode::QrCode::with_error_correction_level(&link, qrcode::EcLevel::M)
            .map_err(|e| DomainError::Internal(format!("the enrollment QR code: {e}")))?;
        let width = code.width();
        let qr = code
            .to_colors()
            .chunks(width.max(1))
            .map(|row| {
                row.iter()
                    .map(|module| match module {
                        qrcode::Color::Dark => '1',
                        qrcode::Color::Light => '0',
                    })
                    .collect()
            })
            .collect();
        Ok(Invitation { issued, link, qr })
    }
}

/// A device's new credential (shown once; the device keeps it in its platform keystore).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Enrolled {
    /// The device id.
    pub device: String,
    /// The user the device acts for.
    pub user: String,
    /// Their name as the office knows it (printed on service reports).
    pub name: String,
    /// The bearer credential.
    pub credential: String,
}

/// Enrolls a device with a one-time code: the device gets its credential and the code is spent.
pub fn enroll(
    storage: &dyn Storage,
    code: &str,
    device_id: &str,
    expected_user: Option<&str>,
    now: Millis,
) -> Result<Enrolled, DomainError> {
    if device_id.trim().is_empty() || device_id.len() > 128 || device_id.starts_with('@') {
        return Err(DomainError::bad_request(
            ErrorCode::BadDevice,
            "`device` must be 1 to 128 characters and not start with `@` (reserved for the server)",
        ));
    }
    let credential = new_secret();
    let code_hash = secret_hash(code);
    write(storage, |tx| {
        let invalid = || {
            DomainError::unauthorized(
                ErrorCode::InvalidEnrollmentCode,
                "the enrollment code is unknown, used or expired; ask dispatch for a new one",
            )
        };
        let issued = tx.enrollment_code(&code_hash)?.ok_or_else(invalid)?;
        if issued.used_at.is_some() || issued.expires_at <= now {
            return Err(invalid());
        }
        // Checked before the code is spent: a phone signed in as someone else keeps its code.
        if let Some(expected) = expected_user
            && expected != issued.user_id
        {
            return Err(DomainError::conflict(
                Problem::CodeForAnotherInstaller,
                format!("the enrollment code is for another installer than `{expected}`"),
            )
            .with("user", expected));
        }
        if !tx.use_enrollment_code(&code_hash, now)? {
            return Err(invalid());
        }
        let taken_by_sync = tx.device(device_id)?.map(|d| d.user_id);
        let taken_by_enrollment = tx.credential(device_id)?.map(|c| c.user_id);
        if let Some(owner) = taken_by_sync.or(taken_by_enrollment)
            && owner != issued.user_id
        {
            return Err(DomainError::conflict(
                Problem::DeviceOfAnotherUser,
                format!("device `{device_id}` belongs to another user"),
            )
            .with("device", device_id));
        }
        put_credential(tx, &credential, device_id, &issued, now)?;
        let name = tx
            .user(&issued.user_id)?
            .map_or_else(|| issued.user_id.clone(), |u| u.name);
        Ok(Enrolled {
            device: device_id.to_owned(),
            user: issued.user_id.clone(),
            name,
            credential: credential.clone(),
        })
    })
}

fn put_credential(
    tx: &mut dyn WriteTx,
    credential: &str,
    device_id: &str,
    issued: &EnrollmentCode,
    now: Millis,
) -> Result<(), DomainError> {
    tx.put_credential(
        &secret_hash(credential),
        &Credential {
            device_id: device_id.to_owned(),
            user_id: issued.user_id.clone(),
            enrolled_at: now,
            enrolled_by: issued.created_by.clone(),
            revoked_at: None,
            flagged_at: None,
        },
    )?;
    Ok(())
}

/// Revokes a device at once: its next request is refused with `device_revoked`, and the app
/// wipes the jobs it holds.
pub fn revoke(storage: &dyn Storage, device_id: &str, now: Millis) -> Result<(), DomainError> {
    write(storage, |tx| {
        if tx.revoke_device(device_id, now)? {
            Ok(())
        } else {
            Err(DomainError::not_found(Thing::Device, device_id))
        }
    })
}

/// Creates or updates a user; with a password, sets it too.
pub fn put_user(
    storage: &dyn Storage,
    user: &User,
    password: Option<&str>,
) -> Result<(), DomainError> {
    if user.id.trim().is_empty() || user.id.len() > 128 {
        return Err(DomainError::bad_request(
            ErrorCode::InvalidUser,
            "a user id must be 1 to 128 characters",
        ));
    }
    if UserRole::parse(&user.role).is_none() {
        let roles: Vec<&str> = UserRole::ALL.iter().map(|r| r.as_str()).collect();
        return Err(DomainError::bad_request(
            ErrorCode::InvalidUser,
            format!("unknown role `{}`; roles are {roles:?}", user.role),
        ));
    }
    let hash = match password {
        Some(p) if p.chars().count() < MIN_PASSWORD_LEN => {
            return Err(DomainError::bad_request(
                ErrorCode::WeakPassword,
                format!("a password needs at least {MIN_PASSWORD_LEN} characters"),
            )
            .with("min", MIN_PASSWORD_LEN));
        }
        Some(p) => Some(hash_password(p)?),
        None => None,
    };
    write(storage, |tx| {
        // A region is checked against the list when it changes: an engineer keeps a retired one.
        let kept = tx
            .user(&user.id)?
            .is_some_and(|old| old.region == user.region);
        if !kept
            && let Some(problem) =
                ManagedLists::load(tx)?.problem(ListKind::Region, "region", &user.region)
        {
            return Err(problem);
        }
        tx.put_user(user)?;
        if let Some(hash) = &hash {
            // A new password ends every session signed in with the old one.
            tx.set_password_hash(&user.id, hash)?;
        }
        Ok(())
    })
}

/// Makes sure an admin account exists. With `password`, the `admin` account has it: created,
/// or its password set when it differs (every node of a deployment starts with the same one, and
/// setting a password ends the sessions signed in with the old one, so an unchanged password is
/// left alone). Without, `admin` is created with a generated password when there is no admin
/// yet, checked and created in one write transaction, so that nodes starting together on an empty
/// database create one admin between them. Returns the password it generated.
pub fn ensure_admin(
    storage: &dyn Storage,
    password: Option<&str>,
) -> Result<Option<String>, DomainError> {
    let admin = User {
        id: "admin".into(),
        name: "Administrator".into(),
        role: UserRole::Admin.as_str().into(),
        region: String::new(),
        skills: Vec::new(),
    };
    if let Some(password) = password {
        let (user, hash) = read(storage, |tx| {
            Ok::<_, DomainError>((tx.user(&admin.id)?, tx.password_hash(&admin.id)?))
        })?;
        let unchanged = user.is_some_and(|u| u.role == admin.role)
            && hash.is_some_and(|hash| verify_password(password, &hash));
        if !unchanged {
            put_user(storage, &admin, Some(password))?;
        }
        return Ok(None);
    }
    let generated = new_secret();
    let hash = hash_password(&generated)?;
    let created = write(storage, |tx| {
        if tx.users()?.iter().any(|u| u.role == admin.role) {
            return Ok::<_, DomainError>(false);
        }
        tx.put_user(&admin)?;
        tx.set_password_hash(&admin.id, &hash)?;
        Ok(true)
    })?;
    Ok(created.then_some(generated))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::SqliteStorage;

    /// `Permission::ALL` names every permission once (the match stops compiling when one is
    /// added), so the console's catalogs, checked against it, name them all.
    #[test]
    fn all_permissions_are_listed_once() {
        for permission in Permission::ALL {
            match permission {
                Permission::Sync
                | Permission::ReadJobs
                | Permission::EditJobs
                | Permission::ReadUsers
                | Permission::ManageUsers
                | Permission::ReadDevices
                | Permission::ManageDevices
                | Permission::WatchAll
                | Permission::PublishManuals
                | Permission::ReadMetrics => {}
            }
        }
        let names: std::collections::BTreeSet<&str> =
            Permission::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(names.len(), Permission::ALL.len());
        assert_eq!(
            names.len(),
            10,
            "a permission was added: list it in Permission::ALL"
        );
    }

    #[test]
    fn nodes_starting_together_make_one_admin_and_keep_its_sessions() {
        let (_dir, storage) = storage();
        // Three nodes on an empty database, no password given: one admin, one password shown.
        let shown: Vec<String> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..3)
                .map(|_| scope.spawn(|| ensure_admin(&storage, None).expect("admin")))
                .collect();
            starts
                .into_iter()
                .filter_map(|start| start.join().expect("start"))
                .collect()
        });
        assert_eq!(shown.len(), 1, "{shown:?}");
        let limiter = LoginLimiter::default();
        let session = attempt(&storage, &limiter, "admin", &shown[0], None).expect("sign in");
        // A node started with the password the admin has keeps their session; a new one ends it.
        ensure_admin(&storage, Some(&shown[0])).expect("same password");
        assert!(authenticate(&storage, &with_bearer(&session.token), 1).is_ok());
        ensure_admin(&storage, Some("a new admin password")).expect("new password");
        assert!(authenticate(&storage, &with_bearer(&session.token), 1).is_err());
        assert!(attempt(&storage, &limiter, "admin", "a new admin password", None).is_ok());
    }

    fn storage() -> (tempfile::TempDir, SqliteStorage) {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = SqliteStorage::open(dir.path().join("s.db")).expect("open");
        (dir, storage)
    }

    fn user(id: &str, role: UserRole) -> User {
        User {
            id: id.into(),
            name: id.into(),
            role: role.as_str().into(),
            region: String::new(),
            skills: Vec::new(),
        }
    }

    fn password(id: &str) -> String {
        format!("{id}-password-1")
    }

    /// Creates a user with the password [`password`] gives.
    fn person(storage: &SqliteStorage, id: &str, role: UserRole) {
        put_user(storage, &user(id, role), Some(&password(id))).expect("user");
    }

    fn with_bearer(token: &str) -> RequestFacts<'_> {
        RequestFacts {
            bearer: Some(token),
            ..RequestFacts::default()
        }
    }

    /// A state-changing request with the same credentials.
    fn writing<'r>(request: &RequestFacts<'r>) -> RequestFacts<'r> {
        RequestFacts {
            changes_state: true,
            ..*request
        }
    }

    /// Signs `user` in with `password` from the address `from`.
    fn attempt(
        storage: &SqliteStorage,
        limiter: &LoginLimiter,
        user: &str,
        password: &str,
        from: Option<&str>,
    ) -> Result<SignedIn, DomainError> {
        let from = from.map(|ip| ip.parse().expect("ip"));
        sign_in(
            storage,
            limiter,
            &SignInAttempt {
                user,
                password,
                from,
            },
            1,
        )
    }

    #[test]
    fn passwords_are_hashed_and_checked() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong horse battery", &hash));
    }

    #[test]
    fn sign_in_is_rate_limited_per_user_across_nodes() {
        let (_dir, storage) = storage();
        person(&storage, "dana", UserRole::Dispatcher);
        let limiter = LoginLimiter::default();
        // Two nodes, each with its own limiter, count the account's failures together.
        let other_node = LoginLimiter::default();
        for n in 0..LoginLimiter::MAX_FAILURES {
            let node = if n % 2 == 0 { &limiter } else { &other_node };
            let e = attempt(&storage, node, "dana", "nope", None).expect_err("wrong");
            assert!(matches!(
                e,
                DomainError::Unauthorized {
                    code: ErrorCode::BadCredentials,
                    ..
                }
            ));
        }
        // Even the right password is refused until the window passes.
        let e = attempt(&storage, &limiter, "dana", &password("dana"), None).expect_err("limited");
        assert!(matches!(e, DomainError::TooManyAttempts(_)), "{e:?}");
        // Other accounts are not locked out.
        person(&storage, "eve", UserRole::Dispatcher);
        assert!(attempt(&storage, &limiter, "eve", &password("eve"), None).is_ok());
        let e = attempt(&storage, &other_node, "dana", &password("dana"), None)
            .expect_err("limited on every node");
        assert!(matches!(e, DomainError::TooManyAttempts(_)), "{e:?}");
        // An admin's unlock lifts it.
        unlock(&storage, "dana").expect("unlock");
        assert!(attempt(&storage, &limiter, "dana", &password("dana"), None).is_ok());
    }

    #[test]
    fn a_guesser_locks_out_only_itself_and_is_slowed_before_any_hash() {
        let (_dir, storage) = storage();
        person(&storage, "dana", UserRole::Dispatcher);
        let limiter = LoginLimiter::default();
        let guesser = Some("203.0.113.7");
        for _ in 0..LoginLimiter::MAX_FAILURES {
            assert!(attempt(&storage, &limiter, "dana", "nope-nope-nope", guesser).is_err());
        }
        let e =
            attempt(&storage, &limiter, "dana", &password("dana"), guesser).expect_err("locked");
        assert!(matches!(e, DomainError::TooManyAttempts(_)), "{e:?}");
        // Dana at her desk is not locked out by it.
        assert!(
            attempt(
                &storage,
                &limiter,
                "dana",
                &password("dana"),
                Some("192.0.2.1")
            )
            .is_ok()
        );
        // Unknown accounts from one address: past the per-address budget no hash runs.
        let hashes = limiter.hashes();
        let other = Some("198.51.100.9");
        let mut refused = 0;
        for n in 0..50 {
            if let Err(DomainError::TooManyAttempts(_)) = attempt(
                &storage,
                &limiter,
                &format!("nobody{n}"),
                "guess-guess-1",
                other,
            ) {
                refused += 1;
            }
        }
        let per_address = LoginLimiter::ATTEMPTS_PER_ADDRESS_PER_MINUTE.get();
        assert_eq!(refused, 50 - per_address);
        assert_eq!(limiter.hashes() - hashes, u64::from(per_address));
    }

    #[test]
    fn sessions_expire_and_csrf_guards_cookie_writes() {
        let (_dir, storage) = storage();
        person(&storage, "dana", UserRole::Dispatcher);
        let session = attempt(
            &storage,
            &LoginLimiter::default(),
            "dana",
            &password("dana"),
            None,
        )
        .expect("sign in");
        let principal = authenticate(&storage, &with_bearer(&session.token), 2).expect("auth");
        assert!(
            principal
                .require(Permission::EditJobs, &writing(&RequestFacts::default()))
                .is_ok()
        );
        assert!(
            principal
                .require(Permission::ManageUsers, &writing(&RequestFacts::default()))
                .is_err()
        );

        let mut cookie = RequestFacts {
            session_cookie: Some(&session.token),
            ..RequestFacts::default()
        };
        let principal = authenticate(&storage, &cookie, 2).expect("auth");
        assert!(principal.require(Permission::ReadJobs, &cookie).is_ok());
        assert!(
            principal
                .require(Permission::EditJobs, &writing(&cookie))
                .is_err()
        );
        cookie.csrf_echo = Some(&session.csrf);
        assert!(
            principal
                .require(Permission::EditJobs, &writing(&cookie))
                .is_ok()
        );

        let expired = authenticate(&storage, &with_bearer(&session.token), session.expires_at);
        assert!(matches!(
            expired,
            Err(DomainError::Unauthorized {
                code: ErrorCode::SessionExpired,
                ..
            })
        ));
    }

    #[test]
    fn enrollment_codes_work_once_and_revocation_is_immediate() {
        let (_dir, storage) = storage();
        put_user(&storage, &user("anna", UserRole::Installer), None).expect("user");
        assert!(issue_enrollment_code(&storage, "dispatch", "nobody", 1).is_err());
        let issued = issue_enrollment_code(&storage, "dispatch", "anna", 1).expect("code");
        let enrolled = enroll(&storage, &issued.code, "phone-1", Some("anna"), 2).expect("enroll");
        assert_eq!(enrolled.user, "anna");
        assert!(
            enroll(&storage, &issued.code, "phone-2", None, 3).is_err(),
            "a code works once"
        );
        let late = issue_enrollment_code(&storage, "dispatch", "anna", 1).expect("code");
        assert!(
            enroll(
                &storage,
                &late.code,
                "phone-3",
                None,
                1 + ENROLLMENT_CODE_LIFETIME_MS
            )
            .is_err()
        );
        // A code for someone else is refused before it is spent, and the server's name is
        // reserved.
        let other = issue_enrollment_code(&storage, "dispatch", "anna", 1).expect("code");
        assert!(enroll(&storage, &other.code, "phone-4", Some("ben"), 2).is_err());
        assert!(enroll(&storage, &other.code, "@server", None, 2).is_err());
        assert!(enroll(&storage, &other.code, "phone-4", Some("anna"), 2).is_ok());

        let headers = with_bearer(&enrolled.credential);
        let principal = authenticate(&storage, &headers, 4).expect("auth");
        assert_eq!(principal.user(), "anna");
        assert!(
            principal
                .require(Permission::Sync, &writing(&headers))
                .is_ok()
        );
        assert!(principal.require(Permission::ReadJobs, &headers).is_err());
        revoke(&storage, "phone-1", 5).expect("revoke");
        let revoked = authenticate(&storage, &headers, 6);
        assert!(matches!(
            revoked,
            Err(DomainError::Unauthorized {
                code: ErrorCode::DeviceRevoked,
                ..
            })
        ));
        // Nothing stored is the secret itself.
        let conn = rusqlite::Connection::open(_dir.path().join("s.db")).expect("open");
        let stored: Vec<u8> = conn
            .query_row(
                "SELECT token_hash FROM credentials WHERE device_id = 'phone-1'",
                [],
                |r| r.get(0),
            )
            .expect("row");
        assert_eq!(stored, secret_hash(&enrolled.credential).to_vec());
    }

    #[test]
    fn installers_do_not_sign_in_to_the_office() {
        let (_dir, storage) = storage();
        person(&storage, "anna", UserRole::Installer);
        let e = attempt(
            &storage,
            &LoginLimiter::default(),
            "anna",
            &password("anna"),
            None,
        )
        .expect_err("refused");
        assert!(matches!(
            e,
            DomainError::Forbidden {
                code: ErrorCode::InstallerSignIn,
                ..
            }
        ));
    }
}
