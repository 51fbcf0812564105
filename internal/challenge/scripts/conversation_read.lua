-- conversation_read: read a conversation pointer (conversation.lua). Read only.
-- KEYS[1] the bucket; ARGV[1] the field. Returns {value or ''}.
return {redis.call('HGET', KEYS[1], ARGV[1]) or ''}
