-- Frame parsing and building (PROTOCOL.md section 2 and section 3 steps 1-2).
local t = require("testlib")
local frame = require("invsync.frame")
local crc32 = require("invsync.crc32")

local tests = {}
local function test(name, fn) tests[#tests + 1] = { name, fn } end

local OPTS = { max_frame = 8192 }

local function build(id, index, count, method, plen, wlen, mcrc, data)
  local hdr = frame.body_header(id, index, count, method, plen, wlen, mcrc)
  return frame.assemble(crc32.of(hdr .. data), hdr, data)
end

test("a built frame parses back to its fields", function()
  local line = build(7, 2, 3, "lz4", 100, 12, 0xdeadbeef, "QUJD")
  t.eq(line:sub(1, 13), "IS1 " .. crc32.hex(crc32.of("7 2/3 lz4 100 12 deadbeef QUJD")) .. " ", "prefix")
  local f, err = frame.parse(line, OPTS)
  t.eq(err, nil, "error")
  t.eq(f.id, 7, "id"); t.eq(f.index, 2, "index"); t.eq(f.count, 3, "count")
  t.eq(f.method, "lz4", "method"); t.eq(f.plen, 100, "plen"); t.eq(f.wlen, 12, "wlen")
  t.eq(f.mcrc, 0xdeadbeef, "mcrc"); t.eq(f.mcrc_hex, "deadbeef", "mcrc hex")
  t.eq(f.data, "QUJD", "data"); t.eq(f.hdr, "7 2/3 lz4 100 12 deadbeef ", "hdr")
  t.eq(frame.verify(f), nil, "fcrc verifies")
  t.eq(frame.header_len(7, 2, 3, "lz4", 100, 12), #line - 4, "header_len")
end)

test("limits of the numeric fields", function()
  local f = frame.parse(build(4294967295, 4294967295, 4294967295, "raw", 9007199254740991, 9007199254740991, 0, "x"), OPTS)
  t.eq(f.id, 4294967295, "largest id")
  t.eq(f.plen, 9007199254740991, "largest plen")
  local empty = frame.parse(build(1, 1, 1, "raw", 0, 0, 0, ""), OPTS)
  t.eq(empty.data, "", "empty message")
  t.eq(frame.verify(empty), nil, "empty verifies")
end)

test("each syntax error has its name", function()
  local good = build(5, 1, 2, "raw", 10, 10, 0x01020304, "hello")
  local cases = {
    { "hello world", "NotAFrame" }, { "", "NotAFrame" }, { "IS", "NotAFrame" }, { "ISx 1", "NotAFrame" },
    { "is1 " .. good:sub(5), "NotAFrame" }, { "IS2 " .. good:sub(5), "UnsupportedVersion" },
    { "IS9", "UnsupportedVersion" },
    { good:gsub("^IS1 (%x+) ", "IS1 %1  "), "MalformedHeader" },
    { "IS1 00000000 5 1/2 raw", "MalformedHeader" },
    { build(5, 1, 2, "raw", 10, 10, 1, "hel\1lo"), "ForbiddenCharacter" },
    { build(5, 1, 2, "raw", 10, 10, 1, "h\195"), "InvalidUtf8" },
    { build(5, 1, 2, "lz4", 10, 8, 1, "QU!D"), "ForbiddenCharacter" },
    { build(5, 1, 2, "zlib", 10, 8, 1, "QU D"), "ForbiddenCharacter" },
    { (good:gsub(" raw ", " RAW ")), "MalformedHeader" },
    { (good:gsub("^IS1 %x+", "IS1 0102030G")), "MalformedHeader" },
    { (good:gsub("^IS1 ", "IS12 ")), "UnsupportedVersion" },
    { (good:gsub("^IS1 ", "IS1x")), "MalformedHeader" },
    { (good:gsub("^IS1 ", "IS1\t")), "ForbiddenCharacter" },
    { build(5, 1, 2, "lz4", 10, 8, 1, "QU=="), "ForbiddenCharacter" },
    { build(5, 2, 2, "lz4", 10, 8, 1, "QU=D"), "ForbiddenCharacter" },
    { build(5, 2, 2, "lz4", 10, 8, 1, "Q==="), "ForbiddenCharacter" },
    { build(5, 1, 2, "lz4", 10, 8, 1, "QUJDR"), "MisalignedChunk" },
    { build(5, 1, 2, "zlib", 10, 8, 1, "QUJDR"), "MisalignedChunk" },
    { build(5, 2, 2, "zlib", 10, 8, 1, "QUJDR"), "MisalignedChunk" },
    { build(5, 1, 2, "zlib", 10, 8, 1, "Q==="), "ForbiddenCharacter" },
    { build(5, 1, 2, "zlib", 10, 8, 1, "QU=D"), "ForbiddenCharacter" },
    { build(5, 1, 2, "raw", 3, 3, 1, "abcd"), "MalformedHeader" },
    { build(5, 1, 2, "zstd", 10, 8, 1, "QUJD"), "UnknownMethod" },
    { (good:gsub("^IS1 %x+", "IS1 0102030")), "MalformedHeader" },
    { build(5, 1, 2, "raw", 10, 10, 1, "x"):gsub(" 5 1/2 ", " 05 1/2 "), "MalformedHeader" },
    { build(5, 1, 2, "raw", 10, 10, 1, "x"):gsub(" 5 1/2 ", " 0 1/2 "), "MalformedHeader" },
    { build(5, 1, 2, "raw", 10, 10, 1, "x"):gsub(" 5 1/2 ", " 5 1-2 "), "MalformedHeader" },
    { build(5, 1, 2, "raw", 10, 10, 1, "x"):gsub(" 5 1/2 ", " 5 12 "), "MalformedHeader" },
    { build(5, 1, 2, "raw", 10, 10, 1, "x"):gsub(" 5 1/2 ", " 5 1/0 "), "MalformedHeader" },
    { build(5, 1, 2, "raw", 10, 10, 1, "x"):gsub(" 5 1/2 ", " 5 1/02 "), "MalformedHeader" },
    { build(5, 1, 2, "raw", 10, 10, 1, "x"):gsub(" 5 1/2 ", " 4294967296 1/2 "), "MalformedHeader" },
    { build(5, 1, 2, "raw", 10, 10, 1, "x"):gsub(" 5 1/2 ", " 12345678901 1/2 "), "MalformedHeader" },
    { build(5, 1, 2, "raw", 10, 10, 1, "x"):gsub(" raw 10 10 ", " raw 010 010 "), "MalformedHeader" },
    { build(5, 1, 2, "raw", 10, 10, 1, "x"):gsub(" raw 10 10 ", " raw 99999999999999999 99999999999999999 "), "MalformedHeader" },
    { build(5, 1, 2, "raw", 10, 10, 1, "x"):gsub(" raw 10 10 ", " raw 9007199254740992 9007199254740992 "), "MalformedHeader" },
    { build(5, 0, 2, "raw", 10, 10, 1, "x"), "IndexOutOfRange" },
    { build(5, 3, 2, "raw", 10, 10, 1, "x"), "IndexOutOfRange" },
    { build(5, 1, 2, "lzz", 10, 10, 1, "x"), "UnknownMethod" },
    { build(5, 1, 2, "raw", 10, 11, 1, "x"), "MalformedHeader" },
    { build(5, 1, 2, "raw", 10, 10, 1, ""), "MalformedHeader" },
    { build(5, 1, 1, "lz4", 10, 8, 1, ""), "MalformedHeader" },
  }
  for i, c in ipairs(cases) do
    local f, err = frame.parse(c[1], OPTS)
    t.eq(f, nil, "case " .. i .. " parses")
    t.err(err, c[2], "case " .. i .. " " .. t.show(c[1]))
  end
end)

test("every zlib chunk is a padded base64 text of its own", function()
  for index = 1, 2 do
    local f, err = frame.parse(build(5, index, 2, "zlib", 10, 8, 1, "QU=="), OPTS)
    t.eq(err, nil, "padding at the end of chunk " .. index)
    t.eq(f.data, "QU==", "data")
  end
end)

test("the header alone, then the data's checks", function()
  local line = build(5, 1, 2, "lz4", 10, 8, 1, "QU!D")
  local h, err = frame.parse_header(line, OPTS)
  t.eq(err, nil, "the header is fine")
  t.eq(h.dpos, #line - 3, "data position"); t.eq(h.id, 5, "id"); t.eq(h.method, "lz4", "method")
  t.eq(h.data, nil, "no copy of the data")
  err = frame.check_data(line, h)
  t.err(err, "ForbiddenCharacter", "the data's characters")
  t.eq(err.offset, #line - 1, "offset in the frame"); t.eq(err.index, 1, "names the chunk")
  -- a frame whose header the fast path does not take is still named field by field
  h, err = frame.parse_header(build(5, 1, 2, "raw", 10, 10, 1, "x"):gsub(" raw 10 10 ", " raw 010 010 "), OPTS)
  t.eq(h, nil, "no header"); t.err(err, "MalformedHeader", "leading zero"); t.ok(err.message:find("plen"), "names plen")
  -- the same fields from the fast path and from a full parse
  local good = build(4294967295, 7, 9, "raw", 9007199254740991, 9007199254740991, 0xfedcba98, "hi there")
  local a, b = frame.parse_header(good, OPTS), frame.parse(good, OPTS)
  for _, k in ipairs({ "fcrc", "id", "index", "count", "method", "plen", "wlen", "mcrc", "mcrc_hex", "fcrc_hex", "dpos" }) do
    t.eq(a[k], b[k], k)
  end
  t.eq(frame.check_data(good, a), nil, "good data")
end)

test("the length limit of the receiver", function()
  local line = build(1, 1, 1, "lz4", 3, 4, 1, "QUJD")
  t.err(select(2, frame.parse(line, { max_frame = #line - 1 })), "FrameTooLong", "one byte too long")
  t.ok(frame.parse(line, { max_frame = #line }), "exactly max_frame")
  t.err(select(2, frame.parse(string.rep("x", 9000), OPTS)), "FrameTooLong", "length is checked first")
end)

test("a corrupted frame fails verification", function()
  local line = build(9, 1, 1, "raw", 5, 5, crc32.of("hello"), "hello")
  local f = frame.parse(line:gsub("hello$", "hellp"), OPTS)
  t.err(frame.verify(f), "FrameChecksumMismatch", "data changed")
  f = frame.parse(line:gsub(" 9 1/1 ", " 8 1/1 "), OPTS)
  t.err(frame.verify(f), "FrameChecksumMismatch", "id changed")
end)

return tests
