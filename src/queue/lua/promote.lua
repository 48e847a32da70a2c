-- Makes sure the consumer group exists (it reads from the start, so events
-- stored before it are not skipped), then moves retries now due back into
-- the stream.
-- KEYS: 1 stream, 2 retry schedule (event id scored by due time)
-- ARGV: 1 group, 2 now (ms), 3 most to move
redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(due) do
  redis.call('XADD', KEYS[1], '*', 'id', id)
  redis.call('ZREM', KEYS[2], id)
end
return #due
