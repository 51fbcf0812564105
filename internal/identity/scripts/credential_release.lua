-- credential_release: give a credential id's claim up, only if this factor holds it.
-- KEYS[1] "w:{<credential hash>}"; ARGV[1] "<ctag>:<ch>:<fid>".
-- Returns 1 when released, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
