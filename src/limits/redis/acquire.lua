--[[ Take a slot and a token for a destination, or say how long to wait. Times are Redis's
     own clock (TIME), so workers on machines whose clocks differ share one schedule.
     Input:  ARGV[1] prefix, ARGV[2] destination id, ARGV[3] lease name (unique per acquire),
             ARGV[4] lease length in ms, ARGV[5] concurrency ("" for none), ARGV[6] rate per
             second ("" for none), ARGV[7] GCRA's tolerance in ms (how far ahead of its
             schedule a request may go: the burst), ARGV[8] how far ahead a grant may be in ms
             (its request then waits until its place), ARGV[9] ms to wait at most when the
             slots are full.
     Keys:   P:lim:c:<id>  zset  lease → when it ends (ms); ended ones are pruned here
             P:lim:r:<id>  string  GCRA's theoretical arrival time of the next request (ms)
             Both expire once nothing in them matters any more (idle destinations leave nothing).
     Output: {1, sendInMs, lease} granted with a slot; {1, sendInMs} granted, no slot taken (no
             concurrency limit): send in sendInMs (0: now). {0, ms, "c"} the slots are full;
             {0, ms, "r"} the rate says ask again in ms. A refusal changes nothing. ]]
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
    local wait = math.min(tonumber(ARGV[9]), math.ceil(tonumber(first[2]) - now))
    return {0, math.max(1, wait), "c"}
  end
end
local sendIn = 0
if rate then
  local key = p .. ":lim:r:" .. id
  local tat = tonumber(redis.call("GET", key)) or now
  if tat < now then tat = now end
  local wait = tat - tonumber(ARGV[7]) - now
  local ahead = tonumber(ARGV[8])
  if wait > ahead then
    return {0, math.max(1, math.ceil(wait - ahead)), "r"}
  end
  if wait > 0 then sendIn = math.ceil(wait) end
  tat = tat + 1000 / rate
  redis.call("SET", key, string.format("%.3f", tat), "PX", math.ceil(tat - now) + 1000)
end
if not concurrency then return {1, sendIn} end
redis.call("ZADD", slots, string.format("%.3f", now + sendIn + tonumber(ARGV[4])), ARGV[3])
local last = redis.call("ZRANGE", slots, -1, -1, "WITHSCORES")
redis.call("PEXPIRE", slots, math.ceil(tonumber(last[2]) - now) + 1000)
return {1, sendIn, ARGV[3]}
