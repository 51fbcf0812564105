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

-- is_bound reports whether bb (the keyed hash of the browser asking) is the browser
-- the enrollment is bound to ('bb'); an enrollment of a client with the may_enroll
-- grant is bound to none.
local function is_bound(key, bb)
  local want = redis.call('HGET', key, 'bb')
  return not want or want == '' or want == bb
end

-- has_factor reports whether the customer hash ckey holds a factor that a
-- verification of the enrolling client can use: one enrolled through a client in
-- trust ('*' for every client, else '|a|b|', the enrolling client included; see
-- package challenge's trusts). A factor another, untrusted client enrolled is not
-- this client's customer's factor: it can neither prove to this client nor block its
-- customer's first factor. A factor value is "<kind>|<created>|<client>|<label>|..."
-- (Factor.Encode), or without the client when stored before factors recorded it.
local function has_factor(ckey, trust)
  local all = redis.call('HGETALL', ckey)
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 1) == 'F' then
      local rest = string.match(all[i + 1], '^%d|%d+|(.*)$')
      local client = rest and string.match(rest, '^([^|]*)|[^|]*|') or ''
      if trust == '*' or (client ~= '' and string.find(trust, '|' .. client .. '|', 1, true)) then
        return true
      end
    end
  end
  return false
end

-- on_hold tells whether the customer hash ckey refuses a first factor after a LOW
-- proof: a customer reported a factor as not hers (report_factor), and until 'rh'
-- (ms) only a client with may_enroll can enroll her a factor.
local function on_hold(ckey)
  return NOW < tonumber(redis.call('HGET', ckey, 'rh') or '0')
end

-- report_link records the report link of a first factor fid, named in the notice
-- sent to the contact its LOW proof proved (report.go): the customer hash and the
-- client come from the enrollment enr.
local function report_link(key, enr, fid, ttl)
  local ch, cl, kd, lo = unpack(redis.call('HMGET', enr, 'ch', 'cl', 'kd', 'lo'))
  redis.call('HSET', key, 'st', '1', 'ch', ch, 'cl', cl or '', 'kd', kd, 'fi', fid, 'lo', lo or 'en', 'ct', NOW)
  redis.call('PEXPIRE', key, ttl)
end
