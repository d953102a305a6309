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
