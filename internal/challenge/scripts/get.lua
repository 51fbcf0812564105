-- get: read a record for GetVerification and WatchVerification, with whether its
-- grant still stands: one round trip. Read only.
-- KEYS[1] record.
-- Returns {record fields (flat), 1 | 0, factor client}: 0 when a VERIFIED record no
-- longer stands (prelude: stands: completed with a factor its customer no longer
-- holds, or its customer came through a link since removed), which revokes it; the factor client is the client through which that factor was
-- enrolled ('' for none), which a factor bound on this verification inherits.
local rec = redis.call('HGETALL', KEYS[1])
if #rec == 0 or redis.call('HGET', KEYS[1], 'st') ~= '2' then
  return {rec, 1, ''}
end
if not stands(KEYS[1]) then
  return {rec, 0, ''}
end
local vf = redis.call('HGET', KEYS[1], 'vf')
if not vf or vf == '' then
  return {rec, 1, ''}
end
local _, _, client = factor_fields(redis.call('HGET', customer_key(KEYS[1]), 'F' .. vf))
return {rec, 1, client or ''}
