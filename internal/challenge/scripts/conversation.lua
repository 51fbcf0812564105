-- conversation: make a verification the live one of its conversation. A client's
-- conversation names one field (a keyed hash of client and conversation id) in one
-- of conversationBuckets shared hashes "cv:{<n>}", on a slot of its own: whatever tag
-- the conversation's verifications land on (the customer's or the identity's), they
-- all meet here. Only the holder's assertions stand (CheckAssertion,
-- RecordDisclosure), and the field lapses with it. Self-contained (no prelude): it
-- runs pipelined beside the start's own script.
--
-- The value is "<holder>|<until ms>|<displaced>", <displaced> the verifications the
-- holder and its predecessors took the conversation from, newest first, each
-- "<id>@<until ms>", comma-separated, at most HISTORY of them. The history makes the
-- call idempotent and ordered: a replay of the holder's own start answers what it
-- displaced (so the start supersedes it again, whatever reply was lost), and a
-- repeat of an older start, whose verification was displaced since, takes nothing
-- back.
-- KEYS[1] the bucket; ARGV[1] now ms, ARGV[2] the field, ARGV[3] the verification id,
-- ARGV[4] until when (ms) the verification's record may live.
-- Returns {'taken', the previous value or ''} | {'held', the id it displaced or ''}
--       | {'displaced', the holder}.
local HISTORY = 4
local key, now, f, id, til = KEYS[1], tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
local prev = redis.call('HGET', key, f) or ''
local holder, huntil, rest = string.match(prev, '^([^|]*)|(%d+)|?(.*)$')
local displaced = {}
for entry in string.gmatch(rest or '', '[^,]+') do
  displaced[#displaced + 1] = entry
end

local function extend(t)
  if redis.call('PTTL', key) < t - now then
    redis.call('PEXPIRE', key, math.ceil(t - now))
  end
end

if holder == id then
  if tonumber(huntil) < til then
    redis.call('HSET', key, f, id .. '|' .. string.format('%.0f', til) .. '|' .. (rest or ''))
    extend(til)
  end
  return {'held', string.match(displaced[1] or '', '^([^@]*)') or ''}
end
for _, entry in ipairs(displaced) do
  if string.match(entry, '^([^@]*)') == id then
    return {'displaced', holder}
  end
end
local history = {}
if holder and holder ~= '' then
  history[1] = holder .. '@' .. huntil
end
for i = 1, math.min(#displaced, HISTORY - 1) do
  history[#history + 1] = displaced[i]
end
redis.call('HSET', key, f, id .. '|' .. string.format('%.0f', til) .. '|' .. table.concat(history, ','))
-- A bucket is shared: once it holds more than 64 fields, drop the lapsed ones, at
-- most once a minute (field '#' holds when it last did).
if redis.call('HLEN', key) > 64 and now - tonumber(redis.call('HGET', key, '#') or '0') >= 60000 then
  redis.call('HSET', key, '#', now)
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local u = tonumber(string.match(all[i + 1], '^[^|]*|(%d+)') or '')
    if u and u < now then
      redis.call('HDEL', key, all[i])
    end
  end
end
extend(til)
return {'taken', prev}
