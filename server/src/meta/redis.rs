//! The shared metadata store: Redis, for several server instances behind a load balancer.
//!
//! # Data model
//!
//! Every key starts with `sealdrop:` (use a separate Redis database, `redis://host/N`, to
//! run several deployments on one server).
//!
//! - `sealdrop:file:<id>`: a hash per stored file with the fields `blob_key`,
//!   `owner_hash` (hex), `metadata`, `auth_key` (hex), `nonce`, `dlimit`, `downloads`,
//!   `password` (`0`/`1`), `expires_at` (Unix ms) and `size`; while a report holds the
//!   file, also `reported_at` (Unix ms), `report_reason`, `report_details` and
//!   `report_count`. Every script of the download and owner flows treats a row with
//!   `reported_at` as gone.
//! - `sealdrop:resv:<id>`: the file's downloads in progress, a sorted set of reservation
//!   tokens scored by `lease_until`. A reservation counts while `lease_until > now`.
//! - `sealdrop:expiry`: a sorted set of every stored id scored by its `expires_at`, for
//!   [`MetaStore::take_expired`] and [`MetaStore::next_expiry`]. A held (reported) file
//!   leaves it, so the sweeper never sees it, and comes back when restored.
//! - `sealdrop:reported`: the held files' ids scored by `reported_at`, for
//!   [`MetaStore::list_reported`].
//! - `sealdrop:blob:<blob_key>`: a string holding the id of the live row referring to the
//!   blob, for [`MetaStore::knows_blob`].
//! - `sealdrop:tombstones`: blobs whose row is gone but which may still exist in the blob
//!   store, a sorted set scored by the time (`since`) the row was deleted.
//!
//! Times are Unix milliseconds, compared as Lua numbers (doubles), which are exact up to
//! 2^53 ms (year 287 396); a stored time beyond that is refused.
//!
//! # Atomicity and time
//!
//! Every operation that reads and then changes state is one Lua script (loaded once,
//! invoked by its SHA-1, reloaded by the client when a restarted Redis has forgotten it),
//! and Redis runs a script without interleaving any other command, from this or any
//! other server instance. Reads that combine several keys (a row with its reservation
//! count, a blob's row or tombstone) are scripts too, so they are one snapshot. Deleting a
//! row drops its reservations and tombstones its blob in the same script.
//!
//! Visibility is decided by the caller's clock only: `now` is an argument of every
//! operation and every script checks `expires_at > now` itself, so several instances
//! agree and a test clock works. The key TTLs below never decide visibility; they only
//! reclaim memory should no sweeper run.
//!
//! # Key TTLs
//!
//! The row's keys (`file`, `blob`, and `resv`, which takes the row's remaining TTL) expire
//! at `expires_at` + [`TTL_MARGIN`] by `PEXPIREAT`, judged by Redis's clock: the margin
//! lets the sweeper see the expired row first and tombstone its blob. A row whose deadline
//! is already past by Redis's clock when inserted (a test clock in the past) gets no TTL
//! rather than vanishing at once. A report removes the TTLs of the row's keys
//! (`PERSIST`: a held file must outlive its expiry; its reservations are dropped), and a
//! restore sets them again from the expiry then in force. If a TTL does fire first, its blob is known to neither a
//! row nor a tombstone, so the sweeper's orphan detection deletes it, and
//! [`MetaStore::take_expired`] drops the dangling `sealdrop:expiry` member. The server's
//! and Redis's clocks must agree to within the margin.
//!
//! # Failures
//!
//! The [`ConnectionManager`] reconnects by itself. Connecting and each answer time out
//! after [`CONNECT_TIMEOUT`] and [`RESPONSE_TIMEOUT`], and a whole operation after
//! [`OPERATION_TIMEOUT`], so requests fail fast while Redis is down and work again once
//! it is back. A command that could not even connect (connection refused: it was never
//! sent) is retried once, on the connection the manager is re-establishing, so the first
//! request after Redis returns succeeds. A script whose answer is lost (timeout, dropped
//! connection) may still have run: a reservation whose token never reached its caller
//! simply lapses at the end of its lease.
//!
//! Errors name the Redis address (`host:port`), never the URL, which may hold a password.
//!
//! Requires Redis 5 or newer (scripts replicated by effects), standalone or a primary with
//! replicas; Redis Cluster is not supported (scripts touch keys of several slots).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, RedisResult, Script, ScriptInvocation};
use sealdrop_protocol::api::FileId;

use super::{
    Complete, FileRecord, MetaResult, MetaStore, Millis, NewFile, Report, ReportReason, Reported,
    Reserve, SetLimit,
};

/// The prefix of every key.
const PREFIX: &str = "sealdrop:";
/// How long one connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long Redis may take to answer one command.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one operation may take in all, reconnecting included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
/// Connection attempts after the first one, each time the manager (re)connects.
const CONNECT_RETRIES: usize = 2;
/// How long after `expires_at` Redis itself drops a row's keys.
pub const TTL_MARGIN: Millis = 3_600_000;
/// The largest time stored (exact as a Lua number).
const MAX_TIME: Millis = 1 << 53;
/// Expiry-index members without a row that one `take_expired` call drops at most.
const MAX_DANGLING: usize = 1_000;

/// Definitions shared by every script (after `local P = '<PREFIX>'`).
const PRELUDE: &str = r"
local EXPIRY = P .. 'expiry'
local TOMBSTONES = P .. 'tombstones'
local REPORTED = P .. 'reported'
local function file_key(id) return P .. 'file:' .. id end
local function resv_key(id) return P .. 'resv:' .. id end
local function blob_key_index(blob_key) return P .. 'blob:' .. blob_key end
-- Whether a row with this expires_at field (false if missing) is live at now.
local function is_live(expires_at, now)
  return expires_at ~= false and expires_at ~= nil and tonumber(expires_at) > now
end
-- Whether the row at key is held by a report (then it is neither served nor expired).
local function is_held(key)
  return redis.call('HEXISTS', key, 'reported_at') == 1
end
-- Whether the row at key, with this expires_at field, is served at now.
local function serves(key, expires_at, now)
  return is_live(expires_at, now) and not is_held(key)
end
-- Deletes the row of id and its reservations, and tombstones its blob since `since`
-- (a tombstone already there keeps its age).
local function finish(id, blob_key, since)
  redis.call('DEL', file_key(id), resv_key(id), blob_key_index(blob_key))
  redis.call('ZREM', EXPIRY, id)
  redis.call('ZREM', REPORTED, id)
  redis.call('ZADD', TOMBSTONES, 'NX', since, blob_key)
end
-- The fields of the row at key that `record` reads, its live reservation count (at the
-- time now, a string) and its report, or false.
local function row(key, resv, now)
  local f = redis.call('HMGET', key, 'expires_at', 'blob_key', 'owner_hash', 'metadata',
    'auth_key', 'nonce', 'dlimit', 'downloads', 'password', 'size', 'reported_at',
    'report_reason', 'report_details', 'report_count')
  if not f[1] then return false end
  local out = {}
  for i = 1, 10 do out[i] = f[i] end
  out[11] = tostring(redis.call('ZCOUNT', resv, '(' .. now, '+inf'))
  for i = 11, 14 do out[i + 1] = f[i] or '' end
  return out
end
";

/// KEYS: file, resv, blob index. ARGV: id, blob_key, owner_hash, metadata, auth_key,
/// nonce, dlimit, expires_at, size, ttl deadline. 1 if inserted, 0 if the id exists.
const INSERT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'blob_key', ARGV[2], 'owner_hash', ARGV[3], 'metadata', ARGV[4],
  'auth_key', ARGV[5], 'nonce', ARGV[6], 'dlimit', ARGV[7], 'downloads', '0',
  'password', '0', 'expires_at', ARGV[8], 'size', ARGV[9])
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[3], ARGV[1])
redis.call('ZADD', EXPIRY, ARGV[8], ARGV[1])
local time = redis.call('TIME')
local redis_now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if tonumber(ARGV[10]) > redis_now then
  redis.call('PEXPIREAT', KEYS[1], ARGV[10])
  redis.call('PEXPIREAT', KEYS[3], ARGV[10])
end
return 1
";

/// KEYS: file, resv. ARGV: now, and `held` to include a held row whatever its expiry.
/// The fields of the served (or held) row as [`record`] reads them, or nil.
const GET: &str = r"
local now = tonumber(ARGV[1])
local f = row(KEYS[1], KEYS[2], ARGV[1])
if not f then return false end
if f[12] ~= '' then
  if ARGV[2] == 'held' then return f end
  return false
end
if not is_live(f[1], now) then return false end
return f
";

/// KEYS: file. ARGV: expected, new, now. 1 if replaced.
const ROTATE_NONCE: &str = r"
local f = redis.call('HMGET', KEYS[1], 'expires_at', 'nonce')
if not serves(KEYS[1], f[1], tonumber(ARGV[3])) or f[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'nonce', ARGV[2])
return 1
";

/// KEYS: file, resv. ARGV: now, lease_until, token. 1 if reserved.
const RESERVE: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'expires_at', 'dlimit', 'downloads')
if not serves(KEYS[1], f[1], tonumber(ARGV[1])) then return 0 end
-- Only live reservations are left.
if tonumber(f[3]) + redis.call('ZCARD', KEYS[2]) >= tonumber(f[2]) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
";

/// KEYS: file, resv. ARGV: token, now, lease_until. 1 if the reservation is live (its
/// lease is now at least lease_until).
const RENEW: &str = r"
local now = tonumber(ARGV[2])
if not serves(KEYS[1], redis.call('HGET', KEYS[1], 'expires_at'), now) then return 0 end
local lease = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not lease or tonumber(lease) <= now then return 0 end
if tonumber(ARGV[3]) > tonumber(lease) then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
return 1
";

/// KEYS: file, resv. ARGV: id, token, now. {'counted'}, {'last', blob_key} or {'refused'}.
const COMPLETE: &str = r"
local now = tonumber(ARGV[3])
local lease = redis.call('ZSCORE', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
local f = redis.call('HMGET', KEYS[1], 'expires_at', 'dlimit', 'downloads', 'blob_key')
if not lease or tonumber(lease) <= now or not serves(KEYS[1], f[1], now) then
  return {'refused'}
end
if tonumber(f[3]) + 1 >= tonumber(f[2]) then
  finish(ARGV[1], f[4], ARGV[3])
  return {'last', f[4]}
end
redis.call('HINCRBY', KEYS[1], 'downloads', 1)
return {'counted'}
";

/// KEYS: file. ARGV: id, dlimit, now. {'updated'}, {'finished', blob_key} or {'missing'}.
const SET_DLIMIT: &str = r"
local f = redis.call('HMGET', KEYS[1], 'expires_at', 'downloads', 'blob_key')
if not serves(KEYS[1], f[1], tonumber(ARGV[3])) then return {'missing'} end
if tonumber(ARGV[2]) <= tonumber(f[2]) then
  finish(ARGV[1], f[3], ARGV[3])
  return {'finished', f[3]}
end
redis.call('HSET', KEYS[1], 'dlimit', ARGV[2])
return {'updated'}
";

/// KEYS: file. ARGV: auth_key, nonce, now. 1 if set.
const SET_PASSWORD: &str = r"
if not serves(KEYS[1], redis.call('HGET', KEYS[1], 'expires_at'), tonumber(ARGV[3])) then
  return 0
end
redis.call('HSET', KEYS[1], 'auth_key', ARGV[1], 'password', '1', 'nonce', ARGV[2])
return 1
";

/// KEYS: file. ARGV: id, now. The blob key of the deleted row, or nil.
const DELETE: &str = r"
local f = redis.call('HMGET', KEYS[1], 'expires_at', 'blob_key')
if not serves(KEYS[1], f[1], tonumber(ARGV[2])) then return false end
finish(ARGV[1], f[2], ARGV[2])
return f[2]
";

/// ARGV: now, limit, max dangling. The blob keys of up to `limit` rows expired at `now`,
/// deleted and tombstoned. Index members whose row Redis already dropped (by TTL) are
/// removed without counting, at most `max dangling` of them.
const TAKE_EXPIRED: &str = r"
local limit = tonumber(ARGV[2])
local max_dangling = tonumber(ARGV[3])
local taken, dangling = {}, 0
while #taken < limit and dangling < max_dangling do
  local ids = redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', ARGV[1], 'LIMIT', 0,
    math.min(limit - #taken, 100))
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local blob_key = redis.call('HGET', file_key(id), 'blob_key')
    if blob_key and is_held(file_key(id)) then
      -- Never expected (a report takes the id out of the index): leave the row alone.
      redis.call('ZREM', EXPIRY, id)
      dangling = dangling + 1
    elseif blob_key then
      finish(id, blob_key, ARGV[1])
      taken[#taken + 1] = blob_key
    else
      redis.call('DEL', resv_key(id))
      redis.call('ZREM', EXPIRY, id)
      dangling = dangling + 1
    end
  end
end
return taken
";

/// The smallest `expires_at` in the index (as Redis prints the score), or nil.
const NEXT_EXPIRY: &str = r"
local first = redis.call('ZRANGE', EXPIRY, 0, 0, 'WITHSCORES')
if #first == 0 then return false end
return first[2]
";

/// KEYS: file, resv. ARGV: id, now, reason, details. `held`, `again` (the row was held
/// already: one more report counted) or `missing`.
const REPORT: &str = r"
local f = redis.call('HMGET', KEYS[1], 'expires_at', 'reported_at', 'blob_key')
if f[2] then
  redis.call('HINCRBY', KEYS[1], 'report_count', 1)
  return 'again'
end
if not is_live(f[1], tonumber(ARGV[2])) then return 'missing' end
redis.call('HSET', KEYS[1], 'reported_at', ARGV[2], 'report_reason', ARGV[3],
  'report_details', ARGV[4], 'report_count', '1')
redis.call('DEL', KEYS[2])
redis.call('ZREM', EXPIRY, ARGV[1])
redis.call('ZADD', REPORTED, ARGV[2], ARGV[1])
redis.call('PERSIST', KEYS[1])
redis.call('PERSIST', blob_key_index(f[3]))
return 'held'
";

/// ARGV: limit. Up to `limit` held rows, the oldest report first, each as its id followed
/// by the fields [`record`] reads. Members without a row (never expected) are dropped.
const LIST_REPORTED: &str = r"
local ids = redis.call('ZRANGE', REPORTED, 0, tonumber(ARGV[1]) - 1)
local out = {}
for _, id in ipairs(ids) do
  local f = row(file_key(id), resv_key(id), '0')
  if f and f[12] ~= '' then
    table.insert(f, 1, id)
    out[#out + 1] = f
  else
    redis.call('ZREM', REPORTED, id)
  end
end
return out
";

/// KEYS: file. ARGV: id, now, grace_until, TTL margin. The expiry in force after releasing
/// the held row (its own if still after now, else grace_until), or nil if not held.
const RESTORE: &str = r"
local f = redis.call('HMGET', KEYS[1], 'reported_at', 'expires_at', 'blob_key')
if not f[1] then return false end
local expires = f[2]
if tonumber(expires) <= tonumber(ARGV[2]) then expires = ARGV[3] end
redis.call('HDEL', KEYS[1], 'reported_at', 'report_reason', 'report_details', 'report_count')
redis.call('HSET', KEYS[1], 'expires_at', expires)
redis.call('ZREM', REPORTED, ARGV[1])
redis.call('ZADD', EXPIRY, expires, ARGV[1])
local time = redis.call('TIME')
local redis_now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local deadline = tonumber(expires) + tonumber(ARGV[4])
if deadline > redis_now then
  -- '%.0f': an integer as digits, never in exponent form.
  local at = string.format('%.0f', deadline)
  redis.call('PEXPIREAT', KEYS[1], at)
  redis.call('PEXPIREAT', blob_key_index(f[3]), at)
end
return expires
";

/// KEYS: file. ARGV: id, now. The blob key of the deleted row, whatever its state, or nil.
const TAKE_DOWN: &str = r"
local blob_key = redis.call('HGET', KEYS[1], 'blob_key')
if not blob_key then return false end
finish(ARGV[1], blob_key, ARGV[2])
return blob_key
";

/// KEYS: blob index. ARGV: blob_key. 1 if a row or a tombstone refers to the blob.
const KNOWS_BLOB: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
if redis.call('ZSCORE', TOMBSTONES, ARGV[1]) then return 1 end
return 0
";

/// The scripts, each hashed once.
struct Scripts {
    insert: Script,
    get: Script,
    rotate_nonce: Script,
    reserve: Script,
    renew: Script,
    complete: Script,
    set_dlimit: Script,
    set_password: Script,
    delete: Script,
    take_expired: Script,
    next_expiry: Script,
    knows_blob: Script,
    report: Script,
    list_reported: Script,
    restore: Script,
    take_down: Script,
}

impl Scripts {
    fn new() -> Self {
        let script = |body: &str| Script::new(&format!("local P = '{PREFIX}'\n{PRELUDE}{body}"));
        Self {
            insert: script(INSERT),
            get: script(GET),
            rotate_nonce: script(ROTATE_NONCE),
            reserve: script(RESERVE),
            renew: script(RENEW),
            complete: script(COMPLETE),
            set_dlimit: script(SET_DLIMIT),
            set_password: script(SET_PASSWORD),
            delete: script(DELETE),
            take_expired: script(TAKE_EXPIRED),
            next_expiry: script(NEXT_EXPIRY),
            knows_blob: script(KNOWS_BLOB),
            report: script(REPORT),
            list_reported: script(LIST_REPORTED),
            restore: script(RESTORE),
            take_down: script(TAKE_DOWN),
        }
    }
}

/// The one sentence for a Redis at `host` (host and port) that cannot be used at start-up,
/// naming the option to check, with the client's error `e` in the chain.
fn unusable(host: &str, e: &redis::RedisError) -> anyhow::Error {
    let sentence = if e.kind() == redis::ErrorKind::AuthenticationFailed {
        format!(
            "Redis at {host} refused the password: check --meta (redis://:PASSWORD@HOST) or \
             --redis-password-file"
        )
    } else if e.code() == Some("NOAUTH") {
        format!(
            "Redis at {host} needs a password: set it in --meta (redis://:PASSWORD@HOST) or \
             --redis-password-file"
        )
    } else if e.is_connection_refusal() {
        format!("cannot reach Redis at {host} (connection refused): check --meta")
    } else if e.is_timeout() {
        format!("cannot reach Redis at {host} (no answer): check --meta")
    } else if e.is_io_error() {
        // Name resolution, TLS, a reset connection…: the client shows the I/O error.
        format!(
            "cannot reach Redis at {host} ({}): check --meta",
            crate::startup::short_cause(&e.to_string())
        )
    } else {
        format!(
            "Redis at {host} refused to serve ({}): check --meta",
            e.code().unwrap_or_else(|| e.category())
        )
    };
    anyhow!("{e}").context(sentence)
}

/// The Redis [`MetaStore`]. Cloning shares the connection.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    scripts: Arc<Scripts>,
    /// `host:port` (or socket path) and database: what errors may name.
    addr: Arc<str>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the Redis server at `url` (`redis://[[user]:password@]host[:port][/db]`)
    /// and checks it answers PING.
    ///
    /// Fails with one sentence naming the server by host and port and the option to check
    /// (`--meta`, or `--redis-password-file` for a password), the Redis client's own
    /// error in the chain (`{:#}`). Errors never include the URL.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        // The parser's messages never quote the URL (see `errors_never_show_the_url`).
        let client = redis::Client::open(url).map_err(|e| {
            anyhow!("{e}").context(
                "the Redis URL is invalid: check --meta (redis://[[USER]:PASSWORD@]HOST[:PORT][/DB])",
            )
        })?;
        let info = client.get_connection_info();
        let host = info.addr().to_string();
        let addr: Arc<str> = format!("{host} db {}", info.redis_settings().db()).into();
        let no_answer = || {
            anyhow!("no answer within {OPERATION_TIMEOUT:?}").context(format!(
                "cannot reach Redis at {host} (no answer): check --meta"
            ))
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(CONNECT_RETRIES)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let conn = match tokio::time::timeout(
            OPERATION_TIMEOUT,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(unusable(&host, &e)),
            Err(_) => return Err(no_answer()),
        };
        // A server that wants a password it was not given says so only now.
        let (ping, mut pinging) = (redis::cmd("PING"), conn.clone());
        match tokio::time::timeout(OPERATION_TIMEOUT, ping.query_async::<String>(&mut pinging))
            .await
        {
            Ok(Ok(answer)) if answer == "PONG" => {}
            Ok(Ok(answer)) => {
                return Err(anyhow!("PING answered {answer:?}").context(format!(
                    "the server at {host} does not answer like Redis: check --meta"
                )));
            }
            Ok(Err(e)) => return Err(unusable(&host, &e)),
            Err(_) => return Err(no_answer()),
        }
        Ok(Self {
            conn,
            scripts: Arc::new(Scripts::new()),
            addr,
        })
    }

    /// Runs `op` (a command or script on a clone of the connection) within
    /// [`OPERATION_TIMEOUT`], once more if it could not connect (it was then never sent).
    async fn run<T, F, Fut>(&self, what: &'static str, op: F) -> MetaResult<T>
    where
        F: Fn(ConnectionManager) -> Fut + Send,
        Fut: Future<Output = RedisResult<T>> + Send,
    {
        let attempts = async {
            match op(self.conn.clone()).await {
                Err(e) if e.is_connection_refusal() => op(self.conn.clone()).await,
                result => result,
            }
        };
        match tokio::time::timeout(OPERATION_TIMEOUT, attempts).await {
            Ok(Ok(value)) => Ok(value),
            // The message only: redis's own message already includes its source's.
            Ok(Err(e)) => Err(anyhow!(
                "Redis metadata store at {}: {what}: {e}",
                self.addr
            )),
            Err(_) => Err(anyhow!(
                "Redis metadata store at {}: {what}: no answer within {OPERATION_TIMEOUT:?}",
                self.addr
            )),
        }
    }

    /// Invokes a prepared script.
    async fn invoke<T>(&self, what: &'static str, call: &ScriptInvocation<'_>) -> MetaResult<T>
    where
        T: FromRedisValue + Send,
    {
        self.run(what, |mut conn| async move {
            call.invoke_async(&mut conn).await
        })
        .await
    }

    /// Sends one command.
    async fn query<T>(&self, what: &'static str, cmd: &redis::Cmd) -> MetaResult<T>
    where
        T: FromRedisValue + Send,
    {
        self.run(
            what,
            |mut conn| async move { cmd.query_async(&mut conn).await },
        )
        .await
    }
}

/// The hash of a file.
fn file_key(id: &FileId) -> String {
    format!("{PREFIX}file:{id}")
}

/// The reservations of a file.
fn resv_key(id: &FileId) -> String {
    format!("{PREFIX}resv:{id}")
}

/// The row referring to a blob.
fn blob_index_key(blob_key: &str) -> String {
    format!("{PREFIX}blob:{blob_key}")
}

/// The tombstones.
fn tombstones_key() -> String {
    format!("{PREFIX}tombstones")
}

/// A time to store: exact as a Lua number.
fn stored_time(time: Millis, what: &str) -> anyhow::Result<Millis> {
    if time > MAX_TIME {
        bail!("{what} {time} ms is out of range");
    }
    Ok(time)
}

/// A count or limit passed to a script: anything beyond 2^53 means no limit anyway.
fn script_limit(limit: usize) -> u64 {
    u64::try_from(limit).map_or(MAX_TIME, |l| l.min(MAX_TIME))
}

/// Lowercase hex.
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        text.push(char::from(DIGITS[usize::from(b >> 4)]));
        text.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    text
}

/// Parses hex.
fn from_hex(text: &str) -> anyhow::Result<Vec<u8>> {
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).ok().filter(|p| p.len() == 2);
            pair.and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| anyhow!("invalid hex"))
        })
        .collect()
}

/// Parses a stored number.
fn number<T: std::str::FromStr>(text: &str, field: &str) -> anyhow::Result<T> {
    text.parse()
        .map_err(|_| anyhow!("stored {field} {text:?} is not a valid number"))
}

/// The fields the `get` script returns, in order.
type GetFields = [String; 15];

/// A row as the `get` script returns it.
fn record(id: &FileId, fields: Vec<String>) -> anyhow::Result<FileRecord> {
    let [
        expires_at,
        blob_key,
        owner_hash,
        metadata,
        auth_key,
        nonce,
        dlimit,
        downloads,
        password,
        size,
        reserved,
        reported_at,
        reason,
        details,
        count,
    ]: GetFields = fields
        .try_into()
        .map_err(|f: Vec<String>| anyhow!("the row has {} fields", f.len()))?;
    let report = if reported_at.is_empty() {
        None
    } else {
        Some(Report {
            reason: ReportReason::parse(&reason)
                .ok_or_else(|| anyhow!("the stored report reason {reason:?} is unknown"))?,
            details,
            reported_at: number(&reported_at, "reported_at")?,
            count: number(&count, "report_count")?,
        })
    };
    let owner_hash: [u8; 32] = from_hex(&owner_hash)
        .context("stored owner_hash")?
        .try_into()
        .map_err(|_| anyhow!("stored owner_hash is not 32 bytes"))?;
    Ok(FileRecord {
        file: NewFile {
            id: id.clone(),
            blob_key,
            owner_hash,
            metadata,
            auth_key: from_hex(&auth_key).context("stored auth_key")?,
            nonce,
            dlimit: number(&dlimit, "dlimit")?,
            expires_at: number(&expires_at, "expires_at")?,
            size: number(&size, "size")?,
        },
        downloads: number(&downloads, "downloads")?,
        reserved: number(&reserved, "reserved")?,
        password: match password.as_str() {
            "0" => false,
            "1" => true,
            other => bail!("stored password flag {other:?} is not 0 or 1"),
        },
        report,
    })
}

#[async_trait]
impl MetaStore for RedisStore {
    async fn insert(&self, file: NewFile) -> MetaResult<()> {
        let expires_at = stored_time(file.expires_at, "expires_at")?;
        let deadline = expires_at + TTL_MARGIN;
        let inserted: i64 = self
            .invoke(
                "insert",
                self.scripts
                    .insert
                    .key(file_key(&file.id))
                    .key(resv_key(&file.id))
                    .key(blob_index_key(&file.blob_key))
                    .arg(file.id.as_str())
                    .arg(&file.blob_key)
                    .arg(to_hex(&file.owner_hash))
                    .arg(&file.metadata)
                    .arg(to_hex(&file.auth_key))
                    .arg(&file.nonce)
                    .arg(file.dlimit)
                    .arg(expires_at)
                    .arg(file.size)
                    .arg(deadline),
            )
            .await?;
        if inserted != 1 {
            bail!("Redis metadata store: insert: the id {} exists", file.id);
        }
        Ok(())
    }

    async fn get(&self, id: &FileId, now: Millis) -> MetaResult<Option<FileRecord>> {
        let fields: Option<Vec<String>> = self
            .invoke(
                "get",
                self.scripts
                    .get
                    .key(file_key(id))
                    .key(resv_key(id))
                    .arg(now)
                    .arg("served"),
            )
            .await?;
        fields
            .map(|fields| record(id, fields))
            .transpose()
            .with_context(|| format!("Redis metadata store: the row of {id} is corrupt"))
    }

    async fn rotate_nonce(
        &self,
        id: &FileId,
        expected: &str,
        new: &str,
        now: Millis,
    ) -> MetaResult<bool> {
        let changed: i64 = self
            .invoke(
                "rotate_nonce",
                self.scripts
                    .rotate_nonce
                    .key(file_key(id))
                    .arg(expected)
                    .arg(new)
                    .arg(now),
            )
            .await?;
        Ok(changed == 1)
    }

    async fn reserve_download(
        &self,
        id: &FileId,
        now: Millis,
        lease_until: Millis,
    ) -> MetaResult<Reserve> {
        let lease_until = stored_time(lease_until, "lease_until")?;
        let reservation = uuid::Uuid::new_v4().simple().to_string();
        let reserved: i64 = self
            .invoke(
                "reserve_download",
                self.scripts
                    .reserve
                    .key(file_key(id))
                    .key(resv_key(id))
                    .arg(now)
                    .arg(lease_until)
                    .arg(&reservation),
            )
            .await?;
        Ok(if reserved == 1 {
            Reserve::Reserved { reservation }
        } else {
            Reserve::Unavailable
        })
    }

    async fn renew_reservation(
        &self,
        id: &FileId,
        reservation: &str,
        now: Millis,
        lease_until: Millis,
    ) -> MetaResult<bool> {
        let lease_until = stored_time(lease_until, "lease_until")?;
        let renewed: i64 = self
            .invoke(
                "renew_reservation",
                self.scripts
                    .renew
                    .key(file_key(id))
                    .key(resv_key(id))
                    .arg(reservation)
                    .arg(now)
                    .arg(lease_until),
            )
            .await?;
        Ok(renewed == 1)
    }

    async fn complete_download(
        &self,
        id: &FileId,
        reservation: &str,
        now: Millis,
    ) -> MetaResult<Complete> {
        let outcome: Vec<String> = self
            .invoke(
                "complete_download",
                self.scripts
                    .complete
                    .key(file_key(id))
                    .key(resv_key(id))
                    .arg(id.as_str())
                    .arg(reservation)
                    .arg(now),
            )
            .await?;
        match <[String; 2]>::try_from(outcome) {
            Ok([tag, blob_key]) if tag == "last" => Ok(Complete::Last { blob_key }),
            Ok(other) => bail!("complete_download answered {other:?}"),
            Err(outcome) => match outcome.first().map(String::as_str) {
                Some("counted") => Ok(Complete::Counted),
                Some("refused") => Ok(Complete::Refused),
                _ => bail!("complete_download answered {outcome:?}"),
            },
        }
    }

    async fn release_download(&self, id: &FileId, reservation: &str) -> MetaResult<()> {
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(resv_key(id)).arg(reservation);
        let _removed: i64 = self.query("release_download", &cmd).await?;
        Ok(())
    }

    async fn set_dlimit(
        &self,
        id: &FileId,
        dlimit: u32,
        now: Millis,
    ) -> MetaResult<Option<SetLimit>> {
        let outcome: Vec<String> = self
            .invoke(
                "set_dlimit",
                self.scripts
                    .set_dlimit
                    .key(file_key(id))
                    .arg(id.as_str())
                    .arg(dlimit)
                    .arg(now),
            )
            .await?;
        match <[String; 2]>::try_from(outcome) {
            Ok([tag, blob_key]) if tag == "finished" => Ok(Some(SetLimit::Finished { blob_key })),
            Ok(other) => bail!("set_dlimit answered {other:?}"),
            Err(outcome) => match outcome.first().map(String::as_str) {
                Some("updated") => Ok(Some(SetLimit::Updated)),
                Some("missing") => Ok(None),
                _ => bail!("set_dlimit answered {outcome:?}"),
            },
        }
    }

    async fn set_password(
        &self,
        id: &FileId,
        auth_key: &[u8],
        new_nonce: &str,
        now: Millis,
    ) -> MetaResult<bool> {
        let changed: i64 = self
            .invoke(
                "set_password",
                self.scripts
                    .set_password
                    .key(file_key(id))
                    .arg(to_hex(auth_key))
                    .arg(new_nonce)
                    .arg(now),
            )
            .await?;
        Ok(changed == 1)
    }

    async fn delete(&self, id: &FileId, now: Millis) -> MetaResult<Option<String>> {
        self.invoke(
            "delete",
            self.scripts
                .delete
                .key(file_key(id))
                .arg(id.as_str())
                .arg(now),
        )
        .await
    }

    async fn take_expired(&self, now: Millis, limit: usize) -> MetaResult<Vec<String>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.invoke(
            "take_expired",
            self.scripts
                .take_expired
                .arg(now)
                .arg(script_limit(limit))
                .arg(script_limit(MAX_DANGLING)),
        )
        .await
    }

    async fn next_expiry(&self) -> MetaResult<Option<Millis>> {
        let score: Option<String> = self
            .invoke("next_expiry", &self.scripts.next_expiry.prepare_invoke())
            .await?;
        score
            .map(|score| number(&score, "expiry score"))
            .transpose()
    }

    async fn tombstones(&self, before: Millis, limit: usize) -> MetaResult<Vec<String>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("ZRANGEBYSCORE");
        cmd.arg(tombstones_key())
            .arg("-inf")
            .arg(format!("({before}"))
            .arg("LIMIT")
            .arg(0)
            .arg(i64::try_from(limit).unwrap_or(i64::MAX));
        self.query("tombstones", &cmd).await
    }

    async fn clear_tombstones(&self, blob_keys: &[String]) -> MetaResult<()> {
        if blob_keys.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(tombstones_key()).arg(blob_keys);
        let _removed: i64 = self.query("clear_tombstones", &cmd).await?;
        Ok(())
    }

    async fn knows_blob(&self, blob_key: &str) -> MetaResult<bool> {
        let known: i64 = self
            .invoke(
                "knows_blob",
                self.scripts
                    .knows_blob
                    .key(blob_index_key(blob_key))
                    .arg(blob_key),
            )
            .await?;
        Ok(known == 1)
    }

    async fn ping(&self) -> MetaResult<()> {
        let answer: String = self.query("ping", &redis::cmd("PING")).await?;
        if answer != "PONG" {
            bail!(
                "Redis metadata store at {}: PING answered {answer:?}",
                self.addr
            );
        }
        Ok(())
    }

    async fn find(&self, id: &FileId, now: Millis) -> MetaResult<Option<FileRecord>> {
        let fields: Option<Vec<String>> = self
            .invoke(
                "find",
                self.scripts
                    .get
                    .key(file_key(id))
                    .key(resv_key(id))
                    .arg(now)
                    .arg("held"),
            )
            .await?;
        fields
            .map(|fields| record(id, fields))
            .transpose()
            .with_context(|| format!("Redis metadata store: the row of {id} is corrupt"))
    }

    async fn report(
        &self,
        id: &FileId,
        reason: ReportReason,
        details: &str,
        now: Millis,
    ) -> MetaResult<Reported> {
        let now = stored_time(now, "reported_at")?;
        let outcome: String = self
            .invoke(
                "report",
                self.scripts
                    .report
                    .key(file_key(id))
                    .key(resv_key(id))
                    .arg(id.as_str())
                    .arg(now)
                    .arg(reason.as_str())
                    .arg(details),
            )
            .await?;
        match outcome.as_str() {
            "held" => Ok(Reported::Held),
            "again" => Ok(Reported::AlreadyHeld),
            "missing" => Ok(Reported::Missing),
            other => bail!("report answered {other:?}"),
        }
    }

    async fn list_reported(&self, limit: usize) -> MetaResult<Vec<FileRecord>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows: Vec<Vec<String>> = self
            .invoke(
                "list_reported",
                &self.scripts.list_reported.arg(script_limit(limit)),
            )
            .await?;
        rows.into_iter()
            .map(|mut fields| {
                if fields.is_empty() {
                    bail!("Redis metadata store: list_reported answered an empty row");
                }
                let raw = fields.remove(0);
                let id = FileId::parse(&raw)
                    .ok_or_else(|| anyhow!("Redis metadata store: a stored id is malformed"))?;
                record(&id, fields)
                    .with_context(|| format!("Redis metadata store: the row of {id} is corrupt"))
            })
            .collect()
    }

    async fn restore(
        &self,
        id: &FileId,
        now: Millis,
        grace_until: Millis,
    ) -> MetaResult<Option<Millis>> {
        let grace_until = stored_time(grace_until, "expires_at")?;
        let expires: Option<String> = self
            .invoke(
                "restore",
                self.scripts
                    .restore
                    .key(file_key(id))
                    .arg(id.as_str())
                    .arg(now)
                    .arg(grace_until)
                    .arg(TTL_MARGIN),
            )
            .await?;
        expires.map(|text| number(&text, "expires_at")).transpose()
    }

    async fn take_down(&self, id: &FileId, now: Millis) -> MetaResult<Option<String>> {
        self.invoke(
            "take_down",
            self.scripts
                .take_down
                .key(file_key(id))
                .arg(id.as_str())
                .arg(now),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Instant, SystemTime, UNIX_EPOCH};

    use sealdrop_testkit::Redis;

    use super::*;
    use crate::meta::conformance;

    fn file(dlimit: u32, expires_at: Millis) -> NewFile {
        let id = FileId::generate().unwrap();
        NewFile {
            blob_key: format!("1-{id}"),
            id,
            owner_hash: [7; 32],
            metadata: "bWV0YQ".to_owned(),
            auth_key: vec![1, 2, 3, 0xff],
            nonce: "bm9uY2U=".to_owned(),
            dlimit,
            expires_at,
            size: 42,
        }
    }

    fn system_now() -> Millis {
        let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        u64::try_from(since.as_millis()).unwrap()
    }

    /// A plain command on a fresh connection (to look at or tamper with the keys).
    async fn raw<T: FromRedisValue>(url: &str, cmd: &redis::Cmd) -> T {
        let client = redis::Client::open(url).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        cmd.query_async(&mut conn).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance_suite() {
        let redis = Redis::start();
        let store = RedisStore::connect(&redis.url).await.unwrap();
        conformance::run_all(&store).await;
        conformance::race(Arc::new(store)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance_suite_in_another_database() {
        let redis = Redis::start();
        let store = RedisStore::connect(&format!("{}/3", redis.url))
            .await
            .unwrap();
        conformance::run_all(&store).await;
        let keys: Vec<String> = raw(&redis.url, &redis::cmd("KEYS").arg("*").clone()).await;
        assert!(keys.is_empty(), "database 0 is untouched: {keys:?}");
    }

    /// Two stores (two server instances) on one Redis: one download of a `dlimit` 1 file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_instances_share_the_limit() {
        let redis = Redis::start();
        let a = RedisStore::connect(&redis.url).await.unwrap();
        let b = RedisStore::connect(&redis.url).await.unwrap();
        let now = 1_800_000_000_000;
        for _ in 0..5 {
            let f = file(1, now + 60_000);
            a.insert(f.clone()).await.unwrap();
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..40 {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                let id = f.id.clone();
                tasks.spawn(async move {
                    match store.reserve_download(&id, now, now + 1_000).await.unwrap() {
                        Reserve::Reserved { reservation } => store
                            .complete_download(&id, &reservation, now + 1)
                            .await
                            .unwrap(),
                        Reserve::Unavailable => Complete::Refused,
                    }
                });
            }
            let outcomes = tasks.join_all().await;
            let last = outcomes
                .iter()
                .filter(|c| matches!(c, Complete::Last { .. }))
                .count();
            assert_eq!(last, 1, "{outcomes:?}");
            assert!(!outcomes.contains(&Complete::Counted));
            assert_eq!(b.get(&f.id, now).await.unwrap(), None);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn data_model_and_ttls() {
        let redis = Redis::start();
        let store = RedisStore::connect(&redis.url).await.unwrap();
        let now = system_now();
        let f = file(2, now + 86_400_000);
        store.insert(f.clone()).await.unwrap();
        let fields: std::collections::HashMap<String, String> =
            raw(&redis.url, redis::cmd("HGETALL").arg(file_key(&f.id))).await;
        assert_eq!(fields["blob_key"], f.blob_key);
        assert_eq!(fields["owner_hash"], "07".repeat(32));
        assert_eq!(fields["auth_key"], "010203ff");
        assert_eq!(fields["expires_at"], f.expires_at.to_string());
        assert_eq!((&*fields["downloads"], &*fields["password"]), ("0", "0"));
        let id: String = raw(
            &redis.url,
            redis::cmd("GET").arg(blob_index_key(&f.blob_key)),
        )
        .await;
        assert_eq!(id, f.id.as_str());

        // Redis drops the keys a margin after expiry.
        let deadline = i64::try_from(f.expires_at + TTL_MARGIN).unwrap();
        for key in [file_key(&f.id), blob_index_key(&f.blob_key)] {
            let at: i64 = raw(&redis.url, redis::cmd("PEXPIRETIME").arg(&key)).await;
            assert_eq!(at, deadline, "{key}");
        }
        let Reserve::Reserved { .. } = store
            .reserve_download(&f.id, now, now + 60_000)
            .await
            .unwrap()
        else {
            panic!("no slot");
        };
        let ttl: i64 = raw(&redis.url, redis::cmd("PTTL").arg(resv_key(&f.id))).await;
        assert!(ttl > 86_400_000 && ttl <= 86_400_000 + 3_600_000, "{ttl}");

        // A deadline already past by Redis's clock: no TTL, rather than vanishing at once.
        let old = file(1, 1_000_000);
        store.insert(old.clone()).await.unwrap();
        let ttl: i64 = raw(&redis.url, redis::cmd("PTTL").arg(file_key(&old.id))).await;
        assert_eq!(ttl, -1);
        assert!(store.get(&old.id, 999_999).await.unwrap().is_some());

        // Times beyond 2^53 ms are refused.
        assert!(store.insert(file(1, u64::MAX)).await.is_err());
    }

    /// A held file's keys lose their TTL (it must outlive its expiry) and get it back,
    /// from the expiry then in force, when restored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn held_rows_keep_their_keys() {
        let redis = Redis::start();
        let store = RedisStore::connect(&redis.url).await.unwrap();
        let now = system_now();
        let f = file(2, now + 60_000);
        store.insert(f.clone()).await.unwrap();
        let Reserve::Reserved { .. } = store
            .reserve_download(&f.id, now, now + 30_000)
            .await
            .unwrap()
        else {
            panic!("no slot");
        };
        assert_eq!(
            store
                .report(&f.id, ReportReason::Malware, "x", now)
                .await
                .unwrap(),
            Reported::Held
        );
        for key in [file_key(&f.id), blob_index_key(&f.blob_key)] {
            let ttl: i64 = raw(&redis.url, redis::cmd("PTTL").arg(&key)).await;
            assert_eq!(ttl, -1, "{key} has no TTL while held");
        }
        let resv: i64 = raw(&redis.url, redis::cmd("EXISTS").arg(resv_key(&f.id))).await;
        assert_eq!(resv, 0, "the reservations are dropped");
        let score: Option<String> = raw(
            &redis.url,
            redis::cmd("ZSCORE")
                .arg(format!("{PREFIX}expiry"))
                .arg(f.id.as_str()),
        )
        .await;
        assert_eq!(score, None, "out of the expiry index");

        // Restored after its expiry: a grace period, and TTLs from it.
        let later = now + 120_000;
        let grace = later + 3_600_000;
        assert_eq!(
            store.restore(&f.id, later, grace).await.unwrap(),
            Some(grace)
        );
        let deadline = i64::try_from(grace + TTL_MARGIN).unwrap();
        for key in [file_key(&f.id), blob_index_key(&f.blob_key)] {
            let at: i64 = raw(&redis.url, redis::cmd("PEXPIRETIME").arg(&key)).await;
            assert_eq!(at, deadline, "{key}");
        }
        let fields: std::collections::HashMap<String, String> =
            raw(&redis.url, redis::cmd("HGETALL").arg(file_key(&f.id))).await;
        assert!(!fields.contains_key("reported_at"), "{fields:?}");
        assert_eq!(fields["expires_at"], grace.to_string());
    }

    /// Redis dropped a row by TTL before any sweeper ran: the index entry is cleaned up and
    /// the blob is an orphan.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_dropped_by_redis_are_cleaned_up() {
        let redis = Redis::start();
        let store = RedisStore::connect(&redis.url).await.unwrap();
        let (gone, kept) = (file(1, 1_000), file(1, 2_000));
        store.insert(gone.clone()).await.unwrap();
        store.insert(kept.clone()).await.unwrap();
        let _: i64 = raw(
            &redis.url,
            redis::cmd("DEL")
                .arg(file_key(&gone.id))
                .arg(blob_index_key(&gone.blob_key)),
        )
        .await;
        assert!(!store.knows_blob(&gone.blob_key).await.unwrap());
        assert_eq!(store.next_expiry().await.unwrap(), Some(1_000));
        assert_eq!(
            store.take_expired(5_000, 1).await.unwrap(),
            vec![kept.blob_key.clone()]
        );
        assert_eq!(store.next_expiry().await.unwrap(), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn errors_never_show_the_url() {
        let port = sealdrop_testkit::free_port();
        let url = format!("redis://user:s3cret@127.0.0.1:{port}/2");
        let started = Instant::now();
        let err = RedisStore::connect(&url).await.unwrap_err();
        // Bounded (the store gives up after its timeouts), with slack for a loaded machine.
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            started.elapsed()
        );
        let text = format!("{err:#} {err:?}");
        assert!(
            !text.contains("s3cret") && !text.contains("redis://"),
            "{text}"
        );
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert_eq!(
            err.to_string(),
            format!("cannot reach Redis at 127.0.0.1:{port} (connection refused): check --meta")
        );

        for bad in [
            "redis://:s3cret@[::1",
            "http://:s3cret@host/",
            "redis://:s3cret@h/x",
        ] {
            let err = RedisStore::connect(bad).await.unwrap_err();
            let text = format!("{err:#} {err:?}");
            assert!(!text.contains("s3cret"), "{text}");
            assert!(text.contains("URL is invalid"), "{text}");
            assert!(err.to_string().contains("check --meta"), "{err:#}");
        }

        // Wrong password: refused, without the password in the error or the Debug output.
        let redis = Redis::start();
        let _: () = raw(
            &redis.url,
            redis::cmd("CONFIG")
                .arg("SET")
                .arg("requirepass")
                .arg("right"),
        )
        .await;
        let wrong = redis.url.replace("redis://", "redis://:s3cret@");
        let err = RedisStore::connect(&wrong).await.unwrap_err();
        assert!(!format!("{err:#} {err:?}").contains("s3cret"), "{err:#}");
        assert_eq!(
            err.to_string(),
            format!(
                "Redis at 127.0.0.1:{} refused the password: check --meta \
                 (redis://:PASSWORD@HOST) or --redis-password-file",
                redis.port
            )
        );
        let err = RedisStore::connect(&redis.url).await.unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "Redis at 127.0.0.1:{} needs a password: ",
                redis.port
            )),
            "{err:#}"
        );
        let right = redis.url.replace("redis://", "redis://:right@");
        let store = RedisStore::connect(&right).await.unwrap();
        assert!(!format!("{store:?}").contains("right"), "{store:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn survives_an_outage() {
        let mut redis = Redis::start();
        let port = redis.port;
        let store = RedisStore::connect(&redis.url).await.unwrap();
        let now = 1_800_000_000_000;
        let f = file(3, now + 60_000);
        store.insert(f.clone()).await.unwrap();

        redis.stop();
        for _ in 0..2 {
            let started = Instant::now();
            let err = store.get(&f.id, now).await.unwrap_err();
            assert!(
                // The 3 s operation timeout, plus slack for a loaded machine.
                started.elapsed() < Duration::from_secs(10),
                "failed after {:?}",
                started.elapsed()
            );
            assert!(
                format!("{err:#}").contains(&format!("127.0.0.1:{port}")),
                "{err:#}"
            );
            assert!(store.ping().await.is_err());
        }

        // Back (empty: persistence is off, and the scripts are forgotten): the same store
        // works again at once.
        let _redis = Redis::start_on(port);
        store.ping().await.unwrap();
        store.insert(f.clone()).await.unwrap();
        let Reserve::Reserved { reservation } = store
            .reserve_download(&f.id, now, now + 1_000)
            .await
            .unwrap()
        else {
            panic!("no slot");
        };
        assert_eq!(
            store
                .complete_download(&f.id, &reservation, now)
                .await
                .unwrap(),
            Complete::Counted
        );
        assert_eq!(store.get(&f.id, now).await.unwrap().unwrap().downloads, 1);
    }
}
