-- delivered: record how a send ended, unless a newer send superseded it.
-- KEYS[1] record; ARGV[3] send sequence the sender claimed, ARGV[4] '3' sent |
-- '4' failed, ARGV[5] the masked destination (for the audit trail).
-- Returns 1 when recorded, 0 when superseded or gone.
local rec = KEYS[1]
local sq, dl = unpack(redis.call('HMGET', rec, 'sq', 'dl'))
if sq ~= ARGV[3] or dl ~= '2' then
  return 0
end
redis.call('HSET', rec, 'dl', ARGV[4])
if ARGV[4] == '3' then
  audit(rec, 'sent', {'d', ARGV[5]})
else
  audit(rec, 'send_failed', {'d', ARGV[5]})
end
-- The claim time and the claiming call's token matter only while a send is in flight.
redis.call('HDEL', rec, 'dt', 'tk')
publish(rec, redis.call('HGET', rec, 'st'))
return 1
