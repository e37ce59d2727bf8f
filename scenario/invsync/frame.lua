--- Frames of docs/PROTOCOL.md section 2: parsing with every syntax check, and building.
---
--- A frame is `IS1 <fcrc> <id> <index>/<count> <method> <plen> <wlen> <mcrc> <data>`.
--- `parse` runs checks 1 and 2 of PROTOCOL.md section 3 (length, magic, characters, header
--- grammar and values, method); it does not verify `fcrc`, which costs a pass over the data
--- and is left to the caller's budgeted work (see reassembler.lua). All checks use a few
--- anchored patterns, so a frame is parsed at C speed whatever its length.

local errors = require("invsync.errors")
local text = require("invsync.text")
local crc32 = require("invsync.crc32")

local byte, sub, find, match, format = string.byte, string.sub, string.find, string.match, string.format

local frame = {}

--- The methods of PROTOCOL.md 2.3, in the specification's order.
frame.METHODS = { "raw", "lz4", "zlib" }
local KNOWN_METHOD = { raw = true, lz4 = true, zlib = true }

--- Length of `IS1 <fcrc> `: the body starts right after it.
frame.BODY_START = 14

local MAX_ID = 4294967295
local MAX_LEN = 9007199254740991 -- 2^53 - 1

---@class InvsyncFrame
---@field fcrc number checksum written in the frame
---@field fcrc_hex string
---@field id number
---@field index number
---@field count number
---@field method string
---@field plen number
---@field wlen number
---@field mcrc number
---@field mcrc_hex string
---@field hdr string the body up to the data: `<id> <index>/<count> <method> <plen> <wlen> <mcrc> `
---@field data string

--- Checks a decimal field: digits only, no leading zero (unless `zero_ok` and it is "0"),
--- at most `max_digits` digits and at most `max_value`. Returns the value or nil, reason.
---@param s string
---@param zero_ok boolean
---@param max_digits number
---@param max_value number
---@return number|nil
---@return string|nil
local function decimal(s, zero_ok, max_digits, max_value)
  if s == "0" then
    if zero_ok then return 0 end
    return nil, "expected a number from 1, got 0"
  end
  if not find(s, "^[1-9][0-9]*$") then
    return nil, "expected a decimal number without leading zeros, got '" .. s .. "'"
  end
  if #s > max_digits then
    return nil, "expected at most " .. max_digits .. " digits, got " .. #s
  end
  local v = tonumber(s)
  if v > max_value then
    return nil, "expected at most " .. format("%d", max_value) .. ", got " .. s
  end
  return v
end

--- Checks a checksum field: exactly 8 lowercase hex digits.
---@param s string
---@return boolean
local function is_hex8(s)
  return #s == 8 and find(s, "^[0-9a-f]+$") ~= nil
end

---@class InvsyncParseOptions
---@field max_frame number longest accepted frame in bytes

--- The field of `line` from `pos` up to the byte before the next `sep`, and the position
--- after that separator; nil if there is no such separator.
---@param line string
---@param pos number
---@param sep string
---@return string|nil
---@return number|nil
local function field(line, pos, sep)
  local at = find(line, sep, pos, true)
  if not at then return nil end
  return sub(line, pos, at - 1), at + 1
end

--- Parses one frame and runs the syntax checks of PROTOCOL.md section 3 (steps 1 and 2) in
--- the order the reference codec uses, so both name the same error for a frame: length;
--- magic and version; control bytes anywhere; the header fields left to right; method;
--- index range; the fields' consistency (`raw` plen, data longer than `wlen`, empty chunk);
--- the data's characters; base64 chunk alignment. Whether the receiver declared the method
--- is policy, checked with the limits after `fcrc` (see reassembler.lua).
---@param line string the frame, without stdout marker or line end
---@param opts InvsyncParseOptions
---@return InvsyncFrame|nil frame
---@return InvsyncError|nil err
function frame.parse(line, opts)
  if type(line) ~= "string" then
    return nil, errors.new("NotAFrame", "expected a frame as a string, got a " .. type(line))
  end
  local n = #line
  -- 1. length
  if n > opts.max_frame then
    return nil, errors.new("FrameTooLong", format("frame of %d bytes, expected at most %d", n, opts.max_frame))
  end
  -- 2. magic and version: "IS" and a version number
  local version = match(line, "^IS([0-9]+)")
  if not version then
    return nil, errors.new("NotAFrame", "expected 'IS' and a version number at the start, found '"
      .. sub(line, 1, 12):gsub("[^ -~]", "?") .. "'")
  end
  if version ~= "1" then
    return nil, errors.new("UnsupportedVersion", "frame of protocol version " .. version .. ", expected 1")
  end
  -- control bytes anywhere (a frame is one line of text)
  -- (an anchored run of allowed bytes: `find` with a negated set, unanchored, costs two to
  -- three times as much per byte)
  local _, run = find(line, "^[^%z\1-\31\127]*")
  local bad = run < n and run + 1 or nil
  if bad then
    return nil, errors.new("ForbiddenCharacter", format("expected no control character, found byte %d at offset %d",
      byte(line, bad), bad), nil, nil, bad)
  end
  -- header fields, left to right
  local function malformed(name, reason)
    return nil, errors.new("MalformedHeader", "field " .. name .. ": " .. reason)
  end
  if byte(line, 4) ~= 32 then return malformed("magic", "expected one space after 'IS1'") end
  local pos = 5
  local fcrc_hex, id_s, index_s, count_s, method, plen_s, wlen_s, mcrc_hex
  fcrc_hex, pos = field(line, pos, " ")
  if not fcrc_hex then return malformed("fcrc", "missing (the header ends early)") end
  if not is_hex8(fcrc_hex) then return malformed("fcrc", "expected 8 lowercase hex digits, got '" .. fcrc_hex .. "'") end
  id_s, pos = field(line, pos, " ")
  if not id_s then return malformed("id", "missing (the header ends early)") end
  local id, why = decimal(id_s, false, 10, MAX_ID)
  if not id then return malformed("id", why) end
  index_s, pos = field(line, pos, "/")
  if not index_s then return malformed("index", "missing '/' separator") end
  local index
  index, why = decimal(index_s, true, 10, MAX_ID)
  if not index then return malformed("index", why) end
  count_s, pos = field(line, pos, " ")
  if not count_s then return malformed("count", "missing (the header ends early)") end
  local count
  count, why = decimal(count_s, false, 10, MAX_ID)
  if not count then return malformed("count", why) end
  method, pos = field(line, pos, " ")
  if not method then return malformed("method", "missing (the header ends early)") end
  plen_s, pos = field(line, pos, " ")
  if not plen_s then return malformed("plen", "missing (the header ends early)") end
  local plen
  plen, why = decimal(plen_s, true, 16, MAX_LEN)
  if not plen then return malformed("plen", why) end
  wlen_s, pos = field(line, pos, " ")
  if not wlen_s then return malformed("wlen", "missing (the header ends early)") end
  local wlen
  wlen, why = decimal(wlen_s, true, 16, MAX_LEN)
  if not wlen then return malformed("wlen", why) end
  mcrc_hex, pos = field(line, pos, " ")
  if not mcrc_hex then return malformed("mcrc", "missing (the header ends early)") end
  if not is_hex8(mcrc_hex) then return malformed("mcrc", "expected 8 lowercase hex digits, got '" .. mcrc_hex .. "'") end
  -- method
  if not KNOWN_METHOD[method] then
    if find(method, "^[a-z][a-z0-9]*$") then
      return nil, errors.new("UnknownMethod", "message " .. id_s .. ": method '" .. method .. "', expected raw, lz4 or zlib", id, index)
    end
    return malformed("method", "expected a method name, got '" .. method .. "'")
  end
  if index == 0 or index > count then
    return nil, errors.new("IndexOutOfRange", "message " .. id_s .. ": chunk " .. index_s .. " of " .. count_s
      .. ", expected 1 ..= " .. count_s, id)
  end
  -- consistency of the fields with each other and with the data
  local data = sub(line, pos)
  local dlen = #data
  if method == "raw" and plen ~= wlen then
    return malformed("plen", "expected plen == wlen for raw, got " .. plen_s .. " and " .. wlen_s)
  end
  if dlen > wlen then
    return malformed("data", format("%d bytes of data is more than wlen %s", dlen, wlen_s))
  end
  if dlen == 0 and wlen > 0 then
    return malformed("data", "empty chunk in a non-empty message")
  end
  -- the data's characters
  if method == "raw" then
    local name, off, detail = text.check(data)
    if name then
      return nil, errors.new(name, "raw data: " .. detail .. " at offset " .. (pos - 1 + off), id, index, pos - 1 + off)
    end
  else
    local last = index == count
    -- the alphabet, then nothing but '=' (an anchored run: see the control bytes above)
    local _, e = find(data, "^[A-Za-z0-9+/]*")
    if e < dlen and not find(data, "^=*$", e + 1) then
      local off = e + 1
      return nil, errors.new("ForbiddenCharacter", format("%s data: expected a base64 character, found byte %d at offset %d",
        method, byte(data, off), pos - 1 + off), id, index, pos - 1 + off)
    end
    local pad = dlen - e
    if pad > 0 and (not last or pad > 2) then
      local at = e + (last and 3 or 1)
      return nil, errors.new("ForbiddenCharacter", format("%s data: padding '=' at offset %d, expected it only as the last "
        .. "one or two characters of the last chunk", method, pos - 1 + at), id, index, pos - 1 + at)
    end
    if not last and dlen % 4 ~= 0 then
      return nil, errors.new("MisalignedChunk", format("message %d chunk %d: base64 chunk of %d characters, expected a "
        .. "multiple of 4", id, index, dlen), id, index)
    end
  end
  return {
    fcrc = crc32.from_hex(fcrc_hex), fcrc_hex = fcrc_hex,
    id = id, index = index, count = count, method = method, plen = plen, wlen = wlen,
    mcrc = crc32.from_hex(mcrc_hex), mcrc_hex = mcrc_hex,
    hdr = sub(line, frame.BODY_START, pos - 1), data = data,
  }
end

--- The body header `<id> <index>/<count> <method> <plen> <wlen> <mcrc> ` of a frame.
---@param id number
---@param index number
---@param count number
---@param method string
---@param plen number
---@param wlen number
---@param mcrc number
---@return string
function frame.body_header(id, index, count, method, plen, wlen, mcrc)
  return format("%d %d/%d %s %d %d %08x ", id, index, count, method, plen, wlen, mcrc)
end

--- Length of the frame header (everything before the data) for these field values.
---@param id number
---@param index number
---@param count number
---@param method string
---@param plen number
---@param wlen number
---@return number
function frame.header_len(id, index, count, method, plen, wlen)
  return frame.BODY_START - 1 + #frame.body_header(id, index, count, method, plen, wlen, 0)
end

--- Assembles a frame from its checksum, body header and data.
---@param fcrc number
---@param hdr string
---@param data string
---@return string
function frame.assemble(fcrc, hdr, data)
  return "IS1 " .. format("%08x", fcrc) .. " " .. hdr .. data
end

--- Verifies `fcrc` of a parsed frame in one go (tests and tools; the reassembler spreads
--- this work over ticks). Returns nil or a FrameChecksumMismatch error.
---@param f InvsyncFrame
---@return InvsyncError|nil
function frame.verify(f)
  local c = crc32.update(crc32.of(f.hdr), f.data)
  if c ~= f.fcrc then
    return errors.new("FrameChecksumMismatch", format("message %d chunk %d: fcrc is %s, the body gives %08x",
      f.id, f.index, f.fcrc_hex, c), f.id, f.index)
  end
  return nil
end

return frame
