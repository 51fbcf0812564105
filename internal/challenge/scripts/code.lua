-- code: check a one-time code typed on the customer page. Attempts, state and
-- expiry are checked and changed together; a request id counts once.
-- Failures also count per identity, client and method family across all its
-- verifications; past a limit the family is locked and attempts count nothing.
-- KEYS[1] record, KEYS[2] identity hash; ARGV[3] request field, ARGV[4] hash of the
-- presented code, ARGV[5] record TTL ms once verified (kept until the assertion can
-- no longer be used), ARGV[6] identity failure limits ('per client,shared'), ARGV[7] first lock ms,
-- ARGV[8] longest lock ms, ARGV[9] failure window ms, ARGV[10] wrong attempts that
-- fail the verification, ARGV[11] the keyed hash of the browser that submits the code
-- (kept once the code verifies).
-- Returns {'verified', ho[, bk]} | {'wrong', attempts_left} | {'failed'} | {'locked', ms}
--       | {'expired'} | {'state'} | {'gone'}; a repeated request returns its first answer.
-- ho is '1' when the verification holds a handover offer ('ho') as it answers,
-- '0' when not, so that the page looks for an offer only when there may be one.
-- bk, the SMS breaker cells of the code's send (breaker.go), comes with the first
-- answer only, so that Go credits an entered code to them once.
local rec = KEYS[1]
local function offered(ho)
  if ho and ho ~= '' then
    return '1'
  end
  return '0'
end
local prior = answered(rec, ARGV[3])
if prior then
  if prior[1] == 'verified' then
    return {'verified', offered(redis.call('HGET', rec, 'ho'))}
  end
  return prior
end
if expire_if_due(rec) then
  return {'expired'}
end
local st, co, at, dv, ih, cl = unpack(redis.call('HMGET', rec, 'st', 'co', 'at', 'dv', 'ih', 'cl'))
local mx = tonumber(ARGV[10])
if st ~= '1' or not co or co == '' then
  return {'state'}
end
if not link_stands(rec, nil) then
  -- Its customer came through a link that no longer stands: it ends, and never
  -- mints an assertion for her.
  redis.call('HDEL', rec, 'lc')
  finish(rec, '5')
  return {'gone'}
end
local ct = record_tag(rec)
local wait = locked_for(KEYS[2], ih, ct, dv)
if wait > 0 then
  audit_locked(rec, ARGV[3], {'o', 'locked'})
  return {'locked', wait}
end
local out
if co == ARGV[4] then
  succeed(KEYS[2], ih, ct, dv)
  verified(rec, dv, '1', '', tonumber(ARGV[5]), ARGV[11], '')
  out = {'verified'}
else
  at = redis.call('HINCRBY', rec, 'at', 1)
  audit(rec, 'attempt_failed', {'o', 'wrong'})
  local lock = fail(KEYS[2], ih, ct, dv, ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]))
  if at >= mx then
    finish(rec, '3', '1')
    out = {'failed'}
  elseif lock > 0 then
    publish(rec, '1')
    out = {'locked', lock}
  else
    publish(rec, '1')
    out = {'wrong', mx - at}
  end
end
redis.call('HSET', rec, ARGV[3], cjson.encode(out))
if out[1] == 'verified' then
  local ho, bk = unpack(redis.call('HMGET', rec, 'ho', 'bk'))
  return {'verified', offered(ho), bk or ''}
end
return out
