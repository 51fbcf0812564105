-- handover_conversation: the client and the conversation of verification record
-- KEYS[1], which name its conversation's pointer (conversation.go), for the index
-- entry of a phone handover's call code (handover.go). Read only.
-- Returns {client or '', conversation id or ''}.
local CONVERSATION_FIELD = 9
local rec = KEYS[1]
return {redis.call('HGET', rec, 'cl') or '', packed_field(rec, CONVERSATION_FIELD) or ''}
