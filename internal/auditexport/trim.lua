-- trim removes from one audit stream the entries the export group has acknowledged that are
-- older than the buffer, and never one it has not: an entry goes only if it is before both the
-- cutoff and the oldest entry not yet acknowledged (the oldest pending one, or the first after
-- the group's last delivered id). A stream without the group gets it, from its first entry, and
-- loses nothing.
-- It also forgets consumers that hold nothing and have not read for ARGV[3] ms: every pod
-- name that ever read a stream stays a consumer of its group otherwise, and rollouts bring new
-- names.
-- KEYS[1] the stream. ARGV[1] the group, ARGV[2] the cutoff (Unix ms: now - buffer), ARGV[3]
-- the idle time (ms) after which a consumer holding nothing is forgotten.
-- Returns {entries removed, the ms of the oldest entry not acknowledged or -1 when none}.
local function before(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  ams, bms = tonumber(ams), tonumber(bms)
  return ams < bms or (ams == bms and tonumber(aseq) < tonumber(bseq))
end

if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0, -1}
end
local last
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, delivered
  for i = 1, #g, 2 do
    if g[i] == 'name' then
      name = g[i + 1]
    elseif g[i] == 'last-delivered-id' then
      delivered = g[i + 1]
    end
  end
  if name == ARGV[1] then
    last = delivered
  end
end
if not last then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0')
  last = '0-0'
end

for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local name, held, idle
  for i = 1, #c, 2 do
    if c[i] == 'name' then
      name = c[i + 1]
    elseif c[i] == 'pending' then
      held = c[i + 1]
    elseif c[i] == 'idle' then
      idle = c[i + 1]
    end
  end
  if held == 0 and idle and idle > tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
  end
end

local oldest
local pending = redis.call('XPENDING', KEYS[1], ARGV[1])
if pending[1] > 0 then
  oldest = pending[2]
end
local undelivered = redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', 1)[1]
if undelivered and (not oldest or before(undelivered[1], oldest)) then
  oldest = undelivered[1]
end

local cut = ARGV[2] .. '-0'
if oldest and before(oldest, cut) then
  cut = oldest
end
local removed = redis.call('XTRIM', KEYS[1], 'MINID', cut)
local age = -1
if oldest then
  age = tonumber(string.match(oldest, '^(%d+)'))
end
return {removed, age}
