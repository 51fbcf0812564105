-- get: read a record for GetVerification and WatchVerification, with whether its
-- grant still stands: one round trip. Read only.
-- KEYS[1] record.
-- Returns {record fields (flat), 1 | 0}: 0 when a VERIFIED record was completed with
-- a factor its customer no longer holds (prelude: stands), which revokes it.
local rec = redis.call('HGETALL', KEYS[1])
if #rec == 0 then
  return {rec, 1}
end
local vf = redis.call('HGET', KEYS[1], 'vf')
if vf and vf ~= '' and redis.call('HGET', KEYS[1], 'st') == '2' and not stands(KEYS[1]) then
  return {rec, 0}
end
return {rec, 1}
