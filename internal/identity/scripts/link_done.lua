-- link_done: the last step of Link, once the identity's pointer is this client's
-- link to the customer: the entry becomes this client's recorded link and
-- identity_linked is written, on the customer's slot (where the customer's events
-- are kept), once: a repeat finds the entry done as this client's and writes
-- nothing. An entry pending keeps its link time; an entry of another client (a link
-- taken over with may_link, or one an earlier link left) is linked now.
-- KEYS[1] customer hash, then the audit stream. ARGV[1] field L<ih>, ARGV[2] now ms,
-- ARGV[3] the client, ARGV[4] a fresh pseudonym key for a customer that has none,
-- ARGV[5] retention ms.
-- An entry is "<network>\31<user id>\31<client>\31<linked ms>", or without the
-- client part when written before links recorded their client, followed by "\31p"
-- while pending.
-- Returns 1 when the link was recorded now, 0 when it was already, -1 when its entry
-- is gone or the customer is being erased.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or redis.call('HGET', KEYS[1], 'e') == '1' then
  -- The entry is gone (the customer was erased, or the identity unlinked, while this
  -- link was under way) or going: the caller takes its pointer back.
  return -1
end
local pending = string.sub(cur, -2) == '\031p'
local body = cur
if pending then
  body = string.sub(cur, 1, -3)
end
local network, user, rest = string.match(body, '^([^\031]*)\031([^\031]*)\031(.*)$')
if not network then
  return 0
end
local client, at = string.match(rest, '^([^\031]*)\031(%d+)$')
if not client then
  client, at = '', rest
end
if client == ARGV[3] and not pending then
  return 0
end
if client ~= ARGV[3] then
  at = ARGV[2]
end
redis.call('HSET', KEYS[1], ARGV[1], network .. '\031' .. user .. '\031' .. ARGV[3] .. '\031' .. at)
local pk = pseudonym_key(KEYS[1], ARGV[4])
retain(KEYS[1], ARGV[5])
audit(ARGV[2], {'k', 'identity_linked', 'c', ARGV[3], 'o', 'ok',
  'u', pseudonym(pk, customer_hash(KEYS[1])), 'i', pseudonym(pk, string.sub(ARGV[1], 2))})
return 1
