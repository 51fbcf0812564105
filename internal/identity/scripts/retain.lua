-- Retention, shared by the scripts that restart a customer hash's retention (prepended in
-- Go; see retaining in retain.go). A customer's link pointers (v:{itag}:k:<ih>) and its
-- passkeys' credential index entries (w:{…}) live on other slots than its hash, so no
-- script can extend them with it: retain restarts the hash's TTL and hands Go, after the
-- script's reply, what names them, and Go extends each of them to at least the same
-- retention in one pipeline (Store.extend).
local RETAINED = false

-- retain restarts the retention (ms) of the customer hash ckey and notes what lives with
-- it elsewhere: {ckey, ms, its 'cu', then each L<ih> field and value and each passkey's
-- F<fid> field and value ("2|…"), flat}. Call it after the script's last change to the
-- hash's L and F fields.
local function retain(ckey, ms)
  redis.call('PEXPIRE', ckey, ms)
  local out = {ckey, tostring(ms), redis.call('HGET', ckey, 'cu') or ''}
  local all = redis.call('HGETALL', ckey)
  for i = 1, #all, 2 do
    local f, v = all[i], all[i + 1]
    local c = string.sub(f, 1, 1)
    if c == 'L' or (c == 'F' and string.sub(v, 1, 2) == '2|') then
      out[#out + 1] = f
      out[#out + 1] = v
    end
  end
  RETAINED = out
end
