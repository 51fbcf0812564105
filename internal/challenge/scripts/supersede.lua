-- supersede: end what a verification started or granted, once a newer verification
-- of the same client's conversation took the conversation (conversation.lua): a
-- pending one is canceled (it can no longer be completed), a verified one revoked.
-- Its assertions already stopped standing when the newer one took the conversation;
-- this makes the record say so, wherever its tag is.
-- KEYS[1] the superseded verification's record.
-- Returns {'canceled'} | {'revoked'} | {'state'} (ended already) | {'gone'}.
local rec = KEYS[1]
if redis.call('EXISTS', rec) == 0 then
  return {'gone'}
end
if expire_if_due(rec) then
  return {'state'}
end
local st = redis.call('HGET', rec, 'st')
if st == '1' then
  redis.call('HSET', rec, 'st', '5', 'rs', '0', 'ft', NOW)
  publish(rec, '5')
  audit(rec, 'canceled', {'o', 'superseded'})
  return {'canceled'}
end
if st == '2' and redis.call('HGET', rec, 'rv') ~= '1' then
  redis.call('HSET', rec, 'rv', '1')
  publish(rec, '2')
  audit(rec, 'canceled', {'o', 'revoked', 'r', 'superseded'})
  return {'revoked'}
end
return {'state'}
