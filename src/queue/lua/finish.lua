-- Records the outcome of one attempt, once: only the caller whose XACK takes
-- the entry off the group's pending list applies it. (An entry reclaimed
-- from a slow instance is finished by whichever attempt ends first.)
-- KEYS: 1 stream, 2 pending index, 3 retry schedule, 4 dead-letter stream,
--       5 delivered index, 6 event hash
-- ARGV: 1 group, 2 stream entry, 3 event id, 4 outcome (delivered, kept,
--       retry, deferred, dead), 5 now (ms), 6 next attempt (ms), 7 error
-- `deferred` is a retry whose attempt is not counted (the destination's
-- circuit breaker is open).
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('XDEL', KEYS[1], ARGV[2])
if not redis.call('ZSCORE', KEYS[2], ARGV[3]) or redis.call('EXISTS', KEYS[6]) == 0 then
  return 0 -- purged meanwhile
end
local outcome, id, now = ARGV[4], ARGV[3], ARGV[5]
if outcome == 'deferred' then
  redis.call('HSET', KEYS[6], 'last_error', ARGV[7], 'next_attempt_at', ARGV[6])
  redis.call('ZADD', KEYS[3], ARGV[6], id)
  return 1
end
local attempts = redis.call('HINCRBY', KEYS[6], 'attempts', 1)
if outcome == 'retry' then
  redis.call('HSET', KEYS[6], 'last_error', ARGV[7], 'next_attempt_at', ARGV[6])
  redis.call('ZADD', KEYS[3], ARGV[6], id)
  return 1
end
redis.call('ZREM', KEYS[2], id)
if outcome == 'dead' then
  redis.call('HSET', KEYS[6], 'state', 'dead', 'last_error', ARGV[7], 'finished_at', now)
  redis.call('XADD', KEYS[4], '*', 'id', id, 'attempts', attempts, 'error', ARGV[7])
elseif outcome == 'kept' then
  redis.call('HSET', KEYS[6], 'state', 'delivered', 'finished_at', now)
  redis.call('HDEL', KEYS[6], 'last_error')
  redis.call('ZADD', KEYS[5], now, id)
else
  redis.call('DEL', KEYS[6])
end
return 1
