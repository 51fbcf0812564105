-- totp: complete a verification with an authenticator-app code. Go opened the
-- customer's seeds and found which factor and step the code matches (if any); this
-- script accepts that step only if it is newer than the customer's last accepted
-- step, so a code is never accepted twice, whichever verification it is typed into.
-- A wrong or replayed code counts like any wrong code.
-- KEYS[1] record, KEYS[2] identity hash, KEYS[3] customer hash; ARGV[3] request
-- field, ARGV[4] matched factor id ('' for none), ARGV[5] matched step, ARGV[6]
-- record TTL ms once verified, ARGV[7..11] identity failure limits ('per client,shared'), first lock ms,
-- longest lock ms, failure window ms, attempts that fail the verification, ARGV[12]
-- the keyed hash of the browser that submits the code, ARGV[13] the clients whose
-- enrollments the verifying client trusts (prelude: trusts).
-- Returns {'verified'} | {'wrong', left} | {'failed'} | {'locked', ms} | {'expired'}
--       | {'state'} | {'gone'}; a repeated request returns its first answer.
local rec, ikey, ckey = KEYS[1], KEYS[2], KEYS[3]
local prior = answered(rec, ARGV[3])
if prior then
  return prior
end
if expire_if_due(rec) then
  return {'expired'}
end
local st, ih, cl = unpack(redis.call('HMGET', rec, 'st', 'ih', 'cl'))
if st ~= '1' or not offers(rec, '4') then
  return {'state'}
end
if not link_stands(rec, ckey) then
  -- Its customer came through a link that no longer stands: it ends, and never
  -- mints an assertion for her.
  redis.call('HDEL', rec, 'lc')
  finish(rec, '5')
  return {'gone'}
end
local ct = record_tag(rec)
local wait, sj = locked_for_record(ikey, rec, ih, ct, '4')
if wait > 0 then
  audit_locked(rec, ARGV[3], {'m', 'totp', 'o', 'locked'})
  return {'locked', wait}
end
local out
local step = tonumber(ARGV[5])
local last = tonumber(redis.call('HGET', ckey, 'ts') or '-1')
if factor_ok(ckey, ARGV[4], '1', rec, ARGV[13]) and step > last then
  redis.call('HSET', ckey, 'ts', step, 'u' .. ARGV[4], NOW)
  succeed(ikey, sj, ct, '4')
  verified(rec, '4', '2', '', tonumber(ARGV[6]), ARGV[12], ARGV[4])
  out = {'verified'}
else
  out = wrong(rec, ikey, sj, ct, '4', 7)
end
redis.call('HSET', rec, ARGV[3], cjson.encode(out))
return out
