-- link_entry: write a linked identity into the customer's hash (the first step of
-- Link; the pointer and link_done follow). A new entry is written pending (its value
-- ends in "\31p") until link_done records the link; an existing entry is kept as it
-- is, so a repeated Link keeps the original link time.
-- KEYS[1] customer hash; ARGV[1] field L<ih>, ARGV[2] the pending entry, ARGV[3]
-- customer id, ARGV[4] retention ms.
-- Returns {created (1|0), the stored entry}.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local created = 0
if not cur then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  cur = ARGV[2]
  created = 1
end
redis.call('HSET', KEYS[1], 'cu', ARGV[3])
retain(KEYS[1], ARGV[4])
return {created, cur}
