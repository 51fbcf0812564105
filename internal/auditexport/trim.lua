-- trim removes from one audit stream the entries the export group has acknowledged that are
-- older than the buffer, and never one it has not: an entry goes only if it is before both the
-- cutoff and the oldest entry not yet acknowledged (the oldest pending one, or the first after
-- the group's last delivered id). A stream without the group gets it, from its first entry, and
-- loses nothing.
-- It also forgets consumers that hold nothing and have not read for ARGV[3] ms: every pod
-- name that ever read a stream stays a consumer of its group otherwise, and rollouts bring new
-- names.
-- Other groups that read the stream (ARGV[4..], package events' "events") keep their
-- unacknowledged entries too: the cut is never past the oldest entry any of them has not
-- acknowledged. A named group the stream does not have is ignored; their consumers that are
-- gone are forgotten as the export group's are.
-- KEYS[1] the stream. ARGV[1] the group, ARGV[2] the cutoff (Unix ms: now - buffer), ARGV[3]
-- the idle time (ms) after which a consumer holding nothing is forgotten, ARGV[4..] the other
-- groups to keep for.
-- Returns {entries removed, the ms of the oldest entry the export group has not acknowledged
-- or -1 when none}.
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
local others = {}
local keep_for = {}
for i = 4, #ARGV do
  keep_for[ARGV[i]] = true
end
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
  elseif keep_for[name] then
    others[#others + 1] = {name, delivered}
  end
end
if not last then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0')
  last = '0-0'
end

local function forget(group)
  for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], group)) do
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
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], group, name)
    end
  end
end
forget(ARGV[1])
for _, g in ipairs(others) do
  forget(g[1])
end

-- unacknowledged returns the oldest entry id group has not acknowledged (pending, or the
-- first after its last delivered id), or nil when none.
local function unacknowledged(group, delivered)
  local oldest
  local pending = redis.call('XPENDING', KEYS[1], group)
  if pending[1] > 0 then
    oldest = pending[2]
  end
  local undelivered = redis.call('XRANGE', KEYS[1], '(' .. delivered, '+', 'COUNT', 1)[1]
  if undelivered and (not oldest or before(undelivered[1], oldest)) then
    oldest = undelivered[1]
  end
  return oldest
end

local oldest = unacknowledged(ARGV[1], last)
local cut = ARGV[2] .. '-0'
if oldest and before(oldest, cut) then
  cut = oldest
end
for _, g in ipairs(others) do
  local o = unacknowledged(g[1], g[2])
  if o and before(o, cut) then
    cut = o
  end
end
local removed = redis.call('XTRIM', KEYS[1], 'MINID', cut)
local age = -1
if oldest then
  age = tonumber(string.match(oldest, '^(%d+)'))
end
return {removed, age}
