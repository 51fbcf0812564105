-- refused: write to the audit trail that a send limit refused a start or a resend
-- (nothing was sent). It changes nothing else and runs in the pipeline that takes
-- the refused send back from the other limits, so it costs no round trip.
-- KEYS[1] the verification's record (its tag names the stream; a refused start
-- has none), KEYS[2] the customer's hash when the customer is known.
-- ARGV[3] client, ARGV[4] agent, ARGV[5] method name, ARGV[6] the identity's keyed
-- hash, ARGV[7] the customer's keyed hash ('' when none), ARGV[8] the limit's
-- scope, ARGV[9] the masked destination.
local ip, up = ARGV[6], ''
if ARGV[7] ~= '' then
  ip, up = pseudonyms(KEYS[2], ARGV[6], ARGV[7])
end
audit(KEYS[1], 'send_failed', {'c', ARGV[3], 'a', ARGV[4], 'm', ARGV[5], 'i', ip, 'u', up,
  'o', 'limited', 'r', ARGV[8], 'd', ARGV[9]})
return 1
