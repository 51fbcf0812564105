-- erase_counters: delete the per-identity counters (package challenge: failures,
-- locks, send times, conversations) of some identities from one tag's counters hash.
-- Self-contained (no prelude).
-- KEYS[1] "v:{tag}:i"; ARGV the identity hashes whose fields go (each field starts
-- with its identity's hash).
-- Returns the number of fields deleted.
if redis.call('EXISTS', KEYS[1]) == 0 or #ARGV == 0 then
  return 0
end
local gone = {}
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  for _, ih in ipairs(ARGV) do
    if string.sub(f, 1, #ih) == ih then
      gone[#gone + 1] = f
      break
    end
  end
end
if #gone == 0 then
  return 0
end
return redis.call('HDEL', KEYS[1], unpack(gone))
