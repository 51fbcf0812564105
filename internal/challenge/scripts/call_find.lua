-- call_find: find and consume a call code in the phone client's index, within the
-- failure limits (handover.go). KEYS[1] this window's index, KEYS[2] the previous
-- window's, KEYS[3] the audit stream. ARGV[1] now (ms), [2] the code's keyed hash,
-- [3] the client's ceiling of wrong codes per window, [4] the index's TTL (ms),
-- [5] the call's token, [6] the client, [7] the window's end (ms), [8] the index
-- field that counts this caller's wrong codes (a keyed hash of the caller
-- reference, or 'a' for the calls that name no caller), [9] that caller's limit
-- per window, [10] "A<audit retention ms>".
-- An entry is the handover id, or "<handover id>|<pointer key>|<pointer field>": where
-- its verification's conversation pointer is (call_point.lua), so that the redemption
-- reads the pointer in the same round trip as its script.
-- Returns {'ok', entry} | {'wrong'} | {'limited', ms to wait, 'client' | 'caller'}.
-- Both limits are checked and counted in this one script, so parallel guesses never
-- pass either; past either nothing is looked up. A caller past their own limit locks
-- out only themselves; the ceiling ('f', every caller's wrong codes) bounds what
-- many callers together can guess. A consumed code keeps "used|<entry>|<token>" for
-- the window: go-redis's resend of this call finds its token and answers 'ok'.
local now, field, ceiling, ttl, token, client = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local cfield, climit = ARGV[8], tonumber(ARGV[9])
local counts = redis.call('HMGET', KEYS[1], 'f', cfield)
local fails, mine = tonumber(counts[1] or '0'), tonumber(counts[2] or '0')
local limited = nil
if fails >= ceiling then
  limited = 'client'
elseif mine >= climit then
  limited = 'caller'
end
for i = 1, 2 do
  local v = redis.call('HGET', KEYS[i], field)
  if v then
    local used, entry, t = string.match(v, '^(used)|(.*)|([^|]*)$')
    if used and t == token then
      return {'ok', entry}
    elseif not used and not limited then
      redis.call('HSET', KEYS[i], field, 'used|' .. v .. '|' .. token)
      return {'ok', v}
    end
  end
end
if limited then
  return {'limited', tonumber(ARGV[7]) - now, limited}
end
redis.call('HINCRBY', KEYS[1], 'f', 1)
redis.call('HINCRBY', KEYS[1], cfield, 1)
redis.call('PEXPIRE', KEYS[1], ttl)
local ret = tonumber(string.match(ARGV[10] or '', '^A(%d+)$'))
if ret then
  audit_event(KEYS[3], now, ret, {'k', 'handover_refused', 'c', client, 'm', 'phone', 'r', 'code'})
end
return {'wrong'}
