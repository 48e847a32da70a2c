-- Stores one event, unless its route already holds max_queued undelivered
-- (pending or dead) events (0), or the event is in the store already, in
-- any state (-1: a replay of an event not yet delivered, or kept since).
-- KEYS: 1 stream, 2 pending index, 3 dead-letter stream, 4 event hash
-- ARGV: 1 max_queued, 2 event id, 3 received_at (ms), 4 request id,
--       5 headers, 6 body
if redis.call('EXISTS', KEYS[4]) == 1 then
  return -1
end
local held = redis.call('ZCARD', KEYS[2]) + redis.call('XLEN', KEYS[3])
if held >= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[4], 'state', 'pending', 'attempts', 0,
  'received_at', ARGV[3], 'next_attempt_at', ARGV[3],
  'request_id', ARGV[4], 'headers', ARGV[5], 'body', ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('XADD', KEYS[1], '*', 'id', ARGV[2])
return 1
