-- delivered: record how a send ended, unless a newer send superseded it. The first
-- send of a verification also ends what the previous verification of the same
-- conversation started or granted (a canceled pending one, a revoked verified one).
-- KEYS[1] record, KEYS[2] identity hash; ARGV[3] send sequence the sender claimed,
-- ARGV[4] '3' sent | '4' failed, ARGV[5] conversation field suffix, ARGV[6] key prefix
-- of the tag's records ('v:{tag}:tag-'), ARGV[7] verification id's body, ARGV[8] identity hash TTL ms,
-- ARGV[9] the masked destination (for the audit trail).
-- Returns 1 when recorded, 0 when superseded or gone.
local rec = KEYS[1]
local sq, dl, ih = unpack(redis.call('HMGET', rec, 'sq', 'dl', 'ih'))
if sq ~= ARGV[3] or dl ~= '2' then
  return 0
end
redis.call('HSET', rec, 'dl', ARGV[4])
if ARGV[4] == '3' then
  audit(rec, 'sent', {'d', ARGV[9]})
else
  audit(rec, 'send_failed', {'d', ARGV[9]})
end
-- The claim time and the claiming call's token matter only while a send is in flight.
redis.call('HDEL', rec, 'dt', 'tk')
publish(rec, redis.call('HGET', rec, 'st'))

supersede(KEYS[2], ih, ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]))
return 1
