--[[ Make a queued entry due at another time (a resend of a failed postback).
     Input:  no KEYS (key names are built from the prefix, ARGV[1]);
             ARGV[1] prefix, ARGV[2] postbackId, ARGV[3] at, ARGV[4] now
     Output: 1 when rescheduled, else 0: not queued, held, behind its line's head (it waits
             for the head, not for a time), or under a lease that runs at now. A lease that ran
             out is ended (its holder's settle is then stale). Publishes P:wake when the entry
             becomes the first due. ]]
local p = ARGV[1]
local m = redis.call("HGET", p .. ":i", ARGV[2])
if not m then return 0 end
local lane = laneOf(p, m, {})
local q = laneKey(p, lane)
local due = redis.call("ZSCORE", q, m)
if not due then return 0 end
local meta = redis.call("HGET", p .. ":m", m)
local a1 = string.find(meta, ",", 1, true)
local a2 = string.find(meta, ",", a1 + 1, true)
local lease = tonumber(string.sub(meta, a1 + 1, a2 - 1))
if lease % 2 == 1 then
  if tonumber(due) > tonumber(ARGV[4]) then return 0 end
  redis.call("HSET", p .. ":m", m, string.sub(meta, 1, a1) .. (lease + 1) .. string.sub(meta, a2))
end
local first = firstDue(p)
redis.call("ZADD", q, ARGV[3], m)
touchLane(p, lane)
if tonumber(ARGV[3]) < first then redis.call("PUBLISH", p .. ":wake", "1") end
return 1
