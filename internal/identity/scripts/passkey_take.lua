-- passkey_take: take a ceremony's SessionData: it is returned and deleted in one
-- step, so one ceremony finishes at most once.
-- KEYS[1] enrollment, KEYS[2] its session key; ARGV[2] the keyed hash of the browser
-- finishing it (an enrollment bound to a browser works only there).
-- Returns {'ok', session, {enrollment fields, flat}} | {'nosession'} | {'browser'}
--       | {'gone'}.
if not is_bound(KEYS[1], ARGV[2]) then
  return {'browser'}
end
local s = redis.call('GET', KEYS[2])
if not s then
  return {'nosession'}
end
redis.call('DEL', KEYS[2])
if not is_open(KEYS[1], '2') then
  return {'gone'}
end
return {'ok', s, redis.call('HGETALL', KEYS[1])}
