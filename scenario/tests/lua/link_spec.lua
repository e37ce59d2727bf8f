-- The game's end of the protocol without the game: sending, staging, the remote answers.
local t = require("testlib")
local link = require("invsync.link")
local settings = require("invsync.settings")
local R = require("invsync.reassembler")
local S = require("invsync.sender")
local frame = require("invsync.frame")
local base64 = require("invsync.base64")
local json = require("invsync.json")

local tests = {}
local function test(name, fn) tests[#tests + 1] = { name, fn } end

-- a stand-in for the game's functions: stdout lines collected, "deflate" = base64 (the
-- receiver below "inflates" with base64 too, so frames round-trip)
local function fake_env()
  local env = { lines = {}, logs = {} }
  env.print = function(line) env.lines[#env.lines + 1] = line end
  env.log = function(text) env.logs[#env.logs + 1] = text end
  env.deflate_b64 = function(p) return base64.encode(p) end
  env.inflate_b64 = function(s) return base64.decode(s) end
  return env
end

-- decodes every protocol line printed (as the host would), returns payloads in order
local function host_read(env, from)
  local rx = R.new({ accept = { "raw", "zlib" }, max_frame = 1e9 })
  local out = {}
  for i = from or 1, #env.lines do
    local line = env.lines[i]
    t.eq(line:sub(1, 1), "\f", "protocol lines start with a form feed")
    t.ok(#line - 1 <= 3999, "stdout frames fit 3999 bytes")
    R.push(rx, line:sub(2), 0)
  end
  local events = R.step(rx, 1e9, 0, env)
  for _, e in ipairs(events) do
    if e.kind == "message" then out[#out + 1] = e.payload elseif e.error then error(e.error.message) end
  end
  return out
end

local function tick(st, cfg, env, now, budget)
  local left = budget or cfg.tick_budget
  left = left - link.take_debt(st, left)
  left = left - link.flush(st, cfg, env, math.max(left, 0), now)
  local delivered, spent = link.receive(st, cfg, now, env, math.max(left, 0))
  left = left - spent
  left = left - link.flush(st, cfg, env, math.max(left, 0), now)
  link.stage(st, cfg, env, now, math.max(left, 0))
  return delivered
end

test("the capability announcement and answer", function()
  local cfg = settings.resolve({})
  local st = link.new(cfg)
  local env = fake_env()
  link.announce_caps(st, cfg)
  t.eq(#env.lines, 0, "queued, not printed")
  tick(st, cfg, env, 0)
  local msgs = host_read(env)
  t.eq(#msgs, 1, "one message")
  local v = json.decode(msgs[1])
  t.eq(v.type, "caps", "type"); t.eq(v.protocol, 1, "protocol")
  t.eq(table.concat(v.decode, ","), "zlib,solid,raw,lz4", "methods in the game's order")
  t.eq(v.max_frame, 8192, "max_frame"); t.eq(v.max_message, 16777216, "max_message")
  t.eq(link.caps(st):sub(1, 13), '{"protocol":1', "caps() is the bare declaration")
  local before = st.next_id
  link.announce_caps_after_load(st, cfg, env, 1234)
  t.eq(st.next_id, before, "the after-load announcement takes no id from the state")
  t.ok(env.lines[#env.lines]:find(" " .. (2147483648 + 1234) .. " 1/1 raw ", 1, true), "its id comes from the tick")
  -- 2^31 + (tick mod 2^31) (PROTOCOL.md 5.5): the largest id is 2^32 - 1, the tick 2^31 wraps to 2^31
  link.announce_caps_after_load(st, cfg, env, 2147483647)
  t.ok(env.lines[#env.lines]:find(" 4294967295 1/1 raw ", 1, true), "tick 2^31 - 1: " .. env.lines[#env.lines])
  link.announce_caps_after_load(st, cfg, env, 2147483648 + 5)
  t.ok(env.lines[#env.lines]:find(" " .. (2147483648 + 5) .. " 1/1 raw ", 1, true), "tick 2^31 + 5: " .. env.lines[#env.lines])
end)

test("small payloads go out as one line, large ones are staged, pulled and acked", function()
  local cfg = settings.resolve({ zlib_max = 4096 })
  local st = link.new(cfg)
  local env = fake_env()
  local small = link.send(st, cfg, '{"hello":"world"}')
  local medium_text = string.rep("x", 3000) .. string.rep("y", 3000) -- too long raw, fits deflated? no: base64 is longer
  local medium = link.send(st, cfg, string.rep("ab", 1500)) -- 3000 bytes: raw fits one line
  local big_text = {}
  for i = 1, 3000 do big_text[i] = string.format("line %d of the big one;", i) end
  big_text = table.concat(big_text)
  local big = link.send(st, cfg, big_text)
  t.ok(small and medium and big and small < medium and medium < big, "ids in order")
  tick(st, cfg, env, 0, 1e9)
  tick(st, cfg, env, 1, 1e9) -- the announcement, queued while staging, goes out next tick
  local msgs = host_read(env)
  t.eq(msgs[1], '{"hello":"world"}', "small inline")
  t.eq(msgs[2], string.rep("ab", 1500), "3000 bytes inline")
  local staged = json.decode(msgs[3])
  t.eq(staged.type, "staged", "the big one is announced")
  t.eq(staged.id, big, "with its id"); t.eq(staged.method, "raw", "raw above zlib_max")
  t.eq(staged.bytes, #big_text, "payload bytes")
  -- the host pulls every frame (any order), then acks
  local rx = R.new({ accept = { "raw", "zlib" }, max_frame = 262144 })
  local got
  t.eq(link.left_at(st, small), 0, "the small one left at its tick")
  t.eq(link.left_at(st, big), nil, "the staged one has not left before it is pulled")
  for index = staged.count, 1, -1 do
    local f = link.pull(st, big, index, 100 + index)
    t.eq(f:sub(1, 3), "IS1", "pull answers the frame")
    t.eq(link.left_at(st, big), index == 1 and 101 or nil, "left only once every frame was pulled")
    R.push(rx, f, 0)
  end
  link.pull(st, big, 2, 500)
  t.eq(link.left_at(st, big), 101, "a repeated pull does not move it")
  for _, e in ipairs(R.step(rx, 1e9, 0, env)) do if e.kind == "message" then got = e.payload end end
  t.eq(got, big_text, "the pulled frames give the payload")
  t.eq(link.pull(st, big, staged.count + 1), "unknown " .. big, "no such chunk")
  t.eq(link.pull(st, 999, 1), "unknown 999", "no such message")
  t.eq(link.ack(st, big), "ok " .. big, "ack frees it")
  t.eq(link.ack(st, big), "unknown " .. big, "once")
  t.eq(link.staged_count(st), 0, "nothing staged")
  t.ok(link.pull(st, "x", 1):find("^err %- BadArgument"), "bad ids are named")
end)

test("staging is budgeted: a large payload takes several ticks, and unacked messages are announced again, then dropped", function()
  local cfg = settings.resolve({ tick_budget = 4096, staged_reannounce_ticks = 10, staged_max_age = 35 })
  local st = link.new(cfg)
  local env = fake_env()
  local payload = string.rep("0123456789abcdef", 4096) -- 64 KiB, raw (above zlib_max? no: zlib is tried)
  link.send(st, cfg, payload)
  local ticks = 0
  while link.staged_count(st) == 0 do
    tick(st, cfg, env, ticks)
    ticks = ticks + 1
    t.ok(ticks < 200, "staged eventually")
  end
  t.ok(ticks > 5, "spread over ticks (" .. ticks .. ")")
  local announced = #host_read(env)
  for now = ticks, ticks + 40 do tick(st, cfg, env, now) end
  local all = host_read(env)
  local again = 0
  for i = announced + 1, #all do if json.decode(all[i]).type == "staged" then again = again + 1 end end
  t.ok(again >= 2, "announced again while not acked (" .. again .. ")")
  t.eq(link.staged_count(st), 0, "dropped after staged_max_age")
  t.ok(#env.logs >= 1 and env.logs[#env.logs]:find("not acknowledged"), "and logged")
end)

test("recv, status: answers and received reports", function()
  local cfg = settings.resolve({})
  local st = link.new(cfg)
  local env = fake_env()
  local payload = string.rep("hello frames ", 100)
  local frames = S.frames(payload, { id = 41, method = "raw", max_frame = 200 })
  t.ok(#frames > 3, "several frames")
  t.eq(link.status(st, 41), "unknown 41", "nothing yet")
  t.eq(link.recv(st, frames[1], 0), "ok 41 1/" .. #frames, "first chunk held")
  t.eq(link.recv(st, frames[1], 0), "ok 41 1/" .. #frames, "duplicate: still one held")
  t.eq(link.status(st, 41), "missing 41 2-" .. #frames, "status lists the missing chunks as ranges")
  local debt = link.take_debt(st, 1e9)
  t.ok(debt > 0, "remote calls are charged to the next tick")
  t.eq(link.take_debt(st, 1e9), 0, "once")
  for _ = 1, 3 do link.recv(st, frames[1], 0) end
  local part = link.take_debt(st, 10)
  t.eq(part, 10, "at most the budget at a time")
  t.ok(link.take_debt(st, 1e9) > 0, "the rest is charged later")
  for i = 2, #frames do link.recv(st, frames[i], 0) end
  local delivered = tick(st, cfg, env, 1)
  t.eq(#delivered, 1, "delivered once"); t.eq(delivered[1].payload, payload, "the payload")
  t.eq(link.status(st, 41), "done 41", "status done")
  t.eq(link.recv(st, frames[2], 2), "done 41", "a late duplicate is answered done")
  local reports = host_read(env)
  t.eq(reports[1], '{"type":"received","id":41,"status":"done"}', "received report")
  t.eq(link.recv(st, 12, 0), "err - NotAFrame expected the frame as a string, got a number", "not a string")
  local bad = link.recv(st, "IS1 00000000 5 1/1 raw 2 2 00000000 hi", 0)
  t.eq(bad, "ok 5 1/1", "fcrc is checked later")
  tick(st, cfg, env, 3)
  t.eq(link.status(st, 5), "unknown 5", "a frame failing its fcrc is not held")
  local damaged = frames[1]:gsub("hello", "jello", 1)
  local f2 = S.frames("x", { id = 6, method = "raw", max_frame = 200 })[1]
  t.ok(link.recv(st, "IS2 " .. f2:sub(5), 0):find("^err %- UnsupportedVersion"), "errors are named: " .. link.recv(st, "IS2 " .. f2:sub(5), 0))
  t.ok(damaged ~= frames[1], "damaged")
end)

test("remote calls are charged by what they cost: recv by its frame, pull by its answer", function()
  local cfg = settings.resolve({})
  local st = link.new(cfg)
  local small = S.frames("x", { id = 7, method = "raw", max_frame = 8192 })[1]
  local big = S.frames(string.rep("y", 8000), { id = 8, method = "raw", max_frame = 8192 })[1]
  link.recv(st, small, 0)
  local a = link.take_debt(st, 1e9)
  link.recv(st, big, 0)
  local b = link.take_debt(st, 1e9)
  t.eq(a, link.CALL_COST + link.RECV_COST + math.floor(#small / link.RECV_BYTES), "a short frame")
  t.eq(b - a, math.floor(#big / link.RECV_BYTES) - math.floor(#small / link.RECV_BYTES), "a long one pays its bytes")
  -- a burst of 16 frames of 8 kB leaves most of the tick to on_tick
  t.ok(16 * b < cfg.tick_budget * 3 / 4, "16 recv calls cost " .. 16 * b .. " of " .. cfg.tick_budget)
  -- pull: the answer's bytes
  local env = fake_env()
  link.send(st, cfg, string.rep("z", 200000))
  for now = 1, 200 do tick(st, cfg, env, now) end
  local staged = host_read(env)
  local id
  for _, m in ipairs(staged) do id = id or tonumber(m:match('"type":"staged","id":(%d+)')) end
  t.ok(id, "staged")
  link.take_debt(st, 1e9)
  local f = link.pull(st, id, 1, 300)
  t.ok(#f <= cfg.pull_max_frame, "a pulled frame of at most pull_max_frame")
  t.eq(link.take_debt(st, 1e9), link.CALL_COST + math.floor(#f / link.PULL_BYTES), "pull pays its answer")
end)

test("a message that fails is reported failed with its error", function()
  local cfg = settings.resolve({})
  local st = link.new(cfg)
  local env = fake_env()
  -- two frames of a raw message whose mcrc is wrong: each frame is intact, the whole is not
  local text = string.rep("abcdefgh", 20)
  local frames = S.frames(text, { id = 8, method = "raw", max_frame = 100 })
  t.ok(#frames >= 2, "two frames or more")
  local crc32 = require("invsync.crc32")
  for i = 1, #frames do
    local f = frame.parse(frames[i], { max_frame = 1e9 })
    local hdr = frame.body_header(8, i, #frames, "raw", #text, #text, 0x12345678)
    link.recv(st, frame.assemble(crc32.of(hdr .. f.data), hdr, f.data), 0)
  end
  tick(st, cfg, env, 1)
  local v = json.decode(host_read(env)[1])
  t.eq(v.type, "received", "reported"); t.eq(v.status, "failed", "failed")
  t.eq(v.error, "MessageChecksumMismatch", "named"); t.ok(#v.detail > 0, "with detail")
  t.ok(link.status(st, 8):find("^failed 8 MessageChecksumMismatch "), "status says failed")
end)

test("the outbox is bounded", function()
  local cfg = settings.resolve({ max_outbox = 3 })
  local st = link.new(cfg)
  t.ok(link.send(st, cfg, "a"), "1"); t.ok(link.send(st, cfg, "b"), "2"); t.ok(link.send(st, cfg, "c"), "3")
  local id, why = link.send(st, cfg, "d")
  t.eq(id, nil, "refused"); t.ok(why:find("max_outbox"), "says why")
end)

test("control messages keep their room in a full outbox, and are logged when even that is full", function()
  local cfg = settings.resolve({ max_outbox = 3 })
  local st = link.new(cfg)
  local env = fake_env()
  for i = 1, 3 do t.ok(link.send(st, cfg, "app " .. i), "application message " .. i) end
  t.eq(link.send(st, cfg, "app 4"), nil, "the application's share is full")
  -- a message from the host completes: its `received` report is queued all the same
  local f = S.frames("hello", { id = 77, method = "raw", max_frame = 200 })[1]
  t.eq(link.recv(st, f, 0), "ok 77 1/1", "received")
  local delivered = link.receive(st, cfg, 0, env, 1e9)
  t.eq(#delivered, 1, "delivered")
  t.ok(link.announce_caps(st, cfg, env), "a caps announcement fits too")
  for now = 1, 3 do tick(st, cfg, env, now, 1e9) end
  local msgs = host_read(env)
  t.eq(#msgs, 5, "three application messages and two control messages went out")
  t.eq(msgs[4], '{"type":"received","id":77,"status":"done"}', "the received report")
  t.eq(json.decode(msgs[5]).type, "caps", "the caps announcement")
  -- the reserve is bounded: past it, a control message is dropped with a word
  st = link.new(cfg)
  env = fake_env()
  for i = 1, 3 do link.send(st, cfg, "app " .. i) end
  for i = 1, link.CONTROL_RESERVE do t.ok(link.announce_caps(st, cfg, env), "reserve place " .. i) end
  local id, why = link.announce_caps(st, cfg, env)
  t.eq(id, nil, "dropped past the reserve"); t.ok(why:find("max_outbox"), "says why")
  t.eq(st.control_dropped, 1, "counted")
  t.eq(#env.logs, 1, "logged"); t.ok(env.logs[1]:find("control message dropped", 1, true), env.logs[1])
end)

test("the custom command's frames pay no compile; its answers are recv's", function()
  local cfg = settings.resolve({})
  local st = link.new(cfg)
  local big = S.frames(string.rep("y", 8000), { id = 9, method = "raw", max_frame = 8192 })[1]
  local other = S.frames(string.rep("y", 8000), { id = 10, method = "raw", max_frame = 8192 })[1]
  t.eq(link.recv_command(st, big, 0), "ok 9 1/1", "held, checked in the tick")
  t.eq(link.take_debt(st, 1e9), link.CALL_COST + link.RECV_COST, "nothing per byte")
  t.eq(link.recv(st, other, 0), "ok 10 1/1", "the same answer as recv")
  t.eq(link.take_debt(st, 1e9), link.CALL_COST + link.RECV_COST + math.floor(#other / link.RECV_BYTES),
    "the remote call pays its compile")
  -- 16 frames of 8 kB by the command leave the compile's units to on_tick
  t.ok(16 * (link.CALL_COST + link.RECV_COST) < cfg.tick_budget / 6, "16 commands")
  t.eq(link.recv_command(st, nil, 0), "err - NotAFrame the command carried no frame (expected /<command> <frame>)",
    "no parameter")
  t.eq(link.take_debt(st, 1e9), 0, "and costs nothing")
  t.ok(link.recv_command(st, "hello", 0):find("^err %- NotAFrame "), "not a frame")
  -- the declaration names the command when the adapter registered it
  t.ok(link.caps(st, cfg):find(',"recv_command":"invsync-recv",', 1, true), "declared")
  t.ok(not link.caps(st, settings.resolve({ recv_command = false })):find("recv_command", 1, true), "none")
end)

test("settings: defaults, overrides and mistakes", function()
  local cfg = settings.resolve({ acquire_timeout = 60 })
  t.eq(cfg.acquire_timeout, 60, "override"); t.eq(cfg.download_timeout, 600, "default")
  t.ok(not pcall(settings.resolve, { nope = 1 }), "unknown key")
  t.ok(not pcall(settings.resolve, { tick_budget = 0 }), "budget must be >= 1")
  t.ok(not pcall(settings.resolve, { sync = "yes" }), "boolean")
  t.eq(settings.resolve({}).recv_command, "invsync-recv", "the custom command by default")
  t.eq(settings.resolve({ recv_command = "my_mod-recv2" }).recv_command, "my_mod-recv2", "another name")
  t.eq(settings.resolve({ recv_command = false }).recv_command, false, "none")
  for _, bad in ipairs({ "invsync recv", "", "Invsync", string.rep("a", 65), true, 7 }) do
    local ok2, err2 = pcall(settings.resolve, { recv_command = bad })
    t.ok(not ok2 and tostring(err2):find("recv_command"), "refused: " .. tostring(bad))
  end
  local ok, err = pcall(settings.resolve, { acquire_timeout = 1.5 })
  t.ok(not ok and tostring(err):find("acquire_timeout"), "names the key")
end)

return tests
