-- delivered: record how a send ended, unless a newer send superseded it. The first
-- send of a verification also ends what the previous verification of the same
-- conversation started or granted (a canceled pending one, a revoked verified one).
-- KEYS[1] record, KEYS[2] identity hash; ARGV[3] send sequence the sender claimed,
-- ARGV[4] '3' sent | '4' failed, ARGV[5] conversation field suffix, ARGV[6] key prefix
-- of the identity's records, ARGV[7] verification id, ARGV[8] identity hash TTL ms.
-- Returns 1 when recorded, 0 when superseded or gone.
local rec = KEYS[1]
local sq, dl, ih = unpack(redis.call('HMGET', rec, 'sq', 'dl', 'ih'))
if sq ~= ARGV[3] or dl ~= '2' then
  return 0
end
redis.call('HSET', rec, 'dl', ARGV[4])
-- The claim time and the claiming call's token matter only while a send is in flight.
redis.call('HDEL', rec, 'dt', 'tk')
publish(rec, redis.call('HGET', rec, 'st'))

local conv = ih .. 'c' .. ARGV[5]
local prev = redis.call('HGET', KEYS[2], conv)
if prev ~= ARGV[7] then
  if prev then
    local pkey = ARGV[6] .. prev
    local pst = redis.call('HGET', pkey, 'st')
    if pst == '1' then
      finish(pkey, '5')
    elseif pst == '2' and redis.call('HGET', pkey, 'rv') ~= '1' then
      redis.call('HSET', pkey, 'rv', '1')
      publish(pkey, '2')
    end
  end
  redis.call('HSET', KEYS[2], conv, ARGV[7])
  keep(KEYS[2], tonumber(ARGV[8]))
end
return 1
