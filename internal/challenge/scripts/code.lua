-- code: check a one-time code typed on the customer page. Attempts, state and
-- expiry are checked and changed together; a request id counts once.
-- KEYS[1] record; ARGV[3] request field, ARGV[4] hash of the presented code,
-- ARGV[5] record TTL ms once verified (kept until the assertion can no longer be used).
-- Returns {'verified'} | {'wrong', attempts_left} | {'failed'} | {'expired'} | {'state'}
--       | {'gone'}; a repeated request returns its first answer.
local rec = KEYS[1]
if redis.call('EXISTS', rec) == 0 then
  return {'gone'}
end
local seen = redis.call('HGET', rec, ARGV[3])
if seen then
  return cjson.decode(seen)
end
if expire_if_due(rec) then
  return {'expired'}
end
local st, co, at, mx, dv = unpack(redis.call('HMGET', rec, 'st', 'co', 'at', 'mx', 'dv'))
if st ~= '1' or not co then
  return {'state'}
end
local out
if co == ARGV[4] then
  redis.call('HSET', rec, 'vt', NOW, 'vm', dv, 'lv', '1', 'co', '')
  finish(rec, '2')
  if redis.call('PTTL', rec) < tonumber(ARGV[5]) then
    redis.call('PEXPIRE', rec, ARGV[5])
  end
  out = {'verified'}
else
  at = redis.call('HINCRBY', rec, 'at', 1)
  if at >= tonumber(mx) then
    finish(rec, '3', '1')
    out = {'failed'}
  else
    publish(rec, '1')
    out = {'wrong', tonumber(mx) - at}
  end
end
redis.call('HSET', rec, ARGV[3], cjson.encode(out))
return out
