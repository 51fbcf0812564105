-- link_entry: write a linked identity into the customer's hash (the first step of
-- Link; the pointer and link_done follow). A new entry is written pending (its value
-- ends in "\31p") until link_done records the link; an existing entry is kept as it
-- is, so a repeated Link keeps the original link time.
-- KEYS[1] customer hash; ARGV[1] field L<ih>, ARGV[2] the pending entry, ARGV[3]
-- customer id, ARGV[4] retention ms.
-- Returns {created (1|0), the stored entry}. go-redis resends a script whose reply
-- was lost: an entry equal to this call's (pending, with this call's link time) is
-- the call's own, and the resent call answers created as the call did, so that
-- Link still rolls it back if the pointer is taken.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local created = 0
if not cur then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  cur = ARGV[2]
  created = 1
elseif cur == ARGV[2] then
  created = 1
end
redis.call('HSET', KEYS[1], 'cu', ARGV[3])
retain(KEYS[1], ARGV[4])
return {created, cur}
