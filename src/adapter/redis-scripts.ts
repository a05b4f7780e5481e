/**
 * The Lua scripts of the Redis cluster, registered once per connection with ioredis
 * `defineCommand` (sent whole the first time, then called by SHA with EVALSHA) and called with
 * the keys they touch declared in KEYS. Every key shares the hash tag `{keyPrefix}`
 * (redis-keys.ts), so a script's keys always share one slot. REAP and RESYNC also reach
 * counter keys named by the fields of a node hash that only the script reads; they build them
 * with `counterOf`, the Lua twin of RedisKeys' counters.
 *
 * Cluster-wide counters change together with the node's own contribution hash in one atomic
 * script, so a dead node's share can be removed exactly once, and Redis's own clock (TIME)
 * judges heartbeats.
 */
import type { Redis } from 'ioredis';

/** The counter a contribution field counts in: key, hash member ('' for a plain counter), info hash ('' for none). */
const COUNTER_OF = String.raw`
local function counterOf(tag, field)
  local t, rest, a = string.sub(field, 1, 1), string.sub(field, 3), tag .. ':a:'
  if t == 's' then
    local app, ch = string.match(rest, '^([^\031]*)\031(.*)$')
    return a .. app .. ':subs', ch, ''
  elseif t == 'p' then
    local app, ch, user = string.match(rest, '^([^\031]*)\031([^\031]*)\031(.*)$')
    return a .. app .. ':p:' .. ch, user, a .. app .. ':i:' .. ch
  elseif t == 'c' then
    return a .. rest .. ':conns', '', ''
  elseif t == 'u' then
    local app, user = string.match(rest, '^([^\031]*)\031(.*)$')
    return a .. app .. ':users', user, ''
  end
  return nil
end
`;

/**
 * Adds n to one counter and to the node's share of it (nodeKey '' when the share is removed
 * separately); a counter at or below zero is deleted, and a presence member's user_info lives
 * in infoKey while the member counts.
 */
const APPLY = String.raw`
local function apply(key, member, infoKey, nodeKey, field, n, extra)
  local newv
  if member == '' then
    newv = redis.call('INCRBY', key, n)
    if newv <= 0 then redis.call('DEL', key) end
  else
    newv = redis.call('HINCRBY', key, member, n)
    if newv <= 0 then redis.call('HDEL', key, member) end
  end
  if infoKey ~= '' then
    if newv <= 0 then redis.call('HDEL', infoKey, member)
    elseif extra ~= '' then redis.call('HSET', infoKey, member, extra) end
  end
  if nodeKey ~= '' then
    local c = redis.call('HINCRBY', nodeKey, field, n)
    if c <= 0 then redis.call('HDEL', nodeKey, field) end
  end
  return newv
end
`;

/**
 * A node's deltas count only while it is registered: a node reaped while it stalled (GC pause,
 * SIGSTOP, a frozen VM) gets an error instead, and resyncs its whole state before counting again.
 */
const REGISTERED = String.raw`
local function registered(nodes, node)
  if not redis.call('ZSCORE', nodes, node) then
    return redis.error_reply('HERALD_REAPED this node was reaped while silent; it must resync')
  end
  return nil
end
`;

const NOW = String.raw`
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

interface Script {
  readonly numberOfKeys?: number;
  readonly lua: string;
}

const SCRIPTS = {
  /**
   * KEYS = counter, node hash, node set; ARGV = member ('' for a plain counter), field, delta,
   * node. Returns the count after (HERALD_REAPED when the node is not registered).
   */
  heraldCount: {
    numberOfKeys: 3,
    lua: APPLY + REGISTERED + String.raw`
local reaped = registered(KEYS[3], ARGV[4])
if reaped then return reaped end
return apply(KEYS[1], ARGV[1], '', KEYS[2], ARGV[2], tonumber(ARGV[3]), '')`,
  },

  /**
   * KEYS = presence hash, info hash, node hash, node set; ARGV = user, field, delta, user_info
   * JSON ('' to keep), '1' to return the roster, node. Returns { count after, flat HGETALL of
   * the info hash or {} } (HERALD_REAPED when the node is not registered).
   */
  heraldMember: {
    numberOfKeys: 4,
    lua: APPLY + REGISTERED + String.raw`
local reaped = registered(KEYS[4], ARGV[6])
if reaped then return reaped end
local n = apply(KEYS[1], ARGV[1], KEYS[2], KEYS[3], ARGV[2], tonumber(ARGV[3]), ARGV[4])
local roster = {}
if ARGV[5] == '1' then roster = redis.call('HGETALL', KEYS[2]) end
return { n, roster }`,
  },

  /**
   * KEYS = connection counter, node hash, node set; ARGV = field, limit, node. Returns the count
   * after, or -1 at the limit (HERALD_REAPED when the node is not registered).
   */
  heraldAdmit: {
    numberOfKeys: 3,
    lua: APPLY + REGISTERED + String.raw`
local reaped = registered(KEYS[3], ARGV[3])
if reaped then return reaped end
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[2]) then return -1 end
return apply(KEYS[1], '', '', KEYS[2], ARGV[1], 1, '')`,
  },

  /**
   * KEYS = node set; ARGV = node, deadAfterMs. Marks the node alive; returns { live count,
   * silent nodes }, or { -1, {} } when the node is no longer registered (it was reaped, and
   * only a resync may register it again with its whole state).
   */
  heraldHeartbeat: {
    numberOfKeys: 1,
    lua: NOW + String.raw`
local now = nowMs()
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return { -1, {} } end
redis.call('ZADD', KEYS[1], now, ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
return { redis.call('ZCARD', KEYS[1]) - #dead, dead }`,
  },

  /**
   * KEYS = node set, sequence counter, replay list; ARGV = Pub/Sub channel, message, control
   * channel, freshMs, replayCap, replayTtlMs. Publishes `{seq}\n{message}` (seq only grows,
   * even when Redis loses the counter). Every node's
   * subscriber listens to the control channel, so fewer listeners there than nodes heartbeating
   * within freshMs means some node's subscriber is away: the frame is then also kept in the
   * replay list for that node to catch up on. Returns the number of receivers.
   */
  heraldPublish: {
    numberOfKeys: 3,
    lua: NOW + String.raw`
local seq = redis.call('INCR', KEYS[2])
if seq == 1 then
  -- new, or Redis lost it: start past every number handed out before (microseconds since 1970)
  local t = redis.call('TIME')
  seq = tonumber(t[1]) * 1000000 + tonumber(t[2])
  redis.call('SET', KEYS[2], string.format('%.0f', seq))
end
local msg = string.format('%.0f', seq) .. '\n' .. ARGV[2]
local expected = redis.call('ZCOUNT', KEYS[1], nowMs() - tonumber(ARGV[4]), '+inf')
if redis.call('PUBSUB', 'NUMSUB', ARGV[3])[2] < expected then
  redis.call('RPUSH', KEYS[3], ARGV[1] .. '\n' .. msg)
  redis.call('LTRIM', KEYS[3], -tonumber(ARGV[5]), -1)
  redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[6]))
end
return redis.call('PUBLISH', ARGV[1], msg)`,
  },

  /**
   * KEYS = node set, the dead node's hash; ARGV = tag, dead node, deadAfterMs. Removes a silent
   * node's whole contribution exactly once (whoever ZREMs it first). Returns flat
   * {field, count after, ...} of what changed.
   */
  heraldReap: {
    numberOfKeys: 2,
    lua: COUNTER_OF + APPLY + NOW + String.raw`
local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not score or tonumber(score) > nowMs() - tonumber(ARGV[3]) then return {} end
redis.call('ZREM', KEYS[1], ARGV[2])
local fields = redis.call('HGETALL', KEYS[2])
local out = {}
for i = 1, #fields, 2 do
  local key, member, infoKey = counterOf(ARGV[1], fields[i])
  if key then
    out[#out + 1] = fields[i]
    out[#out + 1] = apply(key, member, infoKey, '', fields[i], -tonumber(fields[i + 1]), '')
  end
end
redis.call('DEL', KEYS[2])
return out`,
  },

  /**
   * KEYS = node set, the node's hash; ARGV = tag, node, then triples (field, count, extra)
   * describing the node's whole local state. Applies only the difference from what Redis holds
   * for the node (nothing if it matches; everything if Redis lost it or the node was reaped).
   * Returns flat {field, count after, delta, ...} for each field that changed.
   */
  heraldResync: {
    numberOfKeys: 2,
    lua: COUNTER_OF + APPLY + NOW + String.raw`
redis.call('ZADD', KEYS[1], nowMs(), ARGV[2])
local old = {}
local fields = redis.call('HGETALL', KEYS[2])
for i = 1, #fields, 2 do old[fields[i]] = tonumber(fields[i + 1]) end
local want, extras = {}, {}
for i = 3, #ARGV, 3 do
  want[ARGV[i]] = tonumber(ARGV[i + 1])
  extras[ARGV[i]] = ARGV[i + 2]
end
local out = {}
local function change(field, delta)
  local key, member, infoKey = counterOf(ARGV[1], field)
  if key and delta ~= 0 then
    out[#out + 1] = field
    out[#out + 1] = apply(key, member, infoKey, KEYS[2], field, delta, extras[field] or '')
    out[#out + 1] = delta
  end
end
for field, count in pairs(want) do change(field, count - (old[field] or 0)) end
for field, count in pairs(old) do
  if want[field] == nil then change(field, -count) end
end
return out`,
  },

  /**
   * KEYS = one daily usage counter per app (their number is the call's first argument); ARGV =
   * ttlSec, then the deltas in KEYS order. Returns the totals in order.
   */
  heraldUsage: {
    lua: String.raw`
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('INCRBY', KEYS[i], tonumber(ARGV[i + 1]))
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[1]))
end
return out`,
  },

  /**
   * The daily usage counters with generations (adapter/usage.ts). KEYS = per app, its counter
   * then its generation hash {g = generation, b = highest claim adopted}; ARGV = ttlSec, a fresh
   * generation, then per app: delta, the generation the node last saw ('' for none), the total
   * it saw there. A counter or hash that is missing (new today, or lost) starts a generation
   * whose base is what the counter still holds (0 when it is gone; a counter written by
   * heraldUsage is kept). A claim from another generation raises the counter to it once (max
   * with the base, not a sum). Returns per app the total and its generation.
   */
  heraldUsageSync: {
    lua: String.raw`
local ttl, fresh, out = tonumber(ARGV[1]), ARGV[2], {}
for i = 1, #KEYS / 2 do
  local counter, gens, at = KEYS[2 * i - 1], KEYS[2 * i], 3 * i
  local delta, seenGen, seen = tonumber(ARGV[at]), ARGV[at + 1], tonumber(ARGV[at + 2])
  local gen, kept = redis.call('HGET', gens, 'g'), redis.call('GET', counter)
  if not gen or not kept then
    gen = fresh
    redis.call('HSET', gens, 'g', gen, 'b', tonumber(kept or 0))
  end
  if seenGen ~= '' and seenGen ~= gen then
    local base = tonumber(redis.call('HGET', gens, 'b'))
    if seen > base then
      redis.call('INCRBY', counter, seen - base)
      redis.call('HSET', gens, 'b', seen)
    end
  end
  out[2 * i - 1] = redis.call('INCRBY', counter, delta)
  out[2 * i] = gen
  redis.call('EXPIRE', counter, ttl)
  redis.call('EXPIRE', gens, ttl)
end
return out`,
  },
} satisfies Record<string, Script>;

type Flat = Array<string | number>;

export interface HeraldScripts {
  heraldCount(key: string, nodeKey: string, nodesKey: string, member: string, field: string, delta: number, nodeId: string): Promise<number>;
  heraldMember(key: string, infoKey: string, nodeKey: string, nodesKey: string, member: string, field: string, delta: number, extra: string, roster: '1' | '0', nodeId: string): Promise<[number, string[]]>;
  heraldAdmit(key: string, nodeKey: string, nodesKey: string, field: string, limit: number, nodeId: string): Promise<number>;
  heraldHeartbeat(nodesKey: string, nodeId: string, deadAfterMs: number): Promise<[number, string[]]>;
  heraldPublish(nodesKey: string, seqKey: string, replayKey: string, channel: string, message: string, control: string, freshMs: number, replayCap: number, replayTtlMs: number): Promise<number>;
  heraldReap(nodesKey: string, deadNodeKey: string, tag: string, deadNodeId: string, deadAfterMs: number): Promise<Flat>;
  heraldResync(nodesKey: string, nodeKey: string, tag: string, nodeId: string, ...triples: string[]): Promise<Flat>;
  heraldUsage(numberOfKeys: number, ...keysThenArgs: Array<string | number>): Promise<number[]>;
  heraldUsageSync(numberOfKeys: number, ...keysThenArgs: Array<string | number>): Promise<Array<number | string>>;
}

/** A command connection with the scripts defined on it. */
export type ScriptedRedis = Redis & HeraldScripts;

export function defineScripts(redis: Redis): ScriptedRedis {
  for (const [name, script] of Object.entries(SCRIPTS) as Array<[string, Script]>) redis.defineCommand(name, script);
  return redis as ScriptedRedis;
}
