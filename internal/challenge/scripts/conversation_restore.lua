-- conversation_restore: give a conversation back to the verification it had, when
-- the start that took it made no verification (a limit refused it, a repeated or
-- reused request id, nothing to offer). Only a field that still names that start's
-- id is restored, so a newer start is never undone. Self-contained (no prelude).
-- KEYS[1] the bucket; ARGV[1] the field, ARGV[2] the id the start set, ARGV[3] the
-- previous value ('' for none).
-- Returns {1} when restored, {0} when the field names another verification.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or string.match(cur, '^([^|]*)|') ~= ARGV[2] then
  return {0}
end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return {1}
