-- The receiver (PROTOCOL.md section 3): ordering, duplicates, every error, budgets, state.
local t = require("testlib")
local R = require("invsync.reassembler")
local base64 = require("invsync.base64")
local crc32 = require("invsync.crc32")
local frame = require("invsync.frame")
local caps = require("invsync.caps")

local tests = {}
local function test(name, fn) tests[#tests + 1] = { name, fn } end

-- zlib stand-in for pure Lua tests: "deflate" is the identity, so each chunk is the base64 of
-- its slice; "Tk9QRQ==" (base64 of "NOPE") stands for a chunk that is not a zlib stream
local NOT_A_STREAM = "Tk9QRQ=="
t.env = { inflate_b64 = function(s)
  if s == NOT_A_STREAM then return nil end
  return base64.decode(s)
end }

local function new_rx(cfg)
  cfg = cfg or {}
  cfg.accept = cfg.accept or { "raw", "lz4", "zlib" }
  return R.new(cfg)
end

-- an LZ4 block holding `payload` as one literal run (valid for any payload)
local function lz4_literal_block(payload)
  local n = #payload
  if n < 15 then return string.char(n * 16) .. payload end
  local ext, rest = {}, n - 15
  while rest >= 255 do ext[#ext + 1] = "\255"; rest = rest - 255 end
  ext[#ext + 1] = string.char(rest)
  return "\240" .. table.concat(ext) .. payload
end

local function text_payload(r, n)
  local words = { "iron-plate", "copper", "\"count\":", "{", "}", ",", " ", "\195\169", "\226\130\172", "legendary" }
  local out = {}
  local len = 0
  while len < n do
    local w = words[r.int(1, #words)]
    out[#out + 1] = w
    len = len + #w
  end
  return table.concat(out)
end

test("raw, lz4 and zlib messages arrive shuffled, duplicated and interleaved", function()
  local r = t.rng(1)
  for round = 1, 6 do
    local rx = new_rx()
    local frames, want = {}, {}
    for id = 1, 3 do
      local payload = text_payload(r, r.int(0, 3000))
      want[id] = payload
      local method = ({ "raw", "lz4", "zlib" })[(id + round) % 3 + 1]
      local wire, lengths
      if method == "raw" then
        wire = payload
        -- cut between characters
        lengths = {}
        local pos = 1
        while pos <= #wire do
          local e = require("invsync.text").boundary(wire, pos, pos + r.int(1, 700) - 1)
          if e < pos then e = pos + 3 end
          if e > #wire then e = #wire end
          lengths[#lengths + 1] = e - pos + 1
          pos = e + 1
        end
        if #lengths == 0 then lengths = { 0 } end
      else
        wire = base64.encode(method == "lz4" and lz4_literal_block(payload) or payload)
        lengths = t.lengths(#wire, 4 * r.int(1, 200))
      end
      local fs = t.make_frames(id, method, #payload, wire, lengths)
      for i = 1, #fs do
        frames[#frames + 1] = fs[i]
        if r.int(1, 4) == 1 then frames[#frames + 1] = fs[i] end
      end
    end
    r.shuffle(frames)
    local budget = ({ 1, 50, 333, 4096, 1e9, 17 })[round]
    local got, events = t.deliver(R, rx, frames, budget)
    for id = 1, 3 do t.eq(got[id], want[id], "round " .. round .. " message " .. id) end
    for _, e in ipairs(events) do
      t.ok(e.kind == "message" or e.kind == "duplicate", "round " .. round .. " unexpected " .. e.kind
        .. " " .. tostring(e.error and e.error.message))
    end
    t.ok(R.idle(rx), "idle after delivery")
    t.assert_plain(rx, "rx")
  end
end)

test("duplicates: identical frames, late duplicates, status answers", function()
  local rx = new_rx()
  local fs = t.make_frames(4, "raw", 10, "helloworld", { 5, 5 })
  t.eq(R.push(rx, fs[1], 0).status, "queued", "first")
  local p = R.push(rx, fs[1], 0)
  t.eq(p.status, "duplicate", "same bytes as a queued frame: a duplicate at once")
  t.eq(p.have, 1, "the queued chunk counts as held"); t.eq(p.count, 2, "its count")
  local st, missing = R.status(rx, 4)
  t.eq(st, "missing", "status")
  t.eq(#missing, 1, "one missing"); t.eq(missing[1], 2, "chunk 2 missing")
  local ev = R.step(rx, 1e9, 0, t.env)
  t.eq(#ev, 0, "the copy was never queued, so verifying the first reports nothing")
  t.eq(rx.qhead > rx.qtail, true, "queue empty")
  p = R.push(rx, fs[1], 0)
  t.eq(p.status, "duplicate", "verified copy is recognised at push")
  t.eq(p.have, 1, "have"); t.eq(p.count, 2, "count")
  p = R.push(rx, fs[2], 0)
  t.eq(p.have, 2, "have after the last chunk")
  ev = R.step(rx, 1e9, 0, t.env)
  t.eq(ev[1].kind, "message", "delivered"); t.eq(ev[1].payload, "helloworld", "payload")
  t.eq(R.status(rx, 4), "done", "status done")
  p = R.push(rx, fs[2], 0)
  t.ok(p.done, "push says the message is done")
  ev = R.step(rx, 1e9, 0, t.env)
  t.eq(#ev, 1, "one event"); t.eq(ev[1].kind, "duplicate", "late duplicate ignored")
  t.ok(R.idle(rx), "idle")
  t.eq(R.status(rx, 99), "unknown", "unknown id")
end)

test("a corrupted frame is rejected later and its chunk becomes missing again", function()
  local rx = new_rx()
  local fs = t.make_frames(8, "raw", 12, "abcdefghijkl", { 4, 4, 4 })
  local bad = fs[2]:gsub("efgh$", "efgX")
  R.push(rx, fs[1], 0)
  local p = R.push(rx, bad, 0)
  t.eq(p.status, "queued", "cheap checks pass")
  local ev = R.step(rx, 1e9, 0, t.env)
  t.eq(#ev, 1, "one event")
  t.err(ev[1].error, "FrameChecksumMismatch", "deferred verification")
  t.eq(ev[1].seq, p.seq, "names the frame"); t.eq(ev[1].index, 2, "names the chunk")
  local _, missing = R.status(rx, 8)
  t.eq(#missing, 2, "two missing"); t.eq(missing[1], 2, "chunk 2 missing again")
  local got = t.deliver(R, rx, { fs[3], fs[2] })
  t.eq(got[8], "abcdefghijkl", "resent frame completes the message")
end)

test("conflicting frames are dropped and the message in progress kept", function()
  local rx = new_rx()
  local a = t.make_frames(3, "raw", 8, "abcdefgh", { 4, 4 })
  local other = t.make_frames(3, "raw", 8, "abcdXXXX", { 4, 4 }) -- same id, other mcrc
  local _, events = t.deliver(R, rx, { a[1], other[2] })
  t.err(t.first_error({}, events), "ConflictingFrame", "other mcrc")
  -- same header, different data at a held index (both frames have a correct fcrc)
  local hdr = frame.body_header(3, 1, 2, "raw", 8, 8, crc32.of("abcdefgh"))
  local forged = frame.assemble(crc32.of(hdr .. "zzzz"), hdr, "zzzz")
  _, events = t.deliver(R, rx, { forged })
  t.err(t.first_error({}, events), "ConflictingFrame", "different data")
  local got = t.deliver(R, rx, { a[2] })
  t.eq(got[3], "abcdefgh", "message completes")
end)

test("every message-level error drops the message and leaves no state", function()
  local payload = "the payload text"
  local wire64 = base64.encode(lz4_literal_block(payload))
  local function with_mcrc(method, plen, wire, lengths, mcrc)
    local frames, pos = {}, 1
    for k = 1, #lengths do
      local data = wire:sub(pos, pos + lengths[k] - 1)
      pos = pos + lengths[k]
      local hdr = frame.body_header(6, k, #lengths, method, plen, #wire, mcrc)
      frames[k] = frame.assemble(crc32.of(hdr .. data), hdr, data)
    end
    return frames
  end
  local bad_bits = base64.encode("ab"):gsub("=$", "") -- "YWI="
  bad_bits = bad_bits:sub(1, 2) .. "J=" -- unused bits set
  local cases = {
    { "MessageChecksumMismatch", with_mcrc("raw", #payload, payload, { 8, 8 }, 12345) },
    { "PayloadLengthMismatch", t.make_frames(6, "lz4", #payload + 5, wire64, t.lengths(#wire64, 8)) },
    { "DecompressFailed", t.make_frames(6, "lz4", #payload - 1, wire64, t.lengths(#wire64, 8)) },
    { "DecompressFailed", t.make_frames(6, "lz4", 5, base64.encode("\16a\0\0\0"), { 8 }) },
    { "BadBase64", t.make_frames(6, "lz4", 5, "AAAA" .. bad_bits, { 4, 4 }) },
    { "BadBase64", t.make_frames(6, "zlib", 2, bad_bits, { 4 }) },
    -- zlib: one stream per chunk (here base64 of each slice), inflated as chunks arrive
    { "BadBase64", t.make_frames(6, "zlib", 5, "YWJj" .. bad_bits, { 4, 4 }) },
    { "DecompressFailed", t.make_frames(6, "zlib", 1, base64.encode("ab"), { 4 }) },
    { "DecompressFailed", t.make_frames(6, "zlib", 3, base64.encode("ab") .. base64.encode("cd"), { 4, 4 }) },
    { "DecompressFailed", t.make_frames(6, "zlib", 7, "YWJj" .. NOT_A_STREAM, { 4, 8 }) },
    { "DecompressFailed", t.make_frames(6, "zlib", 7, NOT_A_STREAM .. "YWJj", { 8, 4 }) },
    { "PayloadLengthMismatch", t.make_frames(6, "zlib", 3, base64.encode("ab"), { 4 }) },
    { "PayloadLengthMismatch", t.make_frames(6, "zlib", 7, base64.encode("ab") .. base64.encode("cd"), { 4, 4 }) },
    -- the checksum is judged first, then the chunks in order: base64, then the inflate
    { "MessageChecksumMismatch", with_mcrc("zlib", 7, "YWJj" .. NOT_A_STREAM, { 4, 8 }, 1) },
    { "DecompressFailed", t.make_frames(6, "zlib", 5, NOT_A_STREAM .. bad_bits, { 8, 4 }) },
    { "BadBase64", t.make_frames(6, "zlib", 5, bad_bits .. NOT_A_STREAM, { 4, 8 }) },
    { "DecompressFailed", t.make_frames(6, "lz4", 0, "", { 0 }) },
    { "WireLengthMismatch", (function()
      local fs = t.make_frames(6, "raw", 8, "abcdefgh", { 4, 4 })
      local hdr = frame.body_header(6, 2, 2, "raw", 8, 8, crc32.of("abcdefgh"))
      fs[2] = frame.assemble(crc32.of(hdr .. "efg"), hdr, "efg")
      return fs
    end)() },
  }
  local function reversed(list)
    local out = {}
    for i = #list, 1, -1 do out[#out + 1] = list[i] end
    return out
  end
  for i, c in ipairs(cases) do
    -- the verdict does not depend on the order the chunks came in (zlib chunks are inflated
    -- as they come, in any order; the verdict walks them in index order)
    for _, run in ipairs({ { 1e9, c[2] }, { 3, c[2] }, { 1e9, reversed(c[2]) }, { 3, reversed(c[2]) } }) do
      local budget = run[1]
      local rx = new_rx()
      local got, events, pushes = t.deliver(R, rx, run[2], budget)
      t.eq(got[6], nil, "case " .. i .. " delivers nothing")
      local err = t.first_error(pushes, events)
      t.err(err, c[1], "case " .. i .. " budget " .. budget)
      t.eq(err.id, 6, "case " .. i .. " error names the message")
      t.ok(R.idle(rx), "case " .. i .. " leaves no partial state")
      local st, why = R.status(rx, 6)
      t.eq(st, "failed", "case " .. i .. " status")
      t.eq(why.name, c[1], "case " .. i .. " status names the error")
    end
  end
  -- the same wire decodes when the header is right
  local got = t.deliver(R, new_rx(), t.make_frames(6, "lz4", #payload, wire64, t.lengths(#wire64, 8)))
  t.eq(got[6], payload, "control")
end)

test("frame-level limits leave no state", function()
  local function one(cfg, frames, name)
    local rx = new_rx(cfg)
    local got, events, pushes = t.deliver(R, rx, frames)
    t.err(t.first_error(pushes, events), name, name)
    return rx, got
  end
  one({ max_message = 10 }, t.make_frames(1, "raw", 11, "abcdefghijk", { 11 }), "MessageTooLarge")
  one({ max_chunks = 2 }, t.make_frames(1, "raw", 3, "abc", { 1, 1, 1 }), "TooManyChunks")
  local wide = t.make_frames(1, "raw", 2, "ab", { 1, 1 })
  local hdr = frame.body_header(1, 1, 3, "raw", 2, 2, crc32.of("ab"))
  one({}, { frame.assemble(crc32.of(hdr .. "a"), hdr, "a") }, "TooManyChunks")
  hdr = frame.body_header(1, 1, 1, "raw", 2, 2, crc32.of("ab"))
  one({}, { frame.assemble(crc32.of(hdr .. "abc"), hdr, "abc") }, "MalformedHeader")
  one({}, t.make_frames(1, "lz4", 3, "QUJDRA==", { 3, 5 }), "MisalignedChunk")
  one({}, t.make_frames(1, "zlib", 3, "AAAAA", { 4, 1 }), "MisalignedChunk")
  one({}, t.make_frames(1, "zlib", 3, "YWI", { 3 }), "MisalignedChunk")
  one({}, t.make_frames(1, "zlib", 3, "YQ==Y===", { 4, 4 }), "ForbiddenCharacter")
  one({}, t.make_frames(1, "lz4", 5, "AA==AAAA", { 4, 4 }), "ForbiddenCharacter")
  local rx = one({ max_messages = 1 }, { wide[1], t.make_frames(2, "raw", 2, "xy", { 1, 1 })[1] }, "TooManyMessages")
  t.eq(#rx.order, 1, "first message kept")
  one({ max_buffered = 5 }, t.make_frames(1, "raw", 6, "abcdef", { 3, 3 }), "TooManyMessages")
  -- single-frame messages complete at once and are not held against the limits
  local got = t.deliver(R, new_rx({ max_messages = 1, max_buffered = 5 }),
    { wide[1], t.make_frames(3, "raw", 6, "abcdef", { 6 })[1] })
  t.eq(got[3], "abcdef", "single-frame message beside one in progress")
  -- too many bytes queued at once is refused at push
  local small = new_rx({ max_queued = 100 })
  local big = t.make_frames(1, "raw", 90, string.rep("a", 90), { 90 })[1]
  t.err(R.push(small, big, 0).error, "TooManyMessages", "queue bound")
  one({ accept = { "raw" } }, t.make_frames(1, "lz4", 1, "AA==", { 4 }), "MethodNotAccepted")
end)

test("messages without progress expire with their missing chunks", function()
  local rx = new_rx({ max_age_ticks = 10, max_age_frames = 5 })
  local fs = t.make_frames(9, "raw", 6, "abcdef", { 2, 2, 2 })
  R.push(rx, fs[2], 100)
  t.eq(#R.step(rx, 1e9, 100, t.env), 0, "nothing yet")
  t.eq(#R.step(rx, 1e9, 109, t.env), 0, "not expired before max_age")
  local ev = R.step(rx, 1e9, 110, t.env)
  t.eq(ev[1].kind, "expired", "expired by ticks")
  t.err(ev[1].error, "Expired", "error")
  t.eq(#ev[1].missing, 2, "two missing"); t.eq(ev[1].missing[1], 1, "1"); t.eq(ev[1].missing[2], 3, "3")
  t.ok(R.idle(rx), "no state left")
  local st, why = R.status(rx, 9)
  t.eq(st, "failed", "status of an expired message"); t.eq(why.name, "Expired", "named")
  -- a resent message with the same id completes and status forgets the failure
  local got = t.deliver(R, rx, fs, 1e9, 200)
  t.eq(got[9], "abcdef", "resent")
  t.eq(R.status(rx, 9), "done", "status after the resend")
  -- by frames pushed
  rx = new_rx({ max_age_frames = 3 })
  R.push(rx, fs[1], nil)
  R.step(rx, 1e9, nil, t.env)
  for _ = 1, 2 do R.push(rx, "junk", nil) end
  t.eq(#R.step(rx, 1e9, nil, t.env), 0, "not expired before max_age frames")
  R.push(rx, "junk", nil)
  ev = R.step(rx, 1e9, nil, t.env)
  t.eq(ev[1].kind, "expired", "expired by frames")
end)

test("push reads the header only; the data's checks run in step and drop a bad frame", function()
  local rx = new_rx()
  local fs = t.make_frames(5, "raw", 8, "abcdefgh", { 4, 4 })
  local ctl = t.make_frames(5, "raw", 8, "abcdef\1h", { 4, 4 })[2]
  local p = R.push(rx, ctl, 0)
  t.eq(p.status, "queued", "a control byte in the data is not looked for at push")
  local ev = R.step(rx, 1e9, 0, t.env)
  t.eq(#ev, 1, "one event"); t.err(ev[1].error, "ForbiddenCharacter", "found by step")
  t.eq(ev[1].seq, p.seq, "names the frame"); t.eq(ev[1].scope, "frame", "frame scope")
  t.eq(R.status(rx, 5), "unknown", "dropped as if never received")
  local b64 = t.make_frames(6, "lz4", 3, "QU!DQUJD", { 4, 4 })[1]
  t.eq(R.push(rx, b64, 0).status, "queued", "a bad base64 character is not looked for at push")
  t.err(R.step(rx, 1e9, 0, t.env)[1].error, "ForbiddenCharacter", "found by step")
  -- raw: invalid UTF-8 before a control byte is named by the control byte (check 3 first)
  local utf = t.make_frames(7, "raw", 4, "\255a\1b", { 4 })[1]
  R.push(rx, utf, 0)
  local err = R.step(rx, 1e9, 0, t.env)[1].error
  t.err(err, "ForbiddenCharacter", "check 3 before check 5"); t.eq(err.offset, #utf - 1, "at the control byte")
  -- a bad header with a control byte anywhere is check 3's error, at push
  local broken = fs[1]:gsub(" 5 1/2 ", " 5 1-2 ") .. "\1"
  t.err(R.push(rx, broken, 0).error, "ForbiddenCharacter", "control byte and bad header")
  t.err(R.push(rx, (fs[1]:gsub(" 5 1/2 ", " 5 1-2 ")), 0).error, "MalformedHeader", "bad header alone")
  -- the good frames still complete the message, and nothing else is left behind
  local got = t.deliver(R, rx, fs)
  t.eq(got[5], "abcdefgh", "delivered")
  t.ok(R.idle(rx), "idle")
end)

test("zlib chunks inflate one by one as they arrive, each a stream of its own", function()
  local r = t.rng(5)
  local payload = text_payload(r, 30000)
  local wire, lengths, pos = {}, {}, 1
  while pos <= #payload do
    local piece = base64.encode(payload:sub(pos, pos + 2999))
    wire[#wire + 1] = piece
    lengths[#lengths + 1] = #piece
    pos = pos + 3000
  end
  local fs = t.make_frames(3, "zlib", #payload, table.concat(wire), lengths)
  local calls = {}
  local env = { inflate_b64 = function(s) calls[#calls + 1] = #s return base64.decode(s) end }
  local rx = new_rx({ max_frame = 1e9 })
  -- chunks 2 to 4 arrive: all three are inflated before the message is complete, without
  -- waiting for chunk 1 (each is a stream of its own)
  for k = 2, 4 do R.push(rx, fs[k], 0) end
  while R.busy(rx) do R.step(rx, 1e9, 0, env) end
  t.eq(#calls, 3, "one inflate per chunk held, before completion")
  for k = 1, 3 do t.eq(calls[k], lengths[k + 1], "chunk " .. (k + 1) .. " inflated on its own") end
  -- the rest arrive in reverse order, chunk 1 last
  for k = #fs, 5, -1 do R.push(rx, fs[k], 0) end
  R.push(rx, fs[1], 0)
  local got
  local steps = 0
  while R.busy(rx) do
    local ev, spent = R.step(rx, 3000, 0, env)
    steps = steps + 1
    -- one inflate is the most a step overruns by: its call, its input and output units
    t.ok(spent <= 3000 + 32 + 4000 / 8 + 3000 / 16 + 256, "step " .. steps .. " spent " .. spent)
    for _, e in ipairs(ev) do if e.kind == "message" then got = e.payload end end
    t.ok(steps < 1000, "terminates")
  end
  t.eq(got, payload, "payload")
  t.eq(#calls, #fs, "each chunk inflated once")
end)

test("solid: the chunks of one stream are inflated once, with the verdict, when its cost fits", function()
  local limits = require("invsync.limits")
  local r = t.rng(9)
  local payload = text_payload(r, 40000)
  -- the identity stand-in for deflate: the wire text is the base64 of the payload itself
  local wire = base64.encode(payload)
  local fs = t.make_frames(12, "solid", #payload, wire, t.lengths(#wire, 4000))
  t.ok(#fs > 10, #fs .. " chunks")
  local calls = {}
  local env = { inflate_b64 = function(s) calls[#calls + 1] = #s return base64.decode(s) end }
  local rx = new_rx({ accept = { "raw", "solid" }, max_frame = 1e9 })
  for k = #fs, 2, -1 do R.push(rx, fs[k], 0) end
  while R.busy(rx) do R.step(rx, 1e9, 0, env) end
  t.eq(#calls, 0, "nothing inflated before the message is complete")
  R.push(rx, fs[1], 0)
  -- the verdict: the join of the wire text and the inflate, charged as a zlib chunk's
  local cost = 16 + math.floor(#wire / limits.join_bytes) + limits.inflate_call_cost
    + math.floor(#wire / limits.inflate_in_chars) + math.floor(#payload / limits.inflate_out_bytes)
  local steps = 0
  while rx.msgs[12].next <= #fs do
    local ev, spent = R.step(rx, 2000, 0, env, cost)
    t.eq(#ev, 0, "nothing delivered while the chunks are checked")
    t.ok(spent <= 2000 + 256 + 64, "step " .. steps .. " spent " .. spent)
    steps = steps + 1
    t.ok(steps < 1000, "terminates")
  end
  t.eq(#R.step(rx, 2000, 0, env, cost), 0, "the verdict waits in a step it does not fit")
  t.eq(#calls, 0, "and inflates nothing")
  local ev, spent = R.step(rx, cost, 0, env, cost)
  t.eq(#ev, 1, "a step with room delivers"); t.eq(ev[1].kind, "message", "the message")
  t.ok(spent >= cost, "the inflate is charged: " .. spent .. " of at least " .. cost)
  t.eq(ev[1].payload, payload, "payload")
  t.eq(#calls, 1, "one inflate")
  t.eq(calls[1], #wire, "of the whole wire text")
  -- a solid plen over the bound is refused by push, from the header
  local over = t.make_frames(13, "solid", 65537, "AAAAAAAA", { 4, 4 })[1]
  local res = R.push(rx, over, 0)
  t.eq(res.status, "error", "refused at once"); t.eq(res.error.name, "MessageTooLarge", "by name")
  t.ok(R.idle(rx), "and holds nothing")
end)

test("work that cannot be split waits for a step with room, but not forever", function()
  local join_bytes = require("invsync.limits").join_bytes
  local payload = string.rep("inventory ", 300 * join_bytes)
  local f = t.make_frames(8, "raw", #payload, payload, { #payload })[1]
  for _, fresh_step in ipairs({ true, false }) do
    local rx = new_rx({ max_frame = 1e9 })
    R.push(rx, f, 0)
    -- small steps verify the frame; the final join (about 3000 units) does not fit them
    local steps = 0
    while not (rx.msgs[8] and rx.msgs[8].next > 1) do
      t.eq(#R.step(rx, 1000, 0, t.env, 2000), 0, "nothing delivered while verifying")
      steps = steps + 1
      t.ok(steps < 1000, "verification ends")
    end
    t.eq(#R.step(rx, 1000, 0, t.env, 2000), 0, "the verdict waits in a small step")
    t.ok(R.busy(rx), "the verdict is still due")
    local ev
    if fresh_step then
      ev = R.step(rx, 2000, 0, t.env, 2000)
      t.eq(#ev, 1, "a step with `fresh` units delivers at once")
    else
      local waited = 0
      repeat
        ev = R.step(rx, 1000, 0, t.env, 2000)
        waited = waited + 1
      until #ev > 0 or waited > 20
      t.ok(waited > 1 and waited <= 10, "without a fresh step it starts after a few steps, waited " .. waited)
    end
    t.eq(ev[1].kind, "message", "delivered"); t.eq(ev[1].payload, payload, "payload")
    t.ok(R.idle(rx), "idle")
  end
end)

test("step keeps to its budget", function()
  local r = t.rng(3)
  local payload = text_payload(r, 20000)
  local wire = base64.encode(lz4_literal_block(payload))
  local rx = new_rx()
  local fs = t.make_frames(1, "lz4", #payload, wire, t.lengths(#wire, 2000))
  for i = 1, #fs do R.push(rx, fs[i], 0) end
  local calls, delivered = 0, nil
  while not delivered do
    local ev, spent = R.step(rx, 1000, 0, t.env)
    calls = calls + 1
    -- overrun only by the last unit of work: a CRC combination (256) or a header CRC
    t.ok(spent <= 1000 + 256 + 64, "call " .. calls .. " spent " .. spent)
    for _, e in ipairs(ev) do if e.kind == "message" then delivered = e.payload end end
    t.ok(calls < 1000, "terminates")
  end
  t.eq(delivered, payload, "payload")
  -- work: a CRC pass and a base64 pass over the wire plus the output: at least that many calls
  t.ok(calls >= (2 * #wire + #payload) / 1000, "work was spread over " .. calls .. " calls")
end)

test("the state is plain data and survives a copy (save/load)", function()
  local function deep_copy(v)
    if type(v) ~= "table" then return v end
    local out = {}
    for k, x in pairs(v) do out[deep_copy(k)] = deep_copy(x) end
    return out
  end
  local r = t.rng(9)
  local payload = text_payload(r, 5000)
  local wire = base64.encode(lz4_literal_block(payload))
  local fs = t.make_frames(2, "lz4", #payload, wire, t.lengths(#wire, 400))
  local rx = new_rx()
  for i = 1, #fs - 1 do R.push(rx, fs[i], 0) end
  R.step(rx, 3000, 0, t.env)
  t.assert_plain(rx, "rx")
  rx = deep_copy(rx)
  R.push(rx, fs[#fs], 0)
  local got
  for _ = 1, 100 do
    local ev = R.step(rx, 3000, 0, t.env)
    if ev[1] and ev[1].kind == "message" then got = ev[1].payload end
    rx = deep_copy(rx)
  end
  t.eq(got, payload, "decoded across copies")
end)

test("chunk numbers as ranges", function()
  t.eq(R.format_ranges({}), "", "empty")
  t.eq(R.format_ranges({ 5 }), "5", "one")
  t.eq(R.format_ranges({ 1, 2, 3, 7, 9, 10 }), "1-3,7,9-10", "ranges")
  local rx = new_rx()
  local fs = t.make_frames(4, "raw", 10, "abcdefghij", { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 })
  for _, k in ipairs({ 2, 3, 4, 8 }) do R.push(rx, fs[k], 0) end
  local _, missing = R.status(rx, 4)
  t.eq(R.format_ranges(missing), "1,5-7,9-10", "missing chunks")
  t.eq(R.format_ranges(R.missing(rx, 4, 2)), "1,5", "limited")
end)

test("capabilities JSON", function()
  local rx = R.new({ accept = { "zlib", "raw", "lz4" }, max_frame = 8192 })
  -- the module reads the short header (PROTOCOL.md 2.5), so it always declares it
  t.eq(caps.json(rx), '{"protocol":1,"decode":["zlib","raw","lz4"],"max_frame":8192,"max_message":16777216,"max_chunks":65536,"short_header":true}', "caps")
  t.ok(not pcall(R.new, { accept = { "lz4" } }), "raw is required")
  t.ok(not pcall(R.new, { accept = { "raw", "zstd" } }), "unknown methods are refused")
end)

return tests
