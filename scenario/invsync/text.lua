--- Validation of frame text (PROTOCOL.md 2.1): the characters `raw` data may hold.
---
--- Valid UTF-8 with no control character: no byte 0x00-0x1F or 0x7F, no U+0080-U+009F, no
--- overlong form, no surrogate, nothing above U+10FFFF. ASCII is skipped at C speed with
--- `string.find`; only non-ASCII characters are looked at one by one.

local byte, find, sub = string.byte, string.find, string.sub

local text = {}

--- Pattern of a run of printable ASCII, anchored.
local PLAIN_RUN = "^[\32-\126]*"

--- Length of the UTF-8 sequence starting with lead byte `b` (0 if `b` cannot start one),
--- and the allowed range of the second byte.
local SEQ_LEN, SECOND_MIN, SECOND_MAX = {}, {}, {}
for b = 0xC2, 0xDF do SEQ_LEN[b], SECOND_MIN[b], SECOND_MAX[b] = 2, 0x80, 0xBF end
for b = 0xE0, 0xEF do SEQ_LEN[b], SECOND_MIN[b], SECOND_MAX[b] = 3, 0x80, 0xBF end
SECOND_MIN[0xE0] = 0xA0 -- no overlong 3-byte forms
SECOND_MAX[0xED] = 0x9F -- no surrogates
for b = 0xF0, 0xF4 do SEQ_LEN[b], SECOND_MIN[b], SECOND_MAX[b] = 4, 0x80, 0xBF end
SECOND_MIN[0xF0] = 0x90 -- no overlong 4-byte forms
SECOND_MAX[0xF4] = 0x8F -- nothing above U+10FFFF

--- Checks `s[i ..= j]`. Returns nil when it is frame text, else the error name
--- ("ForbiddenCharacter" or "InvalidUtf8"), the offset (in `s`) of the first offending
--- byte, and a description of what was expected there.
---@param s string
---@param i number|nil
---@param j number|nil
---@return string|nil name
---@return number|nil offset
---@return string|nil detail
function text.check(s, i, j)
  i = i or 1
  j = j or #s
  if j < #s then
    -- `find` scans to the end of its subject: check a copy of the range instead, so a caller
    -- that checks a long text slice by slice does not pay for the whole rest every time
    local name, off, detail = text.check(sub(s, i, j))
    if name then return name, off + i - 1, detail end
    return nil
  end
  -- the next byte that is not printable ASCII: the end of an anchored run of printable ASCII
  -- (cheaper per byte than an unanchored search for a negated set)
  local _, e = find(s, PLAIN_RUN, i)
  local p = e + 1
  while p <= j do
    local b = byte(s, p)
    if b < 128 then
      return "ForbiddenCharacter", p, "expected no control character, found byte " .. b
    end
    local len = SEQ_LEN[b]
    if not len then
      return "InvalidUtf8", p, "expected a UTF-8 lead byte, found byte " .. b
    end
    if p + len - 1 > j then
      return "InvalidUtf8", p, "expected " .. len .. " bytes of a UTF-8 sequence before the end"
    end
    local b2, b3, b4 = byte(s, p + 1, p + len - 1)
    if b2 < SECOND_MIN[b] or b2 > SECOND_MAX[b] then
      return "InvalidUtf8", p + 1, "expected a valid UTF-8 continuation byte, found byte " .. b2
    end
    if len >= 3 and (b3 < 0x80 or b3 > 0xBF) then
      return "InvalidUtf8", p + 2, "expected a UTF-8 continuation byte, found byte " .. b3
    end
    if len == 4 and (b4 < 0x80 or b4 > 0xBF) then
      return "InvalidUtf8", p + 3, "expected a UTF-8 continuation byte, found byte " .. b4
    end
    if b == 0xC2 and b2 <= 0x9F then
      return "ForbiddenCharacter", p, "expected no C1 control character (U+0080-U+009F)"
    end
    _, e = find(s, PLAIN_RUN, p + len)
    p = e + 1
  end
  return nil
end

--- Largest position q in (i-1) ..= j such that s[i ..= q] ends on a character boundary
--- (q + 1 is not a UTF-8 continuation byte). Used to cut raw chunks between characters.
---@param s string
---@param i number
---@param j number
---@return number
function text.boundary(s, i, j)
  local q = j
  local n = #s
  while q >= i and q < n do
    local b = byte(s, q + 1)
    if b < 0x80 or b >= 0xC0 then break end
    q = q - 1
  end
  return q
end

return text
