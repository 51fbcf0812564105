-- Shared by the enrollment scripts (prepended in Go). Conventions:
--   KEYS[1] is the enrollment hash "v:{ctag}:e:<id>"; every other key a script
--   touches carries the same tag (the customer's), so each script runs on one slot.
--   ARGV[1] is the time in Unix milliseconds from the service's clock: scripts never
--   read TIME, so expiry follows the stored expiry ('ex') under an injected clock.
--   Enrollment states ('st'): 1 open, 2 used, 3 dead.
local NOW = tonumber(ARGV[1])

-- is_open reports whether the enrollment exists, is open, has not expired by the
-- service clock and is of kind kd ('1' TOTP, '2' passkey).
local function is_open(key, kd)
  local st, ex, k = unpack(redis.call('HMGET', key, 'st', 'ex', 'kd'))
  return st == '1' and ex ~= false and NOW < tonumber(ex) and k == kd
end
