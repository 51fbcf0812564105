-- passkey: finish a passkey ceremony. Go checked the signature with go-webauthn
-- against the ceremony it read; this script consumes that same ceremony (once:
-- a second finish, a replayed response or a ceremony past its timeout finds none),
-- checks that the factor is still enrolled and predates the verification, and
-- advances the sign counter, refusing a counter that did not grow (a cloned
-- authenticator). The level is HIGH only with user verification.
-- KEYS[1] record, KEYS[2] identity hash, KEYS[3] customer hash, KEYS[4] ceremony;
-- ARGV[3] request field, ARGV[4] the ceremony as read, ARGV[5] factor id, ARGV[6]
-- the response's sign count, ARGV[7] '1' when the response checked out, ARGV[8]
-- level earned ('3' with user verification, '2' without), ARGV[9] the lowest level
-- the verification accepts, ARGV[10] amr flags, ARGV[11] record TTL ms once
-- verified, ARGV[12..16] identity failure limits ('per client,shared'), first lock, longest lock, window,
-- attempts that fail the verification, ARGV[17] the keyed hash of the browser that
-- finishes the ceremony, ARGV[18] the clients whose enrollments the verifying client
-- trusts (prelude: trusts).
-- Returns {'verified'} | {'wrong', left[, 'regression']} | {'failed'[, 'regression']}
--       | {'locked', ms} | {'ceremony'} | {'expired'} | {'state'} | {'gone'}.
local rec, ikey, ckey, skey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prior = answered(rec, ARGV[3])
if prior then
  return prior
end
if redis.call('HGET', rec, 'lq') == ARGV[3] then
  -- A replay of an attempt that met the lock, which consumed its ceremony: the
  -- same answer while the lock lasts.
  local wait = locked_for_record(ikey, rec, redis.call('HGET', rec, 'ih'), record_tag(rec), '5')
  if wait > 0 then
    return {'locked', wait}
  end
end
if redis.call('GET', skey) ~= ARGV[4] then
  return {'ceremony'}
end
redis.call('DEL', skey)
if expire_if_due(rec) then
  return {'expired'}
end
local st, ih, cl = unpack(redis.call('HMGET', rec, 'st', 'ih', 'cl'))
if st ~= '1' or not offers(rec, '5') then
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
local wait, sj = locked_for_record(ikey, rec, ih, ct, '5')
if wait > 0 then
  audit_locked(rec, ARGV[3], {'m', 'webauthn', 'o', 'locked'})
  return {'locked', wait}
end
local out
local fid = ARGV[5]
if ARGV[7] == '1' and factor_ok(ckey, fid, '2', rec, ARGV[18]) then
  local stored = tonumber(redis.call('HGET', ckey, 'c' .. fid) or '0')
  local count = tonumber(ARGV[6])
  if (count ~= 0 or stored ~= 0) and count <= stored then
    out = wrong(rec, ikey, sj, ct, '5', 12, 'counter_regression')
    out[#out + 1] = 'regression'
  elseif tonumber(ARGV[8]) < tonumber(ARGV[9]) then
    out = wrong(rec, ikey, sj, ct, '5', 12, 'level_too_low')
  else
    redis.call('HSET', ckey, 'c' .. fid, count, 'u' .. fid, NOW)
    succeed(ikey, sj, ct, '5')
    verified(rec, '5', ARGV[8], ARGV[10], tonumber(ARGV[11]), ARGV[17], fid)
    out = {'verified'}
  end
else
  out = wrong(rec, ikey, sj, ct, '5', 12)
end
redis.call('HSET', rec, ARGV[3], cjson.encode(out))
return out
