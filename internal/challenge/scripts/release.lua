-- release: give up the send claim of a call that ends in an error without sending
-- (its script ran but the reply was lost on every try, or what followed failed),
-- so that the platform's retry of the request sends at once instead of finding a
-- claim that no call will honour before its lease ends.
-- KEYS[1] record, KEYS[2] identity hash; ARGV[3] the call's token, ARGV[4] the
-- request field of a resend ('' for a start).
-- Only a claim made by this call's token and still in flight is released, as a
-- failed send that never left: its slot in the send count is given back, and so is
-- its entry in the identity's send log (the claim took it at the claim's time, 'dt'),
-- so that the retry's one message counts once there too; a resend's request id is
-- forgotten, so its retry claims afresh.
-- Returns 1 when released, 0 otherwise.
local rec = KEYS[1]
local tk, dl, dt, ih = unpack(redis.call('HMGET', rec, 'tk', 'dl', 'dt', 'ih'))
if tk ~= ARGV[3] or dl ~= '2' then
  return 0
end
redis.call('HSET', rec, 'dl', '4')
redis.call('HDEL', rec, 'dt', 'tk')
-- The claim sent nothing: give its send back, so MaxSends counts messages, not claims,
-- and the identity's send window counts the messages that left.
redis.call('HINCRBY', rec, 'sq', -1)
if ih and dt then
  unsend(KEYS[2], ih, record_tag(rec), tonumber(dt))
end
if ARGV[4] ~= '' then
  redis.call('HDEL', rec, ARGV[4])
end
publish(rec, redis.call('HGET', rec, 'st'))
return 1
