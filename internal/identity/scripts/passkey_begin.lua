-- passkey_begin: keep a registration ceremony's SessionData while the enrollment is
-- open; a new ceremony replaces the previous one.
-- KEYS[1] enrollment, KEYS[2] its session key; ARGV[2] SessionData JSON, ARGV[3] TTL ms.
-- Returns 1, or 0 when the enrollment is not open.
if not is_open(KEYS[1], '2') then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
