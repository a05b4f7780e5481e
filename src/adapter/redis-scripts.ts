/**
 * Lua scripts for the Redis adapter. Every key shares the hash tag `{prefix}` so the scripts
 * run on one slot (single instance, Sentinel or Cluster). Cluster-wide counters are changed
 * together with the node's own contribution hash in one atomic script, so a dead node's share
 * can be removed exactly once, and Redis's own clock (TIME) judges heartbeats.
 *
 * Contribution fields: `s␟app␟channel` subscriptions, `p␟app␟channel␟user` presence
 * connections, `c␟app` connections, `u␟app␟user` signed-in connections (␟ = \x1f).
 */

export const SEP = '\x1f';

const APPLY_FN = String.raw`
local function apply(K, node, field, n, extra)
  local t = string.sub(field, 1, 1)
  local rest = string.sub(field, 3)
  local newv = 0
  if t == 's' then
    local app, ch = string.match(rest, '^([^\031]*)\031(.*)$')
    local key = K .. ':a:' .. app .. ':subs'
    newv = redis.call('HINCRBY', key, ch, n)
    if newv <= 0 then redis.call('HDEL', key, ch) end
  elseif t == 'p' then
    local app, ch, user = string.match(rest, '^([^\031]*)\031([^\031]*)\031(.*)$')
    local pk = K .. ':a:' .. app .. ':p:' .. ch
    local ik = K .. ':a:' .. app .. ':i:' .. ch
    newv = redis.call('HINCRBY', pk, user, n)
    if newv <= 0 then
      redis.call('HDEL', pk, user)
      redis.call('HDEL', ik, user)
    elseif extra ~= nil and extra ~= '' then
      redis.call('HSET', ik, user, extra)
    end
  elseif t == 'c' then
    local key = K .. ':a:' .. rest .. ':conns'
    newv = redis.call('INCRBY', key, n)
    if newv <= 0 then redis.call('DEL', key) end
  elseif t == 'u' then
    local app, user = string.match(rest, '^([^\031]*)\031(.*)$')
    local key = K .. ':a:' .. app .. ':users'
    newv = redis.call('HINCRBY', key, user, n)
    if newv <= 0 then redis.call('HDEL', key, user) end
  end
  if node ~= '' then
    local nk = K .. ':n:' .. node
    local c = redis.call('HINCRBY', nk, field, n)
    if c <= 0 then redis.call('HDEL', nk, field) end
  end
  return newv
end

local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/**
 * APPLY: ARGV = K, node, rosterKey ('' for none), then triples (field, delta, extra).
 * Returns { newValues[], roster (flat HGETALL of rosterKey, or empty) }.
 */
export const APPLY = APPLY_FN + String.raw`
local K, node, rosterKey = ARGV[1], ARGV[2], ARGV[3]
local out = {}
for i = 4, #ARGV, 3 do
  out[#out + 1] = apply(K, node, ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2])
end
local roster = {}
if rosterKey ~= '' then roster = redis.call('HGETALL', rosterKey) end
return { out, roster }
`;

/** ADMIT: ARGV = K, node, app, limit. Returns the new count, or -1 when the app is at its limit. */
export const ADMIT = APPLY_FN + String.raw`
local K, node, app, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local cur = tonumber(redis.call('GET', K .. ':a:' .. app .. ':conns') or '0')
if cur >= limit then return -1 end
return apply(K, node, 'c' .. '\031' .. app, 1, '')
`;

/**
 * HEARTBEAT: ARGV = K, node, deadAfterMs. Marks the node alive; returns { live node count,
 * nodes silent longer than deadAfterMs }.
 */
export const HEARTBEAT = APPLY_FN + String.raw`
local K, node, deadAfter = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = nowMs()
redis.call('ZADD', K .. ':nodes', now, node)
local dead = redis.call('ZRANGEBYSCORE', K .. ':nodes', '-inf', now - deadAfter)
return { redis.call('ZCARD', K .. ':nodes') - #dead, dead }
`;

/**
 * USAGE: ARGV = K, day, ttlSec, then pairs (appId, delta). Adds each node's new message counts
 * to the app's cluster-wide count for the UTC day; returns the totals in order.
 */
export const USAGE = String.raw`
local K, day, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
for i = 4, #ARGV, 2 do
  local key = K .. ':usage:' .. day .. ':' .. ARGV[i]
  out[#out + 1] = redis.call('INCRBY', key, tonumber(ARGV[i + 1]))
  redis.call('EXPIRE', key, ttl)
end
return out
`;

/**
 * REAP: ARGV = K, deadNode, deadAfterMs. Removes a silent node's whole contribution exactly
 * once (whoever ZREMs it first). Returns flat {field, newValue, ...} of what changed.
 */
export const REAP = APPLY_FN + String.raw`
local K, dead, deadAfter = ARGV[1], ARGV[2], tonumber(ARGV[3])
local score = redis.call('ZSCORE', K .. ':nodes', dead)
if not score or tonumber(score) > nowMs() - deadAfter then return {} end
redis.call('ZREM', K .. ':nodes', dead)
local nk = K .. ':n:' .. dead
local fields = redis.call('HGETALL', nk)
local out = {}
for i = 1, #fields, 2 do
  local newv = apply(K, '', fields[i], -tonumber(fields[i + 1]), '')
  out[#out + 1] = fields[i]
  out[#out + 1] = newv
end
redis.call('DEL', nk)
return out
`;

/**
 * RESYNC: ARGV = K, node, then triples (field, count, extra) describing the node's whole
 * local state. Applies only the difference from what Redis holds for the node (nothing if it
 * matches; everything if Redis lost it or the node was reaped). Returns flat
 * {field, newValue, delta, ...} for each field that changed.
 */
export const RESYNC = APPLY_FN + String.raw`
local K, node = ARGV[1], ARGV[2]
redis.call('ZADD', K .. ':nodes', nowMs(), node)
local nk = K .. ':n:' .. node
local old = {}
local fields = redis.call('HGETALL', nk)
for i = 1, #fields, 2 do old[fields[i]] = tonumber(fields[i + 1]) end
local want = {}
local extras = {}
for i = 3, #ARGV, 3 do
  want[ARGV[i]] = tonumber(ARGV[i + 1])
  extras[ARGV[i]] = ARGV[i + 2]
end
local out = {}
local function change(field, delta)
  if delta ~= 0 then
    local newv = apply(K, node, field, delta, extras[field] or '')
    out[#out + 1] = field
    out[#out + 1] = newv
    out[#out + 1] = delta
  end
end
for field, count in pairs(want) do change(field, count - (old[field] or 0)) end
for field, count in pairs(old) do
  if want[field] == nil then change(field, -count) end
end
return out
`;
