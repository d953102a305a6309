--[[ Local helpers every function of the library may call; placed at the top of the library.
     b36(n): n in length-prefixed base 36 (10 is "a" → "1a", 46 is "1a" → "21a"). Shorter
     numbers sort first, so members compare in insertion order byte by byte, which is how a
     zset orders equal scores. ]]
local function b36(n)
  local digits = "0123456789abcdefghijklmnopqrstuvwxyz"
  local s = ""
  repeat
    local d = n % 36
    s = string.sub(digits, d + 1, d + 1) .. s
    n = math.floor(n / 36)
  until n == 0
  return string.len(s) .. s
end

-- The batch a member belongs to: its first length-prefixed number.
local function batchOf(m)
  return string.sub(m, 1, 1 + tonumber(string.sub(m, 1, 1)))
end

-- The due index of a lane: P:q:<accountId> for an account's entries; P:q itself for entries
-- without an account, and for everything a ferry_v4 queued (the lane it already reads).
local function laneKey(p, lane)
  if lane == "" then return p .. ":q" end
  return p .. ":q:" .. lane
end

-- The lane of a member, and whether its batch has entries in lines: P:bl holds the batch's
-- account, followed by "\n" when it has ("" and no line when nothing is recorded). `cache` (a
-- table, batch → that value) spares a call that settles many entries of one batch a lookup each.
local function laneOf(p, m, cache)
  local batch = batchOf(m)
  local raw = cache[batch]
  if raw == nil then
    raw = redis.call("HGET", p .. ":bl", batch) or ""
    cache[batch] = raw
  end
  if string.byte(raw, -1) == 10 then return string.sub(raw, 1, -2), true end
  return raw, false
end

-- A member's own due time: its batch's createdAt (the first line of its record).
local function createdAtOf(p, m)
  local record = redis.call("HGET", p .. ":b", batchOf(m))
  return string.sub(record, 1, string.find(record, "\n", 1, true) - 1)
end

-- After a lane's due index changed: P:lanes gets its first score (when it next has something
-- due: a due time, or a lease's end), P:turn that or the last time reserve served it, whichever
-- is later, so reserve serves due lanes least recently served first. An empty lane leaves both.
-- P:q is read directly (a ferry_v4 enqueue does not keep these), so it has no entry in either;
-- its P:ls goes when it is empty.
local function touchLane(p, lane)
  if lane == "" then
    if redis.call("EXISTS", p .. ":q") == 0 then redis.call("HDEL", p .. ":ls", "") end
    return
  end
  local first = redis.call("ZRANGE", p .. ":q:" .. lane, 0, 0, "WITHSCORES")
  if first[2] == nil then
    redis.call("ZREM", p .. ":lanes", lane)
    redis.call("ZREM", p .. ":turn", lane)
    redis.call("HDEL", p .. ":ls", lane)
    return
  end
  local due = tonumber(first[2])
  local served = tonumber(redis.call("HGET", p .. ":ls", lane) or "0")
  redis.call("ZADD", p .. ":lanes", first[2], lane)
  if served > due then
    redis.call("ZADD", p .. ":turn", served, lane)
  else
    redis.call("ZADD", p .. ":turn", first[2], lane)
  end
end

-- The soonest due time (or lease end) of any lane, as a number; nil when nothing is queued.
local function firstDue(p)
  local a = redis.call("ZRANGE", p .. ":lanes", 0, 0, "WITHSCORES")[2]
  local b = redis.call("ZRANGE", p .. ":q", 0, 0, "WITHSCORES")[2]
  if a == nil then return b and tonumber(b) end
  if b == nil then return tonumber(a) end
  return math.min(tonumber(a), tonumber(b))
end

-- A line's key: P:o:<orderKey>, the members of one order key in enqueue order, head first.
local function lineKey(p, orderKey)
  return p .. ":o:" .. orderKey
end

-- A variadic command (ZADD, HSET, HDEL, ZREM…) on `key` with many arguments, in slices of 1000
-- (an even number, so score/member and field/value pairs stay together): one call per slice
-- rather than one per entry, and unpack of a huge table would overflow Lua's stack.
local function callMany(command, key, args)
  local n = #args
  for i = 1, n, 1000 do redis.call(command, key, unpack(args, i, math.min(n, i + 999))) end
end

-- HMGET of many fields, in slices of 1000; a missing field is false, as HMGET gives it to Lua.
local function hmgetMany(key, fields)
  local out = {}
  local n = #fields
  for i = 1, n, 1000 do
    local got = redis.call("HMGET", key, unpack(fields, i, math.min(n, i + 999)))
    for k = 1, #got do out[#out + 1] = got[k] end
  end
  return out
end
