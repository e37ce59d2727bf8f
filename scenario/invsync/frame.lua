--- Frames of docs/PROTOCOL.md section 2: parsing with every syntax check, and building.
---
--- A frame is `IS1 <fcrc> <id> <index>/<count> <method> <plen> <wlen> <mcrc> <data>`, or has
--- the short header of PROTOCOL.md 2.5: `~<fcrc><kind><id>[<plen>.]<data>` for a message of one
--- chunk, `~<fcrc><KIND><id><mcrc><index>.<count>.<wlen>.[<plen>.]<data>` for a chunk of
--- several (numbers in base 64; `plen` for every method but raw). The module reads both and
--- writes the long one (the host reads only that, and stdout is not the bottleneck).
--- Parsing is split in two so a receiver can answer at once and defer what reads every byte
--- (PROTOCOL.md 3 allows deferring checks 3, 5 and 6): `parse_header` reads only the header
--- (one anchored match on a good frame, whatever its length); `check_data` is one C-speed
--- scan of the data (control bytes, base64 alphabet and padding, or UTF-8). Neither verifies
--- `fcrc`, which costs a CRC pass and is left to the caller's budgeted work (reassembler.lua).
--- `parse` runs both, for tools and tests.

local errors = require("invsync.errors")
local text = require("invsync.text")
local crc32 = require("invsync.crc32")

local byte, sub, find, match, format = string.byte, string.sub, string.find, string.match, string.format

local frame = {}

--- The methods of PROTOCOL.md 2.3, in the specification's order.
frame.METHODS = { "raw", "lz4", "zlib", "solid" }
local KNOWN_METHOD = { raw = true, lz4 = true, zlib = true, solid = true }

--- Length of `IS1 <fcrc> `: the body starts right after it.
frame.BODY_START = 14
--- Where the body starts in a frame with the short header: after `~<fcrc>`.
frame.SHORT_BODY_START = 8

--- Method of each kind letter of the short header (lowercase: a message of one chunk).
local KIND = { r = "raw", l = "lz4", z = "zlib", s = "solid", R = "raw", L = "lz4", Z = "zlib", S = "solid" }
--- Values of the base-64 digits of the short header's numbers (RFC 4648's alphabet).
local DIGIT = {}
do
  local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  for i = 1, 64 do DIGIT[byte(alphabet, i)] = i - 1 end
end

local MAX_ID = 4294967295
local MAX_LEN = 9007199254740991 -- 2^53 - 1

---@class InvsyncFrame : InvsyncHeader a parsed frame (`parse`)
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

---@class InvsyncHeader
---@field fcrc number checksum written in the frame
---@field fcrc_hex string
---@field id number
---@field index number
---@field count number
---@field method string
---@field plen number
---@field wlen number
---@field mcrc number|nil nil for a one-chunk short frame until its data's CRC is known (it is that CRC)
---@field mcrc_hex string|nil
---@field dpos number position of the first data byte in the frame (#line + 1 when empty)
---@field bpos number position of the first byte `fcrc` covers

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

--- Position of the first control byte (0x00-0x1F, 0x7F) of `line`, or nil. An anchored run
--- of allowed bytes: `find` with an unanchored negated set costs two to three times as much.
---@param line string
---@return number|nil
local function control_byte(line)
  local _, run = find(line, "^[^%z\1-\31\127]*")
  if run < #line then return run + 1 end
  return nil
end

--- The ForbiddenCharacter error of check 3 (a control byte anywhere in the frame) for the
--- control byte at `at`.
local function control_error(line, at, id, index)
  return errors.new("ForbiddenCharacter", format("expected no control character, found byte %d at offset %d",
    byte(line, at), at), id, index, at)
end

--- The header checks field by field (check 4), for a frame the one-pattern fast path of
--- `parse_header` did not accept: it names the first bad field. A frame with a control byte
--- anywhere fails check 3 first, whatever its header (this is the error path, so the scan of
--- the whole frame costs nothing on good frames).
---@param line string
---@return InvsyncHeader|nil
---@return InvsyncError|nil
local function parse_header_slowly(line)
  local bad = control_byte(line)
  if bad then return nil, control_error(line, bad) end
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
      return nil, errors.new("UnknownMethod", "message " .. id_s .. ": method '" .. method .. "', expected raw, lz4, zlib or solid", id, index)
    end
    return malformed("method", "expected a method name, got '" .. method .. "'")
  end
  if index == 0 or index > count then
    return nil, errors.new("IndexOutOfRange", "message " .. id_s .. ": chunk " .. index_s .. " of " .. count_s
      .. ", expected 1 ..= " .. count_s, id)
  end
  -- consistency of the fields with each other and with the data's length
  local dlen = #line - pos + 1
  if method == "raw" and plen ~= wlen then
    return malformed("plen", "expected plen == wlen for raw, got " .. plen_s .. " and " .. wlen_s)
  end
  if dlen > wlen then
    return malformed("data", format("%d bytes of data is more than wlen %s", dlen, wlen_s))
  end
  if dlen == 0 and wlen > 0 then
    return malformed("data", "empty chunk in a non-empty message")
  end
  return {
    fcrc = crc32.from_hex(fcrc_hex), fcrc_hex = fcrc_hex,
    id = id, index = index, count = count, method = method, plen = plen, wlen = wlen,
    mcrc = crc32.from_hex(mcrc_hex), mcrc_hex = mcrc_hex, dpos = pos, bpos = frame.BODY_START,
  }
end

--- A base-64 number of the short header: its digits, at most `max_digits` of them, no
--- leading zero digit (unless `zero_ok` and it is "A"), at most `max_value`. Returns the value
--- or nil, reason. Values above 2^53 lose precision in a double but stay above 2^53 - 1.
---@param s string
---@param zero_ok boolean
---@param max_digits number
---@param max_value number
---@return number|nil
---@return string|nil
local function base64_number(s, zero_ok, max_digits, max_value)
  local n = #s
  if n == 0 then return nil, "expected a base-64 number, got nothing" end
  if n > max_digits then return nil, "expected at most " .. max_digits .. " base-64 digits, got " .. n end
  if n > 1 and byte(s, 1) == 65 then return nil, "expected no leading zero digit, got '" .. s .. "'" end
  local v = 0
  for i = 1, n do
    local d = DIGIT[byte(s, i)]
    if not d then return nil, "expected base-64 digits, got '" .. s .. "'" end
    v = v * 64 + d
  end
  if v == 0 and not zero_ok then return nil, "expected a number from 1, got 0" end
  if v > max_value then return nil, "expected at most " .. format("%d", max_value) .. ", got '" .. s .. "'" end
  return v
end

--- The header of a frame with the short header (PROTOCOL.md 2.5), field by field from the
--- left (check 4), after the length and the marker. A frame with a bad header and a control
--- byte anywhere is named by check 3, as the reference codec names it.
---@param line string
---@return InvsyncHeader|nil
---@return InvsyncError|nil
local function parse_short(line)
  local function bad(err)
    local at = control_byte(line)
    if at then return nil, control_error(line, at) end
    return nil, err
  end
  local function malformed(name, reason)
    return bad(errors.new("MalformedHeader", "field " .. name .. ": " .. reason))
  end
  local pos = 2
  -- a fixed-width field: exactly 6 digits, leading zero digits included
  local function fixed(name)
    local s = sub(line, pos, pos + 5)
    if #s < 6 then return malformed(name, "missing (the header ends early)") end
    local v = 0
    for i = 1, 6 do
      local d = DIGIT[byte(s, i)]
      if not d then return malformed(name, "expected 6 base-64 digits, got '" .. s .. "'") end
      v = v * 64 + d
    end
    if v > MAX_ID then return malformed(name, "expected at most 4294967295, got '" .. s .. "'") end
    pos = pos + 6
    return v
  end
  local function number(name, zero_ok, max_digits, max_value)
    local s, after = field(line, pos, ".")
    if not s then return malformed(name, "missing '.' after it") end
    local v, why = base64_number(s, zero_ok, max_digits, max_value)
    if not v then return malformed(name, why) end
    pos = after
    return v
  end
  local fcrc, err = fixed("fcrc")
  if not fcrc then return nil, err end
  local kind = sub(line, pos, pos)
  local method = KIND[kind]
  if not method then
    if find(kind, "^%a$") then
      return bad(errors.new("UnknownMethod", "kind '" .. kind .. "', expected one of r, l, z, s, R, L, Z, S"))
    end
    return malformed("method", "expected a method letter, got '" .. kind .. "'")
  end
  pos = pos + 1
  local one = find(kind, "^%l$") ~= nil
  local id
  id, err = fixed("id")
  if not id then return nil, err end
  if id == 0 then return malformed("id", "expected a number from 1, got 0") end
  local h = { fcrc = fcrc, fcrc_hex = format("%08x", fcrc), id = id, method = method, bpos = frame.SHORT_BODY_START }
  if one then
    h.index, h.count = 1, 1
  else
    local mcrc
    mcrc, err = fixed("mcrc")
    if not mcrc then return nil, err end
    h.mcrc, h.mcrc_hex = mcrc, format("%08x", mcrc)
    h.index, err = number("index", true, 6, MAX_ID)
    if not h.index then return nil, err end
    h.count, err = number("count", false, 6, MAX_ID)
    if not h.count then return nil, err end
    h.wlen, err = number("wlen", true, 9, MAX_LEN)
    if not h.wlen then return nil, err end
  end
  if method ~= "raw" then
    h.plen, err = number("plen", true, 9, MAX_LEN)
    if not h.plen then return nil, err end
  end
  h.dpos = pos
  local dlen = #line - pos + 1
  if one then
    h.wlen = dlen
    if method == "raw" then h.plen = dlen end
    return h
  end
  h.plen = h.plen or h.wlen
  if h.count < 2 then
    return malformed("count", "expected at least 2 (a message of one chunk has a lowercase kind)")
  end
  if h.index == 0 or h.index > h.count then
    return bad(errors.new("IndexOutOfRange", format("message %d: chunk %d of %d, expected 1 ..= %d", id, h.index,
      h.count, h.count), id))
  end
  if dlen > h.wlen then
    return malformed("data", format("%d bytes of data is more than wlen %d", dlen, h.wlen))
  end
  if dlen == 0 and h.wlen > 0 then
    return malformed("data", "empty chunk in a non-empty message")
  end
  return h
end

--- The short header of a good frame in one anchored match (the fixed-width fields are checked
--- by the pattern, the numbers after it): what a good frame costs. The field-by-field
--- `parse_short` names what is wrong with any other.
local B64 = "[A-Za-z0-9+/]"
local SHORT_ONE = "^~" .. B64:rep(6) .. "[rlzs]" .. B64:rep(6) .. "()"
local SHORT_PART = "^~" .. B64:rep(6) .. "[RLZS]" .. B64:rep(12) .. "(" .. B64 .. "+)%.(" .. B64 .. "+)%.("
  .. B64 .. "+)%.()"
local SHORT_PLEN = "^(" .. B64 .. "+)%.()"

--- The 6 base-64 digits at `p` (the pattern has checked them).
local function fixed_at(line, p)
  local a, b, c, d, e, f = byte(line, p, p + 5)
  return ((((DIGIT[a] * 64 + DIGIT[b]) * 64 + DIGIT[c]) * 64 + DIGIT[d]) * 64 + DIGIT[e]) * 64 + DIGIT[f]
end

--- `parse_short` for a good frame: nil for anything `parse_short` must look at.
---@param line string
---@param n number its length
---@return InvsyncHeader|nil
local function parse_short_fast(line, n)
  local kind = sub(line, 8, 8)
  local method, one = KIND[kind], byte(kind) and byte(kind) >= 97
  if not method then return nil end
  local h, pos
  if one then
    pos = match(line, SHORT_ONE)
    if not pos then return nil end
    h = { index = 1, count = 1 }
  else
    local index_s, count_s, wlen_s
    index_s, count_s, wlen_s, pos = match(line, SHORT_PART)
    if not index_s then return nil end
    local index, count, wlen = base64_number(index_s, true, 6, MAX_ID), base64_number(count_s, false, 6, MAX_ID),
      base64_number(wlen_s, true, 9, MAX_LEN)
    if not (index and count and wlen) or count < 2 or index == 0 or index > count then return nil end
    local mcrc = fixed_at(line, 15)
    if mcrc > MAX_ID then return nil end
    h = { index = index, count = count, wlen = wlen, mcrc = mcrc, mcrc_hex = format("%08x", mcrc) }
  end
  if method ~= "raw" then
    local plen_s
    plen_s, pos = match(line, SHORT_PLEN, pos)
    if not plen_s then return nil end
    h.plen = base64_number(plen_s, true, 9, MAX_LEN)
    if not h.plen then return nil end
  end
  local fcrc, id = fixed_at(line, 2), fixed_at(line, 9)
  if fcrc > MAX_ID or id > MAX_ID or id == 0 then return nil end
  local dlen = n - pos + 1
  if one then
    h.wlen = dlen
    h.plen = h.plen or dlen
  else
    h.plen = h.plen or h.wlen
    if dlen > h.wlen or (dlen == 0 and h.wlen > 0) then return nil end
  end
  h.fcrc, h.fcrc_hex, h.id, h.method, h.dpos, h.bpos = fcrc, format("%08x", fcrc), id, method, pos, frame.SHORT_BODY_START
  return h
end

--- The whole header in one anchored match (PROTOCOL.md 2): what a good frame costs.
local HEADER = "^IS1 ([0-9a-f]+) ([1-9][0-9]*) ([1-9][0-9]*)/([1-9][0-9]*) ([a-z][a-z0-9]*) ([0-9]+) ([0-9]+) ([0-9a-f]+) ()"

--- A decimal plen/wlen field the fast path accepts: canonical, at most 16 digits, <= 2^53-1.
local function length_field(s)
  if #s > 16 or (#s > 1 and byte(s, 1) == 48) then return nil end
  local v = tonumber(s)
  if v > MAX_LEN then return nil end
  return v
end

--- Parses a frame's header: checks 1, 2 and 4 of PROTOCOL.md section 3 (length, magic and
--- version, the header fields, method, index range, and the fields' consistency with the
--- data's length). It reads only the header, whatever the frame's length: checks 3 and 5
--- (the bytes of the data) and 6 (`fcrc`) are `check_data` and the caller's CRC, which
--- PROTOCOL.md 3 lets a receiver defer to its budgeted work. A frame with a bad header and
--- a control byte anywhere is named by check 3, as the reference codec names it.
---@param line string the frame, without stdout marker or line end
---@param opts InvsyncParseOptions
---@return InvsyncHeader|nil header
---@return InvsyncError|nil err
function frame.parse_header(line, opts)
  if type(line) ~= "string" then
    return nil, errors.new("NotAFrame", "expected a frame as a string, got a " .. type(line))
  end
  local n = #line
  -- 1. length
  if n > opts.max_frame then
    return nil, errors.new("FrameTooLong", format("frame of %d bytes, expected at most %d", n, opts.max_frame))
  end
  if byte(line, 1) == 126 then
    local h = parse_short_fast(line, n)
    if h then return h end
    return parse_short(line)
  end
  -- the fast path: one anchored match, then the values
  local fcrc_hex, id_s, index_s, count_s, method, plen_s, wlen_s, mcrc_hex, pos = match(line, HEADER)
  if fcrc_hex and #fcrc_hex == 8 and #mcrc_hex == 8 and #id_s <= 10 and #index_s <= 10 and #count_s <= 10
    and KNOWN_METHOD[method] then
    local id, index, count = tonumber(id_s), tonumber(index_s), tonumber(count_s)
    local plen, wlen = length_field(plen_s), length_field(wlen_s)
    local dlen = n - pos + 1
    if plen and wlen and id <= MAX_ID and count <= MAX_ID and index <= count
      and (method ~= "raw" or plen == wlen) and dlen <= wlen and (dlen > 0 or wlen == 0) then
      return {
        fcrc = crc32.from_hex(fcrc_hex), fcrc_hex = fcrc_hex,
        id = id, index = index, count = count, method = method, plen = plen, wlen = wlen,
        mcrc = crc32.from_hex(mcrc_hex), mcrc_hex = mcrc_hex, dpos = pos, bpos = frame.BODY_START,
      }
    end
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
  -- 3. and 4.: name what is wrong
  return parse_header_slowly(line)
end

--- Checks 3 and 5 of PROTOCOL.md section 3 for a frame whose header `h` passed
--- `parse_header`: no control byte, and the data's characters (base64 alphabet, padding and
--- chunk alignment for `lz4`/`zlib`/`solid`; UTF-8 without control characters for `raw`). One
--- C-speed scan of the data on a good frame (the header's characters were checked by its
--- pattern); on a bad one the control bytes are looked for first, so the error is the one
--- the reference codec's order gives. Returns nil or the error.
---@param line string
---@param h InvsyncHeader
---@return InvsyncError|nil
function frame.check_data(line, h)
  local n, dpos, method, id, index = #line, h.dpos, h.method, h.id, h.index
  if method == "raw" then
    local name, off, detail = text.check(line, dpos)
    if not name then return nil end
    local bad = control_byte(line)
    if bad then return control_error(line, bad, id, index) end
    return errors.new(name, "raw data: " .. detail .. " at offset " .. off, id, index, off)
  end
  -- the alphabet, then nothing but '=' (an anchored run, see control_byte)
  local _, e = find(line, "^[A-Za-z0-9+/]*", dpos)
  if e < n then
    if not find(line, "^=*$", e + 1) then
      local bad = control_byte(line)
      if bad then return control_error(line, bad, id, index) end
      local off = e + 1
      return errors.new("ForbiddenCharacter", format("%s data: expected a base64 character, found byte %d at offset %d",
        method, byte(line, off), off), id, index, off)
    end
    -- lz4, solid: one base64 text, padded at the end of its last chunk; zlib: every chunk is a
    -- base64 text of its own, padded at its end
    local pad_ok = method == "zlib" or index == h.count
    if not pad_ok or n - e > 2 then
      local at = e + (pad_ok and 3 or 1)
      return errors.new("ForbiddenCharacter", format("%s data: padding '=' at offset %d, expected it only as the last "
        .. "one or two characters of %s", method, at, method == "zlib" and "a chunk" or "the last chunk"), id, index, at)
    end
  end
  local dlen = n - dpos + 1
  if dlen % 4 ~= 0 and (method == "zlib" or index ~= h.count) then
    return errors.new("MisalignedChunk", format("message %d chunk %d: base64 chunk of %d characters, expected a "
      .. "multiple of 4%s", id, index, dlen, method == "zlib" and " (every zlib chunk is a base64 text of its own)" or ""),
      id, index)
  end
  return nil
end

--- Parses one frame with every syntax check of PROTOCOL.md section 3 (checks 1 to 5) in the
--- reference codec's order, so both name the same error: `parse_header`, then `check_data`.
--- Whether the receiver declared the method is policy, checked with the limits after `fcrc`
--- (see reassembler.lua). The result is the header with `hdr` (the body up to the data) and
--- `data`.
---@param line string the frame, without stdout marker or line end
---@param opts InvsyncParseOptions
---@return InvsyncFrame|nil frame
---@return InvsyncError|nil err
function frame.parse(line, opts)
  local h, err = frame.parse_header(line, opts)
  if not h then return nil, err end
  err = frame.check_data(line, h)
  if err then return nil, err end
  h.hdr = sub(line, h.bpos, h.dpos - 1)
  h.data = sub(line, h.dpos)
  if not h.mcrc then
    h.mcrc = crc32.of(h.data)
    h.mcrc_hex = format("%08x", h.mcrc)
  end
  return h
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
