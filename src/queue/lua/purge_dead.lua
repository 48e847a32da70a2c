-- Deletes one dead letter and its event, unless a replay took it first.
-- KEYS: 1 dead-letter stream, 2 event hash
-- ARGV: 1 dead-letter entry
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then
  return 0
end
return redis.call('DEL', KEYS[2])
