-- audit_event appends one security event to the audit stream akey, in the same script (and so
-- atomically, without another round trip) as the state change it records, and returns its id.
--
--   akey          the stream (audit.StreamKey: "audit:events", or "v:{tag}:a" on Cluster)
--   now_ms        the service's time in Unix milliseconds (a number or a numeric string)
--   cap_ms        the longest an entry may stay in the stream (a number or a numeric string):
--                 the buffer's hard cap, twice AUTHSVC_AUDIT_BUFFER
--   fields        a flat array {'k', kind, 'c', client, ...} of stream field names and values;
--                 a pair whose value is nil, false or '' is skipped. Names are never nil, so
--                 the array is walked pair by pair until a nil name (a nil value inside the
--                 array is fine).
--
-- The entry id is "<ms>-*" with ms the larger of now_ms and the ms part of the stream's last id,
-- so ids stay monotonic when this replica's clock is behind the one that wrote last. The field
-- 't' records now_ms when the stream was a second or more ahead of it (the id's time is the
-- event's time to within a second otherwise: concurrent writers routinely lag the last id by a
-- few ms, and an entry whose fields differ from its neighbours' costs its field names too).
--
-- Trimming: the exporter (package auditexport) removes what it has exported once it is older
-- than the buffer. Here, entries older than now_ms - cap_ms are trimmed exactly (XTRIM MINID):
-- the exporter would have removed them, had it exported them, so they are entries that no
-- exporter acknowledged within the cap. Their number goes into the new entry's field 'x', so that
-- the loss is recorded in the trail itself and the exporter can count and log it. The stream's
-- TTL is raised to cap_ms so that a stream nobody writes to any more expires as a whole.
-- Cost: a script writes each event with one XADD. The stream's last id is read first
-- (XREVRANGE) only when the XADD at now_ms is refused because the stream is ahead of this clock:
-- Redis refuses an id below the stream's top. (miniredis, behind dev mode, accepts one and moves
-- it above the top instead, which would lose 't'; it has no redis.REDIS_VERSION_NUM, and reads
-- the last id first as before.) The trim (XTRIM) and the TTL check (PTTL) are done once per stream
-- per script run, by its first event: later events of the same run would find nothing more to
-- trim and the TTL already raised.
-- It reads no KEYS/ARGV and defines nothing global; every name below is local to it (the state
-- of the streams written in this run included: a script's chunk runs anew on every call).
local audit_event = (function()
  local streams = {}
  local refuses_low_ids = redis.REDIS_VERSION_NUM ~= nil

  local function command(akey, ms, fields, trimmed, now)
    -- '%.0f' prints an integral number in full on Redis's Lua and on gopher-lua alike.
    local cmd = {'XADD', akey, string.format('%.0f', ms) .. '-*'}
    local i = 1
    while fields[i] ~= nil do
      local v = fields[i + 1]
      if v ~= nil and v ~= false and v ~= '' then
        cmd[#cmd + 1] = fields[i]
        cmd[#cmd + 1] = v
      end
      i = i + 2
    end
    if trimmed > 0 then
      cmd[#cmd + 1] = 'x'
      cmd[#cmd + 1] = tostring(trimmed)
    end
    if ms - now >= 1000 then
      cmd[#cmd + 1] = 't'
      cmd[#cmd + 1] = string.format('%.0f', now)
    end
    return cmd
  end

  local function after_last(akey, ms)
    local last = redis.call('XREVRANGE', akey, '+', '-', 'COUNT', 1)
    if last[1] then
      local lms = tonumber(string.match(last[1][1], '^(%d+)'))
      if lms > ms then
        return lms
      end
    end
    return ms
  end

  return function(akey, now_ms, cap_ms, fields)
    local now = tonumber(now_ms)
    local keep = tonumber(cap_ms)
    local st = streams[akey]
    local trimmed = 0
    if not st then
      st = {last = 0}
      streams[akey] = st
      trimmed = redis.call('XTRIM', akey, 'MINID', string.format('%.0f', math.max(now - keep, 0)))
    end
    local ms = math.max(now, st.last)
    local id
    if refuses_low_ids then
      id = redis.pcall(unpack(command(akey, ms, fields, trimmed, now)))
      if type(id) == 'table' and id.err then
        -- Refused: the stream is ahead of ms (another replica's clock), or the key is no
        -- stream (the retry raises that error).
        id = nil
      end
    end
    if id == nil then
      ms = after_last(akey, ms)
      id = redis.call(unpack(command(akey, ms, fields, trimmed, now)))
    end
    st.last = ms
    if not st.expiring then
      st.expiring = true
      if redis.call('PTTL', akey) < keep then
        redis.call('PEXPIRE', akey, keep)
      end
    end
    return id
  end
end)()
