--- Joining many strings into one with as little allocation as Lua allows.
---
--- Why not `table.concat`: it grows its buffer by doubling, so joining a megabyte allocates
--- about five (buffers of 16 KiB ... 2 MiB, then the result), and the garbage collector's
--- work is paid in proportion to what is allocated, in the same tick: measured in the
--- emulator, `table.concat` of 144 pieces (1 MB) took 0.9-1.6 ms, a chain of `..` 0.4 ms,
--- and a chain of three pre-joined groups 0.13-0.25 ms. One `a .. b .. c ...` expression is a
--- single VM instruction that sizes its buffer once for all its operands, so the result costs
--- one buffer and one string. `chain` joins up to WIDTH strings that way; `strings` joins any
--- number, WIDTH at a time; `groups` lets a receiver join pieces as they arrive (in earlier
--- ticks), so that the final join is a single chain, however many pieces there are.

local join = {}

--- Operands of one chain (the expression below has this many terms; a Lua function has at
--- most 250 registers).
local WIDTH = 64
join.WIDTH = WIDTH

--- `t[i] .. t[i+1] .. ... .. t[i+WIDTH-1]`, missing entries (beyond the list's end) empty.
---@param t string[]
---@param i number
---@return string
local function chain(t, i)
  return (t[i] or "") .. (t[i + 1] or "") .. (t[i + 2] or "") .. (t[i + 3] or "")
    .. (t[i + 4] or "") .. (t[i + 5] or "") .. (t[i + 6] or "") .. (t[i + 7] or "")
    .. (t[i + 8] or "") .. (t[i + 9] or "") .. (t[i + 10] or "") .. (t[i + 11] or "")
    .. (t[i + 12] or "") .. (t[i + 13] or "") .. (t[i + 14] or "") .. (t[i + 15] or "")
    .. (t[i + 16] or "") .. (t[i + 17] or "") .. (t[i + 18] or "") .. (t[i + 19] or "")
    .. (t[i + 20] or "") .. (t[i + 21] or "") .. (t[i + 22] or "") .. (t[i + 23] or "")
    .. (t[i + 24] or "") .. (t[i + 25] or "") .. (t[i + 26] or "") .. (t[i + 27] or "")
    .. (t[i + 28] or "") .. (t[i + 29] or "") .. (t[i + 30] or "") .. (t[i + 31] or "")
    .. (t[i + 32] or "") .. (t[i + 33] or "") .. (t[i + 34] or "") .. (t[i + 35] or "")
    .. (t[i + 36] or "") .. (t[i + 37] or "") .. (t[i + 38] or "") .. (t[i + 39] or "")
    .. (t[i + 40] or "") .. (t[i + 41] or "") .. (t[i + 42] or "") .. (t[i + 43] or "")
    .. (t[i + 44] or "") .. (t[i + 45] or "") .. (t[i + 46] or "") .. (t[i + 47] or "")
    .. (t[i + 48] or "") .. (t[i + 49] or "") .. (t[i + 50] or "") .. (t[i + 51] or "")
    .. (t[i + 52] or "") .. (t[i + 53] or "") .. (t[i + 54] or "") .. (t[i + 55] or "")
    .. (t[i + 56] or "") .. (t[i + 57] or "") .. (t[i + 58] or "") .. (t[i + 59] or "")
    .. (t[i + 60] or "") .. (t[i + 61] or "") .. (t[i + 62] or "") .. (t[i + 63] or "")
end

--- Joins `list[1 ..= n]` (strings; `n` defaults to `#list`).
---@param list string[]
---@param n number|nil
---@return string
function join.strings(list, n)
  n = n or #list
  if n == 0 then return "" end
  if n == 1 then return list[1] end
  local level = list
  if n < #list then
    level = {}
    for i = 1, n do level[i] = list[i] end
  end
  while n > WIDTH do
    local up = {}
    for i = 1, n, WIDTH do up[#up + 1] = chain(level, i) end
    level, n = up, #up
  end
  return chain(level, 1)
end

--- A payload built from pieces that arrive in order, so that its final join is one chain:
--- pieces wait in `pend` until `per` of them are there, then become one string of `parts`.
--- With at most WIDTH - 1 pieces in all, nothing is joined before the end. Plain data.
---@class InvsyncJoinGroups
---@field parts string[] joined groups (or single pieces), in order
---@field pend string[] pieces not yet joined, in order
---@field per number pieces per group

--- New groups for a payload that arrives in `count` pieces.
---@param count number
---@return InvsyncJoinGroups
function join.groups(count)
  local per = math.ceil(count / (WIDTH - 1))
  if per < 1 then per = 1 end
  return { parts = {}, pend = {}, per = per }
end

--- Adds the next piece. Returns the bytes joined now (the caller's cost), 0 if none.
---@param g InvsyncJoinGroups
---@param piece string
---@return number
function join.add(g, piece)
  local pend = g.pend
  pend[#pend + 1] = piece
  if #pend < g.per then return 0 end
  g.pend = {}
  if g.per == 1 then
    g.parts[#g.parts + 1] = piece
    return 0
  end
  local joined = join.strings(pend)
  g.parts[#g.parts + 1] = joined
  return #joined
end

--- The whole payload.
---@param g InvsyncJoinGroups
---@return string
function join.finish(g)
  local all = {}
  for i = 1, #g.parts do all[i] = g.parts[i] end
  local pend = g.pend
  if #all + #pend > WIDTH then
    all[#all + 1] = join.strings(pend)
  else
    for i = 1, #pend do all[#all + 1] = pend[i] end
  end
  return join.strings(all)
end

return join
