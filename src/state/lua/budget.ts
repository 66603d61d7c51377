/**
 * Budget holds in Lua. A budget counter is a hash {s = settled, r = reserved}; a hold is a hash
 * {a = amount, k = JSON list of counter keys, st = held|lapsed} plus its deadline in a sorted set,
 * which every budget script sweeps first so the holds of a crashed replica give their amount back.
 * Mirrors `memory-budgets.ts`.
 */
export const BUDGET_LIB = `
local function unreserve(k, a)
  if redis.call('EXISTS', k) == 1 then
    if redis.call('HINCRBY', k, 'r', -a) < 0 then redis.call('HSET', k, 'r', 0) end
  end
end

local function sweep(zkey, hprefix, now)
  local ids = redis.call('ZRANGEBYSCORE', zkey, '-inf', now, 'LIMIT', 0, 64)
  for _, id in ipairs(ids) do
    local hk = hprefix .. id
    local rec = redis.call('HMGET', hk, 'a', 'k', 'st')
    if rec[1] and rec[3] == 'held' then
      local a = tonumber(rec[1])
      for _, k in ipairs(cjson.decode(rec[2])) do unreserve(k, a) end
      redis.call('HSET', hk, 'st', 'lapsed')
      redis.call('PEXPIRE', hk, LAPSED)
    end
    redis.call('ZREM', zkey, id)
  end
end

-- amount against every line: nil, remaining, soft_over; or the denial
local function check(keys, limits, softs, ends, amount, now)
  local remaining, soft_over = {}, {}
  for i = 1, #keys do
    local v = redis.call('HMGET', keys[i], 's', 'r')
    local s, r = tonumber(v[1]) or 0, tonumber(v[2]) or 0
    if limits[i] == '' then
      remaining[i] = ''
    else
      local lim = tonumber(limits[i])
      local after = s + r + amount
      if after > lim then
        if softs[i] ~= '1' then
          local retry = -1
          if ends[i] then retry = ends[i] - now end
          return {'limit', i - 1, keys[i], lim, s, r, retry}
        end
        soft_over[#soft_over + 1] = i - 1
      end
      remaining[i] = lim - after
    end
  end
  return nil, remaining, soft_over
end

-- b: {bases, windows, limits, softs, amount, lease, on_missing, id, zkey, hkey, hprefix}
-- returns the denial, or nil and the prepared hold
local function budget_prepare(b, now)
  sweep(b.zkey, b.hprefix, now)
  local p = {keys = {}, sfxs = {}, ends = {}}
  for i = 1, #b.bases do
    local sfx, wend = bucket(b.windows[i], now)
    p.keys[i] = b.bases[i] .. sfx
    p.sfxs[i] = sfx
    p.ends[i] = wend
  end
  if b.on_missing == 'report' then
    local missing = {}
    for i = 1, #p.keys do
      if redis.call('EXISTS', p.keys[i]) == 0 then missing[#missing + 1] = i - 1 end
    end
    if #missing > 0 then return {'missing', missing} end
  end
  local denied, remaining, soft_over = check(p.keys, b.limits, b.softs, p.ends, b.amount, now)
  if denied then return denied end
  p.remaining = remaining
  p.soft_over = soft_over
  return nil, p
end

local function budget_commit(b, p, now)
  for i = 1, #p.keys do
    redis.call('HINCRBY', p.keys[i], 'r', b.amount)
    if p.ends[i] then redis.call('PEXPIREAT', p.keys[i], p.ends[i] + WINDOW_GRACE) end
  end
  local deadline = now + b.lease
  redis.call('HSET', b.hkey, 'a', b.amount, 'k', cjson.encode(p.keys), 'st', 'held')
  redis.call('PEXPIRE', b.hkey, b.lease + LAPSED)
  redis.call('ZADD', b.zkey, deadline, b.id)
  return {'ok', p.sfxs, p.remaining, p.soft_over, deadline}
end

-- reads a budget request from KEYS[k0 + 1 ..] and ARGV[a0 + 1 ..]:
-- KEYS: n bases, hold deadlines, hold record; ARGV: amount, leaseMs, onMissing, id, hold prefix,
-- then per line window, limit ('' = none), soft
local function budget_args(n, k0, a0)
  local b = {bases = {}, windows = {}, limits = {}, softs = {}}
  for i = 1, n do
    b.bases[i] = KEYS[k0 + i]
    b.windows[i] = ARGV[a0 + 6 + (i - 1) * 3]
    b.limits[i] = ARGV[a0 + 7 + (i - 1) * 3]
    b.softs[i] = ARGV[a0 + 8 + (i - 1) * 3]
  end
  b.zkey, b.hkey = KEYS[k0 + n + 1], KEYS[k0 + n + 2]
  b.amount, b.lease = tonumber(ARGV[a0 + 1]), tonumber(ARGV[a0 + 2])
  b.on_missing, b.id, b.hprefix = ARGV[a0 + 3], ARGV[a0 + 4], ARGV[a0 + 5]
  return b
end
`;

/** KEYS: n budget bases, hold deadlines, new hold record. ARGV: see `budget_args`. */
export const RESERVE = `
local b = budget_args(#KEYS - 2, 0, 0)
local now = now_ms()
local denied, p = budget_prepare(b, now)
if denied then return denied end
return budget_commit(b, p, now)
`;

/** KEYS[1] hold deadlines, KEYS[2] hold record. ARGV: extra, leaseMs, id, hold key prefix, then per line: limit, soft. */
export const EXTEND = `
local extra, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = now_ms()
sweep(KEYS[1], ARGV[4], now)
local rec = redis.call('HMGET', KEYS[2], 'a', 'k', 'st')
if not rec[1] or rec[3] ~= 'held' then return {'expired'} end
local keys = cjson.decode(rec[2])
local limits, softs = {}, {}
for i = 1, #keys do
  limits[i] = ARGV[3 + i * 2] or ''
  softs[i] = ARGV[4 + i * 2] or '0'
end
local denied, remaining, soft_over = check(keys, limits, softs, {}, extra, now)
if denied then return denied end
for _, k in ipairs(keys) do
  if redis.call('EXISTS', k) == 1 then redis.call('HINCRBY', k, 'r', extra) end
end
local amount = redis.call('HINCRBY', KEYS[2], 'a', extra)
local deadline = now + lease
redis.call('ZADD', KEYS[1], deadline, ARGV[3])
redis.call('PEXPIRE', KEYS[2], lease + LAPSED)
return {'ok', remaining, soft_over, deadline, amount}
`;

/** KEYS[1] hold deadlines, KEYS[2] hold record. ARGV: actual, id, hold key prefix. */
export const SETTLE = `
local now = now_ms()
sweep(KEYS[1], ARGV[3], now)
local rec = redis.call('HMGET', KEYS[2], 'a', 'k', 'st')
if not rec[1] then return 'unknown' end
local a, actual = tonumber(rec[1]), tonumber(ARGV[1])
for _, k in ipairs(cjson.decode(rec[2])) do
  if redis.call('EXISTS', k) == 1 then
    if rec[3] == 'held' then unreserve(k, a) end
    if actual ~= 0 then redis.call('HINCRBY', k, 's', actual) end
  end
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[2])
if rec[3] == 'held' then return 'settled' end
return 'late'
`;

/** KEYS[1] budget base, KEYS[2] hold deadlines. ARGV: op (get|seed), window, hold key prefix, spent. */
export const BUDGET = `
local now = now_ms()
local sfx, wend = bucket(ARGV[2], now)
local k = KEYS[1] .. sfx
if ARGV[1] == 'get' then
  sweep(KEYS[2], ARGV[3], now)
  if redis.call('EXISTS', k) == 0 then return {} end
  local v = redis.call('HMGET', k, 's', 'r')
  return {tonumber(v[1]) or 0, tonumber(v[2]) or 0}
end
if redis.call('EXISTS', k) == 1 then return 0 end
redis.call('HSET', k, 's', ARGV[4], 'r', 0)
if wend then redis.call('PEXPIREAT', k, wend + WINDOW_GRACE) end
return 1
`;
