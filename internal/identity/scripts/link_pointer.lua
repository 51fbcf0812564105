-- link_pointer: point a social identity at a customer, unless it points at another
-- one. A repeat for the same customer refreshes the TTL.
-- KEYS[1] the identity's pointer; ARGV[1] customer id, ARGV[2] retention ms.
-- Returns 1 when the pointer is (now) this customer's, 0 when it is another's.
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
