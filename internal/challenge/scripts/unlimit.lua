-- unlimit: take back a send a denied start had counted. KEYS[1] window, ARGV[1] send id.
return redis.call('ZREM', KEYS[1], ARGV[1])
