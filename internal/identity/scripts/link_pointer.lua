-- link_pointer: point a social identity at a customer, as the link of the client
-- making it, unless it points at another customer, or is another client's link to
-- this customer that the call may not take over. A repeat refreshes the TTL.
-- KEYS[1] the identity's pointer; ARGV[1] its value "<customer id>\31<client>",
-- ARGV[2] retention ms, ARGV[3] the customer id, ARGV[4] '1' when the client may
-- take over another client's link to this customer (may_link), else '0'. A value
-- without \31 is a link made before links recorded their client: the customer id
-- alone.
-- Returns 1 when the pointer is (now) this client's link to this customer, else 0
-- (the pointer is left as it is).
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then
  if string.match(cur, '^[^\031]*') ~= ARGV[3] or ARGV[4] ~= '1' then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
