//! PostgreSQL for users, sessions, enrollment codes, credentials and devices: their tables
//! ([`SCHEMA`]) and the [`DeviceStore`] traits over them.

use ::postgres::Row;
use fieldsync_protocol::Millis;

use super::{Tx, to_i64, to_u64};
use crate::storage::identity::{decode_schedule, encode_schedule};
use crate::storage::{
    Credential, DeviceRecord, DeviceStore, DeviceStoreMut, EnrollmentCode, Session, StorageError,
    User, WorkSchedule,
};

/// Each engineer's working week and time off: SQLite's migration 17.
pub(super) const SCHEDULES: &str = r#"
    CREATE TABLE work_schedules (
        user_id TEXT COLLATE "C" PRIMARY KEY REFERENCES users(id),
        schedule TEXT NOT NULL
    );
"#;

/// The tables of users, sessions, enrollment codes, credentials, devices and actors: the layout
/// SQLite's migrations 1 and 2 leave. Every text column compares and sorts bytewise
/// (`COLLATE "C"`), as all text does in SQLite, whatever the database's default collation.
pub(super) const SCHEMA: &str = r#"
    CREATE TABLE users (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL,
        role TEXT COLLATE "C" NOT NULL,
        region TEXT COLLATE "C" NOT NULL DEFAULT '',
        skills TEXT COLLATE "C" NOT NULL DEFAULT '[]',
        password_hash TEXT COLLATE "C"
    );
    CREATE TABLE sessions (
        token_hash BYTEA PRIMARY KEY,
        user_id TEXT COLLATE "C" NOT NULL REFERENCES users(id),
        csrf TEXT COLLATE "C" NOT NULL,
        expires_at BIGINT NOT NULL
    );
    CREATE TABLE enrollment_codes (
        code_hash BYTEA PRIMARY KEY,
        user_id TEXT COLLATE "C" NOT NULL REFERENCES users(id),
        created_by TEXT COLLATE "C" NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT
    );
    CREATE TABLE credentials (
        device_id TEXT COLLATE "C" PRIMARY KEY,
        user_id TEXT COLLATE "C" NOT NULL REFERENCES users(id),
        token_hash BYTEA NOT NULL UNIQUE,
        enrolled_at BIGINT NOT NULL,
        enrolled_by TEXT COLLATE "C" NOT NULL,
        revoked_at BIGINT,
        flagged_at BIGINT
    );
    CREATE TABLE devices (
        device_id TEXT COLLATE "C" PRIMARY KEY,
        user_id TEXT COLLATE "C" NOT NULL,
        actor BYTEA NOT NULL,
        last_presented_cursor BIGINT NOT NULL,
        last_issued_cursor BIGINT NOT NULL,
        last_seen BIGINT NOT NULL
    );
    CREATE INDEX devices_by_user ON devices(user_id);
    CREATE TABLE actors (
        actor BYTEA PRIMARY KEY,
        device_id TEXT COLLATE "C" NOT NULL
    );
"#;

/// What every credential read selects, in the order [`credential_from`] reads it.
const CREDENTIAL_COLUMNS: &str = "SELECT device_id, user_id, enrolled_at, enrolled_by, revoked_at, \
     flagged_at FROM credentials";

/// A credential from a row of [`CREDENTIAL_COLUMNS`].
fn credential_from(row: &Row) -> Result<Credential, StorageError> {
    Ok(Credential {
        device_id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        enrolled_at: row.try_get(2)?,
        enrolled_by: row.try_get(3)?,
        revoked_at: row.try_get(4)?,
        flagged_at: row.try_get(5)?,
    })
}

/// What every user read selects, in the order [`user_from`] reads it.
const USER_COLUMNS: &str = "SELECT id, name, role, region, skills FROM users";

/// A user from a row of [`USER_COLUMNS`] (the skills are stored as a JSON array).
fn user_from(row: &Row) -> Result<User, StorageError> {
    let skills: String = row.try_get(4)?;
    Ok(User {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        role: row.try_get(2)?,
        region: row.try_get(3)?,
        skills: serde_json::from_str(&skills)
            .map_err(|e| StorageError::Corrupt(format!("user skills: {e}")))?,
    })
}

impl DeviceStore for Tx<'_> {
    fn device_for_actor(&self, actor: &[u8]) -> Result<Option<String>, StorageError> {
        Ok(self
            .query_opt("SELECT device_id FROM actors WHERE actor = $1", &[&actor])?
            .map(|row| row.try_get::<_, String>(0))
            .transpose()?)
    }

    fn device(&self, device_id: &str) -> Result<Option<DeviceRecord>, StorageError> {
        let Some(row) = self.query_opt(
            "SELECT device_id, user_id, actor, last_presented_cursor, last_issued_cursor, last_seen
             FROM devices WHERE device_id = $1",
            &[&device_id],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(DeviceRecord {
            device_id: row.try_get(0)?,
            user_id: row.try_get(1)?,
            actor: row.try_get(2)?,
            last_presented_cursor: to_u64(row.try_get(3)?),
            last_issued_cursor: to_u64(row.try_get(4)?),
            last_seen: row.try_get(5)?,
        }))
    }

    fn work_schedule(&self, user_id: &str) -> Result<Option<WorkSchedule>, StorageError> {
        self.query_opt(
            "SELECT schedule FROM work_schedules WHERE user_id = $1",
            &[&user_id],
        )?
        .map(|row| decode_schedule(&row.try_get::<_, String>(0)?))
        .transpose()
    }

    fn work_schedules(&self) -> Result<Vec<(String, WorkSchedule)>, StorageError> {
        self.query(
            "SELECT user_id, schedule FROM work_schedules ORDER BY user_id",
            &[],
        )?
        .iter()
        .map(|row| {
            Ok((
                row.try_get(0)?,
                decode_schedule(&row.try_get::<_, String>(1)?)?,
            ))
        })
        .collect()
    }

    fn users(&self) -> Result<Vec<User>, StorageError> {
        self.query(&format!("{USER_COLUMNS} ORDER BY id"), &[])?
            .iter()
            .map(user_from)
            .collect()
    }

    fn user(&self, user_id: &str) -> Result<Option<User>, StorageError> {
        self.query_opt(&format!("{USER_COLUMNS} WHERE id = $1"), &[&user_id])?
            .as_ref()
            .map(user_from)
            .transpose()
    }

    fn password_hash(&self, user_id: &str) -> Result<Option<String>, StorageError> {
        // No such user and a user without a password both read as no hash.
        Ok(self
            .query_opt("SELECT password_hash FROM users WHERE id = $1", &[&user_id])?
            .map(|row| row.try_get::<_, Option<String>>(0))
            .transpose()?
            .flatten())
    }

    fn session(&self, token_hash: &[u8]) -> Result<Option<Session>, StorageError> {
        let Some(row) = self.query_opt(
            "SELECT user_id, csrf, expires_at FROM sessions WHERE token_hash = $1",
            &[&token_hash],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(Session {
            user_id: row.try_get(0)?,
            csrf: row.try_get(1)?,
            expires_at: row.try_get(2)?,
        }))
    }

    fn enrollment_code(&self, code_hash: &[u8]) -> Result<Option<EnrollmentCode>, StorageError> {
        let Some(row) = self.query_opt(
            "SELECT user_id, created_by, expires_at, used_at FROM enrollment_codes
             WHERE code_hash = $1",
            &[&code_hash],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(EnrollmentCode {
            user_id: row.try_get(0)?,
            created_by: row.try_get(1)?,
            expires_at: row.try_get(2)?,
            used_at: row.try_get(3)?,
        }))
    }

    fn credential_by_token(&self, token_hash: &[u8]) -> Result<Option<Credential>, StorageError> {
        self.query_opt(
            &format!("{CREDENTIAL_COLUMNS} WHERE token_hash = $1"),
            &[&token_hash],
        )?
        .as_ref()
        .map(credential_from)
        .transpose()
    }

    fn credential(&self, device_id: &str) -> Result<Option<Credential>, StorageError> {
        self.query_opt(
            &format!("{CREDENTIAL_COLUMNS} WHERE device_id = $1"),
            &[&device_id],
        )?
        .as_ref()
        .map(credential_from)
        .transpose()
    }

    fn credentials(&self) -> Result<Vec<Credential>, StorageError> {
        self.query(&format!("{CREDENTIAL_COLUMNS} ORDER BY device_id"), &[])?
            .iter()
            .map(credential_from)
            .collect()
    }

    fn sign_in_failures(
        &self,
        user: &str,
        network: &str,
        since: Millis,
    ) -> Result<Vec<Millis>, StorageError> {
        self.query(
            "SELECT at FROM sign_in_failures WHERE user_id = $1 AND network = $2 AND at >= $3
             ORDER BY at",
            &[&user, &network, &since],
        )?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
    }
}

impl DeviceStoreMut for Tx<'_> {
    fn put_device(&mut self, device: &DeviceRecord) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO devices (device_id, user_id, actor, last_presented_cursor, last_issued_cursor, last_seen)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (device_id) DO UPDATE SET user_id = excluded.user_id, actor = excluded.actor,
               last_presented_cursor = excluded.last_presented_cursor,
               last_issued_cursor = excluded.last_issued_cursor, last_seen = excluded.last_seen",
            &[
                &device.device_id,
                &device.user_id,
                &device.actor,
                &to_i64(device.last_presented_cursor),
                &to_i64(device.last_issued_cursor),
                &device.last_seen,
            ],
        )?;
        Ok(())
    }

    fn record_actor(&mut self, actor: &[u8], device_id: &str) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO actors (actor, device_id) VALUES ($1, $2) ON CONFLICT (actor) DO NOTHING",
            &[&actor, &device_id],
        )?;
        Ok(())
    }

    fn put_user(&mut self, user: &User) -> Result<(), StorageError> {
        let skills = serde_json::to_string(&user.skills)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        self.execute(
            "INSERT INTO users (id, name, role, region, skills) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role,
               region = excluded.region, skills = excluded.skills",
            &[&user.id, &user.name, &user.role, &user.region, &skills],
        )?;
        Ok(())
    }

    fn set_work_schedule(
        &mut self,
        user_id: &str,
        schedule: Option<&WorkSchedule>,
    ) -> Result<(), StorageError> {
        match schedule {
            Some(schedule) => self.execute(
                "INSERT INTO work_schedules (user_id, schedule) VALUES ($1, $2)
                 ON CONFLICT (user_id) DO UPDATE SET schedule = excluded.schedule",
                &[&user_id, &encode_schedule(schedule)?],
            )?,
            None => self.execute("DELETE FROM work_schedules WHERE user_id = $1", &[&user_id])?,
        };
        Ok(())
    }

    fn set_password_hash(&mut self, user_id: &str, hash: &str) -> Result<(), StorageError> {
        self.execute(
            "UPDATE users SET password_hash = $2 WHERE id = $1",
            &[&user_id, &hash],
        )?;
        self.execute("DELETE FROM sessions WHERE user_id = $1", &[&user_id])?;
        Ok(())
    }

    fn put_session(&mut self, token_hash: &[u8], session: &Session) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf, expires_at) VALUES ($1, $2, $3, $4)",
            &[
                &token_hash,
                &session.user_id,
                &session.csrf,
                &session.expires_at,
            ],
        )?;
        Ok(())
    }

    fn delete_session(&mut self, token_hash: &[u8]) -> Result<(), StorageError> {
        self.execute("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash])?;
        Ok(())
    }

    fn put_enrollment_code(
        &mut self,
        code_hash: &[u8],
        code: &EnrollmentCode,
    ) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO enrollment_codes (code_hash, user_id, created_by, expires_at, used_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &code_hash,
                &code.user_id,
                &code.created_by,
                &code.expires_at,
                &code.used_at,
            ],
        )?;
        Ok(())
    }

    fn use_enrollment_code(&mut self, code_hash: &[u8], now: Millis) -> Result<bool, StorageError> {
        let updated = self.execute(
            "UPDATE enrollment_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL",
            &[&code_hash, &now],
        )?;
        Ok(updated == 1)
    }

    fn put_credential(
        &mut self,
        token_hash: &[u8],
        credential: &Credential,
    ) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO credentials (device_id, user_id, token_hash, enrolled_at, enrolled_by,
               revoked_at, flagged_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (device_id) DO UPDATE SET user_id = excluded.user_id,
               token_hash = excluded.token_hash, enrolled_at = excluded.enrolled_at,
               enrolled_by = excluded.enrolled_by, revoked_at = excluded.revoked_at,
               flagged_at = COALESCE(credentials.flagged_at, excluded.flagged_at)",
            &[
                &credential.device_id,
                &credential.user_id,
                &token_hash,
                &credential.enrolled_at,
                &credential.enrolled_by,
                &credential.revoked_at,
                &credential.flagged_at,
            ],
        )?;
        Ok(())
    }

    fn revoke_device(&mut self, device_id: &str, now: Millis) -> Result<bool, StorageError> {
        let updated = self.execute(
            "UPDATE credentials SET revoked_at = COALESCE(revoked_at, $2) WHERE device_id = $1",
            &[&device_id, &now],
        )?;
        Ok(updated == 1)
    }

    fn flag_device(&mut self, device_id: &str, now: Millis) -> Result<(), StorageError> {
        self.execute(
            "UPDATE credentials SET flagged_at = COALESCE(flagged_at, $2) WHERE device_id = $1",
            &[&device_id, &now],
        )?;
        Ok(())
    }

    fn record_sign_in_failure(
        &mut self,
        user: &str,
        network: &str,
        at: Millis,
        forget_before: Millis,
    ) -> Result<u64, StorageError> {
        self.execute(
            "DELETE FROM sign_in_failures WHERE at < $1",
            &[&forget_before],
        )?;
        let id: i64 = self
            .query_one(
                "INSERT INTO sign_in_failures (user_id, network, at) VALUES ($1, $2, $3)
                 RETURNING id",
                &[&user, &network, &at],
            )?
            .try_get(0)?;
        Ok(to_u64(id))
    }

    fn forget_sign_in_failure(&mut self, id: u64) -> Result<(), StorageError> {
        self.execute("DELETE FROM sign_in_failures WHERE id = $1", &[&to_i64(id)])?;
        Ok(())
    }

    fn forget_sign_in_failures(&mut self, user: &str) -> Result<(), StorageError> {
        self.execute("DELETE FROM sign_in_failures WHERE user_id = $1", &[&user])?;
        Ok(())
    }
}
