-- enroll_create: record a new enrollment link.
-- KEYS[1] enrollment, KEYS[2] the customer hash (same tag).
-- ARGV[1] now, ARGV[2] TTL ms, ARGV[3] '1' for a first factor after a LOW proof,
-- ARGV[4] '1' when that proof came without its contact, ARGV[5..] field/value pairs.
-- A first factor is refused while the customer holds any factor: a LOW proof binds
-- nothing once one exists (the factor scripts check again when the factor is stored).
-- Returns {'ok'} | {'factors'} | {'contact'} | {'taken'} (the id is taken: never
-- expected, 100 random bits).
if ARGV[3] == '1' then
  if has_factor(KEYS[2]) then
    return {'factors'}
  end
  if ARGV[4] == '1' then
    return {'contact'}
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'taken'}
end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {'ok'}
