/**
 * Rate limiters and concurrency slots in Lua. Mirrors `memory-limits.ts` expression for
 * expression, so both backends give the same remaining / reset / retry numbers.
 *
 * Token bucket: hash {t = tokens (float), ts = last update}. Sliding window: a sorted set of
 * charges (member = sequence number, score = time) and a hash {sum, seq, c<seq> = cost}.
 * Slots: a sorted set of lease ids scored by expiry.
 */
export const LIMITS_LIB = `
local function tb_level(k, limit, window, now)
  local v = redis.call('HMGET', k, 't', 'ts')
  local t = tonumber(v[1])
  if not t then return limit end
  local el = now - tonumber(v[2])
  if el < 0 then el = 0 end
  t = t + el * (limit / window)
  if t > limit then t = limit end
  return t
end

local function tb_store(k, t, limit, window, now)
  redis.call('HSET', k, 't', t, 'ts', now)
  local ttl = math.ceil((limit - t) / (limit / window))
  if ttl < 1 then ttl = 1 end
  redis.call('PEXPIRE', k, ttl)
end

local function sw_trim(z, m, window, now)
  local cutoff = now - window
  while true do
    local old = redis.call('ZRANGEBYSCORE', z, '-inf', cutoff, 'LIMIT', 0, 500)
    if #old == 0 then break end
    local f = {}
    for i, s in ipairs(old) do f[i] = 'c' .. s end
    local costs = redis.call('HMGET', m, unpack(f))
    local freed = 0
    for i = 1, #f do freed = freed + (tonumber(costs[i]) or 0) end
    redis.call('HDEL', m, unpack(f))
    redis.call('ZREM', z, unpack(old))
    redis.call('HINCRBY', m, 'sum', -freed)
    if #old < 500 then break end
  end
  return tonumber(redis.call('HGET', m, 'sum')) or 0
end

-- the ticket carries the time too, so it stays unique after an idle log restarts its sequence
local function sw_add(z, m, cost, window, now)
  local seq = redis.call('HINCRBY', m, 'seq', 1)
  redis.call('ZADD', z, now, seq)
  redis.call('HSET', m, 'c' .. seq, cost)
  redis.call('HINCRBY', m, 'sum', cost)
  redis.call('PEXPIRE', z, window)
  redis.call('PEXPIRE', m, window)
  return seq .. ':' .. now
end

-- c: {alg, k, m, cost, limit, window}; returns allowed, retry (-1: never)
local function evaluate(c, now)
  if c.cost > c.limit then return false, -1 end
  if c.alg == 'tb' then
    local t = tb_level(c.k, c.limit, c.window, now)
    if t >= c.cost then return true, 0 end
    return false, math.ceil((c.cost - t) / (c.limit / c.window))
  end
  local need = sw_trim(c.k, c.m, c.window, now) + c.cost - c.limit
  if need <= 0 then return true, 0 end
  local freed, start = 0, 0
  while true do
    local rows = redis.call('ZRANGE', c.k, start, start + 499, 'WITHSCORES')
    if #rows == 0 then break end
    for i = 1, #rows, 2 do
      freed = freed + (tonumber(redis.call('HGET', c.m, 'c' .. rows[i])) or 0)
      if freed >= need then
        local retry = tonumber(rows[i + 1]) + c.window - now
        if retry < 1 then retry = 1 end
        return false, retry
      end
    end
    start = start + 500
  end
  return false, c.window
end

-- remaining, resetMs
local function rate_state(c, now)
  if c.alg == 'tb' then
    local t = tb_level(c.k, c.limit, c.window, now)
    local rem = math.floor(t)
    if rem < 0 then rem = 0 end
    return rem, math.ceil((c.limit - t) / (c.limit / c.window))
  end
  local rem = c.limit - sw_trim(c.k, c.m, c.window, now)
  if rem < 0 then rem = 0 end
  local newest = redis.call('ZRANGE', c.k, -1, -1, 'WITHSCORES')
  local reset = 0
  if #newest > 0 then
    reset = tonumber(newest[2]) + c.window - now
    if reset < 0 then reset = 0 end
  end
  return rem, reset
end

-- n checks from KEYS[k0 + 1 ..] (two each) and ARGV[a0 + 1 ..] (alg, cost, limit, windowMs, ticket)
local function rate_args(n, k0, a0)
  local cs = {}
  for i = 1, n do
    local a = a0 + (i - 1) * 5
    cs[i] = {alg = ARGV[a + 1], k = KEYS[k0 + i * 2 - 1], m = KEYS[k0 + i * 2], cost = tonumber(ARGV[a + 2]),
      limit = tonumber(ARGV[a + 3]), window = tonumber(ARGV[a + 4]), ticket = ARGV[a + 5]}
  end
  return cs
end

-- ok, retry per check, and the index of the first denial (-1)
local function rate_prepare(cs, now)
  local ok, retry, denied = {}, {}, -1
  for i = 1, #cs do
    ok[i], retry[i] = evaluate(cs[i], now)
    if not ok[i] and denied == -1 then denied = i - 1 end
  end
  return ok, retry, denied
end

-- charges every check when charge is true; one row per check either way
local function rate_rows(cs, ok, retry, charge, now)
  local out = {}
  for i = 1, #cs do
    local c = cs[i]
    local ticket = ''
    if charge and c.cost > 0 then
      if c.alg == 'tb' then
        tb_store(c.k, tb_level(c.k, c.limit, c.window, now) - c.cost, c.limit, c.window, now)
      else
        ticket = sw_add(c.k, c.m, c.cost, c.window, now)
      end
    end
    local rem, reset = rate_state(c, now)
    local a = 0
    if ok[i] then a = 1 end
    out[i] = {a, rem, reset, retry[i], ticket}
  end
  return out
end

-- slots: n live holders of k, and whether one more fits under max
local function slot_check(k, max, now)
  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
  local n = redis.call('ZCARD', k)
  return n < max, n
end

local function slot_take(k, id, lease, now)
  local exp = now + lease
  redis.call('ZADD', k, exp, id)
  if redis.call('PTTL', k) < lease then redis.call('PEXPIRE', k, lease) end
  return exp
end
`;

/**
 * KEYS: two per check (limiter key, its meta key). ARGV[1] mode (consume|check|adjust|peek), then
 * per check: algorithm (tb|sw), cost or delta, limit, windowMs, ticket. `check` answers as
 * `consume` would and charges nothing.
 */
export const RATE = `
local now = now_ms()
local cs = rate_args(#KEYS / 2, 0, 1)
if ARGV[1] == 'consume' or ARGV[1] == 'check' then
  local ok, retry, denied = rate_prepare(cs, now)
  return {denied, rate_rows(cs, ok, retry, ARGV[1] == 'consume' and denied == -1, now)}
end
local out = {}
for i, c in ipairs(cs) do
  local delta = c.cost
  if ARGV[1] == 'adjust' and c.alg == 'tb' then
    local t = tb_level(c.k, c.limit, c.window, now) - delta
    if delta < 0 and t > c.limit then t = c.limit end
    tb_store(c.k, t, c.limit, c.window, now)
  elseif ARGV[1] == 'adjust' then
    sw_trim(c.k, c.m, c.window, now)
    local seq, ts = string.match(c.ticket, '^(%d+):(%d+)$')
    local old = nil
    if seq and redis.call('ZSCORE', c.k, seq) == ts then old = tonumber(redis.call('HGET', c.m, 'c' .. seq)) end
    if old then
      local nc = old + delta
      if nc < 0 then nc = 0 end
      redis.call('HSET', c.m, 'c' .. seq, nc)
      redis.call('HINCRBY', c.m, 'sum', nc - old)
    elseif delta > 0 then
      sw_add(c.k, c.m, delta, c.window, now)
    end
  end
  local rem, reset = rate_state(c, now)
  out[i] = {rem, reset}
end
return out
`;

/** KEYS[1] the slot set. ARGV: op (acquire|release|renew), id, max, leaseMs. */
export const LEASE = `
local now = now_ms()
local k, op, id = KEYS[1], ARGV[1], ARGV[2]
if op == 'acquire' then
  local fits, n = slot_check(k, tonumber(ARGV[3]), now)
  if not fits then return {0, n} end
  return {1, n + 1, slot_take(k, id, tonumber(ARGV[4]), now)}
end
local score = tonumber(redis.call('ZSCORE', k, id))
if op == 'release' or not score or score <= now then
  redis.call('ZREM', k, id)
  if op == 'release' and score and score > now then return 1 end
  return -1
end
return slot_take(k, id, tonumber(ARGV[4]), now)
`;
