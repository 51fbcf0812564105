-- totp_begin: store the pending TOTP seed (sealed) and let the page show it, once.
-- A second begin on the same enrollment shows nothing: the key is never shown twice
-- (whoever saw the page's first answer could otherwise read it again), and the
-- customer needs a new enrollment to see a key.
-- KEYS[1] enrollment; ARGV[2] the freshly sealed seed, ARGV[3] the keyed hash of the
-- browser asking (an enrollment bound to a browser works only there).
-- Returns {'ok'} | {'shown'} | {'browser'} | {'gone'}.
if not is_bound(KEYS[1], ARGV[3]) then
  return {'browser'}
end
if not is_open(KEYS[1], '1') then
  return {'gone'}
end
local sd = redis.call('HGET', KEYS[1], 'sd')
if sd == ARGV[2] then
  -- go-redis resent this very call (its reply was lost): the sealed seed is this
  -- call's own, drawn fresh for it, so the page that asked may still show it.
  return {'ok'}
end
if sd and sd ~= '' then
  return {'shown'}
end
redis.call('HSET', KEYS[1], 'sd', ARGV[2])
return {'ok'}
