-- Drops a stream entry whose event hash is gone (purged while it waited),
-- and the event's id from the indexes, so nothing counts it any more.
-- KEYS: 1 stream, 2 pending index, 3 retry schedule, 4 event hash
-- ARGV: 1 group, 2 stream entry, 3 event id
if redis.call('EXISTS', KEYS[4]) == 1 then
  return 0 -- not an orphan after all
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[3])
return 1
