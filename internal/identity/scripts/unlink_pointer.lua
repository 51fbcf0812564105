-- unlink_pointer: remove a social identity's pointer if it points at this customer
-- (the first step of Unlink; the entry follows).
-- KEYS[1] the identity's pointer; ARGV[1] customer id.
-- Returns 1 removed, 0 no pointer, -1 the pointer is another customer's (kept).
local cur = redis.call('GET', KEYS[1])
if not cur then
  return 0
end
if cur ~= ARGV[1] then
  return -1
end
redis.call('DEL', KEYS[1])
return 1
