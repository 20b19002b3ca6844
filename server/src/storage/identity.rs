//! Who uses Fieldsync: users and their passwords, office sessions, enrollment codes, device
//! credentials, and the devices the sync protocol has seen with their cursors and actors.

use fieldsync_protocol::Millis;
use serde::{Deserialize, Serialize};

use super::StorageError;

/// A device's credential, issued at enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Credential {
    /// The device id (chosen by the app install).
    pub device_id: String,
    /// The user the device acts for.
    pub user_id: String,
    /// When it was enrolled.
    pub enrolled_at: Millis,
    /// Who issued the enrollment code.
    pub enrolled_by: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Millis>,
    /// When it was flagged for an admin (repeated rule violations), if it was.
    pub flagged_at: Option<Millis>,
}

/// A signed-in office session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who signed in.
    pub user_id: String,
    /// The token a cookie-authenticated request must echo in `x-csrf-token`.
    pub csrf: String,
    /// When it stops working.
    pub expires_at: Millis,
}

/// A one-time enrollment code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentCode {
    /// The user the enrolled device will act for.
    pub user_id: String,
    /// Who issued it.
    pub created_by: String,
    /// When it stops working.
    pub expires_at: Millis,
    /// When it was used, if it was.
    pub used_at: Option<Millis>,
}

/// A device the server has seen, and where it is in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The device id.
    pub device_id: String,
    /// The user it belongs to.
    pub user_id: String,
    /// Its Automerge actor id.
    pub actor: Vec<u8>,
    /// The cursor it presented last (what it acknowledged).
    pub last_presented_cursor: u64,
    /// The cursor the server issued to it last.
    pub last_issued_cursor: u64,
    /// When it last synced (server clock).
    pub last_seen: Millis,
}

/// A person who uses Fieldsync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    /// The user id (also what `assignee` holds).
    pub id: String,
    /// Display name.
    pub name: String,
    /// `installer`, `dispatcher`, `supervisor`, `head_of_engineering` or `admin`.
    pub role: String,
    /// Home region.
    #[serde(default)]
    pub region: String,
    /// Skills (product families, kinds of work).
    #[serde(default)]
    pub skills: Vec<String>,
}

/// The version of [`WorkSchedule`]'s stored JSON.
pub const SCHEDULE_VERSION: u32 = 1;

/// An engineer's working week and time off, which planning holds bookings to (as JSON, `v` 1).
/// Times and days are the organisation's (`serve --time-zone`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkSchedule {
    /// The stored shape's version, [`SCHEDULE_VERSION`].
    #[serde(default = "schedule_version")]
    pub v: u32,
    /// Seven days, Monday first: the hours worked that weekday, `null` for a day off.
    pub week: Vec<Option<Shift>>,
    /// Days away (leave, training, sickness), by first day.
    #[serde(default)]
    pub time_off: Vec<TimeOff>,
}

fn schedule_version() -> u32 {
    SCHEDULE_VERSION
}

/// The hours of one working day, `HH:MM` to `HH:MM` (`24:00` for midnight at its end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Shift {
    /// When work starts.
    pub start: String,
    /// When it ends.
    pub end: String,
}

/// Whole days away, `from` to `to` inclusive (`YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimeOff {
    /// The first day away.
    pub from: String,
    /// The last day away.
    pub to: String,
    /// Why, in the office's words (may be empty).
    #[serde(default)]
    pub reason: String,
}

/// Reads of this area inside one transaction.
pub trait DeviceStore {
    /// The device that uploaded changes by `actor`, if any did.
    fn device_for_actor(&self, actor: &[u8]) -> Result<Option<String>, StorageError>;
    /// A device.
    fn device(&self, device_id: &str) -> Result<Option<DeviceRecord>, StorageError>;
    /// Every user.
    fn users(&self) -> Result<Vec<User>, StorageError>;
    /// A user's working week and time off, if the office gave them one.
    fn work_schedule(&self, user_id: &str) -> Result<Option<WorkSchedule>, StorageError>;
    /// Every working week and time off the office gave, by user id.
    fn work_schedules(&self) -> Result<Vec<(String, WorkSchedule)>, StorageError>;
    /// One user.
    fn user(&self, user_id: &str) -> Result<Option<User>, StorageError>;
    /// A user's password hash (PHC string), if they have a password.
    fn password_hash(&self, user_id: &str) -> Result<Option<String>, StorageError>;
    /// The session whose token hashes to `token_hash`.
    fn session(&self, token_hash: &[u8]) -> Result<Option<Session>, StorageError>;
    /// The enrollment code that hashes to `code_hash`.
    fn enrollment_code(&self, code_hash: &[u8]) -> Result<Option<EnrollmentCode>, StorageError>;
    /// The device whose credential hashes to `token_hash`.
    fn credential_by_token(&self, token_hash: &[u8]) -> Result<Option<Credential>, StorageError>;
    /// One enrolled device.
    fn credential(&self, device_id: &str) -> Result<Option<Credential>, StorageError>;
    /// Every enrolled device, by device id.
    fn credentials(&self) -> Result<Vec<Credential>, StorageError>;
    /// When sign-ins to `user` from the client network `network` failed since `since`, oldest
    /// first (shared by every server node, so a guesser cannot multiply its budget by the
    /// number of nodes).
    fn sign_in_failures(
        &self,
        user: &str,
        network: &str,
        since: Millis,
    ) -> Result<Vec<Millis>, StorageError>;
}

/// Writes of this area inside one transaction.
pub trait DeviceStoreMut: DeviceStore {
    /// Creates or updates a device.
    fn put_device(&mut self, device: &DeviceRecord) -> Result<(), StorageError>;
    /// Records that `actor` belongs to `device_id` (the first device seen with it keeps it).
    fn record_actor(&mut self, actor: &[u8], device_id: &str) -> Result<(), StorageError>;
    /// Creates or updates a user.
    fn put_user(&mut self, user: &User) -> Result<(), StorageError>;
    /// Sets (`Some`) or removes a user's working week and time off.
    fn set_work_schedule(
        &mut self,
        user_id: &str,
        schedule: Option<&WorkSchedule>,
    ) -> Result<(), StorageError>;
    /// Sets a user's password hash (PHC string) and ends the user's sessions.
    fn set_password_hash(&mut self, user_id: &str, hash: &str) -> Result<(), StorageError>;
    /// Stores a session under its token's hash.
    fn put_session(&mut self, token_hash: &[u8], session: &Session) -> Result<(), StorageError>;
    /// Ends a session.
    fn delete_session(&mut self, token_hash: &[u8]) -> Result<(), StorageError>;
    /// Stores an enrollment code under its hash.
    fn put_enrollment_code(
        &mut self,
        code_hash: &[u8],
        code: &EnrollmentCode,
    ) -> Result<(), StorageError>;
    /// Marks a code used; false when it was already used (or does not exist).
    fn use_enrollment_code(&mut self, code_hash: &[u8], now: Millis) -> Result<bool, StorageError>;
    /// Creates or replaces a device's credential (re-enrolling a device replaces its token and
    /// lifts a revocation; a flag for an admin stays).
    fn put_credential(
        &mut self,
        token_hash: &[u8],
        credential: &Credential,
    ) -> Result<(), StorageError>;
    /// Revokes a device's credential at once; false when there is no such device.
    fn revoke_device(&mut self, device_id: &str, now: Millis) -> Result<bool, StorageError>;
    /// Flags a device for an admin (first flag time kept).
    fn flag_device(&mut self, device_id: &str, now: Millis) -> Result<(), StorageError>;
    /// Records a failed sign-in to `user` from `network` at `at` and returns its id; failures
    /// before `forget_before` (of anyone) are forgotten, so the table holds only a window.
    fn record_sign_in_failure(
        &mut self,
        user: &str,
        network: &str,
        at: Millis,
        forget_before: Millis,
    ) -> Result<u64, StorageError>;
    /// Takes back one recorded failure (the password turned out right, or was never checked).
    fn forget_sign_in_failure(&mut self, id: u64) -> Result<(), StorageError>;
    /// Forgets every failure of `user`, from every network (an admin's unlock).
    fn forget_sign_in_failures(&mut self, user: &str) -> Result<(), StorageError>;
}

/// A working week as stored.
pub(crate) fn encode_schedule(schedule: &WorkSchedule) -> Result<String, StorageError> {
    serde_json::to_string(schedule).map_err(|e| StorageError::Corrupt(format!("schedule: {e}")))
}

/// A stored working week.
pub(crate) fn decode_schedule(json: &str) -> Result<WorkSchedule, StorageError> {
    serde_json::from_str(json).map_err(|e| StorageError::Corrupt(format!("schedule: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored JSON of a working week is pinned: a newer server reads what an older one
    /// wrote, and writes the same.
    #[test]
    fn the_stored_schedule_is_pinned() {
        let json = r#"{"v":1,"week":[{"start":"08:00","end":"17:00"},{"start":"08:00","end":"17:00"},{"start":"08:00","end":"17:00"},{"start":"08:00","end":"17:00"},{"start":"08:00","end":"12:00"},null,null],"time_off":[{"from":"2030-01-07","to":"2030-01-11","reason":"年假"}]}"#;
        let schedule = decode_schedule(json).expect("decodes");
        assert_eq!(
            schedule.week[4].as_ref().map(|s| s.end.as_str()),
            Some("12:00")
        );
        assert_eq!(schedule.time_off[0].reason, "年假");
        assert_eq!(encode_schedule(&schedule).expect("encodes"), json);
    }
}
