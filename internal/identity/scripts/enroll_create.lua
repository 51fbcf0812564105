-- enroll_create: record a new enrollment link.
-- KEYS[1] enrollment, KEYS[2] the customer hash (same tag).
-- ARGV[1] now, ARGV[2] TTL ms, ARGV[3] '1' for a first factor after a LOW proof,
-- ARGV[4] '1' when that proof came without its contact, ARGV[5] the clients whose
-- enrollments the enrolling client trusts (prelude: has_factor), ARGV[6..]
-- field/value pairs.
-- A first factor is refused while the customer holds a factor the client trusts: a
-- LOW proof binds nothing once one exists (the factor scripts check again when the
-- factor is stored); and while the customer is on hold after a report (on_hold).
-- Returns {'ok'} | {'factors'} | {'hold'} | {'contact'} | {'taken'} (the id is taken:
-- never expected, 100 random bits).
-- go-redis resends a script whose reply was lost: the id is drawn for each call, so
-- an enrollment under it for the same customer, created at the same time, is this
-- call's own, and the resent call answers 'ok' as the call did.
if redis.call('EXISTS', KEYS[1]) == 1 then
  local want = {}
  for i = 6, #ARGV - 1, 2 do
    want[ARGV[i]] = ARGV[i + 1]
  end
  local ch, ct = unpack(redis.call('HMGET', KEYS[1], 'ch', 'ct'))
  if ch == want['ch'] and ct == want['ct'] then
    return {'ok'}
  end
  return {'taken'}
end
if ARGV[3] == '1' then
  if has_factor(KEYS[2], ARGV[5]) then
    return {'factors'}
  end
  if on_hold(KEYS[2]) then
    return {'hold'}
  end
  if ARGV[4] == '1' then
    return {'contact'}
  end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {'ok'}
