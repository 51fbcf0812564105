-- audit_event appends one security event to the audit stream akey, in the same script (and so
-- atomically, without another round trip) as the state change it records, and returns its id.
--
--   akey          the stream (audit.StreamKey: "audit:events", or "v:{tag}:a" on Cluster)
--   now_ms        the service's time in Unix milliseconds (a number or a numeric string)
--   retention_ms  how long entries are kept (a number or a numeric string)
--   fields        a flat array {'k', kind, 'c', client, ...} of stream field names and values;
--                 a pair whose value is nil, false or '' is skipped. Names are never nil, so
--                 the array is walked pair by pair until a nil name (a nil value inside the
--                 array is fine).
--
-- The entry id is "<ms>-*" with ms the larger of now_ms and the ms part of the stream's last id,
-- so ids stay monotonic when this replica's clock is behind the one that wrote last. Entries
-- whose id is older than now_ms - retention_ms are trimmed exactly (MINID, not "~"), the field
-- 't' records now_ms when the stream was a second or more ahead of it (the id's time is the event's
-- time to within a second otherwise: concurrent writers routinely lag the last id by a few ms, and
-- an entry whose fields differ from its neighbours' costs its field names too), and the stream's TTL is raised to retention_ms so an idle stream expires.
-- It reads no KEYS/ARGV and defines nothing global; every name below is local to it.
local function audit_event(akey, now_ms, retention_ms, fields)
  local now = tonumber(now_ms)
  local keep = tonumber(retention_ms)
  local ms = now
  local last = redis.call('XREVRANGE', akey, '+', '-', 'COUNT', 1)
  if last[1] then
    local lms = tonumber(string.match(last[1][1], '^(%d+)'))
    if lms > ms then
      ms = lms
    end
  end
  -- '%.0f' prints an integral number in full on Redis's Lua and on gopher-lua alike.
  local cmd = {'XADD', akey, 'MINID', string.format('%.0f', math.max(now - keep, 0)),
    string.format('%.0f', ms) .. '-*'}
  local i = 1
  while fields[i] ~= nil do
    local v = fields[i + 1]
    if v ~= nil and v ~= false and v ~= '' then
      cmd[#cmd + 1] = fields[i]
      cmd[#cmd + 1] = v
    end
    i = i + 2
  end
  if ms - now >= 1000 then
    cmd[#cmd + 1] = 't'
    cmd[#cmd + 1] = string.format('%.0f', now)
  end
  local id = redis.call(unpack(cmd))
  if redis.call('PTTL', akey) < keep then
    redis.call('PEXPIRE', akey, keep)
  end
  return id
end
