-- Puts one dead letter back into the stream with a fresh retry schedule.
-- KEYS: 1 dead-letter stream, 2 pending index, 3 stream, 4 event hash
-- ARGV: 1 dead-letter entry, 2 event id, 3 now (ms)
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then
  return 0
end
local received_at = redis.call('HGET', KEYS[4], 'received_at')
if not received_at then
  return 0 -- purged meanwhile
end
redis.call('HSET', KEYS[4], 'state', 'pending', 'attempts', 0, 'next_attempt_at', ARGV[3])
redis.call('HDEL', KEYS[4], 'last_error', 'finished_at')
redis.call('ZADD', KEYS[2], received_at, ARGV[2])
redis.call('XADD', KEYS[3], '*', 'id', ARGV[2])
return 1
