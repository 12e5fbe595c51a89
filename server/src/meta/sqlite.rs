//! The embedded metadata store: one SQLite file (`./data/meta.sqlite` by default).
//!
//! # Schema (version 2, tracked in `PRAGMA user_version`)
//!
//! - `files`: one row per stored file, keyed by its id: the upload's fields (`blob_key`,
//!   `owner_hash`, `metadata`, `auth_key`, `nonce`, `dlimit`, `expires_at`, `size`), the
//!   completed `downloads` and the `password` flag. Indexed by `expires_at` (sweeper,
//!   [`MetaStore::next_expiry`]) and by `blob_key` ([`MetaStore::knows_blob`]). Version 2
//!   added the report holding a file: `reported_at` (NULL while the file is served,
//!   indexed where set), `report_reason`, `report_details` and `report_count`. Every read
//!   and change of the download and owner flows requires `reported_at IS NULL`; the
//!   sweeper's queries too, so a held file is neither served nor expired.
//! - `reservations`: downloads in progress, keyed by a random token, each with the
//!   `file_id` it holds a slot of and the `lease_until` after which it no longer counts.
//!   `ON DELETE CASCADE`: deleting a file row drops its reservations, so a download of a
//!   deleted, finished or expired-and-swept file can never complete.
//! - `tombstones`: blobs whose row is gone but which may still exist in the blob store,
//!   with the time (`since`) the row was deleted.
//!
//! Times are Unix milliseconds stored as `INTEGER` (a [`Millis`] beyond `i64::MAX` is an
//! error). Migrations are numbered by `user_version`; a database written by a newer
//! server (a higher version than this one knows) is refused rather than misread.
//!
//! # Atomicity
//!
//! There is one connection, behind a mutex, used from `spawn_blocking` threads. Every
//! operation that changes state runs in one `BEGIN IMMEDIATE` transaction, which takes the
//! database's write lock before reading anything: the check and the change it depends on
//! (`downloads + reserved < dlimit` then insert a reservation; the reservation is live then
//! count it and maybe delete the row; the nonce is the expected one then replace it) can
//! never interleave with another writer, in this process or any other process opening the
//! same file. Reads are single `SELECT` statements, each a consistent snapshot, and every
//! one of them checks `expires_at > now` itself, so visibility never depends on the
//! sweeper. Deleting a row and recording its tombstone happen in the same transaction, so
//! a blob is never forgotten: either the row or the tombstone refers to it.
//!
//! An operation whose caller is cancelled still runs to the end on its blocking thread
//! (so a transaction is never cut in half); a reservation whose token never reached its
//! caller simply lapses at the end of its lease.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, Transaction, TransactionBehavior, params};
use sealdrop_protocol::api::FileId;

use super::{
    Complete, FileRecord, MetaResult, MetaStore, Millis, NewFile, Report, ReportReason, Reported,
    Reserve, SetLimit,
};

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema migrations: `MIGRATIONS[n]` takes `user_version` from `n` to `n + 1`.
/// Never edit a released migration; append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r"
    CREATE TABLE files (
        id          TEXT    NOT NULL PRIMARY KEY,
        blob_key    TEXT    NOT NULL,
        owner_hash  BLOB    NOT NULL,
        metadata    TEXT    NOT NULL,
        auth_key    BLOB    NOT NULL,
        nonce       TEXT    NOT NULL,
        dlimit      INTEGER NOT NULL,
        downloads   INTEGER NOT NULL DEFAULT 0,
        password    INTEGER NOT NULL DEFAULT 0,
        expires_at  INTEGER NOT NULL,
        size        INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX files_expires_at ON files (expires_at);
    CREATE INDEX files_blob_key ON files (blob_key);

    CREATE TABLE reservations (
        token       TEXT    NOT NULL PRIMARY KEY,
        file_id     TEXT    NOT NULL REFERENCES files (id) ON DELETE CASCADE,
        lease_until INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX reservations_file_id ON reservations (file_id, lease_until);

    CREATE TABLE tombstones (
        blob_key TEXT    NOT NULL PRIMARY KEY,
        since    INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX tombstones_since ON tombstones (since);
    ",
    // 2: reports (files held for the operator).
    r"
    ALTER TABLE files ADD COLUMN reported_at INTEGER;
    ALTER TABLE files ADD COLUMN report_reason TEXT;
    ALTER TABLE files ADD COLUMN report_details TEXT;
    ALTER TABLE files ADD COLUMN report_count INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX files_reported_at ON files (reported_at) WHERE reported_at IS NOT NULL;
    ",
];

/// The SQLite [`MetaStore`].
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it and its parent directory if needed) the database at `path`, and
    /// brings its schema up to date.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating the directory {}", parent.display()))?;
        }
        let mut conn = Connection::open(path)
            .with_context(|| format!("opening the SQLite database {}", path.display()))?;
        configure(&conn).with_context(|| format!("configuring {}", path.display()))?;
        migrate(&mut conn).with_context(|| format!("migrating {}", path.display()))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_owned(),
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    async fn with_conn<T, F>(&self, what: &'static str, f: F) -> MetaResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> anyhow::Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let joined = tokio::task::spawn_blocking(move || {
            let mut conn = conn
                .lock()
                .map_err(|_| anyhow!("the SQLite connection mutex is poisoned"))?;
            f(&mut conn)
        })
        .await;
        let result = match joined {
            Ok(result) => result,
            Err(err) => Err(anyhow::Error::new(err).context("the SQLite task failed")),
        };
        result.with_context(|| format!("SQLite metadata store: {what}"))
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction, committed if `f` succeeds and rolled
    /// back otherwise.
    async fn write<T, F>(&self, what: &'static str, f: F) -> MetaResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> anyhow::Result<T> + Send + 'static,
    {
        self.with_conn(what, move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .context("beginning a transaction")?;
            let value = f(&tx)?;
            tx.commit().context("committing")?;
            Ok(value)
        })
        .await
    }
}

/// Sets the connection's pragmas.
fn configure(conn: &Connection) -> anyhow::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .context("setting busy_timeout")?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .context("setting journal_mode")?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("the database refused the WAL journal mode (it is in {mode} mode)");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .context("setting synchronous")?;
    conn.pragma_update(None, "foreign_keys", true)
        .context("setting foreign_keys")?;
    let foreign_keys: bool = conn
        .pragma_query_value(None, "foreign_keys", |row| row.get(0))
        .context("reading foreign_keys")?;
    if !foreign_keys {
        bail!("this SQLite build does not enforce foreign keys");
    }
    Ok(())
}

/// Applies the migrations `user_version` has not seen yet, in one transaction.
fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("beginning the migration")?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .context("reading user_version")?;
    let version =
        usize::try_from(version).map_err(|_| anyhow!("invalid schema version {version}"))?;
    if version > MIGRATIONS.len() {
        bail!(
            "the schema version is {version}, newer than this server knows ({}): \
             was the database written by a newer sealdrop?",
            MIGRATIONS.len()
        );
    }
    for (done, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let next = done + 1;
        tx.execute_batch(sql)
            .with_context(|| format!("migrating to schema version {next}"))?;
        tx.pragma_update(None, "user_version", i64::try_from(next)?)
            .context("writing user_version")?;
    }
    tx.commit().context("committing the migration")?;
    Ok(())
}

/// A time as stored.
fn ms(time: Millis) -> anyhow::Result<i64> {
    i64::try_from(time).map_err(|_| anyhow!("time {time} ms is out of range"))
}

/// A stored time.
fn from_ms(time: i64) -> anyhow::Result<Millis> {
    Millis::try_from(time).map_err(|_| anyhow!("stored time {time} ms is negative"))
}

/// A `LIMIT`: anything beyond `i64::MAX` means no limit anyway.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// What state changes need to know of a live row.
struct Live {
    blob_key: String,
    dlimit: u32,
    downloads: u32,
}

/// The row of `id` if it is live at `now`.
fn live(tx: &Transaction<'_>, id: &str, now: i64) -> anyhow::Result<Option<Live>> {
    let row = tx
        .prepare_cached(
            "SELECT blob_key, dlimit, downloads FROM files \
             WHERE id = ?1 AND expires_at > ?2 AND reported_at IS NULL",
        )?
        .query_row(params![id, now], |row| {
            Ok(Live {
                blob_key: row.get(0)?,
                dlimit: row.get(1)?,
                downloads: row.get(2)?,
            })
        })
        .optional()?;
    Ok(row)
}

/// Deletes the row of `id` (and, by cascade, its reservations) and tombstones its blob.
fn finish(tx: &Transaction<'_>, id: &str, blob_key: &str, now: i64) -> anyhow::Result<()> {
    tx.prepare_cached("DELETE FROM files WHERE id = ?1")?
        .execute([id])?;
    // A tombstone already there (never expected: blob keys are unique) keeps its age.
    tx.prepare_cached(
        "INSERT INTO tombstones (blob_key, since) VALUES (?1, ?2) \
         ON CONFLICT (blob_key) DO NOTHING",
    )?
    .execute(params![blob_key, now])?;
    Ok(())
}

/// Deletes one reservation of `id`, if present.
fn drop_reservation(tx: &Transaction<'_>, id: &str, token: &str) -> anyhow::Result<()> {
    tx.prepare_cached("DELETE FROM reservations WHERE token = ?1 AND file_id = ?2")?
        .execute([token, id])?;
    Ok(())
}

#[async_trait]
impl MetaStore for SqliteStore {
    async fn insert(&self, file: NewFile) -> MetaResult<()> {
        self.write("insert", move |tx| {
            let size = i64::try_from(file.size)
                .map_err(|_| anyhow!("size {} is out of range", file.size))?;
            tx.prepare_cached(
                "INSERT INTO files (id, blob_key, owner_hash, metadata, auth_key, nonce, \
                 dlimit, downloads, password, expires_at, size) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, 0, ?8, ?9)",
            )?
            .execute(params![
                file.id.as_str(),
                file.blob_key,
                file.owner_hash,
                file.metadata,
                file.auth_key,
                file.nonce,
                file.dlimit,
                ms(file.expires_at)?,
                size,
            ])
            .context("inserting the row (fails if the id exists)")?;
            Ok(())
        })
        .await
    }

    async fn get(&self, id: &FileId, now: Millis) -> MetaResult<Option<FileRecord>> {
        let id = id.clone();
        self.with_conn("get", move |conn| {
            read_record(
                conn,
                "f.id = ?1 AND f.expires_at > ?2 AND f.reported_at IS NULL",
                &id,
                now,
            )
        })
        .await
    }

    async fn rotate_nonce(
        &self,
        id: &FileId,
        expected: &str,
        new: &str,
        now: Millis,
    ) -> MetaResult<bool> {
        let (id, expected, new) = (id.clone(), expected.to_owned(), new.to_owned());
        self.write("rotate_nonce", move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE files SET nonce = ?3 \
                     WHERE id = ?1 AND nonce = ?2 AND expires_at > ?4 AND reported_at IS NULL",
                )?
                .execute(params![id.as_str(), expected, new, ms(now)?])?;
            Ok(changed == 1)
        })
        .await
    }

    async fn reserve_download(
        &self,
        id: &FileId,
        now: Millis,
        lease_until: Millis,
    ) -> MetaResult<Reserve> {
        let id = id.clone();
        self.write("reserve_download", move |tx| {
            let (id, now) = (id.as_str(), ms(now)?);
            tx.prepare_cached("DELETE FROM reservations WHERE file_id = ?1 AND lease_until <= ?2")?
                .execute(params![id, now])?;
            let Some(file) = live(tx, id, now)? else {
                return Ok(Reserve::Unavailable);
            };
            // Only live reservations are left.
            let reserved: u32 = tx
                .prepare_cached("SELECT COUNT(*) FROM reservations WHERE file_id = ?1")?
                .query_row([id], |row| row.get(0))?;
            if u64::from(file.downloads) + u64::from(reserved) >= u64::from(file.dlimit) {
                return Ok(Reserve::Unavailable);
            }
            let reservation = uuid::Uuid::new_v4().simple().to_string();
            tx.prepare_cached(
                "INSERT INTO reservations (token, file_id, lease_until) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![reservation, id, ms(lease_until)?])?;
            Ok(Reserve::Reserved { reservation })
        })
        .await
    }

    async fn renew_reservation(
        &self,
        id: &FileId,
        reservation: &str,
        now: Millis,
        lease_until: Millis,
    ) -> MetaResult<bool> {
        let (id, token) = (id.clone(), reservation.to_owned());
        self.write("renew_reservation", move |tx| {
            // MAX: a renewal never shortens a lease.
            let changed = tx
                .prepare_cached(
                    "UPDATE reservations SET lease_until = MAX(lease_until, ?4) \
                     WHERE token = ?1 AND file_id = ?2 AND lease_until > ?3 \
                     AND EXISTS (SELECT 1 FROM files \
                                 WHERE id = ?2 AND expires_at > ?3 AND reported_at IS NULL)",
                )?
                .execute(params![token, id.as_str(), ms(now)?, ms(lease_until)?])?;
            Ok(changed == 1)
        })
        .await
    }

    async fn complete_download(
        &self,
        id: &FileId,
        reservation: &str,
        now: Millis,
    ) -> MetaResult<Complete> {
        let (id, token) = (id.clone(), reservation.to_owned());
        self.write("complete_download", move |tx| {
            let (id, now) = (id.as_str(), ms(now)?);
            let lease: Option<i64> = tx
                .prepare_cached(
                    "SELECT lease_until FROM reservations WHERE token = ?1 AND file_id = ?2",
                )?
                .query_row([token.as_str(), id], |row| row.get(0))
                .optional()?;
            let file = live(tx, id, now)?;
            let (Some(lease), Some(file)) = (lease, file) else {
                drop_reservation(tx, id, &token)?;
                return Ok(Complete::Refused);
            };
            drop_reservation(tx, id, &token)?;
            if lease <= now {
                return Ok(Complete::Refused);
            }
            let downloads = file.downloads.saturating_add(1);
            if downloads >= file.dlimit {
                finish(tx, id, &file.blob_key, now)?;
                return Ok(Complete::Last {
                    blob_key: file.blob_key,
                });
            }
            tx.prepare_cached("UPDATE files SET downloads = ?2 WHERE id = ?1")?
                .execute(params![id, downloads])?;
            Ok(Complete::Counted)
        })
        .await
    }

    async fn release_download(&self, id: &FileId, reservation: &str) -> MetaResult<()> {
        let (id, token) = (id.clone(), reservation.to_owned());
        self.write("release_download", move |tx| {
            drop_reservation(tx, id.as_str(), &token)
        })
        .await
    }

    async fn set_dlimit(
        &self,
        id: &FileId,
        dlimit: u32,
        now: Millis,
    ) -> MetaResult<Option<SetLimit>> {
        let id = id.clone();
        self.write("set_dlimit", move |tx| {
            let (id, now) = (id.as_str(), ms(now)?);
            let Some(file) = live(tx, id, now)? else {
                return Ok(None);
            };
            if dlimit <= file.downloads {
                finish(tx, id, &file.blob_key, now)?;
                return Ok(Some(SetLimit::Finished {
                    blob_key: file.blob_key,
                }));
            }
            tx.prepare_cached("UPDATE files SET dlimit = ?2 WHERE id = ?1")?
                .execute(params![id, dlimit])?;
            Ok(Some(SetLimit::Updated))
        })
        .await
    }

    async fn set_password(
        &self,
        id: &FileId,
        auth_key: &[u8],
        new_nonce: &str,
        now: Millis,
    ) -> MetaResult<bool> {
        let (id, auth_key, nonce) = (id.clone(), auth_key.to_vec(), new_nonce.to_owned());
        self.write("set_password", move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE files SET auth_key = ?2, password = 1, nonce = ?3 \
                     WHERE id = ?1 AND expires_at > ?4 AND reported_at IS NULL",
                )?
                .execute(params![id.as_str(), auth_key, nonce, ms(now)?])?;
            Ok(changed == 1)
        })
        .await
    }

    async fn delete(&self, id: &FileId, now: Millis) -> MetaResult<Option<String>> {
        let id = id.clone();
        self.write("delete", move |tx| {
            let (id, now) = (id.as_str(), ms(now)?);
            let Some(file) = live(tx, id, now)? else {
                return Ok(None);
            };
            finish(tx, id, &file.blob_key, now)?;
            Ok(Some(file.blob_key))
        })
        .await
    }

    async fn take_expired(&self, now: Millis, limit: usize) -> MetaResult<Vec<String>> {
        self.write("take_expired", move |tx| {
            let now = ms(now)?;
            let rows = tx
                .prepare_cached(
                    "SELECT id, blob_key FROM files \
                     WHERE expires_at <= ?1 AND reported_at IS NULL \
                     ORDER BY expires_at LIMIT ?2",
                )?
                .query_map(params![now, sql_limit(limit)], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut keys = Vec::with_capacity(rows.len());
            for (id, blob_key) in rows {
                finish(tx, &id, &blob_key, now)?;
                keys.push(blob_key);
            }
            Ok(keys)
        })
        .await
    }

    async fn next_expiry(&self) -> MetaResult<Option<Millis>> {
        self.with_conn("next_expiry", |conn| {
            // Rows already expired but not yet swept count too: the sweeper should wake now.
            // Held rows do not: they never expire while held.
            let min: Option<i64> = conn
                .prepare_cached(
                    "SELECT expires_at FROM files WHERE reported_at IS NULL \
                     ORDER BY expires_at LIMIT 1",
                )?
                .query_row([], |row| row.get(0))
                .optional()?;
            min.map(from_ms).transpose()
        })
        .await
    }

    async fn tombstones(&self, before: Millis, limit: usize) -> MetaResult<Vec<String>> {
        self.with_conn("tombstones", move |conn| {
            let keys = conn
                .prepare_cached(
                    "SELECT blob_key FROM tombstones WHERE since < ?1 ORDER BY since LIMIT ?2",
                )?
                .query_map(params![ms(before)?, sql_limit(limit)], |row| row.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(keys)
        })
        .await
    }

    async fn clear_tombstones(&self, blob_keys: &[String]) -> MetaResult<()> {
        if blob_keys.is_empty() {
            return Ok(());
        }
        let blob_keys = blob_keys.to_vec();
        self.write("clear_tombstones", move |tx| {
            let mut delete = tx.prepare_cached("DELETE FROM tombstones WHERE blob_key = ?1")?;
            for blob_key in &blob_keys {
                delete.execute([blob_key])?;
            }
            Ok(())
        })
        .await
    }

    async fn knows_blob(&self, blob_key: &str) -> MetaResult<bool> {
        let blob_key = blob_key.to_owned();
        self.with_conn("knows_blob", move |conn| {
            let known = conn
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM files WHERE blob_key = ?1) \
                     OR EXISTS (SELECT 1 FROM tombstones WHERE blob_key = ?1)",
                )?
                .query_row([blob_key], |row| row.get(0))?;
            Ok(known)
        })
        .await
    }

    async fn ping(&self) -> MetaResult<()> {
        self.with_conn("ping", |conn| {
            let one: i64 = conn.query_row("SELECT 1", [], |row| row.get(0))?;
            if one != 1 {
                bail!("SELECT 1 answered {one}");
            }
            Ok(())
        })
        .await
    }

    async fn find(&self, id: &FileId, now: Millis) -> MetaResult<Option<FileRecord>> {
        let id = id.clone();
        self.with_conn("find", move |conn| {
            read_record(
                conn,
                "f.id = ?1 AND (f.expires_at > ?2 OR f.reported_at IS NOT NULL)",
                &id,
                now,
            )
        })
        .await
    }

    async fn report(
        &self,
        id: &FileId,
        reason: ReportReason,
        details: &str,
        now: Millis,
    ) -> MetaResult<Reported> {
        let (id, details) = (id.clone(), details.to_owned());
        self.write("report", move |tx| {
            let (id, now) = (id.as_str(), ms(now)?);
            let again = tx
                .prepare_cached(
                    "UPDATE files SET report_count = report_count + 1 \
                     WHERE id = ?1 AND reported_at IS NOT NULL",
                )?
                .execute([id])?;
            if again == 1 {
                return Ok(Reported::AlreadyHeld);
            }
            let held = tx
                .prepare_cached(
                    "UPDATE files SET reported_at = ?2, report_reason = ?3, \
                     report_details = ?4, report_count = 1 \
                     WHERE id = ?1 AND expires_at > ?2 AND reported_at IS NULL",
                )?
                .execute(params![id, now, reason.as_str(), details])?;
            if held == 0 {
                return Ok(Reported::Missing);
            }
            // Downloads in progress can no longer complete.
            tx.prepare_cached("DELETE FROM reservations WHERE file_id = ?1")?
                .execute([id])?;
            Ok(Reported::Held)
        })
        .await
    }

    async fn list_reported(&self, limit: usize) -> MetaResult<Vec<FileRecord>> {
        self.with_conn("list_reported", move |conn| {
            let ids = conn
                .prepare_cached(
                    "SELECT id FROM files WHERE reported_at IS NOT NULL \
                     ORDER BY reported_at, id LIMIT ?1",
                )?
                .query_map([sql_limit(limit)], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            let mut records = Vec::with_capacity(ids.len());
            // One connection, behind the mutex: nothing changes between the statements.
            for raw in ids {
                let id = FileId::parse(&raw)
                    .ok_or_else(|| anyhow!("a stored id {raw:?} is malformed"))?;
                if let Some(record) =
                    read_record(conn, "f.id = ?1 AND f.reported_at IS NOT NULL", &id, 0)?
                {
                    records.push(record);
                }
            }
            Ok(records)
        })
        .await
    }

    async fn restore(
        &self,
        id: &FileId,
        now: Millis,
        grace_until: Millis,
    ) -> MetaResult<Option<Millis>> {
        let id = id.clone();
        self.write("restore", move |tx| {
            let (id, now, grace_until) = (id.as_str(), ms(now)?, ms(grace_until)?);
            let expires_at: Option<i64> = tx
                .prepare_cached(
                    "UPDATE files SET reported_at = NULL, report_reason = NULL, \
                     report_details = NULL, report_count = 0, \
                     expires_at = CASE WHEN expires_at > ?2 THEN expires_at ELSE ?3 END \
                     WHERE id = ?1 AND reported_at IS NOT NULL RETURNING expires_at",
                )?
                .query_row(params![id, now, grace_until], |row| row.get(0))
                .optional()?;
            expires_at.map(from_ms).transpose()
        })
        .await
    }

    async fn take_down(&self, id: &FileId, now: Millis) -> MetaResult<Option<String>> {
        let id = id.clone();
        self.write("take_down", move |tx| {
            let id = id.as_str();
            let blob_key: Option<String> = tx
                .prepare_cached("SELECT blob_key FROM files WHERE id = ?1")?
                .query_row([id], |row| row.get(0))
                .optional()?;
            let Some(blob_key) = blob_key else {
                return Ok(None);
            };
            finish(tx, id, &blob_key, ms(now)?)?;
            Ok(Some(blob_key))
        })
        .await
    }
}

/// Reads the row of `id` matching `filter` (an SQL condition on `f`, with `?1` the id and
/// `?2` the time `now`), with its live reservation count, in one statement: one snapshot.
fn read_record(
    conn: &Connection,
    filter: &str,
    id: &FileId,
    now: Millis,
) -> anyhow::Result<Option<FileRecord>> {
    let sql = format!(
        "SELECT blob_key, owner_hash, metadata, auth_key, nonce, dlimit, \
         downloads, password, expires_at, size, \
         (SELECT COUNT(*) FROM reservations r \
          WHERE r.file_id = f.id AND r.lease_until > ?2), \
         reported_at, report_reason, report_details, report_count \
         FROM files f WHERE {filter}"
    );
    let row = conn
        .prepare_cached(&sql)?
        .query_row(params![id.as_str(), ms(now)?], |row| {
            Ok((
                (
                    row.get::<_, String>(0)?,
                    row.get::<_, [u8; 32]>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Vec<u8>>(3)?,
                    row.get::<_, String>(4)?,
                ),
                (
                    row.get::<_, u32>(5)?,
                    row.get::<_, u32>(6)?,
                    row.get::<_, bool>(7)?,
                    row.get::<_, i64>(8)?,
                    row.get::<_, i64>(9)?,
                    row.get::<_, u32>(10)?,
                ),
                (
                    row.get::<_, Option<i64>>(11)?,
                    row.get::<_, Option<String>>(12)?,
                    row.get::<_, Option<String>>(13)?,
                    row.get::<_, u32>(14)?,
                ),
            ))
        })
        .optional()?;
    let Some((
        (blob_key, owner_hash, metadata, auth_key, nonce),
        (dlimit, downloads, password, expires_at, size, reserved),
        (reported_at, reason, details, count),
    )) = row
    else {
        return Ok(None);
    };
    let report = match reported_at {
        None => None,
        Some(at) => Some(Report {
            reason: reason
                .as_deref()
                .and_then(ReportReason::parse)
                .ok_or_else(|| anyhow!("the stored report reason {reason:?} is unknown"))?,
            details: details.unwrap_or_default(),
            reported_at: from_ms(at)?,
            count,
        }),
    };
    Ok(Some(FileRecord {
        file: NewFile {
            id: id.clone(),
            blob_key,
            owner_hash,
            metadata,
            auth_key,
            nonce,
            dlimit,
            expires_at: from_ms(expires_at)?,
            size: u64::try_from(size).map_err(|_| anyhow!("stored size {size} is negative"))?,
        },
        downloads,
        reserved,
        password,
        report,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::conformance;

    fn file(dlimit: u32) -> NewFile {
        NewFile {
            id: FileId::generate().unwrap(),
            blob_key: format!("blob-{}", uuid::Uuid::new_v4()),
            owner_hash: [7; 32],
            metadata: "bWV0YQ".to_owned(),
            auth_key: vec![1, 2, 3],
            nonce: "bm9uY2U=".to_owned(),
            dlimit,
            expires_at: 2_000_000_000_000,
            size: 42,
        }
    }

    const NOW: Millis = 1_900_000_000_000;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("data/meta.sqlite")).unwrap();
        conformance::run_all(&store).await;
        conformance::race(Arc::new(store)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reopening_keeps_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.sqlite");
        let (kept, finished) = (file(2), file(1));
        let reservation = {
            let store = SqliteStore::open(&path).unwrap();
            store.insert(kept.clone()).await.unwrap();
            store.insert(finished.clone()).await.unwrap();
            let Reserve::Reserved { reservation } = store
                .reserve_download(&finished.id, NOW, NOW + 60_000)
                .await
                .unwrap()
            else {
                panic!("no slot");
            };
            let done = store
                .complete_download(&finished.id, &reservation, NOW)
                .await
                .unwrap();
            assert_eq!(
                done,
                Complete::Last {
                    blob_key: finished.blob_key.clone()
                }
            );
            let Reserve::Reserved { reservation } = store
                .reserve_download(&kept.id, NOW, NOW + 60_000)
                .await
                .unwrap()
            else {
                panic!("no slot");
            };
            reservation
        };
        let store = SqliteStore::open(&path).unwrap();
        let record = store.get(&kept.id, NOW).await.unwrap().unwrap();
        assert_eq!(record.file, kept);
        assert_eq!((record.downloads, record.reserved), (0, 1));
        assert!(store.get(&finished.id, NOW).await.unwrap().is_none());
        assert_eq!(
            store.tombstones(NOW + 1, 10).await.unwrap(),
            vec![finished.blob_key.clone()]
        );
        assert_eq!(
            store
                .complete_download(&kept.id, &reservation, NOW + 1)
                .await
                .unwrap(),
            Complete::Counted
        );
        let version: i64 = store
            .conn
            .lock()
            .unwrap()
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, i64::try_from(MIGRATIONS.len()).unwrap());
    }

    #[test]
    fn pragmas_are_set() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("meta.sqlite")).unwrap();
        let conn = store.conn.lock().unwrap();
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let synchronous: i64 = conn
            .pragma_query_value(None, "synchronous", |row| row.get(0))
            .unwrap();
        assert_eq!(synchronous, 1, "NORMAL");
        let foreign_keys: bool = conn
            .pragma_query_value(None, "foreign_keys", |row| row.get(0))
            .unwrap();
        assert!(foreign_keys);
    }

    /// A database of the first release (schema 1) is migrated in place: its rows stay,
    /// served and not held, and can be reported afterwards.
    #[tokio::test]
    async fn a_version_1_database_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.sqlite");
        let f = file(2);
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO files (id, blob_key, owner_hash, metadata, auth_key, nonce, \
                 dlimit, downloads, password, expires_at, size) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, 0, ?8, ?9)",
                params![
                    f.id.as_str(),
                    f.blob_key,
                    f.owner_hash,
                    f.metadata,
                    f.auth_key,
                    f.nonce,
                    f.dlimit,
                    ms(f.expires_at).unwrap(),
                    42
                ],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let record = store.get(&f.id, NOW).await.unwrap().unwrap();
        assert_eq!((record.file.clone(), record.downloads), (f.clone(), 1));
        assert_eq!(record.report, None);
        assert_eq!(
            store
                .report(&f.id, ReportReason::Other, "", NOW)
                .await
                .unwrap(),
            Reported::Held
        );
        assert_eq!(store.get(&f.id, NOW).await.unwrap(), None);
        let version: i64 = store
            .conn
            .lock()
            .unwrap()
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, 2);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.sqlite");
        drop(SqliteStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = SqliteStore::open(&path).unwrap_err();
        assert!(format!("{err:#}").contains("newer"), "{err:#}");
    }

    #[tokio::test]
    async fn finishing_a_file_drops_its_reservations() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("meta.sqlite")).unwrap();
        let f = file(3);
        store.insert(f.clone()).await.unwrap();
        for _ in 0..2 {
            let reserved = store
                .reserve_download(&f.id, NOW, NOW + 60_000)
                .await
                .unwrap();
            assert!(matches!(reserved, Reserve::Reserved { .. }));
        }
        assert_eq!(store.delete(&f.id, NOW).await.unwrap(), Some(f.blob_key));
        let left: i64 = store
            .conn
            .lock()
            .unwrap()
            .query_row("SELECT COUNT(*) FROM reservations", [], |row| row.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }
}
