-- enroll_create: record a new enrollment link.
-- KEYS[1] enrollment; ARGV[1] now, ARGV[2] TTL ms, ARGV[3..] field/value pairs.
-- Returns 1, or 0 when the id is taken (never expected: 100 random bits).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
