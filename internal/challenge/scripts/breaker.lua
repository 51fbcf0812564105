-- breaker: one conversion-aware SMS breaker cell (a country, or a number prefix),
-- kept as one field of a bucket hash "v:{tag}:b" whose tag is a keyed hash of the
-- cell (breaker.go): a bucket shares its slot with that tag's audit stream, so a
-- trip is audited in the same script on Cluster too. Self-contained (no prelude):
-- it runs pipelined beside the start script (op 's', no extra round trip), and
-- beside or after a completion (op 'e').
--
-- A cell's value, at most ~60 bytes so the bucket stays a listpack:
--   T,hs,he,ps,pe,ds,de,pds,pde,mx,mxd,gs,pgs,tu,m
-- T the minute of the last update; hs/he sends/entered in T's hour, ps/pe in the
-- hour before; ds/de and pds/pde the same by UTC day; mx the most codes entered in
-- one completed day of the last 14, on day mxd; gs/pgs sends in T's grace slot and
-- the one before (codes still in flight, not yet "unentered"); tu the minute a trip
-- ends (0: none); m 1 when that trip was only monitored.
-- Windows slide by weighting the previous hour (day, slot) by the part of it still
-- inside the window, as a sliding-window counter does: 2 numbers a window, not 24.
--
-- Unentered = sends - entered - in flight, over the last hour and the last day (in
-- flight beyond the hour's threshold counts as unentered: a burst).
-- The cell trips, authgear's shape, when
--   day:  unentered > max(floor_day, ratio x mx, ratio x entered in the last day)
--   hour: unentered > max(floor_hour, day threshold / 6, ratio x entered in the last hour)
-- and then refuses every send (op 's' answers 'blocked') until tu; in monitor mode
-- it counts and answers 'monitor' instead. Past tu, the first send that does not trip
-- again, at half the thresholds, releases it.
--
-- go-redis resends a script whose reply was lost: the bucket keeps the tokens of
-- its last TOKENS counted calls in field '#'; a call whose token is there answers
-- as counted and counts nothing. Op 'u' takes back a send the cell counted (Go
-- asks only for those), whether or not its token is still kept.
--
-- KEYS[1] the bucket; KEYS[2] the audit stream (added by store.withAudit).
-- ARGV[1] op ('s' send, 'u' undo a send, 'e' a code entered), ARGV[2] now ms,
-- ARGV[3] the cell's field, ARGV[4] the call's token, ARGV[5] the cell's settings
-- 'floor_day,ratio,floor_hour,cooldown_ms,grace_ms,mode' (mode 'enforce'|'monitor'),
-- ARGV[6] the cell's kind ('country'|'prefix'), ARGV[7] its masked name ('+44',
-- '+4479***'), ARGV[8] the bucket's TTL ms, ARGV[9] 'A<audit retention ms>'.
-- Returns {status, retry ms, counted 1|0, event} with status 'ok'|'blocked'|'monitor'
-- and event ''|'tripped'|'released' (and, after it, the audit events written).
local TOKENS = 8
local key, op, now, field, token = KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local floor_day, ratio, floor_hour, cooldown, grace, mode =
  string.match(ARGV[5], '^([%d.]+),([%d.]+),([%d.]+),(%d+),(%d+),(%a+)$')
floor_day, ratio, floor_hour = tonumber(floor_day), tonumber(ratio), tonumber(floor_hour)
cooldown, grace = tonumber(cooldown), math.max(tonumber(grace), 60000)
local AKEY, ARET = KEYS[2], tonumber(string.match(ARGV[9] or '', '^A(%d+)$'))
local audited = {}

local function audit(kind)
  if not ARET then
    return
  end
  local f = {'k', kind, 'r', ARGV[6], 'd', ARGV[7], 'o', mode}
  local entry = {audit_event(AKEY, now, ARET, f)}
  for _, x in ipairs(f) do
    entry[#entry + 1] = x
  end
  audited[#audited + 1] = entry
end

local function reply(r)
  if #audited > 0 then
    local events = {'audit'}
    for _, e in ipairs(audited) do
      events[#events + 1] = e
    end
    r[#r + 1] = events
  end
  return r
end

-- The call's token: a replay finds it.
local tokens = redis.call('HGET', key, '#') or ''
local seen = string.find(tokens .. ':', ':' .. token .. ':', 1, true) ~= nil
if seen and op ~= 'u' then
  return {'ok', 0, 1, ''}
end
local function remember()
  local kept = {}
  for t in string.gmatch(tokens, '[^:]+') do
    kept[#kept + 1] = t
  end
  local out = ''
  for i = math.max(1, #kept - TOKENS + 2), #kept do
    out = out .. ':' .. kept[i]
  end
  return out .. ':' .. token
end

local minute = math.floor(now / 60000)
local gslot = math.floor(grace / 60000)
local c = {}
local v = redis.call('HGET', key, field)
if v then
  for x in string.gmatch(v, '[^,]+') do
    c[#c + 1] = tonumber(x)
  end
end
if #c ~= 15 then
  c = {minute, 0, 0, 0, 0, 0, 0, 0, 0, 0, math.floor(minute / 1440), 0, 0, 0, 0}
end
local T = c[1]

-- roll moves a window pair (cur at i, prev at i+1, counting in units of `size`
-- minutes) from T to now.
local function roll(i, j, size)
  local from, to = math.floor(T / size), math.floor(minute / size)
  if to == from + 1 then
    c[j], c[j + 1] = c[i], c[i + 1]
    c[i], c[i + 1] = 0, 0
  elseif to > from + 1 then
    c[i], c[i + 1], c[j], c[j + 1] = 0, 0, 0, 0
  end
end
-- The day's completed entered feed the 14-day max before the days roll.
local day_from, day_to = math.floor(T / 1440), math.floor(minute / 1440)
if day_to > day_from then
  if c[7] >= c[10] or day_to - c[11] >= 14 then
    c[10], c[11] = c[7], day_from
  end
  if day_to - c[11] >= 14 then
    c[10], c[11] = 0, day_to - 1
  end
end
roll(2, 4, 60)
roll(6, 8, 1440)
if math.floor(minute / gslot) == math.floor(T / gslot) + 1 then
  c[13], c[12] = c[12], 0
elseif math.floor(minute / gslot) > math.floor(T / gslot) + 1 then
  c[12], c[13] = 0, 0
end
c[1] = minute

local function save(with_token)
  local out = {}
  for i = 1, 15 do
    out[i] = string.format('%.0f', c[i])
  end
  if redis.call('HLEN', key) > 64 then
    -- Drop cells idle for longer than the bucket's TTL.
    local all = redis.call('HGETALL', key)
    local stale = minute - tonumber(ARGV[8]) / 60000
    for i = 1, #all, 2 do
      local t = tonumber(string.match(all[i + 1], '^(%d+),'))
      if all[i] ~= '#' and t and t < stale then
        redis.call('HDEL', key, all[i])
      end
    end
  end
  if with_token then
    redis.call('HSET', key, field, table.concat(out, ','), '#', remember())
  else
    redis.call('HSET', key, field, table.concat(out, ','))
  end
  if redis.call('PTTL', key) < tonumber(ARGV[8]) then
    redis.call('PEXPIRE', key, ARGV[8])
  end
end

if op == 'e' then
  c[3], c[7] = c[3] + 1, c[7] + 1
  save(true)
  return {'ok', 0, 1, ''}
end
if op == 'u' then
  -- Go undoes only a send this cell answered as counted. Its token may have left
  -- '#' already (a busy bucket keeps the last few), so the undo does not depend
  -- on it; a token still there leaves, so that a replay of the send counts again.
  local i = string.find(tokens .. ':', ':' .. token .. ':', 1, true)
  if i then
    tokens = string.sub(tokens, 1, i - 1) .. string.sub(tokens, i + #token + 1)
    redis.call('HSET', key, '#', tokens)
  end
  c[2], c[6], c[12] = math.max(c[2] - 1, 0), math.max(c[6] - 1, 0), math.max(c[12] - 1, 0)
  save(false)
  return {'ok', 0, 0, ''}
end

local frac = function(size)
  return 1 - (now % (size * 60000)) / (size * 60000)
end
local inflight = c[12] + c[13] * frac(gslot)
local entered_h = c[3] + c[5] * frac(60)
local entered_d = c[7] + c[9] * frac(1440)
local unentered_h = math.max(c[2] + c[4] * frac(60) - inflight - entered_h, 0)
local unentered_d = math.max(c[6] + c[8] * frac(1440) - inflight - entered_d, 0)
local limit_d = math.max(floor_day, ratio * c[10], ratio * entered_d)
local limit_h = math.max(floor_hour, limit_d / 6, ratio * entered_h)

local event = ''
local tripped = c[14] * 60000 > now
-- Codes in flight are not yet unentered, except what exceeds the hourly limit: a
-- burst larger than the hour tolerates, into a cell whose codes are not being
-- entered, trips it before the grace period is out.
local burst = math.max(inflight - limit_h, 0)
-- Hysteresis: past its cool-down, a cell that tripped is released only once its
-- unentered codes are back under half the thresholds; otherwise a slow drip
-- would get a few more codes through after every cool-down.
local k = c[14] > 0 and 0.5 or 1
if not tripped and (unentered_d > k * limit_d or unentered_h + burst > k * limit_h) then
  -- A trip: refuse (or, monitored, mark) until the cool-down ends.
  c[14], c[15] = math.ceil((now + cooldown) / 60000), mode == 'monitor' and 1 or 0
  tripped, event = true, 'tripped'
  audit('breaker_tripped')
elseif not tripped and c[14] > 0 then
  c[14], c[15], event = 0, 0, 'released'
  audit('breaker_released')
end
if tripped and mode ~= 'monitor' then
  save(false)
  return reply({'blocked', math.max(c[14] * 60000 - now, 1000), 0, event})
end
c[2], c[6], c[12] = c[2] + 1, c[6] + 1, c[12] + 1
save(true)
return reply({tripped and 'monitor' or 'ok', 0, 1, event})
