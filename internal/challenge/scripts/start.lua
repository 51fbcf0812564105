-- start: record a new verification, or answer a repeated request. It changes nothing
-- outside its own record and the identity's send log and start cells, so a start
-- that a send limit (checked beside it, on other slots) refuses can be undone by
-- abort.lua; the conversation's previous verification is superseded by Go (conversation.go).
-- KEYS[1] record, KEYS[2] identity hash, KEYS[3] the customer's hash (package
-- identity) when the customer is known, else the identity's link to a customer
-- (its pointer: the customer and the client that made the link)
-- ARGV[3] fingerprint of the request, ARGV[4] this call's token, ARGV[5] record TTL ms,
-- ARGV[6] send lease ms, ARGV[7] enrolled methods the request accepts ('4' TOTP,
-- '5' WebAuthn, in order), ARGV[8] verification id's body (after '<tag>-'), ARGV[9] code hash,
-- ARGV[10] link hash, ARGV[11] identity hash IH, ARGV[12] the delivered method
-- ('0': nothing to send), ARGV[13] the identity's limits in ARGV[14] ms: 'sends per
-- client,sends of all clients,starts that send nothing per client,of all clients',
-- ARGV[15] unused (a conversation's verification is its own pointer's, conversation.go),
-- ARGV[16] key prefix of the tag's records ('v:{tag}:tag-'),
-- ARGV[17] a fresh pseudonym key for a customer that has none, ARGV[18] the customer
-- data's retention ms, ARGV[19] the masked destination (for the audit trail),
-- ARGV[20] the failure window ms, ARGV[21] the clients whose enrollments the client
-- trusts (prelude: trusts), ARGV[22..] field, value pairs of the new record.
-- Returns {'created', em, linked customer[, 'nosend']} | {'exists'} | {'resend'} | {'reused'} | {'locked'}
-- (a refusal of an existing verification's new send adds a third element, 'exists')
--       | {'limited', ms} | {'none'} | {'quiet'} | {'erasing'}; em lists the enrolled methods offered: those
-- the request accepts for which the customer holds a factor enrolled before now,
-- through a client the requesting client trusts, and whose family is not locked for
-- the identity at this client.
-- go-redis resends a script whose reply was lost: a replay of the same call (same
-- token, stored as 'tk' by the send claim) answers what the call first answered, so
-- the call still sends; a client's repeat (another token) answers 'exists'.
local rec, ikey, ih, fam = KEYS[1], KEYS[2], ARGV[11], ARGV[12]
local sends, all_sends, starts, all_starts = numbers(ARGV[13], 4)
-- ct: the client's tag among the counters (the record's keyed 'kt'); ck: the
-- customer's hash when the customer is known, whose counters the enrolled families
-- and the starts that send nothing count against (prelude: counter_subject).
local ct, cl, ck, rr
for i = 22, NARGV - 1, 2 do
  if ARGV[i] == 'rr' then
    -- Why the risk hook refused SMS (risk.go): the 'started' event says so.
    rr = ARGV[i + 1]
  elseif ARGV[i] == 'kt' then
    ct = ARGV[i + 1]
  elseif ARGV[i] == 'cl' then
    cl = ARGV[i + 1]
  elseif ARGV[i] == 'ck' then
    ck = ARGV[i + 1]
  end
end
ct = ct or client_tag(ih, cl)
local quiet = counter_subject(ck, ih, '4')

-- claim_send checks the identity's lock and send window before any message leaves.
local function claim_send()
  if locked_for(ikey, ih, ct, fam) > 0 then
    return {'locked'}
  end
  local wait = take_send(ikey, ih, ct, sends, all_sends, tonumber(ARGV[14]))
  if wait > 0 then
    return {'limited', wait}
  end
  return nil
end

if redis.call('EXISTS', rec) == 1 then
  local fp, st, dl, dt, tk, sq = unpack(redis.call('HMGET', rec, 'fp', 'st', 'dl', 'dt', 'tk', 'sq'))
  if fp ~= ARGV[3] then
    return {'reused'}
  end
  if tk == ARGV[4] and dl == '2' then
    if sq == '1' then
      -- The call's answer in full: the enrolled methods and the linked customer too.
      local em, lc = unpack(redis.call('HMGET', rec, 'em', 'lc'))
      return {'created', em or '', lc or ''}
    end
    return {'resend'}
  end
  if expire_if_due(rec) or st ~= '1' then
    return {'exists'}
  end
  -- The first call's send failed, or it died mid-send: claim a fresh send with a
  -- new secret, so the repeat delivers what the first call promised.
  if dl == '4' or (dl == '2' and NOW - tonumber(dt) >= tonumber(ARGV[6])) then
    local refused = claim_send()
    if refused then
      -- Marked: this verification exists, and keeps a conversation it holds.
      return {refused[1], refused[2] or 0, 'exists'}
    end
    redis.call('HSET', rec, 'dl', '2', 'dt', NOW, 'co', ARGV[9], 'ls', ARGV[10], 'tk', ARGV[4])
    redis.call('HINCRBY', rec, 'sq', 1)
    return {'resend'}
  end
  return {'exists'}
end

-- A customer being erased (package identity's erase_begin) gets nothing new: the
-- erasure's search must find every verification of hers.
if ck and redis.call('HGET', KEYS[3], 'e') == '1' then
  return {'erasing'}
end
-- A new verification: first drop what other identities of the tag left behind.
prune_identities(ikey, ARGV[16], tonumber(ARGV[14]), tonumber(ARGV[20]))
local em = ''
if ARGV[7] ~= '' then
  local have = {}
  local all = redis.call('HGETALL', KEYS[3])
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 1) == 'F' then
      local kind, created, client = factor_fields(all[i + 1])
      if kind and created < NOW and trusts(ARGV[21], client) then
        have[kind] = true
      end
    end
  end
  for m in string.gmatch(ARGV[7], '%d') do
    local kind = '2'
    if m == '4' then
      kind = '1'
    end
    local sj = counter_subject(ck, ih, m)
    if have[kind] and locked_for(ikey, sj, ct, m) == 0 and (sj == ih or locked_for(ikey, ih, ct, m) == 0) then
      em = em .. m
    end
  end
end
-- nosend: the identity may not be sent to now (its family is locked or its send
-- window is full), but the customer has an enrolled method: a locked or limited
-- family does not block the others, so the verification offers those alone.
-- A start that sends nothing counts in the start cells instead; past them it is
-- answered as if the customer had no enrolled method ('quiet' is told apart only
-- for the metrics), so the limit cannot tell who has one.
local nosend = false
if fam == '0' then
  if em == '' then
    return {'none'}
  end
  if take_start(ikey, quiet, ct, starts, all_starts, tonumber(ARGV[14])) > 0 then
    return {'quiet'}
  end
else
  local refused = claim_send()
  if refused and (em == '' or take_start(ikey, quiet, ct, starts, all_starts, tonumber(ARGV[14])) > 0) then
    return refused
  end
  nosend = refused ~= nil
end

redis.call('HSET', rec, unpack(ARGV, 22, NARGV))
redis.call('HSET', rec, 'tk', ARGV[4])
if nosend then
  redis.call('HDEL', rec, 'dv', 'co', 'ls', 'mn', 'dh', 'dt', 'sq')
  redis.call('HSET', rec, 'dl', '1')
  fam = '0'
end
if em ~= '' then
  redis.call('HSET', rec, 'em', em)
end
local ck = redis.call('HGET', rec, 'ck')
local linked = false
if not ck then
  -- A start that names no customer and accepts no enrolled method stays on the
  -- identity's slot; a linked customer becomes the assertion's subject when the
  -- link ("<customer id>\31<client>", or the customer id alone when made before
  -- links recorded their client: client '') was made by a client the requesting
  -- client trusts (ARGV[21]), as for factors. 'lb' keeps that client: the
  -- verification completes as hers only while the same link stands (link_stands).
  local v = redis.call('GET', KEYS[3])
  if v then
    local cu, by = string.match(v, '^([^\031]*)\031(.*)$')
    if not cu then
      cu, by = v, ''
    end
    if trusts(ARGV[21], by) then
      linked = cu
      redis.call('HSET', rec, 'lc', cu)
      if by ~= '' then
        redis.call('HSET', rec, 'lb', by)
      end
    end
  end
end
if ck and not redis.call('HGET', KEYS[3], 'pk') then
  -- The audit trail names the customer and identity by pseudonyms under the
  -- customer's own key (prelude: pseudonyms): erasing the customer deletes the key,
  -- and its entries can no longer be tied to anyone.
  redis.call('HSET', KEYS[3], 'pk', ARGV[17])
  if redis.call('PTTL', KEYS[3]) < 0 then
    redis.call('PEXPIRE', KEYS[3], ARGV[18])
  end
end
audit(rec, 'started', {'d', ARGV[19], 'r', rr and ('sms_refused:' .. rr) or nil})
redis.call('PEXPIRE', rec, ARGV[5])
keep(ikey, tonumber(ARGV[5]))
if nosend then
  return {'created', em, linked or '', 'nosend'}
end
return {'created', em, linked or ''}
