--[[ Take a slot and a token for a destination, or say how long to wait. Times are Redis's
     own clock (TIME), so workers on machines whose clocks differ share one schedule.
     Input:  ARGV[1] prefix, ARGV[2] destination id, ARGV[3] lease name (unique per acquire),
             ARGV[4] lease length in ms, ARGV[5] concurrency ("" for none), ARGV[6] rate per
             second ("" for none), ARGV[7] how far ahead of its schedule a request may go,
             in ms (GCRA's tolerance: the burst's and the timer slack's), ARGV[8] ms to wait
             at most when the slots are full.
     Keys:   P:lim:c:<id>  zset  lease → when it ends (ms); ended ones are pruned here
             P:lim:r:<id>  string  GCRA's theoretical arrival time of the next request (ms)
             Both expire once nothing in them matters any more (idle destinations leave nothing).
     Output: {1, lease} granted with a slot; {1} granted, no slot taken (no concurrency limit);
             {0, ms, "c"} the slots are full; {0, ms, "r"} the rate says wait. A refusal
             changes nothing. ]]
local p = ARGV[1]
local id = ARGV[2]
local concurrency = tonumber(ARGV[5])
local rate = tonumber(ARGV[6])
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local slots = p .. ":lim:c:" .. id
if concurrency then
  redis.call("ZREMRANGEBYSCORE", slots, "-inf", string.format("%.3f", now))
  if redis.call("ZCARD", slots) >= concurrency then
    local first = redis.call("ZRANGE", slots, 0, 0, "WITHSCORES")
    local wait = math.min(tonumber(ARGV[8]), math.ceil(tonumber(first[2]) - now))
    return {0, math.max(1, wait), "c"}
  end
end
if rate then
  local key = p .. ":lim:r:" .. id
  local interval = 1000 / rate
  local tolerance = tonumber(ARGV[7]) or 0
  local tat = tonumber(redis.call("GET", key)) or now
  if tat < now then tat = now end
  if tat - now > tolerance then
    return {0, math.max(1, math.ceil(tat - tolerance - now)), "r"}
  end
  tat = tat + interval
  redis.call("SET", key, string.format("%.3f", tat), "PX", math.ceil(tat - now) + 1000)
end
if not concurrency then return {1} end
redis.call("ZADD", slots, string.format("%.3f", now + tonumber(ARGV[4])), ARGV[3])
local last = redis.call("ZRANGE", slots, -1, -1, "WITHSCORES")
redis.call("PEXPIRE", slots, math.ceil(tonumber(last[2]) - now) + 1000)
return {1, ARGV[3]}
