-- erase_customer: the last step of an erasure. It deletes the customer hash — the
-- factors, the linked identities, the last TOTP step and the audit pseudonym key
-- 'pk' — and writes the erased event in the same script. Without 'pk' the
-- pseudonyms already in the audit trail can no longer be tied to the customer
-- (crypto-shredding); the event itself names no customer.
-- KEYS[1] customer hash, KEYS[2] the call's marker (ReplayKey), then the audit
-- stream. ARGV[1] now ms, ARGV[2] the client, ARGV[3] the counts
-- ("identities=…,factors=…,verifications=…,enrollment_links=…"), ARGV[4] the
-- replay window ms.
-- Every call writes an event, so each erasure request is on record, a repeat
-- included; go-redis resending this call after a lost reply is not a repeat: the
-- call's marker says its event is written. Returns 1 when the hash was deleted,
-- 0 when there was none.
local n = redis.call('DEL', KEYS[1])
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[4]) then
  audit(ARGV[1], {'k', 'erased', 'c', ARGV[2], 'o', ARGV[3]})
end
return n
