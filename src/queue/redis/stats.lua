--[[ Count the queue's entries for stats.
     Input:  no KEYS; ARGV[1] prefix, ARGV[2] now
     Output: {ready, queued}: entries due at now (in any lane), and every entry not held
             (due, waiting for a time, leased, or behind its line's head). Looks at the lanes
             with something due (P:lanes up to now, and P:q) and the destinations with holds. ]]
local p = ARGV[1]
local ready = redis.call("ZCOUNT", p .. ":q", "-inf", ARGV[2])
for _, lane in ipairs(redis.call("ZRANGEBYSCORE", p .. ":lanes", "-inf", ARGV[2])) do
  ready = ready + redis.call("ZCOUNT", p .. ":q:" .. lane, "-inf", ARGV[2])
end
local held = 0
for _, d in ipairs(redis.call("SMEMBERS", p .. ":hd")) do held = held + redis.call("SCARD", p .. ":h:" .. d) end
return {ready, redis.call("HLEN", p .. ":i") - held}
