//! SQLite for users, sessions, enrollment codes, credentials and devices.

use fieldsync_protocol::Millis;
use rusqlite::{OptionalExtension, params};

use super::{CREDENTIAL_COLUMNS, CachedStatements, Tx, credential_from, to_i64, to_u64};
use crate::storage::identity::{decode_schedule, encode_schedule};
use crate::storage::{
    Credential, DeviceRecord, DeviceStore, DeviceStoreMut, EnrollmentCode, Session, StorageError,
    User, WorkSchedule,
};

/// Migration 17: each engineer's working week and time off, one JSON document per user.
pub(super) const SCHEDULES: &str = "
    CREATE TABLE work_schedules (
        user_id TEXT PRIMARY KEY NOT NULL REFERENCES users(id),
        schedule TEXT NOT NULL
    ) STRICT;";

impl DeviceStore for Tx<'_> {
    fn device_for_actor(&self, actor: &[u8]) -> Result<Option<String>, StorageError> {
        Ok(self
            .0
            .query_row_cached(
                "SELECT device_id FROM actors WHERE actor = ?1",
                [actor],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn device(&self, device_id: &str) -> Result<Option<DeviceRecord>, StorageError> {
        Ok(self
            .0
            .query_row_cached(
                "SELECT device_id, user_id, actor, last_presented_cursor, last_issued_cursor, last_seen
                 FROM devices WHERE device_id = ?1",
                [device_id],
                |r| {
                    Ok(DeviceRecord {
                        device_id: r.get(0)?,
                        user_id: r.get(1)?,
                        actor: r.get(2)?,
                        last_presented_cursor: to_u64(r.get(3)?),
                        last_issued_cursor: to_u64(r.get(4)?),
                        last_seen: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    fn users(&self) -> Result<Vec<User>, StorageError> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT id, name, role, region, skills FROM users ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        rows.map(|row| {
            let (id, name, role, region, skills) = row?;
            let skills = serde_json::from_str(&skills)
                .map_err(|e| StorageError::Corrupt(format!("user skills: {e}")))?;
            Ok(User {
                id,
                name,
                role,
                region,
                skills,
            })
        })
        .collect()
    }

    fn work_schedule(&self, user_id: &str) -> Result<Option<WorkSchedule>, StorageError> {
        let json: Option<String> = self
            .0
            .query_row_cached(
                "SELECT schedule FROM work_schedules WHERE user_id = ?1",
                [user_id],
                |r| r.get(0),
            )
            .optional()?;
        json.as_deref().map(decode_schedule).transpose()
    }

    fn work_schedules(&self) -> Result<Vec<(String, WorkSchedule)>, StorageError> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT user_id, schedule FROM work_schedules ORDER BY user_id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        rows.map(|row| {
            let (user, json) = row?;
            Ok((user, decode_schedule(&json)?))
        })
        .collect()
    }

    fn user(&self, user_id: &str) -> Result<Option<User>, StorageError> {
        let row = self
            .0
            .query_row_cached(
                "SELECT name, role, region, skills FROM users WHERE id = ?1",
                [user_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                },
            )
            .optional()?;
        row.map(|(name, role, region, skills)| {
            Ok(User {
                id: user_id.to_owned(),
                name,
                role,
                region,
                skills: serde_json::from_str(&skills)
                    .map_err(|e| StorageError::Corrupt(format!("user skills: {e}")))?,
            })
        })
        .transpose()
    }

    fn password_hash(&self, user_id: &str) -> Result<Option<String>, StorageError> {
        Ok(self
            .0
            .query_row_cached(
                "SELECT password_hash FROM users WHERE id = ?1",
                [user_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    fn session(&self, token_hash: &[u8]) -> Result<Option<Session>, StorageError> {
        Ok(self
            .0
            .query_row_cached(
                "SELECT user_id, csrf, expires_at FROM sessions WHERE token_hash = ?1",
                [token_hash],
                |r| {
                    Ok(Session {
                        user_id: r.get(0)?,
                        csrf: r.get(1)?,
                        expires_at: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    fn enrollment_code(&self, code_hash: &[u8]) -> Result<Option<EnrollmentCode>, StorageError> {
        Ok(self
            .0
            .query_row_cached(
                "SELECT user_id, created_by, expires_at, used_at FROM enrollment_codes
                 WHERE code_hash = ?1",
                [code_hash],
                |r| {
                    Ok(EnrollmentCode {
                        user_id: r.get(0)?,
                        created_by: r.get(1)?,
                        expires_at: r.get(2)?,
                        used_at: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    fn credential_by_token(&self, token_hash: &[u8]) -> Result<Option<Credential>, StorageError> {
        Ok(self
            .0
            .query_row_cached(
                &format!("{CREDENTIAL_COLUMNS} WHERE token_hash = ?1"),
                [token_hash],
                credential_from,
            )
            .optional()?)
    }

    fn credential(&self, device_id: &str) -> Result<Option<Credential>, StorageError> {
        Ok(self
            .0
            .query_row_cached(
                &format!("{CREDENTIAL_COLUMNS} WHERE device_id = ?1"),
                [device_id],
                credential_from,
            )
            .optional()?)
    }

    fn credentials(&self) -> Result<Vec<Credential>, StorageError> {
        let mut stmt = self
            .0
            .prepare_cached(&format!("{CREDENTIAL_COLUMNS} ORDER BY device_id"))?;
        let rows = stmt.query_map([], credential_from)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn sign_in_failures(
        &self,
        user: &str,
        network: &str,
        since: Millis,
    ) -> Result<Vec<Millis>, StorageError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT at FROM sign_in_failures WHERE user_id = ?1 AND network = ?2 AND at >= ?3
             ORDER BY at",
        )?;
        let rows = stmt.query_map(params![user, network, since], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl DeviceStoreMut for Tx<'_> {
    fn put_device(&mut self, device: &DeviceRecord) -> Result<(), StorageError> {
        let row = params![
            device.device_id,
            device.user_id,
            device.actor,
            to_i64(device.last_presented_cursor),
            to_i64(device.last_issued_cursor),
            device.last_seen
        ];
        // Every round moves the cursors and the time seen; the device's user and actor are set
        // once. Leaving them out of that update leaves the index by user clean.
        let seen = self.0.execute_cached(
            "UPDATE devices SET last_presented_cursor = ?4, last_issued_cursor = ?5, last_seen = ?6
             WHERE device_id = ?1 AND user_id = ?2 AND actor = ?3",
            row,
        )?;
        if seen > 0 {
            return Ok(());
        }
        self.0.execute_cached(
            "INSERT INTO devices (device_id, user_id, actor, last_presented_cursor, last_issued_cursor, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (device_id) DO UPDATE SET user_id = excluded.user_id, actor = excluded.actor,
               last_presented_cursor = excluded.last_presented_cursor,
               last_issued_cursor = excluded.last_issued_cursor, last_seen = excluded.last_seen",
            row,
        )?;
        Ok(())
    }

    fn record_actor(&mut self, actor: &[u8], device_id: &str) -> Result<(), StorageError> {
        self.0.execute_cached(
            "INSERT INTO actors (actor, device_id) VALUES (?1, ?2) ON CONFLICT (actor) DO NOTHING",
            params![actor, device_id],
        )?;
        Ok(())
    }

    fn put_user(&mut self, user: &User) -> Result<(), StorageError> {
        let skills = serde_json::to_string(&user.skills)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        self.0.execute_cached(
            "INSERT INTO users (id, name, role, region, skills) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role,
               region = excluded.region, skills = excluded.skills",
            params![user.id, user.name, user.role, user.region, skills],
        )?;
        Ok(())
    }

    fn set_work_schedule(
        &mut self,
        user_id: &str,
        schedule: Option<&WorkSchedule>,
    ) -> Result<(), StorageError> {
        match schedule {
            Some(schedule) => self.0.execute_cached(
                "INSERT INTO work_schedules (user_id, schedule) VALUES (?1, ?2)
                 ON CONFLICT (user_id) DO UPDATE SET schedule = excluded.schedule",
                params![user_id, encode_schedule(schedule)?],
            )?,
            None => self
                .0
                .execute_cached("DELETE FROM work_schedules WHERE user_id = ?1", [user_id])?,
        };
        Ok(())
    }

    fn set_password_hash(&mut self, user_id: &str, hash: &str) -> Result<(), StorageError> {
        self.0.execute_cached(
            "UPDATE users SET password_hash = ?2 WHERE id = ?1",
            params![user_id, hash],
        )?;
        self.0
            .execute_cached("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
        Ok(())
    }

    fn put_session(&mut self, token_hash: &[u8], session: &Session) -> Result<(), StorageError> {
        self.0.execute_cached(
            "INSERT INTO sessions (token_hash, user_id, csrf, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![
                token_hash,
                session.user_id,
                session.csrf,
                session.expires_at
            ],
        )?;
        Ok(())
    }

    fn delete_session(&mut self, token_hash: &[u8]) -> Result<(), StorageError> {
        self.0
            .execute_cached("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
        Ok(())
    }

    fn put_enrollment_code(
        &mut self,
        code_hash: &[u8],
        code: &EnrollmentCode,
    ) -> Result<(), StorageError> {
        self.0.execute_cached(
            "INSERT INTO enrollment_codes (code_hash, user_id, created_by, expires_at, used_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                code_hash,
                code.user_id,
                code.created_by,
                code.expires_at,
                code.used_at
            ],
        )?;
        Ok(())
    }

    fn use_enrollment_code(&mut self, code_hash: &[u8], now: Millis) -> Result<bool, StorageError> {
        let updated = self.0.execute_cached(
            "UPDATE enrollment_codes SET used_at = ?2 WHERE code_hash = ?1 AND used_at IS NULL",
            params![code_hash, now],
        )?;
        Ok(updated == 1)
    }

    fn put_credential(
        &mut self,
        token_hash: &[u8],
        credential: &Credential,
    ) -> Result<(), StorageError> {
        self.0.execute_cached(
            "INSERT INTO credentials (device_id, user_id, token_hash, enrolled_at, enrolled_by,
               revoked_at, flagged_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (device_id) DO UPDATE SET user_id = excluded.user_id,
               token_hash = excluded.token_hash, enrolled_at = excluded.enrolled_at,
               enrolled_by = excluded.enrolled_by, revoked_at = excluded.revoked_at,
               flagged_at = COALESCE(credentials.flagged_at, excluded.flagged_at)",
            params![
                credential.device_id,
                credential.user_id,
                token_hash,
                credential.enrolled_at,
                credential.enrolled_by,
                credential.revoked_at,
                credential.flagged_at
            ],
        )?;
        Ok(())
    }

    fn revoke_device(&mut self, device_id: &str, now: Millis) -> Result<bool, StorageError> {
        let updated = self.0.execute_cached(
            "UPDATE credentials SET revoked_at = COALESCE(revoked_at, ?2) WHERE device_id = ?1",
            params![device_id, now],
        )?;
        Ok(updated == 1)
    }

    fn flag_device(&mut self, device_id: &str, now: Millis) -> Result<(), StorageError> {
        self.0.execute_cached(
            "UPDATE credentials SET flagged_at = COALESCE(flagged_at, ?2) WHERE device_id = ?1",
            params![device_id, now],
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
        self.0
            .prepare_cached("DELETE FROM sign_in_failures WHERE at < ?1")?
            .execute([forget_before])?;
        self.0
            .prepare_cached(
                "INSERT INTO sign_in_failures (user_id, network, at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![user, network, at])?;
        Ok(to_u64(self.0.last_insert_rowid()))
    }

    fn forget_sign_in_failure(&mut self, id: u64) -> Result<(), StorageError> {
        self.0
            .prepare_cached("DELETE FROM sign_in_failures WHERE id = ?1")?
            .execute([to_i64(id)])?;
        Ok(())
    }

    fn forget_sign_in_failures(&mut self, user: &str) -> Result<(), StorageError> {
        self.0
            .execute_cached("DELETE FROM sign_in_failures WHERE user_id = ?1", [user])?;
        Ok(())
    }
}
