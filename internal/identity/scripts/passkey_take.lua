-- passkey_take: take a ceremony's SessionData: it is returned and deleted in one
-- step, so one ceremony finishes at most once.
-- KEYS[1] enrollment, KEYS[2] its session key.
-- Returns {'ok', session, customer id, customer hash} | {'nosession'} | {'gone'}.
local s = redis.call('GET', KEYS[2])
if not s then
  return {'nosession'}
end
redis.call('DEL', KEYS[2])
if not is_open(KEYS[1], '2') then
  return {'gone'}
end
local cu, ch = unpack(redis.call('HMGET', KEYS[1], 'cu', 'ch'))
return {'ok', s, cu, ch}
