-- unlink_pointer: remove a social identity's pointer if it points at this customer
-- and the link is within the caller's scope (the first step of Unlink; the entry
-- follows).
-- KEYS[1] the identity's pointer; ARGV[1] customer id, ARGV[2] the client, ARGV[3]
-- '1' for any client's link (may_link, erasure), else only a link ARGV[2] made. The
-- value is "<customer id>\31<client>", or the customer id alone for a link made
-- before links recorded their client (client '').
-- Returns 1 removed, 0 no pointer, -1 kept: another customer's, or another client's
-- link.
local cur = redis.call('GET', KEYS[1])
if not cur then
  return 0
end
local customer, client = string.match(cur, '^([^\031]*)\031(.*)$')
if not customer then
  customer, client = cur, ''
end
if customer ~= ARGV[1] or (ARGV[3] ~= '1' and client ~= ARGV[2]) then
  return -1
end
redis.call('DEL', KEYS[1])
return 1
