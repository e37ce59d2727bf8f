--- LZ4 block decoder in pure Lua, resumable: feed it the block in pieces as they arrive.
---
--- Why hand-written: Factorio has no native LZ4 and published Lua decoders build the output
--- byte by byte (about 7 MB/s). This one never touches single bytes of output: literals are
--- `string.sub` slices of the input and matches are `string.sub` slices of output already
--- built, so the cost is per sequence, not per byte (40-60 MB/s of output on PUC Lua 5.2).
---
--- Output layout (all plain data, so the state can live in `storage`): `blocks[1 .. nb]`
--- hold exactly `BLOCK` bytes each and `tail` the < `BLOCK` bytes after them, so output byte
--- `a` (0-based) is in block `floor(a / BLOCK) + 1`; a match almost always lies in one block
--- or in the tail and costs one `string.sub`.
---
--- Accepted input is what lz4_flex accepts: sequences of token, literal length extension,
--- literals, 2-byte offset (not 0, not before the start), match length extension; the block
--- ends right after a literal run (possibly empty). The output may not exceed `plen`.

local errors = require("invsync.errors")
local join = require("invsync.join")

local byte, sub, rep, concat, floor = string.byte, string.sub, string.rep, table.concat, math.floor

local lz4 = {}

--- Output block size in bytes.
local BLOCK = 1024
lz4.BLOCK = BLOCK

-- HI[t], LO[t]: the high and low nibble of token t.
local HI, LO = {}, {}
for t = 0, 255 do
  LO[t] = t % 16
  HI[t] = floor(t / 16)
end

-- Phases of the resumable parser (what the next input byte is).
local P_TOKEN, P_LITEXT, P_LIT, P_OFFSET, P_MLEXT = 1, 2, 3, 4, 5

---@class InvsyncLz4State
---@field plen number largest output allowed
---@field blocks string[] full output blocks of BLOCK bytes
---@field nb number number of full blocks
---@field tail string output after the full blocks (< BLOCK bytes)
---@field phase number parser phase (P_*)
---@field mnib number low nibble of the current token (match length code)
---@field ll number literal length accumulated (P_LITEXT) or literals still to copy (P_LIT)
---@field off number first offset byte (-1 when none yet), then the offset
---@field ml number match length accumulated (P_MLEXT)
---@field consumed number input bytes processed so far
---@field pending string input fed but not yet processed (after `feed` stopped at its output limit)

--- A new decoder for a block whose output must not exceed `plen` bytes.
---@param plen number
---@return InvsyncLz4State
function lz4.new(plen)
  return {
    plen = plen, blocks = {}, nb = 0, tail = "",
    phase = P_TOKEN, mnib = 0, ll = 0, off = -1, ml = 0, consumed = 0, pending = "",
  }
end

--- Bytes of output produced so far.
---@param st InvsyncLz4State
---@return number
function lz4.produced(st)
  return st.nb * BLOCK + #st.tail
end

--- Output bytes [a, a + len) (0-based), all already produced. `tail` starts at output
--- byte nb * BLOCK and may be longer than BLOCK here (blocks are cut after each sequence).
---@param blocks string[]
---@param nb number
---@param tail string
---@param a number
---@param len number
---@return string
local function range(blocks, nb, tail, a, len)
  local off = a % BLOCK
  local k = (a - off) / BLOCK
  if k >= nb then
    local t = a - nb * BLOCK
    return sub(tail, t + 1, t + len)
  end
  if off + len <= BLOCK then return sub(blocks[k + 1], off + 1, off + len) end
  local parts, np = { sub(blocks[k + 1], off + 1) }, 1
  local got = BLOCK - off
  while got < len do
    k = k + 1
    local piece = (k >= nb) and tail or blocks[k + 1]
    np = np + 1
    if got + #piece >= len then
      parts[np] = sub(piece, 1, len - got)
      got = len
    else
      parts[np] = piece
      got = got + #piece
    end
  end
  return concat(parts)
end

--- Bytes of a match of length `ml` at distance `off` from the end of the output.
---@param blocks string[]
---@param nb number
---@param tail string
---@param outn number bytes produced
---@param off number
---@param ml number
---@return string
local function match_bytes(blocks, nb, tail, outn, off, ml)
  if off >= ml then
    return range(blocks, nb, tail, outn - off, ml)
  end
  -- overlapping copy: the last `off` bytes repeat
  local pat = range(blocks, nb, tail, outn - off, off)
  return sub(rep(pat, floor(ml / off) + 1), 1, ml)
end

local function fail(st, message)
  st.phase = -1
  return nil, errors.new("DecompressFailed", "LZ4 block: " .. message)
end

--- True if input fed earlier is still waiting (feed "" to continue it).
---@param st InvsyncLz4State
---@return boolean
function lz4.has_pending(st)
  return st.pending ~= ""
end

--- Feeds the next piece of the block. With `stop_at`, decoding pauses at the first sequence
--- boundary where the output has reached `stop_at` bytes; the rest of the input is kept
--- and decoded by the next call (which may feed ""). Returns true, or nil and a
--- DecompressFailed error (after which the state must be dropped).
---@param st InvsyncLz4State
---@param s string
---@param stop_at number|nil
---@return boolean|nil ok
---@return InvsyncError|nil err
function lz4.feed(st, s, stop_at)
  if st.phase < 0 then return fail(st, "decoder used after an error") end
  if st.pending ~= "" then
    s = st.pending .. s
    st.pending = ""
  end
  local n = #s
  local p = 1
  local base = st.consumed
  local stop = stop_at or 1e300
  local blocks, nb, tail = st.blocks, st.nb, st.tail
  local tl = #tail
  local tb = nb * BLOCK
  local plen = st.plen
  local phase, mnib, ll, off, ml = st.phase, st.mnib, st.ll, st.off, st.ml
  -- module upvalues as locals: one VM instruction less per use in the loop below
  local byte, sub, HI, LO, BLOCK = byte, sub, HI, LO, BLOCK
  while p <= n do
    if phase == P_TOKEN then
      -- fast path: whole sequences that lie completely in `s`
      while true do
        local tok, x1, x2 = byte(s, p, p + 2)
        if not x2 then break end
        local lit = HI[tok]
        local q = p + 1 -- first literal
        local le, d -- offset position, offset
        if lit == 0 then
          le = q
          d = x1 + x2 * 256
        else
          if lit == 15 then
            local x
            repeat
              x = byte(s, q)
              if not x then break end
              q = q + 1
              lit = lit + x
            until x ~= 255
            if not x then break end
          end
          le = q + lit
          if le + 1 > n then break end
          local o1, o2 = byte(s, le, le + 1)
          d = o1 + o2 * 256
        end
        local m = LO[tok] + 4
        local r = le + 2
        if m == 19 then
          local x
          repeat
            x = byte(s, r)
            if not x then break end
            r = r + 1
            m = m + x
          until x ~= 255
          if not x then break end
        end
        -- the sequence is s[p .. r-1]
        local outn = tb + tl + lit
        if outn + m > plen then
          st.nb, st.tail = nb, tail
          return fail(st, "output exceeds plen " .. plen .. " at input byte " .. (base + p))
        end
        if d == 0 or d > outn then
          st.nb, st.tail = nb, tail
          return fail(st, "match offset " .. d .. " invalid with " .. outn .. " bytes produced, at input byte "
            .. (base + le))
        end
        local a = outn - d - tb -- source start relative to the tail
        if d < m then
          -- overlapping copy
          if lit > 0 then tail = tail .. sub(s, q, le - 1) end
          tail = tail .. match_bytes(blocks, nb, tail, outn, d, m)
        elseif a >= 0 then
          -- source in the tail (the literals may be part of it)
          if lit == 0 then
            tail = tail .. sub(tail, a + 1, a + m)
          elseif a + m <= tl then
            tail = tail .. sub(s, q, le - 1) .. sub(tail, a + 1, a + m)
          else
            local t2 = tail .. sub(s, q, le - 1)
            tail = t2 .. sub(t2, a + 1, a + m)
          end
        else
          local src = a + tb
          local bo = src % BLOCK
          if bo + m <= BLOCK then
            -- source inside one full block
            if lit == 0 then
              tail = tail .. sub(blocks[(src - bo) / BLOCK + 1], bo + 1, bo + m)
            else
              tail = tail .. sub(s, q, le - 1) .. sub(blocks[(src - bo) / BLOCK + 1], bo + 1, bo + m)
            end
          else
            if lit > 0 then tail = tail .. sub(s, q, le - 1) end
            tail = tail .. range(blocks, nb, tail, src, m)
          end
        end
        tl = tl + lit + m
        p = r
        if tl >= BLOCK then
          local c = 1
          repeat
            nb = nb + 1
            blocks[nb] = sub(tail, c, c + BLOCK - 1)
            c = c + BLOCK
            tl = tl - BLOCK
          until tl < BLOCK
          tb = nb * BLOCK
          tail = sub(tail, c)
        end
        if tb + tl >= stop and p <= n then
          st.nb, st.tail, st.phase = nb, tail, P_TOKEN
          st.pending = sub(s, p)
          st.consumed = base + p - 1
          return true
        end
      end
      if p > n then break end
      -- slow path: start a sequence that does not lie completely in `s`
      local tok = byte(s, p)
      p = p + 1
      mnib = LO[tok]
      ll = HI[tok]
      if ll == 15 then phase = P_LITEXT else phase = P_LIT end
    elseif phase == P_LITEXT then
      local x = byte(s, p)
      p = p + 1
      ll = ll + x
      if x ~= 255 then phase = P_LIT end
    elseif phase == P_LIT then
      if tb + tl + ll > plen then
        st.nb, st.tail = nb, tail
        return fail(st, "output exceeds plen " .. plen .. " at input byte " .. (base + p))
      end
      local room = stop - tb - tl
      if room <= 0 and ll > 0 then
        -- output limit reached inside a literal run: keep the rest for the next call
        st.nb, st.tail = nb, tail
        st.phase, st.mnib, st.ll, st.off, st.ml = phase, mnib, ll, off, ml
        st.pending = sub(s, p)
        st.consumed = base + p - 1
        return true
      end
      local take = n - p + 1
      if take > ll then take = ll end
      if take > room then take = room end
      if take > 0 then
        tail = tail .. sub(s, p, p + take - 1)
        tl = tl + take
        p = p + take
        ll = ll - take
      end
      if ll == 0 then
        phase = P_OFFSET
        off = -1
      end
    elseif phase == P_OFFSET then
      local x = byte(s, p)
      p = p + 1
      if off < 0 then
        off = x
      else
        off = off + x * 256
        ml = mnib + 4
        if ml == 19 then phase = P_MLEXT else phase = 0 end
      end
    else -- P_MLEXT
      local x = byte(s, p)
      p = p + 1
      ml = ml + x
      if x ~= 255 then phase = 0 end
    end
    if phase == 0 then
      -- a slow-path match is complete
      local outn = tb + tl
      if outn + ml > plen then
        st.nb, st.tail = nb, tail
        return fail(st, "output exceeds plen " .. plen .. " at input byte " .. (base + p))
      end
      if off == 0 or off > outn then
        st.nb, st.tail = nb, tail
        return fail(st, "match offset " .. off .. " invalid with " .. outn .. " bytes produced, at input byte "
          .. (base + p))
      end
      tail = tail .. match_bytes(blocks, nb, tail, outn, off, ml)
      tl = tl + ml
      phase = P_TOKEN
    end
    if tl >= BLOCK then
      local c = 1
      repeat
        nb = nb + 1
        blocks[nb] = sub(tail, c, c + BLOCK - 1)
        c = c + BLOCK
        tl = tl - BLOCK
      until tl < BLOCK
      tb = nb * BLOCK
      tail = sub(tail, c)
    end
  end
  st.nb, st.tail = nb, tail
  st.phase, st.mnib, st.ll, st.off, st.ml = phase, mnib, ll, off, ml
  st.consumed = base + n
  return true
end

--- Ends the block: returns the whole output, or nil and a DecompressFailed error if the
--- input stopped inside a sequence.
---@param st InvsyncLz4State
---@return string|nil output
---@return InvsyncError|nil err
function lz4.finish(st)
  if st.phase < 0 then return fail(st, "decoder used after an error") end
  if st.pending ~= "" then
    local ok, err = lz4.feed(st, "")
    if not ok then return nil, err end
  end
  local at_end = (st.phase == P_LIT and st.ll == 0) or (st.phase == P_OFFSET and st.off < 0)
  if not at_end then
    if st.consumed == 0 then return fail(st, "empty input, expected at least a token") end
    return fail(st, "input ends inside a sequence after " .. st.consumed .. " bytes, expected it to end after literals")
  end
  local blocks, nb = st.blocks, st.nb
  blocks[nb + 1] = st.tail
  -- (join.strings: one buffer per chain of blocks, not table.concat's doubling buffers)
  local out = join.strings(blocks, nb + 1)
  blocks[nb + 1] = nil
  return out
end

--- Decompresses a whole block in one call (tests and tools).
---@param block string
---@param plen number largest output allowed
---@return string|nil output
---@return InvsyncError|nil err
function lz4.decompress(block, plen)
  local st = lz4.new(plen)
  local ok, err = lz4.feed(st, block)
  if not ok then return nil, err end
  return lz4.finish(st)
end

return lz4
