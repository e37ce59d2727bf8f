--- A message in progress in the receiver: its verified chunks, and the work on their
--- in-order prefix (PROTOCOL.md 3 step 9), done a budget at a time.
---
--- As chunks 1, 2, ... become available, `advance` folds each chunk's CRC into the running
--- `mcrc` (one `crc32.combine_op`, no second pass over the data) and, for `lz4`, decodes it:
--- base64 a slice at a time, then the LZ4 decoder with an output limit, so no call does much
--- more than its budget. Errors found on the way are latched, not reported: the verdict waits
--- for `finish`, which applies PROTOCOL.md's order (mcrc, then base64, then the decompressor,
--- then plen), so a message with two defects is named as the reference codec names it.
--- A message is plain data (it lives in `storage` inside the receiver state).

local errors = require("invsync.errors")
local limits = require("invsync.limits")
local crc32 = require("invsync.crc32")
local base64 = require("invsync.base64")
local lz4 = require("invsync.lz4")

local sub, concat, format, floor = string.sub, table.concat, string.format, math.floor

local message = {}

--- Largest base64 slice decoded at once (bounds the bytes handed to the LZ4 decoder).
local MAX_SLICE = 8192

local COMBINE_COST = limits.combine_cost

---@class InvsyncMessage
---@field id number
---@field count number
---@field method string
---@field plen number
---@field wlen number
---@field mcrc number
---@field mcrc_hex string
---@field chunks string[] verified chunk data by index
---@field ccrc number[] CRC-32 of each chunk's data
---@field cfcrc number[] fcrc of each chunk's frame (to recognise exact duplicates)
---@field have number chunks held
---@field got number wire bytes held
---@field next number first chunk not yet processed
---@field pos number next character to decode in chunk `next`
---@field acc number CRC-32 of chunks 1 .. next-1
---@field dec table|nil LZ4 decoder state (lz4 only)
---@field b64fail InvsyncError|nil latched base64 error
---@field lzfail InvsyncError|nil latched LZ4 error

--- A new message from the header fields of its first verified frame.
---@param h table fields id, count, method, plen, wlen, mcrc
---@return InvsyncMessage
function message.new(h)
  return {
    id = h.id, count = h.count, method = h.method, plen = h.plen, wlen = h.wlen,
    mcrc = h.mcrc, mcrc_hex = format("%08x", h.mcrc),
    chunks = {}, ccrc = {}, cfcrc = {}, have = 0, got = 0,
    next = 1, pos = 1, acc = 0,
    dec = (h.method == "lz4") and lz4.new(h.plen) or nil,
  }
end

--- Stores a verified chunk (the caller has checked it is new and fits).
---@param msg InvsyncMessage
---@param index number
---@param data string
---@param crc number CRC-32 of `data`
---@param fcrc number the frame's fcrc
function message.add(msg, index, data, crc, fcrc)
  msg.chunks[index] = data
  msg.ccrc[index] = crc
  msg.cfcrc[index] = fcrc
  msg.have = msg.have + 1
  msg.got = msg.got + #data
end

--- True if the frame described by `h` (header fields and `data`, `fcrc`) is byte-identical to
--- a chunk held.
---@param msg InvsyncMessage
---@param h table
---@return boolean
function message.holds_exactly(msg, h)
  return msg.chunks[h.index] == h.data and msg.cfcrc[h.index] == h.fcrc and msg.count == h.count
    and msg.method == h.method and msg.plen == h.plen and msg.wlen == h.wlen and msg.mcrc == h.mcrc
end

local function latch_lz4(msg, err)
  err.id = msg.id
  err.message = format("message %d: ", msg.id) .. err.message
  msg.lzfail = err
  msg.dec = nil
end

--- Decodes the next piece of chunk `k` of an lz4 message within `left` units; returns the
--- budget left. After an LZ4 error the rest of the wire text is still checked as base64
--- (without decoding), since a base64 error anywhere takes precedence.
local function decode_some(msg, k, data, left)
  local pos, n = msg.pos, #data
  local final = k == msg.count
  local where = format("message %d chunk %d", msg.id, k)
  if msg.lzfail then
    local err = base64.validate_piece(sub(data, pos, n), final, where)
    if err then
      err.id = msg.id
      msg.b64fail = err
    end
    msg.pos = n + 1
    return left - floor((n - pos + 1) / 4) - 1
  end
  local dec = msg.dec
  local made = lz4.produced(dec)
  local _, err
  if lz4.has_pending(dec) then
    _, err = lz4.feed(dec, "", made + left)
  else
    local take = left
    if take > MAX_SLICE then take = MAX_SLICE end
    take = take - take % 4
    if take < 4 then take = 4 end
    local e = pos + take - 1
    if e > n then e = n end
    local bytes
    bytes, err = base64.decode_piece(sub(data, pos, e), final and e == n, where)
    left = left - (e - pos + 1)
    msg.pos = e + 1
    if not bytes then
      err.id = msg.id
      msg.b64fail = err
      msg.dec = nil
      return left
    end
    local limit = left
    if limit < 0 then limit = 0 end
    _, err = lz4.feed(dec, bytes, made + limit)
  end
  if err then
    latch_lz4(msg, err)
    return left
  end
  return left - (lz4.produced(dec) - made)
end

--- True while chunk `msg.next` (of `n` bytes) still has decoding work.
local function decoding(msg, n)
  if msg.method ~= "lz4" or msg.b64fail then return false end
  if msg.pos <= n then return true end
  return msg.dec ~= nil and lz4.has_pending(msg.dec)
end

--- Works on the in-order prefix of chunks held, within about `left` units (one unit: a byte
--- of base64 decoded or of LZ4 output; a CRC combination costs limits.combine_cost).
--- Returns the budget left.
---@param msg InvsyncMessage
---@param left number
---@return number
function message.advance(msg, left)
  while left > 0 do
    local k = msg.next
    if k > msg.count then break end
    local data = msg.chunks[k]
    if not data then break end
    local n = #data
    if decoding(msg, n) then
      left = decode_some(msg, k, data, left)
    else
      -- chunk k is done: fold its CRC into the running mcrc
      if k == 1 then
        msg.acc = msg.ccrc[1]
      else
        msg.acc = crc32.combine_op(msg.acc, msg.ccrc[k], crc32.shift_op(n))
        left = left - COMBINE_COST
      end
      msg.next = k + 1
      msg.pos = 1
    end
  end
  return left
end

--- True when every chunk has been processed and `finish` can give the verdict.
---@param msg InvsyncMessage
---@return boolean
function message.ready(msg)
  return msg.next > msg.count
end

--- True when chunk `msg.next` is held, so `advance` has work.
---@param msg InvsyncMessage
---@return boolean
function message.has_work(msg)
  return msg.chunks[msg.next] ~= nil
end

--- The verdict on a processed message: the payload, or nil and its error (checked in this
--- order: mcrc, base64, decompressor, plen). `env.inflate_b64` inflates zlib wire text.
---@param msg InvsyncMessage
---@param env table|nil
---@return string|nil payload
---@return InvsyncError|nil err
function message.finish(msg, env)
  local id = msg.id
  if msg.acc ~= msg.mcrc then
    return nil, errors.new("MessageChecksumMismatch",
      format("message %d: mcrc is %s, the wire text gives %08x", id, msg.mcrc_hex, msg.acc), id)
  end
  if msg.b64fail then return nil, msg.b64fail end
  if msg.lzfail then return nil, msg.lzfail end
  local payload, err
  if msg.method == "raw" then
    payload = concat(msg.chunks, "", 1, msg.count)
  elseif msg.method == "lz4" then
    payload, err = lz4.finish(msg.dec)
    if err then
      latch_lz4(msg, err)
      return nil, err
    end
  else
    -- every chunk's characters, its padding and (but for the last) its length were checked
    -- when its frame was parsed; what is left is the total length and the last quantum, so
    -- only the last chunk is checked here, not the whole text again
    local last = msg.chunks[msg.count]
    local before = msg.wlen - #last
    err = base64.check(last, format("message %d (chunk %d)", id, msg.count))
    if err and before % 4 == 0 then
      err.id = id
      if err.offset then err.offset = err.offset + before end
      return nil, err
    elseif err or before % 4 ~= 0 then
      return nil, errors.new("BadBase64", format("message %d: expected a length that is a multiple of 4, got %d",
        id, msg.wlen), id)
    end
    local wire = concat(msg.chunks, "", 1, msg.count)
    local inflate = env and env.inflate_b64
    if not inflate then
      return nil, errors.new("DecompressFailed", format("message %d: no inflate_b64 function was given to step", id), id)
    end
    local ok, out = pcall(inflate, wire)
    if not ok or type(out) ~= "string" then
      return nil, errors.new("DecompressFailed", format("message %d: the zlib stream did not inflate", id), id)
    end
    if #out > msg.plen then
      return nil, errors.new("DecompressFailed",
        format("message %d: the zlib stream inflates to more than plen %d bytes", id, msg.plen), id)
    end
    payload = out
  end
  if #payload ~= msg.plen then
    return nil, errors.new("PayloadLengthMismatch", format("message %d: decoded %d bytes, plen is %d", id, #payload, msg.plen), id)
  end
  return payload
end

--- Chunk numbers not held and not in `queued` (a set of chunk numbers), ascending, at most
--- `limit` of them.
---@param msg InvsyncMessage|nil
---@param count number
---@param queued table|nil
---@param limit number
---@return number[]
function message.missing(msg, count, queued, limit)
  local out = {}
  for i = 1, count do
    if not ((msg and msg.chunks[i]) or (queued and queued[i])) then
      out[#out + 1] = i
      if #out >= limit then break end
    end
  end
  return out
end

return message
