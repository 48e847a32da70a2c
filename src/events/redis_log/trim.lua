-- Trims a route's index (a sorted set of event ids, all of score 0) to its
-- retention and max_events.
-- Ids past the retention leave the index; their records expire by
-- themselves. Ids past max_events leave it with their records and
-- attempts, at most 1000 per call (a batch adds at most 1024).
-- KEYS[1]: the index.
-- ARGV[1]: the records' key base (`{prefix}log:event:`); ARGV[2]: the
-- first id kept by age; ARGV[3]: max_events; ARGV[4]: retention (ms).
-- (The records' keys are not in KEYS: a standalone Redis, as the queue.)
redis.call('ZREMRANGEBYLEX', KEYS[1], '-', '(' .. ARGV[2])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if over > 0 then
  local ids = redis.call('ZRANGE', KEYS[1], 0, math.min(over, 1000) - 1)
  for _, id in ipairs(ids) do
    redis.call('DEL', ARGV[1] .. id, ARGV[1] .. id .. ':attempts')
  end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #ids - 1)
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
