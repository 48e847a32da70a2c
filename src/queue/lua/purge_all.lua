-- Takes every event of the route off its indexes and empties its stream, in
-- one step: an event stored meanwhile is either all gone or all kept.
-- Returns the ids taken, whose hashes the caller deletes; an attempt that
-- ends in between finds its id no longer pending and records nothing.
-- KEYS: 1 pending index, 2 retry schedule, 3 delivered index, 4 stream
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  table.insert(ids, id)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('XTRIM', KEYS[4], 'MAXLEN', 0)
return ids
