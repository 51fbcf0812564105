-- call_find: find and consume a call code in the phone client's index, within the
-- failure limit (handover.go). KEYS[1] this window's index, KEYS[2] the previous
-- window's, KEYS[3] the audit stream. ARGV[1] now (ms), [2] the code's keyed hash,
-- [3] the failure limit per window, [4] the index's TTL (ms), [5] the call's token,
-- [6] the client, [7] the window's end (ms), [8] "A<audit retention ms>".
-- Returns {'ok', handover id} | {'wrong'} | {'limited', ms to wait}.
-- The limit is checked and counted in this one script, so parallel guesses never
-- pass it; past it nothing is looked up. A consumed code keeps "used|<token>" for
-- the window: go-redis's resend of this call finds its token and answers 'ok'.
local now, field, limit, ttl, token, client = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local fails = tonumber(redis.call('HGET', KEYS[1], 'f') or '0')
for i = 1, 2 do
  local v = redis.call('HGET', KEYS[i], field)
  if v then
    local used, hid, t = string.match(v, '^(used)|([^|]*)|(.*)$')
    if used and t == token then
      return {'ok', hid}
    elseif not used and fails < limit then
      redis.call('HSET', KEYS[i], field, 'used|' .. v .. '|' .. token)
      return {'ok', v}
    end
  end
end
if fails >= limit then
  return {'limited', tonumber(ARGV[7]) - now}
end
redis.call('HINCRBY', KEYS[1], 'f', 1)
redis.call('PEXPIRE', KEYS[1], ttl)
local ret = tonumber(string.match(ARGV[8] or '', '^A(%d+)$'))
if ret then
  audit_event(KEYS[3], now, ret, {'k', 'handover_refused', 'c', client, 'm', 'phone', 'r', 'code'})
end
return {'wrong'}
