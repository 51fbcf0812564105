-- disclose: tell whether the assertion of verification KEYS[1] still stands and record the
-- disclosure decision taken on it, in one script: the revocation read and the audit event
-- cost one round trip together.
-- KEYS[1] record; ARGV[3] this call's token, ARGV[4] the client that asks, ARGV[5] what
-- would be revealed ("<data class>@<channel>"), ARGV[6] '1' when the policy allows it,
-- ARGV[7] why the policy denies it, ARGV[8] '1' when Go found the assertion revoked by
-- what this slot cannot see (a newer verification took the conversation, or the
-- assertion is of an earlier incarnation of the record).
-- Returns {'allowed'} | {'denied'} | {'revoked'}: revoked when the verification does not
-- stand (prelude: stands: not VERIFIED, revoked, completed with a factor the customer no
-- longer holds, or its record is gone; records outlive their assertions). The
-- event is disclosure_allowed, or disclosure_denied with r the policy's reason or
-- 'revoked'; c is the client that asks, not the verification's.
-- It changes no state. go-redis resends a script whose reply was lost: the record keeps
-- the token of its last disclosure call ('dq'), and a replay of that call writes no
-- second event.
local rec = KEYS[1]
local st, dq = unpack(redis.call('HMGET', rec, 'st', 'dq'))
local out, reason = 'denied', ARGV[7]
if ARGV[8] == '1' or not stands(rec) then
  out, reason = 'revoked', 'revoked'
elseif ARGV[6] == '1' then
  out, reason = 'allowed', ''
end
if dq == ARGV[3] then
  return {out}
end
local kind = 'disclosure_denied'
if out == 'allowed' then
  kind = 'disclosure_allowed'
end
audit(rec, kind, {'c', ARGV[4], 'o', ARGV[5], 'r', reason})
if st then
  -- Only an existing record: a field on a missing key would make a key without a TTL.
  redis.call('HSET', rec, 'dq', ARGV[3])
end
return {out}
