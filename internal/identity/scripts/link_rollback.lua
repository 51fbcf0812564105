-- link_rollback: undo link_entry after the pointer was found taken: remove the entry
-- only if it is still the one this call wrote.
-- KEYS[1] customer hash; ARGV[1] field L<ih>, ARGV[2] the entry written.
-- Returns 1 when removed, else 0.
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
