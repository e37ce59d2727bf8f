--- Bit operations without `bit32`, for Lua 5.2, 5.4 and Luau alike.
---
--- Hot paths never call these: they use `bits.xor_table()` (a 256 x 256 table of byte xors)
--- inline, fetched once per call.
--- The 32-bit helpers are for cold code (CRC combination). They use `bit32` when the Lua has
--- it (Factorio's 5.2, Luau) and plain arithmetic otherwise (5.4); both give identical
--- results, so the choice can never cause a desync.

local floor = math.floor

local bits = {}

--- XOR[a][b] == a xor b for bytes a, b in 0..255. Built by doubling: the rows for
--- a in [p, 2p) are the rows for a - p with bit p of the result flipped.
---@return table
local function build_xor()
  local XOR = {}
  local row0 = {}
  for b = 0, 255 do row0[b] = b end
  XOR[0] = row0
  local p = 1
  while p < 256 do
    for a = p, 2 * p - 1 do
      local src, row = XOR[a - p], {}
      for b = 0, 255 do
        local v = src[b]
        if floor(b / p) % 2 == 1 then row[b] = v - p else row[b] = v + p end
      end
      XOR[a] = row
    end
    p = 2 * p
  end
  return XOR
end

-- Built on first use: with `bit32` (the game's Lua) nothing needs it but the tests of the
-- table path, and the 256 tables of 256 entries (about 1 MB) would otherwise stay in the heap,
-- for the collector to traverse in every cycle. Derived data, the same on every peer.
local XOR

--- The byte xor table (see `build_xor`), built on the first call.
---@return table
function bits.xor_table()
  if not XOR then XOR = build_xor() end
  return XOR
end

local bit32lib = rawget(_G, "bit32")

--- a xor b for 32-bit unsigned numbers.
---@param a number
---@param b number
---@return number
local bxor32
if bit32lib then
  bxor32 = bit32lib.bxor
else
  XOR = build_xor()
  bxor32 = function(a, b)
    local a0, b0 = a % 256, b % 256
    a, b = (a - a0) / 256, (b - b0) / 256
    local a1, b1 = a % 256, b % 256
    a, b = (a - a1) / 256, (b - b1) / 256
    local a2, b2 = a % 256, b % 256
    a, b = (a - a2) / 256, (b - b2) / 256
    return XOR[a0][b0] + XOR[a1][b1] * 256 + XOR[a2][b2] * 65536 + XOR[a % 256][b % 256] * 16777216
  end
end
bits.bxor32 = bxor32

return bits
