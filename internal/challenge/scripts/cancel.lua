-- cancel: end a pending verification as CANCELED, or revoke what a verified one granted.
-- KEYS[1] record; ARGV[3] request field, ARGV[4] client id.
-- Returns {'canceled'} | {'revoked'} | {'state'} | {'gone'}; a repeat returns its first answer.
local rec = KEYS[1]
if redis.call('EXISTS', rec) == 0 or redis.call('HGET', rec, 'cl') ~= ARGV[4] then
  return {'gone'}
end
local seen = redis.call('HGET', rec, ARGV[3])
if seen then
  return cjson.decode(seen)
end
expire_if_due(rec)
local st = redis.call('HGET', rec, 'st')
local out
if st == '1' then
  finish(rec, '5')
  out = {'canceled'}
elseif st == '2' then
  revoke(rec)
  out = {'revoked'}
else
  out = {'state'}
end
redis.call('HSET', rec, ARGV[3], cjson.encode(out))
return out
