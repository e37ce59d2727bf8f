-- The sender: chunking, checksums, errors, budgets, and round trips through the receiver.
local t = require("testlib")
local S = require("invsync.sender")
local R = require("invsync.reassembler")
local frame = require("invsync.frame")
local crc32 = require("invsync.crc32")
local base64 = require("invsync.base64")

local tests = {}
local function test(name, fn) tests[#tests + 1] = { name, fn } end

local fake_deflate = function(p) return base64.encode(p) end
t.env = { inflate_b64 = function(s) return base64.decode(s) end }
local ALL = { max_frame = 1e9 }

-- checks frames as an independent receiver would and returns the wire text
local function check_frames(frames, max_frame, method)
  local parts, count, mcrc = {}, nil, nil
  local sizes = {}
  for k, line in ipairs(frames) do
    t.ok(#line <= max_frame, "frame " .. k .. " of " .. #line .. " bytes fits " .. max_frame)
    local f, err = frame.parse(line, ALL)
    t.eq(err, nil, "frame " .. k .. " parses")
    t.eq(frame.verify(f), nil, "frame " .. k .. " fcrc")
    t.eq(f.index, k, "index"); t.eq(f.method, method, "method")
    count = count or f.count
    mcrc = mcrc or f.mcrc
    t.eq(f.count, #frames, "count"); t.eq(f.mcrc, mcrc, "same mcrc everywhere")
    parts[k] = f.data
    sizes[k] = #f.data
  end
  local wire = table.concat(parts)
  t.eq(crc32.of(wire), mcrc, "mcrc covers the wire text")
  return wire, sizes
end

test("raw frames: checksums, sizes, character boundaries", function()
  local r = t.rng(4)
  for _, max_frame in ipairs({ 60, 61, 64, 100, 257, 3999 }) do
    local chars = { "a", "{", "\"", "\195\169", "\226\130\172", "\240\159\152\128", " " }
    local pieces = {}
    for i = 1, 700 do pieces[i] = chars[r.int(1, #chars)] end
    local payload = table.concat(pieces)
    local frames, err = S.frames(payload, { id = 77, method = "raw", max_frame = max_frame })
    t.eq(err, nil, "error at max_frame " .. max_frame)
    local wire, sizes = check_frames(frames, max_frame, "raw")
    t.eq(wire, payload, "raw wire is the payload")
    -- about the fewest chunks: each chunk but the last loses at most 3 bytes to a character boundary
    local room = max_frame - frame.header_len(77, #frames, #frames, "raw", #payload, #payload)
    for k = 1, #sizes do t.ok(sizes[k] >= 1 and sizes[k] <= room, "chunk " .. k .. " size " .. sizes[k]) end
    t.ok(#frames <= math.ceil(#payload / (room - 3)), #frames .. " chunks at max_frame " .. max_frame)
    local got = t.deliver(R, R.new({ accept = { "raw" }, max_frame = max_frame }), r.shuffle(frames))
    t.eq(got[77], payload, "round trip at max_frame " .. max_frame)
  end
end)

-- a reversible stand-in for deflate that compresses: runs of "a" become "\0" and the run
-- length, then base64 (the payloads below hold no "\0")
local function rle(p)
  return (p:gsub("a+", function(run)
    local out = {}
    while #run > 0 do
      local n = math.min(#run, 255)
      out[#out + 1] = "\0" .. string.char(n)
      run = run:sub(n + 1)
    end
    return table.concat(out)
  end))
end
local function unrle(z)
  return (z:gsub("%z(.)", function(c) return string.rep("a", string.byte(c)) end))
end
local rle_deflate = function(p) return base64.encode(rle(p)) end
local rle_env = { inflate_b64 = function(s) return unrle(base64.decode(s)) end }

test("zlib frames are one stream per chunk, each filling its frame", function()
  local r = t.rng(6)
  local parts = {}
  for i = 1, 60 do parts[i] = (i % 3 == 0) and string.rep("a", r.int(100, 900)) or r.bytes(r.int(10, 200), 98, 122) end
  local payload = table.concat(parts)
  for _, max_frame in ipairs({ 100, 400, 3999 }) do
    local calls = 0
    local deflate = function(p) calls = calls + 1 return rle_deflate(p) end
    local frames = S.frames(payload, { id = 3, method = "zlib", max_frame = max_frame, deflate_b64 = deflate })
    local _, sizes = check_frames(frames, max_frame, "zlib")
    local slices = {}
    for k = 1, #frames do
      local data = frame.parse(frames[k], ALL).data
      t.eq(sizes[k] % 4, 0, "chunk " .. k .. " is whole base64")
      -- each chunk is exactly the stream of its slice
      slices[k] = unrle(base64.decode(data))
      t.eq(rle_deflate(slices[k]), data, "chunk " .. k .. " is the deflated slice")
    end
    t.eq(table.concat(slices), payload, "the slices make the payload")
    t.ok(calls >= #frames + 1, "one deflate of the whole, then one per slice at least")
    local rx = R.new({ accept = { "raw", "zlib" }, max_frame = max_frame })
    r.shuffle(frames)
    for i = 1, #frames do R.push(rx, frames[i], 0) end
    local ev = R.step(rx, 1e9, 0, rle_env)
    t.eq(ev[#ev].kind, "message", "delivered at max_frame " .. max_frame)
    t.eq(ev[#ev].payload, payload, "round trip at max_frame " .. max_frame)
  end
end)

test("zlib slices hold at most 64 KiB and a given deflated whole is reused", function()
  local payload = string.rep("0123456789", 14000) -- 140 000 bytes
  local frames = S.frames(payload, { id = 4, method = "zlib", max_frame = 1e9, deflate_b64 = fake_deflate })
  t.eq(#frames, 3, "ceil(140000 / 65536) slices")
  for k = 1, #frames do
    t.ok(#base64.decode(frame.parse(frames[k], ALL).data) <= 65536, "slice " .. k .. " within 64 KiB")
  end
  local got = t.deliver(R, R.new({ accept = { "raw", "zlib" }, max_frame = 1e9 }), frames)
  t.eq(got[4], payload, "round trip")
  local calls = 0
  local small = "a short payload"
  local job = S.new(small, { id = 5, method = "zlib", deflated = fake_deflate(small),
    deflate_b64 = function(p) calls = calls + 1 return fake_deflate(p) end })
  t.eq(calls, 0, "one chunk: the given deflated text is the chunk")
  t.eq(job.deflated, 0, "nothing deflated to charge")
  job = S.new(small, { id = 5, method = "zlib", deflate_b64 = fake_deflate })
  t.eq(job.deflated, #small, "the bytes deflated are counted for the caller's budget")
end)

test("the count's digits are accounted for in every header", function()
  -- sizes around the 9 -> 10 chunk boundary
  for n = 300, 420, 7 do
    local payload = string.rep("x", n)
    local frames = S.frames(payload, { id = 1, method = "raw", max_frame = 70 })
    check_frames(frames, 70, "raw")
  end
  local frames = S.frames(string.rep("y", 2000), { id = 4294967295, method = "raw", max_frame = 60 })
  t.ok(#frames >= 100, "three-digit count")
  check_frames(frames, 60, "raw")
  local _, err = S.frames(string.rep("y", 5000), { id = 4294967295, method = "raw", max_frame = 60 })
  t.err(err, "FrameTooSmall", "a four-digit count leaves less than 4 bytes")
end)

test("empty payload is one frame with empty data", function()
  for _, m in ipairs({ "raw", "zlib" }) do
    local frames = S.frames("", { id = 2, method = m, deflate_b64 = fake_deflate })
    t.eq(#frames, 1, m .. " one frame")
    t.eq(frames[1], frame.assemble(crc32.of("2 1/1 " .. m .. " 0 0 00000000 "), "2 1/1 " .. m .. " 0 0 00000000 ", ""), m)
    local got = t.deliver(R, R.new({ accept = { "raw", "zlib" } }), frames)
    t.eq(got[2], "", m .. " round trip")
  end
end)

test("sender errors", function()
  local _, err = S.frames("abc", { id = 1, method = "raw", max_frame = 30 })
  t.err(err, "FrameTooSmall", "header does not fit")
  local h = frame.header_len(1, 1, 1, "raw", 4, 4)
  _, err = S.frames("\240\159\152\128", { id = 1, method = "raw", max_frame = h + 3 })
  t.err(err, "FrameTooSmall", "a 4-byte character does not fit")
  t.ok(S.frames("\240\159\152\128", { id = 1, method = "raw", max_frame = h + 4 }), "it fits in 4 bytes")
  -- zlib: the room is what the reference encoder's widest header leaves (a count of 16 for a
  -- short text, a wire length of (8 + 1024) * 4), and must hold the smallest stream
  h = frame.header_len(1, 16, 16, "zlib", 4, (8 + 1024) * 4)
  _, err = S.frames("abcd", { id = 1, method = "zlib", max_frame = h + 11, deflate_b64 = fake_deflate })
  t.err(err, "FrameTooSmall", "room for less than the smallest zlib stream")
  t.eq(#S.frames("abcd", { id = 1, method = "zlib", max_frame = h + 12, deflate_b64 = fake_deflate }), 1, "one stream")
  _, err = S.frames(string.rep("a", 101), { id = 1, method = "raw", max_message = 100 })
  t.err(err, "MessageTooLarge", "payload over max_message")
  _, err = S.frames(string.rep("a", 1000), { id = 1, method = "raw", max_frame = 60, max_chunks = 10 })
  t.err(err, "TooManyChunks", "too many chunks")
  _, err = S.frames("ok\0no", { id = 9, method = "raw" })
  t.err(err, "RawUnrepresentable", "control byte")
  t.eq(err.offset, 3, "offset of the offending byte")
  _, err = S.frames("caf\195", { id = 9, method = "raw" })
  t.err(err, "RawUnrepresentable", "invalid UTF-8")
  _, err = S.frames("x", { id = 9, method = "auto", decode = { "lz4" } })
  t.err(err, "NoAcceptableMethod", "nothing the game can produce")
  t.ok(not pcall(S.new, "x", { id = 0, method = "raw" }), "id 0 is refused")
  t.ok(not pcall(S.new, "x", { id = 1, method = "lz4" }), "the game does not send lz4")
end)

test("auto picks the smaller encoding and falls back from raw", function()
  local compressible = string.rep("a", 3000)
  local squeeze = function(p) return p == compressible and "QUFB" or base64.encode(p) end
  local job = S.new(compressible, { id = 1, method = "auto", decode = { "raw", "zlib" }, deflate_b64 = squeeze })
  t.eq(job.method, "zlib", "smaller zlib chosen")
  job = S.new("short", { id = 1, method = "auto", decode = { "zlib", "raw" }, deflate_b64 = fake_deflate })
  t.eq(job.method, "raw", "raw is smaller than base64")
  local frames = S.frames("bad\1text", { id = 5, method = "auto", decode = { "raw", "zlib" }, deflate_b64 = fake_deflate })
  local f = frame.parse(frames[1], ALL)
  t.eq(f.method, "zlib", "unrepresentable raw falls back to zlib")
  local got = t.deliver(R, R.new({ accept = { "raw", "zlib" } }), frames)
  t.eq(got[5], "bad\1text", "and arrives")
end)

test("budgeted steps give the same frames as one call", function()
  local r = t.rng(8)
  local payload = r.bytes(20000, 32, 126)
  local whole = S.frames(payload, { id = 12, method = "raw", max_frame = 1000 })
  local job = S.new(payload, { id = 12, method = "raw", max_frame = 1000 })
  local calls = 0
  while not S.step(job, 500) do
    calls = calls + 1
    t.ok(calls < 10000, "terminates")
    t.assert_plain(job, "job")
  end
  t.ok(calls >= 20000 / 500, "work spread over " .. calls .. " calls")
  t.eq(#job.frames, #whole, "frame count")
  for k = 1, #whole do t.eq(job.frames[k], whole[k], "frame " .. k) end
  t.eq(S.wire_bytes(job), #table.concat(whole), "wire_bytes")
end)

return tests
