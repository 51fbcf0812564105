-- delivered: record how a send ended, unless a newer send superseded it.
-- KEYS[1] record; ARGV[3] send sequence the sender claimed, ARGV[4] '3' sent | '4' failed.
-- Returns 1 when recorded, 0 when superseded or gone.
local rec = KEYS[1]
local sq, dl = unpack(redis.call('HMGET', rec, 'sq', 'dl'))
if sq ~= ARGV[3] or dl ~= '2' then
  return 0
end
redis.call('HSET', rec, 'dl', ARGV[4])
publish(rec, redis.call('HGET', rec, 'st'))
return 1
