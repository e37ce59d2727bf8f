--- A message in progress in the receiver: its verified chunks, and the work on their
--- in-order prefix (PROTOCOL.md 3 step 9), done a budget at a time.
---
--- As chunks 1, 2, ... become available, `advance` folds each chunk's CRC into the running
--- `mcrc` (one `crc32.combine_op`, no second pass over the data) and decodes it: for `lz4`,
--- base64 a slice at a time, then the LZ4 decoder with an output limit; for `zlib`, each
--- chunk as soon as it is verified, in any order, since each is a stream of its own
--- (PROTOCOL.md 2.3), with one call of the injected `inflate_b64`, so no native call ever
--- inflates a whole `zlib` message and a late first chunk does not hold the others up; for
--- `solid`, whose wire text is one zlib stream of a payload of at most 64 KiB, the chunks are
--- joined as they come and the whole is inflated once, with the verdict. The payload (or
--- `solid`'s wire text) is joined as it comes (join.lua), so the final join is one chain of a
--- few strings. No call does much more than its budget: work that cannot be split (an
--- inflate, the final join, and both for `solid`) starts only when its estimated cost fits
--- what is left, or when the caller says the tick is fresh enough. Errors found on the way are kept, not reported: the verdict waits for
--- `finish`, which applies PROTOCOL.md's order (mcrc, then base64, then the decompressor, for
--- zlib chunk by chunk in index order, then plen), so a message with two defects is named as
--- the reference codec names it.
--- A message is plain data (it lives in `storage` inside the receiver state).

local errors = require("invsync.errors")
local limits = require("invsync.limits")
local crc32 = require("invsync.crc32")
local base64 = require("invsync.base64")
local lz4 = require("invsync.lz4")
local join = require("invsync.join")

local byte, sub, format, floor, ceil = string.byte, string.sub, string.format, math.floor, math.ceil

local message = {}

--- Largest base64 slice decoded at once (bounds the bytes handed to the LZ4 decoder).
local MAX_SLICE = 8192

local COMBINE_COST = limits.combine_cost
local INFLATE_CALL_COST = limits.inflate_call_cost
local INFLATE_IN_CHARS = limits.inflate_in_chars
local INFLATE_OUT_BYTES = limits.inflate_out_bytes
local JOIN_BYTES = limits.join_bytes
--- The most a sender should put in one zlib chunk (PROTOCOL.md 2.3), for cost estimates.
local ZLIB_MAX_SLICE = 65536
--- The largest `plen` of a `solid` message (PROTOCOL.md 2.3): its one inflate stays short.
message.SOLID_MAX_PAYLOAD = 65536

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
---@field pos number next character to decode in chunk `next` (lz4)
---@field acc number CRC-32 of chunks 1 .. next-1
---@field dec table|nil LZ4 decoder state (lz4 only)
---@field joined InvsyncJoinGroups|nil the payload so far, joined in index order (raw, zlib), or the wire text (solid)
---@field b64fail InvsyncError|nil latched base64 error (lz4)
---@field lzfail InvsyncError|nil latched LZ4 error (lz4)
---@field todo number[]|nil zlib: verified chunks not inflated yet, `todo[todo_head .. todo_tail]`
---@field todo_head number
---@field todo_tail number
---@field pieces string[]|nil zlib: inflated chunks not yet joined, by index
---@field zlen number[]|nil zlib: bytes each inflated chunk gave, by index
---@field zfail table|nil zlib: the error of each chunk that failed, by index
---@field failed number zlib: chunks that failed
---@field out number zlib: bytes inflated, all chunks so far
---@field joined_next number zlib: the next chunk to join into `joined`

--- A new message from the header fields of its first verified frame.
---@param h table fields id, count, method, plen, wlen, mcrc
---@return InvsyncMessage
function message.new(h)
  local zlib = h.method == "zlib"
  return {
    id = h.id, count = h.count, method = h.method, plen = h.plen, wlen = h.wlen,
    mcrc = h.mcrc, mcrc_hex = format("%08x", h.mcrc),
    chunks = {}, ccrc = {}, cfcrc = {}, have = 0, got = 0,
    next = 1, pos = 1, acc = 0,
    dec = (h.method == "lz4") and lz4.new(h.plen) or nil,
    joined = (h.method ~= "lz4") and join.groups(h.count) or nil,
    todo = zlib and {} or nil, todo_head = 1, todo_tail = 0,
    pieces = zlib and {} or nil, zlen = zlib and {} or nil, zfail = zlib and {} or nil, failed = 0,
    out = 0, joined_next = 1,
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
  if msg.todo then
    msg.todo_tail = msg.todo_tail + 1
    msg.todo[msg.todo_tail] = index
  end
end

--- True if the frame with header `h` (fields and `fcrc`) and data `data` is byte-identical to
--- a chunk held.
---@param msg InvsyncMessage
---@param h table
---@param data string
---@return boolean
function message.holds_exactly(msg, h, data)
  return msg.chunks[h.index] == data and msg.cfcrc[h.index] == h.fcrc and msg.count == h.count
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

--- True while chunk `msg.next` (of `n` bytes) still has lz4 decoding work.
local function decoding(msg, n)
  if msg.b64fail then return false end
  if msg.pos <= n then return true end
  return msg.dec ~= nil and lz4.has_pending(msg.dec)
end

--- Units one inflate of a chunk of `n` base64 characters is expected to cost: its input and
--- the share of the payload still to come that falls to it (the reference encoder cuts the
--- payload into slices of nearly equal size), at most a full slice.
local function inflate_estimate(msg, n)
  local share = ceil((msg.plen - msg.out) / (msg.count - msg.todo_head + 1))
  if share > ZLIB_MAX_SLICE then share = ZLIB_MAX_SLICE end
  if share < 0 then share = 0 end
  return INFLATE_CALL_COST + floor(n / INFLATE_IN_CHARS) + floor(share / INFLATE_OUT_BYTES)
end

--- Inflates chunk `k` of a zlib message (its own stream, PROTOCOL.md 2.3) with the injected
--- `inflate_b64`, after checking the unused bits of its final base64 quantum (its characters,
--- padding and length were checked with its frame). A failure is kept by chunk, for the
--- verdict in index order. Once the chunks inflated add up to more than plen the message
--- can only fail: its pieces are let go, and the rest is inflated only for its verdict.
--- Returns the units spent.
local function inflate_chunk(msg, k, data, env)
  local n = #data
  local id = msg.id
  if n > 0 and byte(data, n) == 61 then
    -- padding: the unused bits of the last quantum must be zero
    local _, err = base64.decode_piece(sub(data, n - 3, n), true, nil)
    if err then
      msg.zfail[k] = errors.new("BadBase64", format("message %d chunk %d: final quantum at offset %d: %s", id, k,
        n - 3, err.message), id, k)
      msg.failed = msg.failed + 1
      msg.pieces, msg.joined = nil, nil
      return 4
    end
  end
  local inflate = env and env.inflate_b64
  local ok, piece = false, nil
  if inflate then ok, piece = pcall(inflate, data) end
  local spent = INFLATE_CALL_COST + floor(n / INFLATE_IN_CHARS)
  if not inflate then
    msg.zfail[k] = errors.new("DecompressFailed", format("message %d: no inflate_b64 function was given to step", id), id, k)
  elseif not ok or type(piece) ~= "string" then
    msg.zfail[k] = errors.new("DecompressFailed", format("message %d chunk %d: the data is not a zlib stream", id, k), id, k)
  else
    msg.zlen[k] = #piece
    msg.out = msg.out + #piece
    if msg.out > msg.plen then
      msg.pieces, msg.joined = nil, nil
    elseif msg.pieces then
      msg.pieces[k] = piece
    end
    return spent + floor(#piece / INFLATE_OUT_BYTES)
  end
  msg.failed = msg.failed + 1
  msg.pieces, msg.joined = nil, nil
  return spent
end

--- Joins the inflated chunks that are next in index order into the payload so far.
--- Returns the units spent.
local function join_inflated(msg)
  local pieces, joined = msg.pieces, msg.joined
  if not pieces or msg.failed > 0 then return 0 end
  local spent = 0
  local k = msg.joined_next
  while pieces[k] do
    spent = spent + floor(join.add(joined, pieces[k]) / JOIN_BYTES)
    pieces[k] = nil
    k = k + 1
  end
  msg.joined_next = k
  return spent
end

--- Works on the chunks held within about `left` units (one unit: a byte of base64 decoded or
--- of LZ4 output; a CRC combination costs limits.combine_cost; an inflate what
--- limits.inflate_* say): inflates verified zlib chunks in the order they came, and folds
--- the in-order prefix's CRCs (decoding lz4, which is one stream, on the way). An inflate
--- whose estimate exceeds `left` waits for a later call unless at least `fresh` units are left
--- (the caller's whole per-tick budget, so that an inflate larger than what is left waits for
--- a tick with room). `env.inflate_b64` inflates zlib chunks. Returns the budget left.
---@param msg InvsyncMessage
---@param left number
---@param env table|nil
---@param fresh number|nil default: `left` (the first piece of work always starts)
---@return number
function message.advance(msg, left, env, fresh)
  fresh = fresh or left
  local todo = msg.todo
  -- an inflate that has to wait does not hold up the cheap CRC folds
  local waiting = false
  while left > 0 do
    local k = msg.next
    local data = msg.chunks[k]
    local j = todo and not waiting and msg.todo_head <= msg.todo_tail and todo[msg.todo_head]
    if j and inflate_estimate(msg, #msg.chunks[j]) > left and left < fresh then
      waiting = true
    elseif j then
      todo[msg.todo_head] = nil
      msg.todo_head = msg.todo_head + 1
      left = left - inflate_chunk(msg, j, msg.chunks[j], env)
      left = left - join_inflated(msg)
    elseif k > msg.count or not data then
      break
    elseif msg.method == "lz4" and decoding(msg, #data) then
      left = decode_some(msg, k, data, left)
    else
      -- chunk k is done: fold its CRC into the running mcrc (raw: and its data into the
      -- payload; solid: into the wire text to inflate)
      if msg.method == "raw" or msg.method == "solid" then
        left = left - floor(join.add(msg.joined, data) / JOIN_BYTES)
      end
      if k == 1 then
        msg.acc = msg.ccrc[1]
      else
        msg.acc = crc32.combine_op(msg.acc, msg.ccrc[k], crc32.shift_op(#data))
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
  return msg.next > msg.count and msg.todo_head > msg.todo_tail
end

--- True when `advance` or `finish` has work: chunk `msg.next` is held, or the verdict is due.
---@param msg InvsyncMessage
---@return boolean
function message.has_work(msg)
  return msg.next > msg.count or msg.chunks[msg.next] ~= nil or msg.todo_head <= msg.todo_tail
end

--- Units the verdict of a processed message costs: joining its payload (the groups `raw`
--- chunks and inflated `zlib` chunks were joined into as they came, or the `lz4` output
--- blocks), one C-speed copy that cannot be split; for `solid`, joining its wire text and
--- its one inflate, charged as a zlib chunk's (limits.inflate_*).
---@param msg InvsyncMessage
---@return number
function message.finish_cost(msg)
  if msg.acc ~= msg.mcrc or msg.b64fail or msg.lzfail or msg.failed > 0 or msg.out > msg.plen then return 16 end
  if msg.method == "solid" then
    return 16 + floor(msg.wlen / JOIN_BYTES) + INFLATE_CALL_COST + floor(msg.wlen / INFLATE_IN_CHARS)
      + floor(msg.plen / INFLATE_OUT_BYTES)
  end
  return 16 + floor(msg.plen / JOIN_BYTES)
end

--- The payload of a `solid` message from its whole wire text (mcrc checked): base64 (its
--- length, and the unused bits of its final quantum; its characters and padding were
--- checked with the frames), then one inflate with `env.inflate_b64`, against plen.
local function inflate_solid(msg, wire, env)
  local id, n = msg.id, #wire
  if n % 4 ~= 0 then
    return nil, errors.new("BadBase64", format("message %d: the wire text is %d characters, not a multiple of 4", id, n), id)
  end
  if n > 0 and byte(wire, n) == 61 then
    local _, err = base64.decode_piece(sub(wire, n - 3, n), true, nil)
    if err then
      return nil, errors.new("BadBase64", format("message %d: final quantum at offset %d: %s", id, n - 3, err.message), id)
    end
  end
  local inflate = env and env.inflate_b64
  if not inflate then
    return nil, errors.new("DecompressFailed", format("message %d: no inflate_b64 function was given to step", id), id)
  end
  local ok, payload = pcall(inflate, wire)
  if not ok or type(payload) ~= "string" then
    return nil, errors.new("DecompressFailed", format("message %d: the wire text is not a zlib stream", id), id)
  end
  if #payload > msg.plen then
    return nil, errors.new("DecompressFailed", format("message %d: the stream inflates to %d bytes, past plen %d", id,
      #payload, msg.plen), id)
  end
  return payload
end

--- The verdict on a processed message: the payload, or nil and its error (checked in this
--- order: mcrc, base64, decompressor, plen). `env.inflate_b64` inflates `solid`.
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
    payload = join.finish(msg.joined)
  elseif msg.method == "solid" then
    payload, err = inflate_solid(msg, join.finish(msg.joined), env)
    if not payload then return nil, err end
  elseif msg.method == "lz4" then
    payload, err = lz4.finish(msg.dec)
    if err then
      latch_lz4(msg, err)
      return nil, err
    end
  else
    -- chunk by chunk in index order, as the reference decoder: its base64, its stream, and
    -- whether the chunks up to it inflate past plen
    local total = 0
    for k = 1, msg.count do
      local err = msg.zfail[k]
      if err then return nil, err end
      total = total + msg.zlen[k]
      if total > msg.plen then
        return nil, errors.new("DecompressFailed", format("message %d chunk %d: the streams of chunks 1 ..= %d inflate "
          .. "to %d bytes, past plen %d", id, k, k, total, msg.plen), id, k)
      end
    end
    if total ~= msg.plen then
      return nil, errors.new("PayloadLengthMismatch", format("message %d: the %d chunks inflate to %d bytes, plen is %d",
        id, msg.count, total, msg.plen), id)
    end
    payload = join.finish(msg.joined)
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
