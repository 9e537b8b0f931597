//! The Lua scripts, each touching the keys of ONE hash tag only (one
//! endpoint, or one index shard), so they run unchanged on Redis Cluster.
//!
//! Scripts never re-encode JSON (Redis' cjson turns `[]` into `{}` and
//! reformats numbers); registrations are built in Rust and the scripts only
//! compare whole stored strings (compare-and-set).

use std::sync::LazyLock;

use redis::Script;

/// Registration compare-and-set.
///
/// KEYS: reg, obs. ARGV: expected registration JSON (`""` = must be absent),
/// new JSON (`""` = delete), observation mode: `drop` (delete the
/// observations and return their JSON), `keys` (return their token hex),
/// anything else (return nothing more).
/// Returns `{"conflict"}` or `{"ok", ...}`.
pub(crate) static REGISTRATION_CAS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local cur = redis.call('GET', KEYS[1])
if cur == false then cur = '' end
if cur ~= ARGV[1] then return {'conflict'} end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
local out = {'ok'}
if ARGV[3] == 'drop' then
  local vals = redis.call('HVALS', KEYS[2])
  redis.call('DEL', KEYS[2])
  for i = 1, #vals do out[#out + 1] = vals[i] end
elseif ARGV[3] == 'keys' then
  local ks = redis.call('HKEYS', KEYS[2])
  for i = 1, #ks do out[#out + 1] = ks[i] end
end
return out
"#,
    )
});

/// Adds an observation if the endpoint's current registration has the
/// observation's registration id (so an Observe that raced with a
/// re-registration cannot outlive it).
///
/// With a target (ARGV 4, [`super::observations::target_key`] of the
/// observation), an observation of the same target that is already stored
/// is returned instead and nothing is written: one observation per device
/// and path. Decoding the stored JSON only reads it, never re-encodes it.
///
/// KEYS: reg, obs. ARGV: registration id, token hex, observation JSON,
/// target (`""`: no check). Returns 1 if stored, 0 if the registration does
/// not match, or the JSON of the observation of the same target.
pub(crate) static ADD_OBSERVATION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, reg = pcall(cjson.decode, cur)
if not ok or type(reg) ~= 'table' or reg['registration_id'] ~= ARGV[1] then return 0 end
if ARGV[4] ~= '' then
  local vals = redis.call('HVALS', KEYS[2])
  for i = 1, #vals do
    local good, o = pcall(cjson.decode, vals[i])
    if good and type(o) == 'table' and type(o['paths']) == 'table' then
      local target = (o['composite'] == true and 'c' or 's') .. '\n' .. table.concat(o['paths'], '\n')
      if target == ARGV[4] then return vals[i] end
    end
  end
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
"#,
    )
});

/// Hash field compare-and-set (observation bookkeeping).
///
/// KEYS: obs. ARGV: token hex, expected JSON, new JSON. Returns 1 or 0.
pub(crate) static OBSERVATION_CAS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"#,
    )
});

/// Removes one hash field and returns what it held (nil if nothing).
///
/// KEYS: obs. ARGV: token hex.
pub(crate) static TAKE_FIELD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then redis.call('HDEL', KEYS[1], ARGV[1]) end
return v
"#,
    )
});

/// Deletes a key only if it still holds the expected value, so cleaning a
/// secondary index never removes an entry someone else rewrote meanwhile.
///
/// KEYS: key. ARGV: expected value. Returns 1 if deleted.
pub(crate) static DELETE_IF_EQUAL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#,
    )
});

/// Puts an endpoint in its shard's listing and expiry indexes.
///
/// The expiry score only ever moves EARLIER here: a stale, later score
/// written by a slow node could otherwise delay an expiry forever, whereas a
/// too-early score only costs the sweeper a look (it re-checks and
/// reschedules). Any pending sweep claim on the endpoint is voided, so that
/// sweep cannot drop the entry of a registration written meanwhile.
///
/// KEYS: expiry, endpoints, claims. ARGV: endpoint, expires_at_ms.
pub(crate) static SCHEDULE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not cur) or tonumber(ARGV[2]) < tonumber(cur) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
return 1
"#,
    )
});

/// Claims up to `limit` due endpoints of one shard for one sweep: their
/// score moves to the end of the lease (so concurrent sweeps do not see
/// them, and a sweep that dies leaves them to be claimed again after the
/// lease) and the claim id is recorded.
///
/// KEYS: expiry, claims. ARGV: now_ms, lease_until_ms, limit, claim id.
/// Returns the claimed endpoints.
pub(crate) static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local eps = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for i = 1, #eps do
  redis.call('ZADD', KEYS[1], ARGV[2], eps[i])
  redis.call('HSET', KEYS[2], eps[i], ARGV[4])
end
return eps
"#,
    )
});

/// Ends a claim, unless it was voided by a `SCHEDULE` or taken over by a
/// later sweep: `gone` drops the endpoint from both indexes, `alive` puts
/// back the registration's real expiry.
///
/// KEYS: expiry, endpoints, claims. ARGV: endpoint, claim id, `gone` or
/// `alive`, expires_at_ms. Returns 1 if settled.
pub(crate) static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
if ARGV[3] == 'gone' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
end
return 1
"#,
    )
});

/// Takes or renews a node-id lease unless another holder has it.
///
/// KEYS: lease. ARGV: holder, member JSON (`""`: keep the stored one, i.e.
/// renew only), TTL ms, `1` when the claim is not an adoption. Returns 1
/// when the caller holds the lease now.
pub(crate) static LEASE_CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, m = pcall(cjson.decode, cur)
  -- A claim that is not an adoption (ARGV[4] = '1') takes an adopted
  -- lease over: the id's own node is back.
  local preempt = ok and m.adopted == true and ARGV[4] == '1'
  if not ok or (m.holder ~= ARGV[1] and not preempt) then return 0 end
  if ARGV[2] == '' then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return 1
  end
elseif ARGV[2] == '' then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"#,
    )
});

/// A script whose `body` runs only if ARGV[1] holds the lease in KEYS[1]
/// (else it returns 0): writes under a node id are its holder's alone.
fn holder_only(body: &str) -> Script {
    Script::new(&format!(
        r#"
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, m = pcall(cjson.decode, cur)
if not ok or m.holder ~= ARGV[1] then return 0 end
{body}"#
    ))
}

/// Writes (ARGV[3] set) or deletes (ARGV[3] absent) field ARGV[2] of the
/// reservation hash, only if ARGV[1] holds the lease; 1 if done.
/// KEYS: lease, reservation hash.
pub(crate) static RESERVATION_WRITE: LazyLock<Script> = LazyLock::new(|| {
    holder_only(
        r#"
if ARGV[3] then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
else
  redis.call('HDEL', KEYS[2], ARGV[2])
end
return 1
"#,
    )
});

/// Replaces the parked list with ARGV[3..] (TTL ARGV[2] ms), only if
/// ARGV[1] holds the lease; 1 if done. KEYS: lease, parked list.
pub(crate) static PARK: LazyLock<Script> = LazyLock::new(|| {
    holder_only(
        r#"
redis.call('DEL', KEYS[2])
-- In slices: unpack of a whole node's sessions would overflow Lua's stack.
for i = 3, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if #ARGV > 2 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1
"#,
    )
});

/// Deletes a lease if `holder` has it. KEYS: lease. ARGV: holder.
pub(crate) static LEASE_RELEASE: LazyLock<Script> = LazyLock::new(|| {
    holder_only(
        r#"
redis.call('DEL', KEYS[1])
return 1
"#,
    )
});

/// Reads and deletes a list in one step. KEYS: list.
pub(crate) static LIST_TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local v = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return v
"#,
    )
});
