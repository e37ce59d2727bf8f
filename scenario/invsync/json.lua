--- JSON for the module's own messages: writing helpers, and a resumable decoder with a budget.
---
--- Why hand-written: the game's `helpers.json_to_table` and `helpers.table_to_json` are native
--- and fast, but one call on a multi-megabyte player payload runs for many milliseconds in a
--- single tick, which no budget can split. So the adapter uses the native functions only on
--- payloads up to a bounded size (settings.native_json_max) and this decoder above it: its
--- state is plain data (keep it in `storage`), and `decode_step` stops after about `budget`
--- work units (one unit per token, plus one per 64 bytes of a string and one per escape in it), so decoding a large
--- message is spread over ticks. Writing needs no such machinery: the module builds its JSON
--- text piece by piece with `quote` and `number` (see player_data.lua).
---
--- The decoder accepts RFC 8259 JSON (one value, whitespace around it) and gives the tables
--- `helpers.json_to_table` gives: objects and arrays become tables, `null` leaves a key
--- absent (or a hole in an array), strings stay strings (escapes decoded to UTF-8). Nesting
--- deeper than `max_depth` is refused. Errors are returned as `nil, message`; nothing raises
--- on bad input. Pure Lua, portable to 5.4 and Luau; nothing iterates string keys.

local byte, sub, find, match, format, char, concat, floor =
  string.byte, string.sub, string.find, string.match, string.format, string.char, table.concat, math.floor

local json = {}

--- Nesting depth refused by the decoder unless the caller gives another.
json.MAX_DEPTH = 64

-- Writing -------------------------------------------------------------------------------

local ESCAPES = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
for c = 0, 31 do
  local ch = char(c)
  if not ESCAPES[ch] then ESCAPES[ch] = format("\\u%04x", c) end
end
ESCAPES["\127"] = "\\u007f"

--- A JSON string literal of `s` (UTF-8 text is kept as it is; `"`, `\` and control characters
--- are escaped). Plain strings, the common case, cost one `find`.
---@param s string
---@return string
function json.quote(s)
  if not find(s, '[%c"\\]') then return '"' .. s .. '"' end
  return '"' .. s:gsub('[%c"\\]', ESCAPES) .. '"'
end

--- A JSON number for `x`: integers without a fraction, other numbers with the fewest digits
--- that read back to exactly the same double. Raises for NaN and infinities (a programming
--- error: the module never produces them).
---@param x number
---@return string
function json.number(x)
  if x ~= x or x == math.huge or x == -math.huge then
    error("invsync.json.number: " .. tostring(x) .. " cannot be written as JSON", 2)
  end
  if x == floor(x) and x > -9007199254740992 and x < 9007199254740992 then
    return format("%d", x)
  end
  local s = format("%.14g", x)
  if tonumber(s) ~= x then
    s = format("%.17g", x)
  end
  return s
end

-- Reading -------------------------------------------------------------------------------

local SIMPLE_ESCAPES = { [34] = '"', [92] = "\\", [47] = "/", [98] = "\b", [102] = "\f", [110] = "\n", [114] = "\r", [116] = "\t" }

--- UTF-8 bytes of code point `cp`.
local function utf8_char(cp)
  if cp < 0x80 then return char(cp) end
  if cp < 0x800 then return char(0xC0 + floor(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then
    return char(0xE0 + floor(cp / 4096), 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return char(0xF0 + floor(cp / 262144), 0x80 + floor(cp / 4096) % 64, 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
end

--- The string literal whose opening quote is at `p`: its value, the position after it and
--- its number of escapes (each costs a pass of the loop, about a token's work), or nil and a
--- message. Each stretch without escapes is one anchored run (one C-speed pass over the
--- bytes, which also refuses control characters).
local function read_string(s, p)
  local out, n = nil, 0
  local start = p + 1
  while true do
    local _, e = find(s, '^[^"\\%z\1-\31]*', start)
    local q = e + 1
    local c = byte(s, q)
    if c == 34 then -- the closing quote
      local piece = sub(s, start, e)
      if not out then return piece, q + 1, 0 end
      n = n + 1
      out[n] = piece
      return concat(out, "", 1, n), q + 1, floor(n / 2)
    elseif c ~= 92 then
      if c == nil then return nil, format("byte %d: unterminated string", p) end
      return nil, format("byte %d: control character in a string (JSON needs it escaped)", q)
    end
    out = out or {}
    n = n + 1
    out[n] = sub(s, start, e)
    local x = byte(s, q + 1)
    if x == 117 then -- \uXXXX
      local hex = match(s, "^%x%x%x%x", q + 2)
      if not hex then return nil, format("byte %d: expected 4 hex digits after \\u", q) end
      local cp = tonumber(hex, 16)
      local after = q + 6
      if cp >= 0xD800 and cp <= 0xDBFF then
        local low = match(s, "^\\u(%x%x%x%x)", after)
        local lo = low and tonumber(low, 16)
        if not lo or lo < 0xDC00 or lo > 0xDFFF then
          return nil, format("byte %d: a high surrogate must be followed by a low one", q)
        end
        cp = 0x10000 + (cp - 0xD800) * 1024 + (lo - 0xDC00)
        after = after + 6
      elseif cp >= 0xDC00 and cp <= 0xDFFF then
        return nil, format("byte %d: lone low surrogate", q)
      end
      n = n + 1
      out[n] = utf8_char(cp)
      start = after
    else
      local ch = x and SIMPLE_ESCAPES[x]
      if not ch then return nil, format("byte %d: unknown escape", q) end
      n = n + 1
      out[n] = ch
      start = q + 2
    end
  end
end

--- True if `text` is a number as RFC 8259 writes it: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
local function strict_number(text)
  local i = (byte(text, 1) == 45) and 2 or 1
  local _, e = find(text, "^0", i)
  if not e then
    _, e = find(text, "^[1-9]%d*", i)
    if not e then return false end
  end
  i = e + 1
  if byte(text, i) == 46 then
    _, e = find(text, "^%d+", i + 1)
    if not e then return false end
    i = e + 1
  end
  local c = byte(text, i)
  if c == 101 or c == 69 then
    _, e = find(text, "^[+-]?%d+", i + 1)
    if not e then return false end
    i = e + 1
  end
  return i == #text + 1
end

---@class InvsyncJsonDecoder
---@field s string the text
---@field pos number next byte to read
---@field mode string what comes next: "value", "first_value", "first_key", "key", "after"
---@field stack table[] open containers: {t = table, obj = boolean, n = count, key = pending key}
---@field depth number
---@field max_depth number
---@field root any the top-level value, once read
---@field done boolean
---@field err string|nil

--- A decoder for `text` (plain data: keep it in `storage` while it works).
---@param text string
---@param max_depth number|nil
---@return InvsyncJsonDecoder
function json.decoder(text, max_depth)
  return { s = text, pos = 1, mode = "value", stack = {}, depth = 0, max_depth = max_depth or json.MAX_DEPTH,
    root = nil, has_root = false, done = false, err = nil }
end

local function fail(d, message)
  d.err = message
  d.done = true
  d.stack = {}
  return true
end

--- Stores a finished value into the open container (or as the root).
local function store(d, v)
  local depth = d.depth
  if depth == 0 then
    d.root = v
    d.has_root = true
  else
    local top = d.stack[depth]
    if top.obj then
      if v ~= nil then top.t[top.key] = v end
      top.key = nil
    else
      local n = top.n + 1
      top.n = n
      if v ~= nil then top.t[n] = v end
    end
  end
  d.mode = "after"
end

--- Closes the innermost object or array and stores it in its parent (or as the result).
---@param d table decoder state
local function close(d)
  local top = d.stack[d.depth]
  d.stack[d.depth] = nil
  d.depth = d.depth - 1
  store(d, top.t)
end

--- Decodes for about `budget` units. Returns true when finished (then `d.err` is nil and
--- `d.root` holds the value, or `d.err` says what was wrong and where), false when more
--- calls are needed; and the units spent.
---@param d InvsyncJsonDecoder
---@param budget number
---@return boolean done
---@return number spent
function json.decode_step(d, budget)
  if d.done then return true, 0 end
  local s, pos, left = d.s, d.pos, budget
  while left > 0 do
    local p = find(s, "[^ \t\r\n]", pos)
    local mode = d.mode
    if not p then
      if mode == "after" and d.depth == 0 and d.has_root then
        d.done = true
        d.pos = #s + 1
        return true, budget - left
      end
      fail(d, "unexpected end of the text")
      return true, budget - left
    end
    left = left - 1
    local c = byte(s, p)
    if mode == "after" then
      local depth = d.depth
      if depth == 0 then
        fail(d, format("byte %d: text after the JSON value", p))
        return true, budget - left
      end
      local top = d.stack[depth]
      if c == 44 then -- ,
        d.mode = top.obj and "key" or "value"
        pos = p + 1
      elseif (c == 125 and top.obj) or (c == 93 and not top.obj) then -- } or ]
        close(d)
        pos = p + 1
      else
        fail(d, format("byte %d: expected ',' or the end of the %s", p, top.obj and "object" or "array"))
        return true, budget - left
      end
    elseif mode == "key" or mode == "first_key" then
      if c == 125 and mode == "first_key" then -- {}
        close(d)
        pos = p + 1
      elseif c == 34 then
        local key, after, escapes = read_string(s, p)
        if not key then
          fail(d, after)
          return true, budget - left
        end
        local colon = find(s, "[^ \t\r\n]", after)
        if not colon or byte(s, colon) ~= 58 then
          fail(d, format("byte %d: expected ':' after an object key", colon or #s + 1))
          return true, budget - left
        end
        d.stack[d.depth].key = key
        d.mode = "value"
        pos = colon + 1
        left = left - floor(#key / 64) - escapes
      else
        fail(d, format("byte %d: expected an object key (a string)", p))
        return true, budget - left
      end
    else -- "value" or "first_value"
      if c == 93 and mode == "first_value" then -- []
        close(d)
        pos = p + 1
      elseif c == 123 or c == 91 then -- { or [
        if d.depth >= d.max_depth then
          fail(d, format("byte %d: nesting deeper than %d", p, d.max_depth))
          return true, budget - left
        end
        d.depth = d.depth + 1
        d.stack[d.depth] = { t = {}, obj = c == 123, n = 0 }
        d.mode = c == 123 and "first_key" or "first_value"
        pos = p + 1
      elseif c == 34 then
        local v, after, escapes = read_string(s, p)
        if not v then
          fail(d, after)
          return true, budget - left
        end
        pos = after
        left = left - floor(#v / 64) - escapes
        store(d, v)
      else
        local text = match(s, "^-?%d[%d%.eE+-]*", p)
        if text then
          local v = strict_number(text) and tonumber(text)
          if v == math.huge or v == -math.huge then v = nil end -- out of the range of a double
          if not v then
            fail(d, format("byte %d: malformed number '%s'", p, sub(text, 1, 40)))
            return true, budget - left
          end
          pos = p + #text
          store(d, v)
        elseif sub(s, p, p + 3) == "true" then
          pos = p + 4
          store(d, true)
        elseif sub(s, p, p + 4) == "false" then
          pos = p + 5
          store(d, false)
        elseif sub(s, p, p + 3) == "null" then
          pos = p + 4
          store(d, nil)
        else
          fail(d, format("byte %d: expected a JSON value", p))
          return true, budget - left
        end
      end
    end
  end
  d.pos = pos
  return false, budget - left
end

--- Decodes `text` in one call (small texts, tests). Returns the value, or nil and a message.
---@param text string
---@param max_depth number|nil
---@return any value
---@return string|nil err
function json.decode(text, max_depth)
  local d = json.decoder(text, max_depth)
  while not json.decode_step(d, 1e9) do end
  if d.err then return nil, d.err end
  return d.root
end

return json
