-- link_done: the last step of Link, once the identity's pointer is the customer's:
-- the pending entry becomes a link and identity_linked is written, on the customer's
-- slot (where the customer's events are kept), once: a repeat finds the entry done
-- and writes nothing.
-- KEYS[1] customer hash, then the audit stream. ARGV[1] field L<ih>, ARGV[2] now ms,
-- ARGV[3] the client, ARGV[4] a fresh pseudonym key for a customer that has none,
-- ARGV[5] retention ms.
-- Returns 1 when the link was recorded now, 0 when it was already, -1 when its entry
-- is gone or the customer is being erased.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or redis.call('HGET', KEYS[1], 'e') == '1' then
  -- The entry is gone (the customer was erased, or the identity unlinked, while this
  -- link was under way) or going: the caller takes its pointer back.
  return -1
end
if string.sub(cur, -2) ~= '\031p' then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], string.sub(cur, 1, -3))
local pk = pseudonym_key(KEYS[1], ARGV[4])
retain(KEYS[1], ARGV[5])
audit(ARGV[2], {'k', 'identity_linked', 'c', ARGV[3], 'o', 'ok',
  'u', pseudonym(pk, customer_hash(KEYS[1])), 'i', pseudonym(pk, string.sub(ARGV[1], 2))})
return 1
