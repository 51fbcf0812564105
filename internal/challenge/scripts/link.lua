-- link: act on a magic link's confirmation page: the number picked, or a report.
-- A wrong number counts as a failure of the identity's magic-link family.
-- KEYS[1] record, KEYS[2] identity hash; ARGV[3] request field, ARGV[4] hash of the
-- presented link token, ARGV[5] 'pick' | 'report' | 'impersonation' (a report that
-- the account talking to her is not the brand's), ARGV[6] the number picked,
-- ARGV[7] record TTL ms once verified, ARGV[8..12] identity failure limits ('per client,shared'), first lock
-- ms, longest lock ms, failure window ms, attempts that fail the verification (unused),
-- ARGV[13] the keyed hash of the browser that picks (kept once the pick verifies).
-- A wrong link token is 'gone' and counts nothing (the token carries 128 bits).
-- Returns {'verified'} | {'mismatch'} | {'reported'} | {'locked', ms} | {'expired'}
--       | {'state'} | {'gone'}.
local rec = KEYS[1]
local prior = answered(rec, ARGV[3])
if prior then
  return prior
end
local ls = redis.call('HGET', rec, 'ls')
if not ls or ls == '' or ls ~= ARGV[4] then
  return {'gone'}
end
if expire_if_due(rec) then
  return {'expired'}
end
if redis.call('HGET', rec, 'st') ~= '1' then
  return {'state'}
end
local reporting = ARGV[5] == 'report' or ARGV[5] == 'impersonation'
if not reporting and not link_stands(rec, nil) then
  -- Its customer came through a link that no longer stands: it ends, and never
  -- mints an assertion for her.
  redis.call('HDEL', rec, 'lc')
  finish(rec, '5')
  return {'gone'}
end
local ih, cl = unpack(redis.call('HMGET', rec, 'ih', 'cl'))
local ct = record_tag(rec)
local out
if not reporting then
  local wait = locked_for(KEYS[2], ih, ct, '1')
  if wait > 0 then
    audit_locked(rec, ARGV[3], {'o', 'locked'})
    return {'locked', wait}
  end
end
if reporting then
  local extra = nil
  if ARGV[5] == 'impersonation' then
    extra = {'r', 'impersonation'}
  end
  finish(rec, '3', '2', extra)
  out = {'reported'}
elseif ARGV[6] == redis.call('HGET', rec, 'mn') then
  redis.call('HSET', rec, 'ls', '')
  succeed(KEYS[2], ih, ct, '1')
  verified(rec, '1', '1', '', tonumber(ARGV[7]), ARGV[13], '')
  out = {'verified'}
else
  audit(rec, 'attempt_failed', {'o', 'wrong_number'})
  fail(KEYS[2], ih, ct, '1', ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]))
  finish(rec, '3', '3')
  out = {'mismatch'}
end
redis.call('HSET', rec, ARGV[3], cjson.encode(out))
return out
