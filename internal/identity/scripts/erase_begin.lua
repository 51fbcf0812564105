-- erase_begin: the first step of an erasure. It marks the customer hash as being
-- erased ('e'), so that from now until erase_customer deletes the hash, nothing new
-- attaches to the customer: a start that names her (package challenge's start.lua),
-- a link (link_entry) and an enrollment link (enroll_create) are refused, and a link
-- already under way finds its entry gone at its last step and takes its pointer back
-- (link_done). It answers the hash as it is, in the same step, so that what the
-- erasure then removes is all there is. Self-contained (no prelude).
-- KEYS[1] customer hash. Returns the hash's fields and values (flat), empty for none.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {}
end
redis.call('HSET', KEYS[1], 'e', '1')
return redis.call('HGETALL', KEYS[1])
