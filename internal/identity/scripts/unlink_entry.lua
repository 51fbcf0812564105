-- unlink_entry: remove a linked identity from the customer's hash and refresh the
-- hash's retention.
-- KEYS[1] customer hash; ARGV[1] field L<ih>, ARGV[2] retention ms.
-- Returns 1 when an entry was removed, else 0.
local n = redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return n
