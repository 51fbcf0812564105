-- totp_begin: store the pending TOTP seed (sealed) unless one is stored already, so
-- a refreshed page shows the same secret the customer's app may have scanned.
-- KEYS[1] enrollment; ARGV[2] the freshly sealed seed.
-- Returns {'ok', the stored sealed seed} | {'gone'}.
if not is_open(KEYS[1], '1') then
  return {'gone'}
end
local sd = redis.call('HGET', KEYS[1], 'sd')
if sd and sd ~= '' then
  return {'ok', sd}
end
redis.call('HSET', KEYS[1], 'sd', ARGV[2])
return {'ok', ARGV[2]}
