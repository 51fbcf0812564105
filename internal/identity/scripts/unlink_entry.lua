-- unlink_entry: remove a linked identity from the customer's hash (the second step
-- of Unlink, after the pointer) and refresh the hash's retention. Removing a link
-- writes identity_unlinked, once: a repeat finds nothing to remove. An entry still
-- pending (an interrupted Link, never recorded as linked) goes without an event.
-- The customer keeps, pseudonymously, where the identity's verifications and
-- counters live (X<ih>: the identity's tag): EraseCustomer still reaches what the
-- identity left while it was linked.
-- KEYS[1] customer hash, then the audit stream. ARGV[1] field L<ih>, ARGV[2]
-- retention ms, ARGV[3] now ms, ARGV[4] the client, ARGV[5] a fresh pseudonym key for
-- a customer that has none, ARGV[6] the identity's tag, ARGV[7] '1' to remove the
-- entry whichever client made it (the pointer this Unlink removed was the same
-- link's; may_link), else only an entry of the client ARGV[4]: an entry
-- "<network>\31<user id>\31<client>\31<linked ms>" (no client part when written
-- before links recorded their client), "\31p" after it while pending.
-- Returns 1 when an entry was removed, else 0.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then
  return 0
end
if ARGV[7] ~= '1' then
  local client = string.match(cur, '^[^\031]*\031[^\031]*\031([^\031]*)\031%d+')
  if client ~= ARGV[4] then
    return 0
  end
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], 'X' .. string.sub(ARGV[1], 2), ARGV[6])
if string.sub(cur, -2) ~= '\031p' then
  local pk = pseudonym_key(KEYS[1], ARGV[5])
  audit(ARGV[3], {'k', 'identity_unlinked', 'c', ARGV[4], 'o', 'ok',
    'u', pseudonym(pk, customer_hash(KEYS[1])), 'i', pseudonym(pk, string.sub(ARGV[1], 2))})
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  retain(KEYS[1], ARGV[2])
end
return 1
