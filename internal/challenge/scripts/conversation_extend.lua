-- conversation_extend: keep a conversation's pointer (conversation.lua) as long as its
-- holder's extended verification needs it. Self-contained (no prelude), on the pointer's
-- own slot. It moves the pointer's until forward, never back, and only while verification
-- ARGV[3] holds the conversation: a verification a newer one took it from gets nothing
-- back. Idempotent: a repeat finds the until already there.
-- KEYS[1] the bucket; ARGV[1] now ms, ARGV[2] the field, ARGV[3] the verification id,
-- ARGV[4] until when (ms) the verification's record may live.
-- Returns {'held'} | {'displaced'}.
local key, now, f, id, til = KEYS[1], tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
local prev = redis.call('HGET', key, f) or ''
local holder, huntil, rest = string.match(prev, '^([^|]*)|(%d+)|?(.*)$')
if holder ~= id then
  return {'displaced'}
end
if tonumber(huntil) < til then
  redis.call('HSET', key, f, id .. '|' .. string.format('%.0f', til) .. '|' .. (rest or ''))
end
if redis.call('PTTL', key) < til - now then
  redis.call('PEXPIRE', key, math.ceil(til - now))
end
return {'held'}
