-- Appends an attempt to its event's list, which lives as long as the
-- event's record; an hour when the record is not (yet) in the log.
-- KEYS[1]: the attempts list; KEYS[2]: the record's hash.
-- ARGV[1]: the attempt (JSON); ARGV[2]: the orphan list's time to live (ms).
redis.call('RPUSH', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
