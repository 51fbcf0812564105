-- refused: write to the audit trail that a send limit refused a start or a resend
-- (nothing was sent). It changes nothing else and runs in the pipeline that takes
-- the refused send back from the other limits, so it costs no round trip.
-- go-redis resends a script whose reply was lost: the refused call's marker
-- (KEYS[3], named by its token and kept for the replay window) says its refusal is
-- written, and a replay writes nothing.
-- KEYS[1] the verification's record (its tag names the stream; a refused start
-- has none), KEYS[2] the customer's hash when the customer is known, KEYS[3] the
-- call's marker. ARGV[3] client, ARGV[4] agent, ARGV[5] method name, ARGV[6] the
-- identity's keyed hash, ARGV[7] the customer's keyed hash ('' when none), ARGV[8]
-- the limit's scope, ARGV[9] the masked destination, ARGV[10] the replay window ms.
-- Returns 1 when written, 0 for a replay.
if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[10]) then
  return 0
end
local ip, up = ARGV[6], ''
if ARGV[7] ~= '' then
  ip, up = pseudonyms(KEYS[2], ARGV[6], ARGV[7])
end
audit(KEYS[1], 'send_failed', {'c', ARGV[3], 'a', ARGV[4], 'm', ARGV[5], 'i', ip, 'u', up,
  'o', 'limited', 'r', ARGV[8], 'd', ARGV[9]})
return 1
