-- pkbegin: start a passkey ceremony on a pending verification that offers passkeys.
-- The ceremony (go-webauthn's SessionData) is kept beside the record for the
-- ceremony's timeout at most and is consumed by passkey.lua; a new ceremony
-- replaces the previous one.
-- KEYS[1] record, KEYS[2] identity hash, KEYS[3] ceremony; ARGV[3] the ceremony,
-- ARGV[4] its timeout ms.
-- Returns {'ok'} | {'locked', ms} | {'expired'} | {'state'} | {'gone'}.
local rec = KEYS[1]
if redis.call('EXISTS', rec) == 0 then
  return {'gone'}
end
if expire_if_due(rec) then
  return {'expired'}
end
local st, ex, ih = unpack(redis.call('HMGET', rec, 'st', 'ex', 'ih'))
if st ~= '1' or not offers(rec, '5') then
  return {'state'}
end
local wait = locked_for_record(KEYS[2], rec, ih, record_tag(rec), '5')
if wait > 0 then
  return {'locked', wait}
end
local ttl = math.min(tonumber(ARGV[4]), tonumber(ex) - NOW)
redis.call('SET', KEYS[3], ARGV[3], 'PX', ttl)
return {'ok'}
