-- Unit tests of crc32, base64, text and lz4 against known values (portable Lua suite).
local t = require("testlib")
local crc32 = require("invsync.crc32")
local base64 = require("invsync.base64")
local text = require("invsync.text")
local lz4 = require("invsync.lz4")
local errors = require("invsync.errors")

local tests = {}
local function test(name, fn) tests[#tests + 1] = { name, fn } end

test("crc32 check values", function()
  t.eq(crc32.hex(crc32.of("123456789")), "cbf43926", "crc of 123456789")
  t.eq(crc32.of(""), 0, "crc of empty")
  t.eq(crc32.hex(crc32.of("The quick brown fox jumps over the lazy dog")), "414fa339", "fox")
  t.eq(crc32.hex(crc32.of("a")), "e8b7be43", "a")
  t.eq(crc32.hex(crc32.of(string.rep("\0", 32))), "190a55ad", "32 zero bytes")
  t.eq(crc32.hex(crc32.of(string.rep("\255", 32))), "ff6cab0b", "32 0xff bytes")
end)

test("crc32 ranges, continuation and combination agree", function()
  local r = t.rng(7)
  for _ = 1, 40 do
    local s = r.bytes(r.int(0, 300))
    local cut = r.int(0, #s)
    local a, b = s:sub(1, cut), s:sub(cut + 1)
    local whole = crc32.of(s)
    t.eq(crc32.update(crc32.of(a), b), whole, "update continues")
    t.eq(crc32.combine(crc32.of(a), crc32.of(b), #b), whole, "combine")
    t.eq(crc32.combine_op(crc32.of(a), crc32.of(b), crc32.shift_op(#b)), whole, "combine_op")
    t.eq(crc32.of(s, cut + 1, #s), crc32.of(b), "range")
  end
  t.eq(crc32.from_hex("cbf43926"), 0xcbf43926, "from_hex")
  t.eq(crc32.hex(0), "00000000", "hex pads")
end)

test("base64 RFC 4648 vectors", function()
  local vectors = { { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
    { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" } }
  for _, v in ipairs(vectors) do
    t.eq(base64.encode(v[1]), v[2], "encode " .. v[1])
    t.eq(base64.decode(v[2]), v[1], "decode " .. v[2])
    t.eq(base64.check(v[2]), nil, "check " .. v[2])
  end
end)

test("base64 round trip of every length and byte", function()
  local r = t.rng(11)
  for n = 0, 100 do
    local s = r.bytes(n)
    local e = base64.encode(s)
    t.eq(#e, 4 * math.floor((n + 2) / 3), "encoded length")
    t.eq(base64.decode(e), s, "round trip of " .. n .. " bytes")
  end
  local all = {}
  for b = 0, 255 do all[#all + 1] = string.char(b) end
  all = table.concat(all)
  t.eq(base64.decode(base64.encode(all)), all, "all bytes")
end)

test("base64 rejects non-canonical text", function()
  local bad = { "Zg=", "Zh==", "Zm9=", "Zg==Zg==", "Z===", "====", "Zm9v!AAA", "Zm 9", "Zm9\n", "Zg=A", "-_AA", "Zm8" }
  for _, s in ipairs(bad) do
    local out, err = base64.decode(s)
    t.eq(out, nil, "decode of " .. s)
    t.err(err, "BadBase64", "decode of " .. s)
    t.err(base64.check(s), "BadBase64", "check of " .. s)
  end
  -- a non-final piece may not hold padding
  local _, err = base64.decode_piece("Zg==", false, "chunk 1")
  t.err(err, "BadBase64", "padding in a non-final piece")
  t.ok(err.message:find("chunk 1", 1, true), "error names where")
  t.eq(base64.decode_piece("Zm9v", false), "foo", "non-final piece")
end)

test("text accepts frame text and names the first offending byte", function()
  t.eq(text.check("plain {\"json\": [1, 2]} ~"), nil, "ascii")
  t.eq(text.check("h\195\169llo \226\130\172 \240\159\152\128"), nil, "utf-8")
  local cases = {
    { "a\0b", "ForbiddenCharacter", 2 }, { "tab\there", "ForbiddenCharacter", 4 }, { "del\127", "ForbiddenCharacter", 4 },
    { "line\n", "ForbiddenCharacter", 5 }, { "\12form", "ForbiddenCharacter", 1 }, { "c1 \194\133", "ForbiddenCharacter", 4 },
    { "\192\175", "InvalidUtf8", 1 }, { "\224\128\175", "InvalidUtf8", 2 }, { "\237\160\128", "InvalidUtf8", 2 },
    { "\244\144\128\128", "InvalidUtf8", 2 }, { "x\255", "InvalidUtf8", 2 }, { "cut \226\130", "InvalidUtf8", 5 },
    { "\128", "InvalidUtf8", 1 }, { "ok\195(", "InvalidUtf8", 4 },
  }
  for _, c in ipairs(cases) do
    local name, off = text.check(c[1])
    t.eq(name, c[2], "error for " .. t.show(c[1]))
    t.eq(off, c[3], "offset for " .. t.show(c[1]))
  end
  t.eq(text.check("ab\0cd", 1, 2), nil, "range stops before the NUL")
end)

test("text.boundary never splits a character", function()
  local s = "a\195\169b\240\159\152\128c"
  t.eq(text.boundary(s, 1, 2), 1, "inside a 2-byte character")
  t.eq(text.boundary(s, 1, 3), 3, "after a 2-byte character")
  t.eq(text.boundary(s, 1, 6), 4, "inside a 4-byte character")
  t.eq(text.boundary(s, 5, 6), 4, "no boundary in range")
  t.eq(text.boundary(s, 1, #s), #s, "end")
end)

test("lz4 hand-made blocks", function()
  t.eq(lz4.decompress(t.unhex("00"), 0), "", "empty block")
  t.eq(lz4.decompress(t.unhex("50 68656c6c6f"), 5), "hello", "literals only")
  -- "ab" then a match of 6 at offset 2 (overlapping), then "!" as last literals
  t.eq(lz4.decompress(t.unhex("22 6162 0200 10 21"), 9), "abababab!", "overlapping match")
  -- RLE: "x" then 20 copies at offset 1 (match length 4 + 15 + 1 ext)
  t.eq(lz4.decompress(t.unhex("1f 78 0100 01 00"), 21), string.rep("x", 21), "match length extension")
  -- 20 literals: 15 + 5 in the extension byte
  t.eq(lz4.decompress(t.unhex("f0 05") .. string.rep("L", 20), 20), string.rep("L", 20), "literal length extension")
  -- 270 literals: 15 + 255 + 0
  t.eq(lz4.decompress(t.unhex("f0 ff 00") .. string.rep("M", 270), 270), string.rep("M", 270), "two extension bytes")
end)

test("lz4 match right after an output block boundary", function()
  -- 1025 literals (the tail passes the 1024-byte block size within this sequence), then an
  -- overlapping match of the last byte; a decoder that indexes the tail by `a % 1024` copies
  -- the first byte instead (a bug proptest once found)
  local lits = string.rep("a", 1024) .. "b"
  local rest = 1025 - 15
  local ext = string.rep("\255", math.floor(rest / 255)) .. string.char(rest % 255)
  local block = "\241" .. ext .. lits .. "\1\0" .. "\0"
  t.eq(lz4.decompress(block, 1030), lits .. "bbbbb", "overlapping match at byte 1025")
  -- the same with a plain (non-overlapping) match reaching back into the first block
  block = "\241" .. ext .. lits .. "\3\0" .. "\0"
  t.eq(lz4.decompress(block, 1030), lits .. "aabaa", "match across the boundary")
end)

test("lz4 rejects bad blocks with DecompressFailed", function()
  local bad = {
    { "", 10, "empty input" }, { "10 61 0000 00", 10, "offset 0" }, { "10 61 0200 00", 10, "offset before start" },
    { "50 68656c6c6f", 4, "output over plen" }, { "50 68656c", 5, "truncated literals" },
    { "10 61 01", 10, "truncated offset" }, { "1f 61 0100", 40, "truncated length extension" },
    { "1f 61 0100 ff", 400, "truncated in a 255 run" }, { "10 61 0100", 10, "ends after a match" },
    { "f0", 40, "truncated literal length" },
  }
  for _, b in ipairs(bad) do
    local out, err = lz4.decompress(t.unhex(b[1]), b[2])
    t.eq(out, nil, b[3])
    t.err(err, "DecompressFailed", b[3])
  end
end)

test("lz4 fed in any pieces equals one call", function()
  local r = t.rng(5)
  -- a block with every kind of sequence, built by hand from a literal alphabet
  local parts, want = {}, {}
  for n = 1, 200 do
    local lit = r.bytes(r.int(n == 1 and 1 or 0, 40), 97, 100)
    local have = #table.concat(want) + #lit
    local ml = r.int(4, 300)
    local ll = #lit
    local tok_l = ll >= 15 and 15 or ll
    local tok_m = (ml - 4) >= 15 and 15 or (ml - 4)
    local seq = { string.char(tok_l * 16 + tok_m) }
    if ll >= 15 then
      local rest = ll - 15
      while rest >= 255 do seq[#seq + 1] = "\255"; rest = rest - 255 end
      seq[#seq + 1] = string.char(rest)
    end
    seq[#seq + 1] = lit
    want[#want + 1] = lit
    do
      local off = r.int(1, math.min(have, 65535))
      seq[#seq + 1] = string.char(off % 256, math.floor(off / 256))
      if ml - 4 >= 15 then
        local rest = ml - 19
        while rest >= 255 do seq[#seq + 1] = "\255"; rest = rest - 255 end
        seq[#seq + 1] = string.char(rest)
      end
      local out = table.concat(want)
      local m = {}
      for i = 1, ml do
        local src = #out + i - off
        local c = src <= #out and out:sub(src, src) or m[src - #out]
        m[i] = c
      end
      want[#want + 1] = table.concat(m)
    end
    parts[#parts + 1] = table.concat(seq)
  end
  parts[#parts + 1] = "\48xyz" -- last sequence: 3 literals
  want[#want + 1] = "xyz"
  local block, expect = table.concat(parts), table.concat(want)
  t.eq(lz4.decompress(block, #expect), expect, "one call")
  for _, size in ipairs({ 1, 2, 3, 5, 17, 1000 }) do
    local st = lz4.new(#expect)
    for i = 1, #block, size do t.ok(lz4.feed(st, block:sub(i, i + size - 1)), "feed") end
    t.eq(lz4.finish(st), expect, "pieces of " .. size)
  end
end)

test("errors are plain tables with protocol names", function()
  t.eq(#errors.NAMES, 25, "number of names")
  local e = errors.new("BadBase64", "what", 3, 4, 5)
  t.eq(e.name, "BadBase64", "name")
  t.eq(e.id, 3, "id")
  t.eq(errors.format(e), "BadBase64: what", "format")
  t.ok(not pcall(errors.new, "NoSuchError", "x"), "unknown names are refused")
  t.assert_plain(e)
end)

return tests
