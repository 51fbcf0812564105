-- Shared by every script (prepended in Go). Conventions:
--   KEYS[1] is the verification record (a hash); every key a script touches carries
--   the same hash tag, so each script runs on one slot on standalone, Sentinel and Cluster.
--   Times are Unix milliseconds from the service's clock, passed in ARGV: scripts never
--   read TIME, so expiry follows the stored expiry under an injected clock.
--   State codes: 1 pending, 2 verified, 3 failed, 4 expired, 5 canceled.
--   Publishing uses the command in PUBCMD (PUBLISH, or SPUBLISH on Cluster) on the
--   channel KEYS[1]..':w'; the payload is the new state, watchers re-read the record.
local PUBCMD = ARGV[1]
local NOW = tonumber(ARGV[2])

local function publish(key, state)
  redis.call(PUBCMD, key .. ':w', state)
end

-- expire_if_due ends a pending verification whose stored expiry has passed.
-- It returns true when the verification is (now) expired.
local function expire_if_due(key)
  local st, ex = unpack(redis.call('HMGET', key, 'st', 'ex'))
  if st == '1' and NOW >= tonumber(ex) then
    redis.call('HSET', key, 'st', '4')
    publish(key, '4')
    return true
  end
  return st == '4'
end

-- finish moves a pending verification to a terminal state.
local function finish(key, state, reason)
  redis.call('HSET', key, 'st', state, 'rs', reason or '0', 'ft', NOW)
  publish(key, state)
end
