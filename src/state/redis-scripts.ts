import { BUDGET, BUDGET_LIB, EXTEND, RESERVE, SETTLE } from './lua/budget.ts';
import { LEASE, LIMITS_LIB, RATE } from './lua/limits.ts';

/**
 * Lua for the Redis backend: each multi-step operation is one script, so it is one round trip and
 * atomic across every replica. Scripts read the clock with `TIME` (replicated by effects), so
 * windows, refills and expiries follow the Redis server's clock, not each replica's.
 *
 * Scripts compute some key names (window buckets, hold records) from declared keys, which
 * standalone Redis (and Sentinel) allows; Redis Cluster would need hash tags and is not supported.
 */

/** Clock and UTC calendar helpers shared by every script (exported for the calendar test). */
export const PRELUDE = `
local WINDOW_GRACE = 86400000
local LAPSED = 86400000

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- days since 1970-01-01 -> y, m, d (proleptic Gregorian, H. Hinnant's civil_from_days)
local function civil(days)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp + 3
  if mp >= 10 then m = mp - 9 end
  if m <= 2 then y = y + 1 end
  return y, m, d
end

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = m + 9
  if m > 2 then mp = m - 3 end
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- a window's bucket: key suffix and end time (ms); no window -> '', false
local function bucket(window, now)
  if window == '' then return '', false end
  local days = math.floor(now / 86400000)
  local y, m, d = civil(days)
  if window == 'day' then
    return string.format(':d%04d-%02d-%02d', y, m, d), (days + 1) * 86400000
  end
  local ny, nm = y, m + 1
  if nm == 13 then ny, nm = y + 1, 1 end
  return string.format(':m%04d-%02d', y, m), days_from_civil(ny, nm, 1) * 86400000
end
`;

/** KEYS[1] counter base. ARGV: op (incr|get|seed), window, n/value, ttlMs (0 = none). */
const COUNTER = `
local now = now_ms()
local sfx, wend = bucket(ARGV[2], now)
local k = KEYS[1] .. sfx
local op = ARGV[1]
if op == 'get' then return redis.call('GET', k) end
if op == 'seed' then
  if redis.call('EXISTS', k) == 1 then return 0 end
  redis.call('SET', k, ARGV[3])
else
  redis.call('INCRBY', k, ARGV[3])
end
if wend then
  redis.call('PEXPIREAT', k, wend + WINDOW_GRACE)
elseif ARGV[4] ~= '0' and redis.call('PTTL', k) == -1 then
  redis.call('PEXPIRE', k, ARGV[4])
end
if op == 'seed' then return 1 end
return redis.call('GET', k)
`;

/**
 * The whole admission of a request in one step: rate limits, then concurrency slots, then the
 * budget hold; all are charged only if all pass. KEYS: two per rate check, one per slot, then the
 * budget's (see `budget_args`). ARGV: nRate, nSlots, nLines (-1: no budget), the rate checks'
 * args, per slot (id, max, leaseMs), then the budget's args.
 */
const ADMIT = `
local now = now_ms()
local nr, ns, nb = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local cs = rate_args(nr, 0, 3)
local ok, retry, denied = rate_prepare(cs, now)
if denied ~= -1 then return {'rate', denied, rate_rows(cs, ok, retry, false, now)} end
local k0, a0 = nr * 2, 3 + nr * 5
local slots = {}
for i = 1, ns do
  local a = a0 + (i - 1) * 3
  local s = {k = KEYS[k0 + i], id = ARGV[a + 1], max = tonumber(ARGV[a + 2]), lease = tonumber(ARGV[a + 3])}
  local fits, n = slot_check(s.k, s.max, now)
  if not fits then return {'concurrency', i - 1, n, rate_rows(cs, ok, retry, false, now)} end
  s.n = n
  slots[i] = s
end
local b, p = nil, nil
if nb >= 0 then
  b = budget_args(nb, k0 + ns, a0 + ns * 3)
  local bd
  bd, p = budget_prepare(b, now)
  if bd then return {'budget', bd, rate_rows(cs, ok, retry, false, now)} end
end
local rows = rate_rows(cs, ok, retry, true, now)
local leases = {}
for i, s in ipairs(slots) do leases[i] = {slot_take(s.k, s.id, s.lease, now), s.n + 1} end
local held = ''
if b then held = budget_commit(b, p, now) end
return {'ok', rows, leases, held}
`;

export const SCRIPTS = {
  keelCounter: PRELUDE + COUNTER,
  keelReserve: PRELUDE + BUDGET_LIB + RESERVE,
  keelExtend: PRELUDE + BUDGET_LIB + EXTEND,
  keelSettle: PRELUDE + BUDGET_LIB + SETTLE,
  keelBudget: PRELUDE + BUDGET_LIB + BUDGET,
  keelRate: PRELUDE + LIMITS_LIB + RATE,
  keelLease: PRELUDE + LIMITS_LIB + LEASE,
  keelAdmit: PRELUDE + BUDGET_LIB + LIMITS_LIB + ADMIT,
} as const;

export type ScriptName = keyof typeof SCRIPTS;
