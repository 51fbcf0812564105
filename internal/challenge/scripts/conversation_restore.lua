-- conversation_restore: give a conversation back to the verification it had, when
-- the start that took it made no verification (a limit refused it, a repeated or
-- reused request id, nothing to offer). Only a field that still names that start's
-- id is restored, so a newer start is never undone: the newest verification it
-- displaced holds it again (conversation.lua's history), or, when there is none, the
-- field goes. Self-contained (no prelude).
-- KEYS[1] the bucket; ARGV[1] the field, ARGV[2] the id the start set.
-- Returns {1} when restored, {0} when the field names another verification.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or string.match(cur, '^([^|]*)|') ~= ARGV[2] then
  return {0}
end
local rest = string.match(cur, '^[^|]*|%d+|(.*)$') or ''
local first, others = string.match(rest, '^([^,]+),?(.*)$')
if not first then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return {1}
end
local id, til = string.match(first, '^([^@]*)@(%d+)$')
redis.call('HSET', KEYS[1], ARGV[1], id .. '|' .. til .. '|' .. others)
return {1}
