-- credential_claim: claim a passkey credential id for one customer's factor. Self-
-- contained (no prelude): it runs on the credential index key's own slot.
-- KEYS[1] "w:{<credential hash>}"; ARGV[1] "<ctag>:<ch>:<fid>", ARGV[2] retention ms.
-- Returns 1 when claimed (or already claimed by this same factor: a retried call),
-- 0 when another factor holds it.
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
