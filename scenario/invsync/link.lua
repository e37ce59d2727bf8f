--- The game's end of docs/PROTOCOL.md section 5: the remote interface's answers, sending on
--- stdout and by staging, control messages, and the per-tick work, all within budgets.
---
--- Game-API-free like the rest of the core: the adapter passes an `env` with the game's
--- functions (`print` for stdout lines, `deflate_b64` = helpers.encode_string, `inflate_b64`
--- = helpers.decode_string) and the tick as `now`. All state is plain data in the table that
--- `new` returns, which the adapter keeps in `storage`.
---
--- Budgets: every function that does real work takes a budget in work units and returns the
--- units it spent (one unit: about the cost of checksumming one byte with the bit32 CRC; what
--- that takes in time is measured in scenario/README.md, "Budgets"), so the adapter shares one
--- budget per tick.
---
--- Sending (game -> host): `send(st, cfg, payload)` only queues, and returns the id.
--- * `flush` prints small messages as single stdout frames, `"\f" .. frame`: `raw` when that
---   fits one line, else (payloads up to `zlib_max`) deflated natively, `zlib`, when that fits;
--- * everything else is staged by `stage`: its pull frames (`max_frame` = `pull_max_frame`)
---   are built a budget at a time, with `zlib` when it is smaller (payloads up to `zlib_max`
---   only, so no single native deflate is large) and `raw` otherwise, kept here and
---   announced with a `staged` control message; the host pulls them (`pull`) and frees them
---   (`ack`). Unacknowledged messages are announced again every `staged_reannounce_ticks`
---   and dropped after `staged_max_age`.
---
--- Receiving (host -> game): `recv` answers from the cheap checks at once; `receive` runs the
--- reassembler within its budget, reports every outcome to the host as a `received` control
--- message, and returns the completed payloads for the adapter to dispatch.
---
--- Message ids: 1 ..= 2^31 - 1 from a counter in the state (wrapping); ids 2^31 ..= 2^32 - 1
--- (2^31 + (tick mod 2^31)) are used only for the capability announcement after a load, which must not touch `storage`
--- (see `announce_caps_after_load`).

local reassembler = require("invsync.reassembler")
local sender = require("invsync.sender")
local caps = require("invsync.caps")
local frame = require("invsync.frame")
local text = require("invsync.text")
local json = require("invsync.json")

local format, gsub, floor = string.format, string.gsub, math.floor

local link = {}

local MAX_COUNTER_ID = 2147483647
local LOAD_ID_BASE = 2147483648

--- A new link state from resolved settings (settings.lua).
---@param cfg table
---@return table
function link.new(cfg)
  return {
    rx = reassembler.new({
      accept = cfg.decode, max_frame = cfg.max_frame, max_message = cfg.max_message,
      max_chunks = cfg.max_chunks, max_messages = cfg.max_messages, max_age_ticks = cfg.max_age_ticks,
    }),
    next_id = 1,
    -- payloads for one stdout line each, FIFO items[head .. tail] of {id, payload}
    small = { head = 1, tail = 0, items = {} },
    -- payloads waiting to be staged, FIFO items[head .. tail] of {id, payload, deflated?}
    queue = { head = 1, tail = 0, items = {} },
    -- the sender job of the head item, while it is being built
    job = nil,
    -- staged messages by id, and their ids in staging order
    staged = {}, staged_ids = {},
    -- units spent by remote calls since the last tick, charged to the next tick's budget
    debt = 0,
    -- counters for status displays and tests
    sent_inline = 0, sent_staged = 0, received = 0,
  }
end

--- The next message id from the counter.
---@param st table
---@return number
function link.next_id(st)
  local id = st.next_id
  st.next_id = id >= MAX_COUNTER_ID and 1 or id + 1
  return id
end

--- One line of human-readable text: control characters become spaces (answers and JSON
--- details must stay one line).
local function one_line(s)
  return (gsub(s, "%c", " "))
end

--- Prints `frame` as a protocol line.
local function emit(env, f)
  env.print("\f" .. f)
end

--- How many "left the game" ticks are remembered (the oldest is forgotten first).
local LEFT_MEMORY = 64

--- Remembers the tick at which message `id` had wholly left the game (its stdout line printed,
--- or the last of its staged frames pulled), for hosts and benchmarks that time transfers.
---@param st table
---@param id number
---@param now number|nil the tick; nothing is recorded without it
local function mark_left(st, id, now)
  if now == nil then return end
  local left = st.left_at
  if not left then
    left = { ticks = {}, ids = {} }
    st.left_at = left
  end
  if left.ticks[id] then return end
  left.ticks[id] = now
  left.ids[#left.ids + 1] = id
  if #left.ids > LEFT_MEMORY then
    left.ticks[table.remove(left.ids, 1)] = nil
  end
end

--- The tick at which message `id` had wholly left the game, if it has and is still remembered.
---@param st table
---@param id number
---@return number|nil
function link.left_at(st, id)
  return st.left_at and st.left_at.ticks[id]
end

--- Units charged per payload byte deflated natively (helpers.encode_string at level 9 runs
--- at very roughly 15-30 MB/s, half the speed of the CRC the unit stands for).
link.DEFLATE_COST = 2

--- Largest payload that can be a raw stdout frame (the header takes at most ~70 bytes).
local function raw_fits(cfg, id, n)
  return n + frame.header_len(id, 1, 1, "raw", n, n) <= cfg.stdout_max_frame
end

--- Control messages (`staged`, `received`, `caps`) may fill this many places in the outbox
--- beyond `max_outbox`, so an outbox full of application messages does not swallow them: a
--- lost `received` leaves the host waiting for its timeout, a lost `staged` delays the pull
--- until the next announcement. One tick queues at most one `received` per message the
--- reassembler holds and one `staged` per message staged.
link.CONTROL_RESERVE = 64

--- Queues `payload` unless `limit` messages are waiting already (nil and a reason then).
local function enqueue(st, cfg, payload, limit)
  local small, big = st.small, st.queue
  if (small.tail - small.head + 1) + (big.tail - big.head + 1) >= limit then
    return nil, format("the outbox holds %d messages (max_outbox %d)", limit, cfg.max_outbox)
  end
  local id = link.next_id(st)
  local n = #payload
  if (raw_fits(cfg, id, n) and not text.check(payload)) or n <= cfg.zlib_max then
    small.tail = small.tail + 1
    small.items[small.tail] = { id = id, payload = payload }
  else
    big.tail = big.tail + 1
    big.items[big.tail] = { id = id, payload = payload }
  end
  return id
end

--- Sends `payload` (any bytes up to `zlib_max`, text above) to the host. It goes out in
--- this tick's or the next tick's `flush`, within the tick's budget. Returns its message id,
--- or nil and a reason when the outbox is full (`max_outbox` messages waiting).
---@param st table
---@param cfg table resolved settings
---@param payload string
---@return number|nil id
---@return string|nil reason
function link.send(st, cfg, payload)
  if type(payload) ~= "string" then
    error("invsync.send: payload must be a string, got " .. type(payload), 2)
  end
  return enqueue(st, cfg, payload, cfg.max_outbox)
end

local function pop(q)
  local item = q.items[q.head]
  q.items[q.head] = nil
  q.head = q.head + 1
  if q.head > q.tail then q.head, q.tail = 1, 0 end
  return item
end

--- Prints the small messages waiting, as single stdout frames (`raw`, or `zlib` when the raw
--- text does not fit one line), while `budget` lasts. A payload whose deflated form does not
--- fit one line either moves to the staging queue. Returns the units spent.
---@param st table
---@param cfg table
---@param env table {print, deflate_b64}
---@param budget number
---@param now number|nil the tick (recorded as when each message left, see `link.left_at`)
---@return number spent
function link.flush(st, cfg, env, budget, now)
  local q, left = st.small, budget
  while left > 0 and q.head <= q.tail do
    local item = pop(q)
    local id, payload = item.id, item.payload
    local n = #payload
    local frames = nil
    if raw_fits(cfg, id, n) then
      frames = sender.frames(payload, { id = id, method = "raw", max_frame = cfg.stdout_max_frame })
      left = left - n
    end
    if not (frames and #frames == 1) then
      local wire = env.deflate_b64(payload) -- nil if the native deflate failed
      left = left - n * link.DEFLATE_COST
      frames = nil
      if wire and #wire + frame.header_len(id, 1, 1, "zlib", n, #wire) <= cfg.stdout_max_frame then
        -- (the sender deflates again only if its rule cuts the payload in two after all)
        frames = sender.frames(payload, { id = id, method = "zlib", max_frame = cfg.stdout_max_frame,
          deflated = wire, deflate_b64 = function(p)
            left = left - #p * link.DEFLATE_COST
            return env.deflate_b64(p)
          end })
        left = left - #wire
        if frames and #frames ~= 1 then frames = nil end
      end
      if not frames then
        -- too big for one line even deflated: stage it (the deflated text is kept)
        local big = st.queue
        big.tail = big.tail + 1
        big.items[big.tail] = { id = id, payload = payload, deflated = wire }
      end
    end
    if frames then
      emit(env, frames[1])
      st.sent_inline = st.sent_inline + 1
      mark_left(st, id, now)
    end
  end
  return budget - left
end

--- Sends a control message (a small JSON object), in the outbox's reserve when application
--- messages fill it. Should even the reserve be full, the message is dropped, counted in
--- `st.control_dropped` and logged (when `env` is given). Returns `send`'s results.
local function control(st, cfg, body, env)
  local id, why = enqueue(st, cfg, body, cfg.max_outbox + link.CONTROL_RESERVE)
  if not id then
    st.control_dropped = (st.control_dropped or 0) + 1
    if env and env.log then
      env.log(format("invsync: control message dropped, %s: %s", why, body))
    end
  end
  return id, why
end

--- The `staged` announcement of a staged message.
local function announce(st, cfg, m, env)
  control(st, cfg, format('{"type":"staged","id":%d,"count":%d,"wlen":%d,"method":"%s","bytes":%d}',
    m.id, m.count, m.wlen, m.method, m.plen), env)
end

--- Builds staged messages from the queue while `budget` lasts: the pull frames of each, with
--- `zlib` when smaller (payloads up to `zlib_max`) and `raw` otherwise; then announces it.
--- Returns the units spent.
---@param st table
---@param cfg table
---@param env table {deflate_b64, log}
---@param now number
---@param budget number
---@return number spent
function link.stage(st, cfg, env, now, budget)
  local q, left = st.queue, budget
  while left > 0 do
    if not st.job then
      if q.head > q.tail then break end
      local item = q.items[q.head]
      local small = #item.payload <= cfg.zlib_max
      local deflate = nil
      if small then
        -- one native call per zlib slice (one for a payload up to zlib_max), charged by size
        deflate = function(p)
          left = left - #p * link.DEFLATE_COST
          return env.deflate_b64(p)
        end
      end
      local job, err = sender.new(item.payload, {
        id = item.id, method = "auto", decode = small and { "zlib", "raw" } or { "raw" },
        max_frame = cfg.pull_max_frame, deflate_b64 = deflate, deflated = item.deflated,
      })
      left = left - 64
      if not job then
        pop(q)
        env.log(format("invsync: cannot send message %d: %s", item.id, err.message))
      else
        st.job = job
      end
    else
      local job = st.job
      local done, err, spent = sender.step(job, left)
      left = left - (spent or left)
      if done or err then
        local item = pop(q)
        st.job = nil
        if err then
          env.log(format("invsync: cannot send message %d: %s", item.id, err.message))
        else
          local m = { id = job.id, frames = job.frames, count = job.count, wlen = job.wlen, method = job.method,
            plen = job.plen, staged_at = now, announced_at = now }
          st.staged[m.id] = m
          st.staged_ids[#st.staged_ids + 1] = m.id
          st.sent_staged = st.sent_staged + 1
          announce(st, cfg, m, env)
        end
      end
    end
  end
  return budget - left
end

local function forget_staged(st, id)
  st.staged[id] = nil
  local ids = st.staged_ids
  for i = 1, #ids do
    if ids[i] == id then
      table.remove(ids, i)
      return
    end
  end
end

--- Announces again what the host has not acknowledged for a while, drops what is too old.
local function tend_staged(st, cfg, env, now)
  local ids = st.staged_ids
  local i = 1
  while i <= #ids do
    local m = st.staged[ids[i]]
    if now - m.staged_at >= cfg.staged_max_age then
      env.log(format("invsync: staged message %d was not acknowledged within %d ticks; dropped", m.id, cfg.staged_max_age))
      forget_staged(st, m.id)
    else
      if now - m.announced_at >= cfg.staged_reannounce_ticks then
        m.announced_at = now
        announce(st, cfg, m, env)
      end
      i = i + 1
    end
  end
end

--- Reports a message outcome to the host.
local function report(st, cfg, id, err, env)
  if err then
    control(st, cfg, format('{"type":"received","id":%d,"status":"failed","error":"%s","detail":%s}',
      id, err.name, json.quote(one_line(err.message))), env)
  else
    control(st, cfg, format('{"type":"received","id":%d,"status":"done"}', id), env)
  end
end

--- Receiving for one tick: the reassembler's work within `budget` units, every outcome
--- reported to the host (queued `received` control messages), and the upkeep of staged
--- messages. Returns the payloads that completed, in order, as `{id = N, payload = "..."}`,
--- and the units spent.
---@param st table
---@param cfg table
---@param now number the tick
---@param env table {log, inflate_b64}
---@param budget number
---@return table[] delivered
---@return number spent
function link.receive(st, cfg, now, env, budget)
  local delivered = {}
  -- an inflate or a join that does not fit what is left of the tick waits for a tick with
  -- nothing spent before it (a tick without remote calls), where it runs first
  local events, spent = reassembler.step(st.rx, budget, now, env, cfg.tick_budget)
  for i = 1, #events do
    local e = events[i]
    if e.kind == "message" then
      st.received = st.received + 1
      delivered[#delivered + 1] = { id = e.id, payload = e.payload }
      report(st, cfg, e.id, nil, env)
    elseif e.kind == "expired" or (e.kind == "error" and e.scope == "message") then
      report(st, cfg, e.id, e.error, env)
    end
  end
  tend_staged(st, cfg, env, now)
  return delivered, spent
end

-- The remote interface's answers (PROTOCOL.md 5.3), each one line without the line end. ---

--- Units a remote call costs (a lookup, the answer). Remote calls run before the tick's
--- on_tick, which pays for them (`take_debt`), so the tick they run in keeps its budget.
link.CALL_COST = 64
--- Units a `recv` call costs besides: it reads the frame's header only (its data is checked
--- in the budgeted step), measured about 3 us by the lua_codecs benchmark ...
link.RECV_COST = 160
--- ... plus, for a frame that came through the remote call, one unit per this many bytes of
--- the frame: the game compiles the command that carries it, a lexer pass over every byte
--- (2-2.5 ns per byte, measured by the lua_codecs benchmark and in the emulator's ticks; with
--- RECV_COST, 23-30 us per 8 kB command there). The custom command is not compiled.
link.RECV_BYTES = 12

--- The units remote calls spent since the last call, to charge to this tick's budget, at
--- most `budget` of them: the rest is charged to the next ticks, so a host that floods the
--- game with frames slows the module's own work down until the cost is paid back.
---@param st table
---@param budget number
---@return number
function link.take_debt(st, budget)
  local d = st.debt
  if d > budget then d = budget end
  st.debt = st.debt - d
  return d
end

local function is_id(v)
  return type(v) == "number" and v >= 1 and v <= 4294967295 and v == floor(v)
end

local function bad_argument(what, v)
  return format("err - BadArgument %s, got %s", what, one_line(tostring(v)))
end

--- A frame from the host, by either entry; `compiled`: it came in Lua source the game
--- compiled (the remote call), which is charged per byte.
local function take_frame(st, f, now, compiled)
  if type(f) ~= "string" then
    return format("err - NotAFrame expected the frame as a string, got a %s", type(f))
  end
  local cost = link.CALL_COST + link.RECV_COST
  if compiled then cost = cost + floor(#f / link.RECV_BYTES) end
  st.debt = st.debt + cost
  local r = reassembler.push(st.rx, f, now)
  if r.status == "error" then
    local id = r.id and format("%d", r.id) or "-"
    return format("err %s %s %s", id, r.error.name, one_line(r.error.message))
  end
  if r.done then return format("done %d", r.id) end
  return format("ok %d %d/%d", r.id, r.have or 0, r.count or 0)
end

--- `recv(frame)`, through the remote call.
---@param st table
---@param f any the frame text
---@param now number
---@return string
function link.recv(st, f, now)
  return take_frame(st, f, now, true)
end

--- The custom command's entry (PROTOCOL.md 5.2, `recv_command`): the same answers as `recv`
--- for a frame that arrives as the command's parameter. Nothing was compiled, so it costs no
--- unit per byte; the parameter is nil when the command had no text after its name.
---@param st table
---@param parameter any the command's `parameter`
---@param now number
---@return string
function link.recv_command(st, parameter, now)
  if parameter == nil then
    return "err - NotAFrame the command carried no frame (expected /<command> <frame>)"
  end
  return take_frame(st, parameter, now, false)
end

--- `status(id)`.
---@param st table
---@param id any
---@return string
function link.status(st, id)
  st.debt = st.debt + link.CALL_COST
  if not is_id(id) then return bad_argument("status: expected a message id 1..4294967295", id) end
  local state, info = reassembler.status(st.rx, id)
  if state == "missing" then
    return format("missing %d %s", id, reassembler.format_ranges(info))
  elseif state == "failed" then
    return format("failed %d %s %s", id, info.name, one_line(info.message))
  end
  return format("%s %d", state, id)
end

--- A `pull` also pays one unit per this many bytes of the frame it answers: the answer is a
--- copy of the frame into the reply, in fresh memory (about 1 us per KiB in the emulator).
link.PULL_BYTES = 32

--- `pull(id, index)`: the frame, or `unknown <id>`.
---@param st table
---@param id any
---@param index any
---@param now number|nil the tick (recorded when the last frame is pulled, see `link.left_at`)
---@return string
function link.pull(st, id, index, now)
  st.debt = st.debt + link.CALL_COST
  if not is_id(id) then return bad_argument("pull: expected a message id 1..4294967295", id) end
  local m = st.staged[id]
  local f = m and is_id(index) and m.frames[index]
  if not f then return format("unknown %d", id) end
  st.debt = st.debt + floor(#f / link.PULL_BYTES)
  -- the first pull of each frame counts towards "the whole message has left"
  local pulled = m.pulled
  if not pulled then
    pulled = { n = 0 }
    m.pulled = pulled
  end
  if not pulled[index] then
    pulled[index] = true
    pulled.n = pulled.n + 1
    if pulled.n == m.count then mark_left(st, id, now) end
  end
  return f
end

--- `ack(id)`: frees a staged message.
---@param st table
---@param id any
---@return string
function link.ack(st, id)
  st.debt = st.debt + link.CALL_COST
  if not is_id(id) then return bad_argument("ack: expected a message id 1..4294967295", id) end
  if not st.staged[id] then return format("unknown %d", id) end
  forget_staged(st, id)
  return format("ok %d", id)
end

--- The capability JSON of PROTOCOL.md 4 (the answer to `caps()`), with the custom command
--- that carries frames when `cfg.recv_command` names one the adapter registered.
---@param st table
---@param cfg table|nil
---@return string
function link.caps(st, cfg)
  return caps.json(st.rx, cfg and cfg.recv_command or nil, cfg and cfg.export_json)
end

--- The `caps` control message's payload.
local function caps_message(st, cfg)
  local body = link.caps(st, cfg)
  return '{"type":"caps",' .. body:sub(2)
end

--- Queues the capabilities as a control message (at start, and when asked). Returns the id,
--- or nil and a reason when even the outbox's reserve for control messages is full.
---@param st table
---@param cfg table
---@param env table|nil {log}: a dropped announcement is logged there
---@return number|nil id
---@return string|nil reason
function link.announce_caps(st, cfg, env)
  return control(st, cfg, caps_message(st, cfg), env)
end

--- Announces the capabilities after a load, without touching the state: the id comes from
--- the tick (2^31 + (tick mod 2^31), PROTOCOL.md 5.5), so peers that loaded and peers that did not stay in step.
--- The message is one stdout frame (`raw`), which its size guarantees.
---@param st table
---@param cfg table
---@param env table
---@param now number
function link.announce_caps_after_load(st, cfg, env, now)
  local id = LOAD_ID_BASE + now % LOAD_ID_BASE
  local frames = sender.frames(caps_message(st, cfg), { id = id, method = "raw", max_frame = cfg.stdout_max_frame })
  if frames then emit(env, frames[1]) end
end

--- Where a message from the host stands: "receiving" with the wire bytes verified so far and
--- its wire length, "done", "failed", or "unknown" (nothing of it has been verified yet).
---@param st table
---@param id number
---@return string state
---@return number|nil got
---@return number|nil wlen
function link.progress(st, id)
  local rx = st.rx
  local msg = rx.msgs[id]
  if msg then return "receiving", msg.got, msg.wlen end
  if rx.done_mcrc[id] then return "done" end
  if rx.failed[id] then return "failed" end
  return "unknown", 0
end

--- Staged messages held (tests and status displays).
---@param st table
---@return number
function link.staged_count(st)
  return #st.staged_ids
end

--- True while something is queued, being built or staged, or the receiver holds anything.
---@param st table
---@return boolean
function link.busy(st)
  return st.small.head <= st.small.tail or st.queue.head <= st.queue.tail or st.job ~= nil or #st.staged_ids > 0
    or not reassembler.idle(st.rx)
end

return link
