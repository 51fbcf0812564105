-- extend: keep a key that lives with a customer on another slot (a link pointer or a
-- passkey's credential index entry) at least as long as the customer's hash, while it
-- still holds what the customer's hash says it holds. Self-contained (no prelude).
-- KEYS[1] the key; ARGV[1] the value it must hold (the customer id, or
-- "<ctag>:<ch>:<fid>"), ARGV[2] the retention ms the customer hash was just given.
-- A link pointer holds "<customer id>\31<client>" (the client that made the link,
-- whichever it is), or the customer id alone when made before links recorded their
-- client; a credential index entry never holds \31.
-- The TTL is raised, never lowered (a key without one gets one).
-- Returns 1 when the key is the customer's, else 0 (gone, or another's: left alone).
local v = redis.call('GET', KEYS[1])
if v ~= ARGV[1] and (not v or string.sub(v, 1, #ARGV[1] + 1) ~= ARGV[1] .. '\031') then
  return 0
end
local ms = tonumber(ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 or ttl < ms then
  redis.call('PEXPIRE', KEYS[1], ms)
end
return 1
