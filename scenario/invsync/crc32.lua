--- CRC-32 (ISO-HDLC, the one of zlib and PNG) in pure Lua, with a fast path for `bit32`.
---
--- Why hand-written: Factorio offers no native CRC, and the usual Lua CRC libraries call
--- `bit32` three times per byte (about 3 MB/s). Two paths, chosen once at load, with
--- identical results (so the choice can never cause a desync):
---
--- * With `bit32` (Factorio's Lua 5.2, Luau): slice-by-16. Sixteen bytes come from one
---   `string.byte(s, i, i + 15)` call; the register is xored with the first four in one
---   `bit32.bxor`, and the next register is ONE 16-argument `bit32.bxor` of sixteen lookups in
---   precomputed 32-bit tables. Three C calls per 16 bytes: about 59 MB/s on PUC Lua 5.2
---   (slice-by-8, three C calls per 8 bytes, made 43 MB/s; the eight more tables take 32 KiB).
--- * Without it (Lua 5.4): the 32-bit register is kept as four byte-sized locals and every
---   xor is a lookup in a 256 x 256 table (`bits.xor_table()`), so a byte costs nine table reads and
---   no function call; input is read 16 bytes per `string.byte` call (about 13 MB/s).
---
--- Values are plain numbers 0 ..= 0xFFFFFFFF in the usual finalised form, so
--- `update(update(0, a), b) == update(0, a .. b)`. `combine` joins two CRCs of adjacent
--- pieces (zlib's `crc32_combine`), so a sender or receiver reads every byte once.

local bits = require("invsync.bits")

local byte, format, floor = string.byte, string.format, math.floor
local bxor32 = bits.bxor32

local crc32 = {}

local POLY = 0xEDB88320

-- T0..T3[k]: bytes 0..3 (least significant first) of the classic table entry for index k.
local T0, T1, T2, T3 = {}, {}, {}, {}
do
  for k = 0, 255 do
    local c = k
    for _ = 1, 8 do
      if c % 2 == 1 then c = bxor32((c - 1) / 2, POLY) else c = c / 2 end
    end
    local b0 = c % 256
    c = (c - b0) / 256
    local b1 = c % 256
    c = (c - b1) / 256
    local b2 = c % 256
    T0[k], T1[k], T2[k], T3[k] = b0, b1, b2, (c - b2) / 256
  end
end

--- The table path (no `bit32`): continues `crc` over bytes `i ..= j` of `s`. Exposed so that
--- tests can check both paths on a Lua that has `bit32`.
---@param crc number
---@param s string
---@param i number|nil first byte, default 1
---@param j number|nil last byte, default #s
---@return number
function crc32.update_tables(crc, s, i, j)
  i = i or 1
  j = j or #s
  -- register = crc xor 0xFFFFFFFF, one byte per local (c0 least significant)
  local c0 = crc % 256
  crc = (crc - c0) / 256
  local c1 = crc % 256
  crc = (crc - c1) / 256
  local c2 = crc % 256
  local c3 = 255 - (crc - c2) / 256
  c0, c1, c2 = 255 - c0, 255 - c1, 255 - c2
  local X, A, B, C, D = bits.xor_table(), T0, T1, T2, T3
  local k
  while i + 15 <= j do
    local b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15, b16 = byte(s, i, i + 15)
    k = X[c0][b1]; c0 = X[A[k]][c1]; c1 = X[B[k]][c2]; c2 = X[C[k]][c3]; c3 = D[k]
    k = X[c0][b2]; c0 = X[A[k]][c1]; c1 = X[B[k]][c2]; c2 = X[C[k]][c3]; c3 = D[k]
    k = X[c0][b3]; c0 = X[A[k]][c1]; c1 = X[B[k]][c2]; c2 = X[C[k]][c3]; c3 = D[k]
    k = X[c0][b4]; c0 = X[A[k]][c1]; c1 = X[B[k]][c2]; c2 = X[C[k]][c3]; c3 = D[k]
    k = X[c0][b5]; c0 = X[A[k]][c1]; c1 = X[B[k]][c2]; c2 = X[C[k]][c3]; c3 = D[k]
    k = X[c0][b6]; c0 = X[A[k]][c1]; c1 = X[B[k]][c2]; c2 = X[C[k]][c3]; c3 = D[k]
    k = X[c0][b7]; c0 = X[A[k]][c1]; c1 = X[B[k]][c2]; c2 = X[C[k]][c3]; c3 = D[k]
    k = X[c0][b8]; c0 = X[A[k]][c1]; c1 = X[B[k]][c2]; c2 = X[C[k]][c3]; c3 = D[k]
    k = X[c0][b9]; c0 = X[A[k]][c1]; c1 = X[B[k]][c2]; c2 = X[C[k]][c3]; c3 = D[k]
    k = X[c0][b10]; c0 = X[A[k]][c1]; c1 = X[B[k]][c2]; c2 = X[C[k]][c3]; c3 = D[k]
    k = X[c0][b11]; c0 = X[A[k]][c1]; c1 = X[B[k]][c2]; c2 = X[C[k]][c3]; c3 = D[k]
    k = X[c0][b12]; c0 = X[A[k]][c1]; c1 = X[B[k]][c2]; c2 = X[C[k]][c3]; c3 = D[k]
    k = X[c0][b13]; c0 = X[A[k]][c1]; c1 = X[B[k]][c2]; c2 = X[C[k]][c3]; c3 = D[k]
    k = X[c0][b14]; c0 = X[A[k]][c1]; c1 = X[B[k]][c2]; c2 = X[C[k]][c3]; c3 = D[k]
    k = X[c0][b15]; c0 = X[A[k]][c1]; c1 = X[B[k]][c2]; c2 = X[C[k]][c3]; c3 = D[k]
    k = X[c0][b16]; c0 = X[A[k]][c1]; c1 = X[B[k]][c2]; c2 = X[C[k]][c3]; c3 = D[k]
    i = i + 16
  end
  while i <= j do
    k = X[c0][byte(s, i)]; c0 = X[A[k]][c1]; c1 = X[B[k]][c2]; c2 = X[C[k]][c3]; c3 = D[k]
    i = i + 1
  end
  return (255 - c3) * 16777216 + (255 - c2) * 65536 + (255 - c1) * 256 + (255 - c0)
end

local bit32lib = rawget(_G, "bit32")

--- The slice-by-16 tables: S[n][k] is the CRC register after feeding byte k followed by n
--- zero bytes (S[0] is the classic table), as 32-bit numbers. Built only when `bit32` exists.
local S
if bit32lib then
  local bxor = bit32lib.bxor
  S = {}
  S[0] = {}
  for k = 0, 255 do S[0][k] = T0[k] + T1[k] * 256 + T2[k] * 65536 + T3[k] * 16777216 end
  for n = 1, 15 do
    local prev, cur = S[n - 1], {}
    for k = 0, 255 do
      local v = prev[k]
      local low = v % 256
      cur[k] = bxor((v - low) / 256, S[0][low])
    end
    S[n] = cur
  end
end

--- The `bit32` path (slice-by-16): continues `crc` over bytes `i ..= j` of `s`. Nil when the
--- Lua has no `bit32`.
---@type (fun(crc: number, s: string, i: number|nil, j: number|nil): number)|nil
crc32.update_bit32 = nil
if bit32lib then
  local bxor = bit32lib.bxor
  crc32.update_bit32 = function(crc, s, i, j)
    i = i or 1
    j = j or #s
    local A0, A1, A2, A3, A4, A5, A6, A7 = S[0], S[1], S[2], S[3], S[4], S[5], S[6], S[7]
    local A8, A9, A10, A11, A12, A13, A14, A15 = S[8], S[9], S[10], S[11], S[12], S[13], S[14], S[15]
    local r = 4294967295 - crc -- the register: crc xor 0xFFFFFFFF
    while i + 15 <= j do
      local b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15, b16 = byte(s, i, i + 15)
      local x = bxor(r, b1 + b2 * 256 + b3 * 65536 + b4 * 16777216)
      local x0 = x % 256
      x = (x - x0) / 256
      local x1 = x % 256
      x = (x - x1) / 256
      local x2 = x % 256
      r = bxor(A15[x0], A14[x1], A13[x2], A12[(x - x2) / 256], A11[b5], A10[b6], A9[b7], A8[b8],
        A7[b9], A6[b10], A5[b11], A4[b12], A3[b13], A2[b14], A1[b15], A0[b16])
      i = i + 16
    end
    while i <= j do
      local low = r % 256
      r = bxor((r - low) / 256, A0[bxor(low, byte(s, i))])
      i = i + 1
    end
    return 4294967295 - r
  end
end

--- Continues `crc` (a finalised CRC-32, 0 for none) over bytes `i ..= j` of `s`: the `bit32`
--- path when the Lua has it, the table path otherwise.
---@param crc number
---@param s string
---@param i number|nil first byte, default 1
---@param j number|nil last byte, default #s
---@return number
crc32.update = crc32.update_bit32 or crc32.update_tables

--- CRC-32 of bytes `i ..= j` of `s` (whole string by default).
---@param s string
---@param i number|nil
---@param j number|nil
---@return number
function crc32.of(s, i, j)
  return crc32.update(0, s, i, j)
end

--- a(x) * b(x) modulo the CRC polynomial, both in reflected bit order (zlib's multmodp).
---@param a number
---@param b number
---@return number
local function multmodp(a, b)
  local p = 0
  local m = 2147483648
  while true do
    local r = a % (2 * m)
    if r >= m then
      p = bxor32(p, b)
      if r - m == 0 then break end
    end
    m = m / 2
    if m < 1 then break end
    if b % 2 == 1 then b = bxor32((b - 1) / 2, POLY) else b = b / 2 end
  end
  return p
end

-- X2N[k] = x^(2^k) modulo the polynomial, for k = 0 .. 31 (zlib's x2n_table).
local X2N = {}
do
  local p = 1073741824 -- x^1
  X2N[0] = p
  for k = 1, 31 do
    p = multmodp(p, p)
    X2N[k] = p
  end
end

-- Recently used operators by length. Derived data only (dropping it changes no result), so
-- it may live in a module local; most chunks of a message have the same length.
local op_cache, op_cache_n = {}, 0
-- x^(8 lo) and x^(8 * 256 hi) for lo, hi < 256, filled as needed (derived data as well): an
-- operator for a length under 64 KiB is then one product of two of them, not up to 16.
local LO_OPS, HI_OPS = {}, {}

--- x^(8 n) mod P, one product per set bit of n.
local function shift_bits(n)
  local p = 2147483648 -- x^0
  local k = 3
  while n > 0 do
    local bit = n % 2
    if bit == 1 then p = multmodp(X2N[k % 32], p) end
    n = (n - bit) / 2
    k = k + 1
  end
  return p
end

--- The operator that shifts a CRC over `len` zero bytes (x^(8 len) mod P), for `combine_op`.
--- Under 64 KiB (every chunk of a frame) it costs one polynomial product once the two
--- 256-entry tables hold its halves; longer lengths cost about popcount(len) products.
--- Results are cached.
---@param len number bytes, 0 ..= 2^53 - 1
---@return number
function crc32.shift_op(len)
  local cached = op_cache[len]
  if cached then return cached end
  local p
  if len < 65536 then
    local lo = len % 256
    local hi = (len - lo) / 256
    local a = LO_OPS[lo]
    if not a then
      a = shift_bits(lo)
      LO_OPS[lo] = a
    end
    local b = HI_OPS[hi]
    if not b then
      b = shift_bits(hi * 256)
      HI_OPS[hi] = b
    end
    p = multmodp(a, b)
  else
    p = shift_bits(len)
  end
  if op_cache_n >= 256 then op_cache, op_cache_n = {}, 0 end
  op_cache[len] = p
  op_cache_n = op_cache_n + 1
  return p
end

--- CRC of `A .. B` from `crc1` = CRC(A), `crc2` = CRC(B) and `op` = shift_op(#B).
---@param crc1 number
---@param crc2 number
---@param op number
---@return number
function crc32.combine_op(crc1, crc2, op)
  return bxor32(multmodp(op, crc1), crc2)
end

--- CRC of `A .. B` from CRC(A), CRC(B) and #B (zlib's crc32_combine).
---@param crc1 number
---@param crc2 number
---@param len2 number
---@return number
function crc32.combine(crc1, crc2, len2)
  return bxor32(multmodp(crc32.shift_op(len2), crc1), crc2)
end

--- The 8 lowercase hex digits the protocol writes.
---@param crc number
---@return string
function crc32.hex(crc)
  return format("%08x", crc)
end

--- Parses 8 lowercase hex digits (as validated by frame.lua) into a number.
---@param hex string
---@return number
function crc32.from_hex(hex)
  local v = tonumber(hex, 16)
  if v then v = floor(v) end
  return v
end

return crc32
