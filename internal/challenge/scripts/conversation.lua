-- conversation: make a verification the live one of its conversation. A client's
-- conversation names one field (a keyed hash of client and conversation id) in one
-- of conversationBuckets shared hashes "cv:{<n>}", on a slot of its own: whatever tag
-- the conversation's verifications land on (the customer's or the identity's), they
-- all meet here. The value is "<verification id>|<until ms>": only that verification's
-- assertions stand (CheckAssertion, RecordDisclosure), and the field lapses with it.
-- Self-contained (no prelude): it runs pipelined beside the start's own script.
-- KEYS[1] the bucket; ARGV[1] now ms, ARGV[2] the field, ARGV[3] the verification id,
-- ARGV[4] until when (ms) the verification's record may live.
-- Returns {the field's previous value, '' for none} (a repeat of the same call finds
-- its own id there and changes nothing but a later 'until').
local key, now, f, id, til = KEYS[1], tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
local prev = redis.call('HGET', key, f) or ''
local pid, puntil = string.match(prev, '^([^|]*)|(%d+)$')
if pid == id and tonumber(puntil) >= til then
  return {prev}
end
redis.call('HSET', key, f, id .. '|' .. string.format('%.0f', til))
-- A bucket is shared: once it holds more than 64 fields, drop the lapsed ones, at
-- most once a minute (field '#' holds when it last did).
if redis.call('HLEN', key) > 64 and now - tonumber(redis.call('HGET', key, '#') or '0') >= 60000 then
  redis.call('HSET', key, '#', now)
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local u = tonumber(string.match(all[i + 1], '|(%d+)$') or '')
    if u and u < now then
      redis.call('HDEL', key, all[i])
    end
  end
end
if redis.call('PTTL', key) < til - now then
  redis.call('PEXPIRE', key, math.ceil(til - now))
end
return {prev}
