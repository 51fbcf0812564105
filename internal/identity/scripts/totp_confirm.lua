-- totp_confirm: settle one confirmation code for a TOTP enrollment. A right code
-- uses the link up, stores the factor in the customer's hash and writes
-- factor_enrolled; a wrong one counts, and the last allowed wrong code kills the
-- link. A request id counts once. A first factor after a LOW proof ('bs') is stored
-- only while the customer still holds none, with the report link its notice named.
-- KEYS[1] enrollment, KEYS[2] customer hash (same tag), KEYS[3] the report link
-- record of a first factor (only then), then the audit stream.
-- ARGV[2] request field, ARGV[3] the sealed seed the code was checked against,
-- ARGV[4] 'ok' | 'wrong', ARGV[5] max wrong codes, ARGV[6] factor id,
-- ARGV[7] the factor's F value, ARGV[8] the matched step, ARGV[9] customer id,
-- ARGV[10] retention ms, ARGV[11] a fresh pseudonym key for a customer that has none,
-- ARGV[12] the report link's id ('' for none), ARGV[13] its TTL ms, ARGV[14] the
-- clients whose enrollments the enrolling client trusts (prelude: has_factor).
-- Returns {'ok'} | {'wrong', attempts left} | {'dead'} | {'factors'} | {'gone'}; a
-- repeated request returns its first answer.
local enr = KEYS[1]
local seen = redis.call('HGET', enr, ARGV[2])
if seen then
  return cjson.decode(seen)
end
if not is_open(enr, '1') or redis.call('HGET', enr, 'sd') ~= ARGV[3] then
  return {'gone'}
end
local out
if ARGV[4] == 'ok' then
  local cust = KEYS[2]
  if redis.call('HGET', enr, 'bs') == '1' and (has_factor(cust, ARGV[14]) or on_hold(cust)) then
    -- Another factor was added since this link was made: a LOW proof binds nothing
    -- now. The link is used up; nothing is counted against the customer.
    redis.call('HSET', enr, 'st', '3')
    redis.call('HDEL', enr, 'sd', 'nc')
    out = {'factors'}
  else
    redis.call('HSET', enr, 'st', '2', 'fi', ARGV[6])
    -- The key and the notice's contact are of no more use.
    redis.call('HDEL', enr, 'sd', 'nc')
    redis.call('HSET', cust, 'F' .. ARGV[6], ARGV[7], 'cu', ARGV[9])
    local step = tonumber(ARGV[8])
    local ts = tonumber(redis.call('HGET', cust, 'ts') or '-1')
    if step > ts then
      redis.call('HSET', cust, 'ts', ARGV[8])
    end
    local pk = pseudonym_key(cust, ARGV[11])
    retain(cust, ARGV[10])
    local f = {'k', 'factor_enrolled', 'c', redis.call('HGET', enr, 'cl') or '', 'm', 'totp', 'o', 'ok',
      'u', pseudonym(pk, customer_hash(cust))}
    if ARGV[12] ~= '' then
      report_link(KEYS[3], enr, ARGV[6], tonumber(ARGV[13]))
      f[#f + 1], f[#f + 2] = 'r', 'first_factor_notified'
    end
    audit(NOW, f)
    out = {'ok'}
  end
else
  local at = redis.call('HINCRBY', enr, 'at', 1)
  local most = tonumber(ARGV[5])
  if at >= most then
    redis.call('HSET', enr, 'st', '3')
    redis.call('HDEL', enr, 'sd')
    out = {'dead'}
  else
    out = {'wrong', most - at}
  end
end
redis.call('HSET', enr, ARGV[2], cjson.encode(out))
return out
