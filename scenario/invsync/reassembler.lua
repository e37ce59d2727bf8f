--- The receiver of docs/PROTOCOL.md section 3: frames in, verified payloads out.
---
--- Two calls, both deterministic and without I/O or clocks (the caller supplies ticks):
---
--- * `push(rx, frame, now)` reads only the frame's header (PROTOCOL.md 3 steps 1, 2 and 4:
---   length, magic, header fields, method, index; one anchored `string.match` on a good
---   frame, whatever its length; and of step 7 the bound of a `solid` plen, so that the
---   answer to the first frame says it), recognises exact duplicates by chunk index, and
---   queues the frame. Its result is what the adapter answers to the RCON `recv` call. Up to 16 frames
---   can arrive in one tick, so it does nothing per byte of the frame.
--- * `step(rx, budget, now, env)` does the costly work in arrival order, at most about
---   `budget` work units per call (a unit is about a byte checksummed): the deferred checks
---   of each queued frame (steps 3 and 5, one C-speed scan of its data; step 6, `fcrc`), then
---   policy, limits and message state (steps 7-8), then each message's in-order prefix as
---   chunks arrive (message.lua: mcrc, and decoding: LZ4, or one native inflate per zlib
---   chunk) and, on completion (step 9), the verdict and the payload, delivered exactly once
---   (for `solid`, after its one native inflate of the whole wire text).
---
--- Deferring steps 3, 5 and 6 is what PROTOCOL.md 3 allows: a frame's data is used, and a
--- frame is compared with held chunks, only after it passed them (a frame byte-identical to a
--- verified chunk, or to a frame already queued, is a duplicate at once: it would fare the
--- same). A frame that `push` queued can so still be rejected later: `step` returns it as an
--- `error` event with the frame's `seq` (the number `push` returned), and drops it as if it
--- had never arrived. Until then it counts as held for `status`; once rejected its chunk is
--- missing again, so the host's resend logic sees it.
---
--- Each chunk's data is checksummed once: `fcrc` and `mcrc` are derived from the chunk's CRC
--- with `crc32.combine_op`. All state is plain data in the table `rx`, which the caller
--- keeps in `storage`; nothing here decides anything by iterating string keys.

local errors = require("invsync.errors")
local limits = require("invsync.limits")
local frame = require("invsync.frame")
local crc32 = require("invsync.crc32")
local message = require("invsync.message")

local concat, format, sub, floor = table.concat, string.format, string.sub, math.floor

local reassembler = {}

---@class InvsyncReceiverConfig
---@field accept string[]|nil methods decoded, in order of preference (default {"raw", "lz4"}; add "zlib" and "solid" when the adapter has `inflate_b64`)
---@field max_frame number|nil
---@field max_message number|nil
---@field max_chunks number|nil
---@field max_messages number|nil
---@field max_buffered number|nil
---@field max_age_ticks number|nil
---@field max_age_frames number|nil
---@field remember_completed number|nil
---@field max_queued number|nil bytes of frames waiting for verification (push refuses more)

--- A new receiver state (plain data: keep it in `storage`).
---@param config InvsyncReceiverConfig|nil
---@return table rx
function reassembler.new(config)
  config = config or {}
  local list = config.accept or { "raw", "lz4" }
  local accept, accept_list, has_raw = {}, {}, false
  for i = 1, #list do
    local m = list[i]
    if m ~= "raw" and m ~= "lz4" and m ~= "zlib" and m ~= "solid" then
      error("invsync.reassembler.new: accept[" .. i .. "] is '" .. tostring(m) .. "', expected raw, lz4, zlib or solid", 2)
    end
    if m == "raw" then has_raw = true end
    accept[m] = true
    accept_list[i] = m
  end
  if not has_raw then
    error("invsync.reassembler.new: accept must include \"raw\" (PROTOCOL.md section 4)", 2)
  end
  return {
    accept = accept, accept_list = accept_list,
    max_frame = config.max_frame or limits.max_frame_rcon,
    max_message = config.max_message or limits.max_message,
    max_chunks = config.max_chunks or limits.max_chunks,
    max_messages = config.max_messages or limits.max_messages,
    max_buffered = config.max_buffered or limits.max_buffered,
    max_age_ticks = config.max_age_ticks or limits.max_age_ticks,
    max_age_frames = config.max_age_frames or limits.max_age_frames,
    remember = math.max(config.remember_completed or limits.remember_completed, 64),
    max_queued = config.max_queued or limits.max_queued,
    pushed = 0,
    -- frames waiting for fcrc verification, FIFO queue[qhead .. qtail]
    queue = {}, qhead = 1, qtail = 0, queued_bytes = 0,
    -- qidx[id][index] = number of queued frames for that chunk
    qidx = {},
    -- messages in progress by id, and their ids in creation order; how many of them have
    -- more than one chunk, and the wire bytes those reserve
    msgs = {}, order = {}, multi = 0, buffered = 0,
    -- recently completed: ring of ids, their mcrc, and how many ring slots name each id
    done_ring = {}, done_next = 1, done_mcrc = {}, done_refs = {},
    -- recently dropped messages (for status): ring of ids, their error, ring slots per id
    failed_ring = {}, failed_next = 1, failed = {}, failed_refs = {},
  }
end

--- Number of distinct chunks of message `id` held (verified or queued), and its count
--- (nil when nothing of it is held).
---@param rx table
---@param id number
---@return number have
---@return number|nil count
local function progress(rx, id)
  local msg = rx.msgs[id]
  local have, count = 0, nil
  if msg then have, count = msg.have, msg.count end
  local q = rx.qidx[id]
  if q then
    -- a sum: independent of the traversal order
    for index in pairs(q) do
      if not (msg and msg.chunks[index]) then have = have + 1 end
    end
    if not count then
      for i = rx.qhead, rx.qtail do
        local e = rx.queue[i]
        if e.id == id then
          count = e.count
          break
        end
      end
    end
  end
  return have, count
end

---@class InvsyncPushResult
---@field status string "queued", "duplicate" or "error"
---@field seq number this frame's number (1 for the first frame pushed)
---@field id number|nil message id, when the header could be read
---@field index number|nil
---@field count number|nil
---@field have number|nil chunks of the message held (verified or queued)
---@field done boolean|nil true if a message with this id and mcrc was completed recently
---@field error InvsyncError|nil

--- True if a frame byte-identical to `line` waits in the queue for chunk `index` of `id`
--- (`qidx` counts them; the queue is searched only when it holds one).
local function queued_exactly(rx, id, index, line)
  local q = rx.qidx[id]
  if not (q and q[index]) then return false end
  local queue = rx.queue
  for i = rx.qhead, rx.qtail do
    local e = queue[i]
    if e.index == index and e.id == id and e.line == line then return true end
  end
  return false
end

--- Receives one frame (the text of the RCON `recv` argument). Cheap: it reads the header
--- only (no scan of the data, no checksum), so its cost does not grow with the frame.
--- `now` is the caller's tick (any increasing number; nil if unused).
---@param rx table
---@param line string
---@param now number|nil
---@return InvsyncPushResult
function reassembler.push(rx, line, now)
  rx.pushed = rx.pushed + 1
  local seq = rx.pushed
  local h, err = frame.parse_header(line, rx)
  if not h then
    return { status = "error", seq = seq, id = err.id, index = err.index, error = err }
  end
  local id, index = h.id, h.index
  if h.method == "solid" and h.plen > message.SOLID_MAX_PAYLOAD and rx.accept.solid then
    -- step 7 read off the header: answered at once, so the host learns it from this frame
    return { status = "error", seq = seq, id = id, index = index, error = errors.new("MessageTooLarge",
      format("message %d chunk %d: solid plen %d is over the method's bound of %d bytes (PROTOCOL.md 2.3)", id, index,
        h.plen, message.SOLID_MAX_PAYLOAD), id, index) }
  end
  local msg = rx.msgs[id]
  if (msg and msg.chunks[index] and message.holds_exactly(msg, h, sub(line, h.dpos)))
    or queued_exactly(rx, id, index, line) then
    -- byte-identical to a chunk that passed every check, or to a frame waiting for them:
    -- the same checks would give the same result
    local have, count = progress(rx, id)
    return { status = "duplicate", seq = seq, id = id, index = index, count = count, have = have }
  end
  local size = #line
  if rx.queued_bytes + size > rx.max_queued then
    return { status = "error", seq = seq, id = id, index = index, error = errors.new("TooManyMessages",
      format("message %d chunk %d: %d bytes already wait for verification, max_queued is %d", id, index,
        rx.queued_bytes, rx.max_queued), id, index) }
  end
  rx.qtail = rx.qtail + 1
  rx.queue[rx.qtail] = {
    seq = seq, size = size, line = line, id = id, index = index, count = h.count, method = h.method,
    plen = h.plen, wlen = h.wlen, mcrc = h.mcrc, fcrc = h.fcrc, dpos = h.dpos, bpos = h.bpos,
    vpos = 0, chdr = 0, cdata = 0,
  }
  rx.queued_bytes = rx.queued_bytes + size
  local q = rx.qidx[id]
  if not q then
    q = {}
    rx.qidx[id] = q
  end
  q[index] = (q[index] or 0) + 1
  local have, count = progress(rx, id)
  return { status = "queued", seq = seq, id = id, index = index, count = count, have = have,
    done = (h.mcrc and rx.done_mcrc[id] == h.mcrc) or nil }
end

--- Removes the head of the verification queue.
local function pop(rx)
  local e = rx.queue[rx.qhead]
  rx.queue[rx.qhead] = nil
  rx.qhead = rx.qhead + 1
  if rx.qhead > rx.qtail then rx.qhead, rx.qtail = 1, 0 end
  rx.queued_bytes = rx.queued_bytes - e.size
  local q = rx.qidx[e.id]
  local left = q[e.index] - 1
  if left == 0 then q[e.index] = nil else q[e.index] = left end
  if next(q) == nil then rx.qidx[e.id] = nil end
end

local function remove_msg(rx, msg)
  rx.msgs[msg.id] = nil
  if msg.count > 1 then
    rx.multi = rx.multi - 1
    rx.buffered = rx.buffered - msg.wlen
  end
  local order = rx.order
  for i = 1, #order do
    if order[i] == msg.id then
      table.remove(order, i)
      break
    end
  end
end

--- Adds `id` to a ring of the last rx.remember ids; `map[id]` holds its value while some
--- slot of the ring names it.
local function ring_add(rx, ring, refs, map, pos, id, value)
  local old = ring[pos]
  if old then
    local n = refs[old] - 1
    if n == 0 then
      refs[old] = nil
      map[old] = nil
    else
      refs[old] = n
    end
  end
  ring[pos] = id
  refs[id] = (refs[id] or 0) + 1
  map[id] = value
  return pos % rx.remember + 1
end

--- Remembers a delivered message (late duplicates are ignored, status says done).
local function remember(rx, id, mcrc)
  rx.done_next = ring_add(rx, rx.done_ring, rx.done_refs, rx.done_mcrc, rx.done_next, id, mcrc)
  rx.failed[id] = nil
end

--- Remembers a dropped message for status (`failed <id> <ErrorName> <detail>`).
local function remember_failure(rx, id, err)
  rx.failed_next = ring_add(rx, rx.failed_ring, rx.failed_refs, rx.failed, rx.failed_next, id,
    { name = err.name, message = err.message })
end

local function frame_error(events, e, name, message)
  events[#events + 1] = { kind = "error", scope = "frame", seq = e.seq, id = e.id, index = e.index,
    error = errors.new(name, format("message %d chunk %d: ", e.id, e.index) .. message, e.id, e.index) }
end

local function message_error(rx, events, msg, err)
  remember_failure(rx, msg.id, err)
  events[#events + 1] = { kind = "error", scope = "message", id = msg.id, error = err }
end

--- Steps 7 and 8 of PROTOCOL.md section 3 for a frame whose fcrc checked out: policy and
--- limits, then the message state. Returns the message the frame went into, if any.
local function accept(rx, e, now, events)
  local id, index, data = e.id, e.index, e.data
  local n = #data
  if not rx.accept[e.method] then
    return frame_error(events, e, "MethodNotAccepted", format("method '%s' is not declared by this receiver", e.method))
  end
  if e.plen > rx.max_message or e.wlen > rx.max_message then
    return frame_error(events, e, "MessageTooLarge", format("plen %d / wlen %d, max_message is %d", e.plen, e.wlen, rx.max_message))
  end
  if e.count > rx.max_chunks then
    return frame_error(events, e, "TooManyChunks", format("count %d, max_chunks is %d", e.count, rx.max_chunks))
  end
  if e.count > e.wlen and e.count > 1 then
    return frame_error(events, e, "TooManyChunks", format("count %d is more than the %d wire bytes", e.count, e.wlen))
  end
  if rx.done_mcrc[id] == e.mcrc then
    events[#events + 1] = { kind = "duplicate", seq = e.seq, id = id, index = index }
    return
  end
  local msg = rx.msgs[id]
  if msg then
    if msg.count ~= e.count or msg.method ~= e.method or msg.plen ~= e.plen or msg.wlen ~= e.wlen or msg.mcrc ~= e.mcrc then
      return frame_error(events, e, "ConflictingFrame", format("header %d %s %d %d %08x differs from the message in progress "
        .. "(count %d, method %s, plen %d, wlen %d, mcrc %s)", e.count, e.method, e.plen, e.wlen, e.mcrc,
        msg.count, msg.method, msg.plen, msg.wlen, msg.mcrc_hex))
    end
    local held = msg.chunks[index]
    if held then
      if held == data then
        events[#events + 1] = { kind = "duplicate", seq = e.seq, id = id, index = index }
        return
      end
      return frame_error(events, e, "ConflictingFrame", "data differs from the chunk already held")
    end
  elseif e.count > 1 then
    -- a single-frame message completes at once and holds no buffer, so only longer ones count
    if rx.multi >= rx.max_messages then
      return frame_error(events, e, "TooManyMessages", format("%d messages in progress, max_messages is %d", rx.multi, rx.max_messages))
    end
    if rx.buffered + e.wlen > rx.max_buffered then
      return frame_error(events, e, "TooManyMessages", format("%d bytes reserved plus wlen %d exceeds max_buffered %d",
        rx.buffered, e.wlen, rx.max_buffered))
    end
  end
  local got = (msg and msg.got or 0) + n
  if got > e.wlen then
    return frame_error(events, e, "WireLengthMismatch", format("chunks add up to %d bytes, more than wlen %d", got, e.wlen))
  end
  if not msg then
    msg = message.new(e)
    rx.msgs[id] = msg
    rx.order[#rx.order + 1] = id
    if e.count > 1 then
      rx.multi = rx.multi + 1
      rx.buffered = rx.buffered + e.wlen
    end
  end
  message.add(msg, index, data, e.cdata, e.fcrc)
  msg.last_tick = now or 0
  msg.last_frame = rx.pushed
  if msg.have == msg.count and got ~= msg.wlen then
    remove_msg(rx, msg)
    message_error(rx, events, msg, errors.new("WireLengthMismatch", format("message %d: all %d chunks add up to %d bytes, wlen is %d",
      id, msg.count, got, msg.wlen), id))
    return nil
  end
  return msg
end

local SCAN_BYTES = limits.scan_bytes

--- The deferred checks of queue entry `e` (PROTOCOL.md 3 steps 3, 5 and 6: its data's
--- characters in one C-speed scan, then `fcrc`, a CRC pass spread over calls), spending at
--- most about `left` units; when done, pops it and applies it (steps 7 and 8). Returns the
--- budget left, and the message the frame went into, if any.
local function verify(rx, e, left, now, events)
  local line, dpos = e.line, e.dpos
  local n = #line
  if e.vpos == 0 then
    local msg = rx.msgs[e.id]
    if msg and msg.chunks[e.index] and message.holds_exactly(msg, e, sub(line, dpos)) then
      -- identical to a chunk verified since it was queued: same result without the checks
      pop(rx)
      events[#events + 1] = { kind = "duplicate", seq = e.seq, id = e.id, index = e.index }
      return left - 1
    end
    local err = frame.check_data(line, e)
    left = left - 1 - floor((n - dpos + 1) / SCAN_BYTES)
    if err then
      pop(rx)
      events[#events + 1] = { kind = "error", scope = "frame", seq = e.seq, id = e.id, index = e.index, error = err }
      return left
    end
    e.chdr = crc32.update(0, line, e.bpos, dpos - 1)
    e.vpos = dpos
    left = left - (dpos - e.bpos)
  end
  local take = n - e.vpos + 1
  if take > left then take = left end
  if take > 0 then
    e.cdata = crc32.update(e.cdata, line, e.vpos, e.vpos + take - 1)
    e.vpos = e.vpos + take
    left = left - take
  end
  if e.vpos <= n then return left end
  pop(rx)
  local body = crc32.combine_op(e.chdr, e.cdata, crc32.shift_op(n - dpos + 1))
  left = left - limits.combine_cost
  if body ~= e.fcrc then
    frame_error(events, e, "FrameChecksumMismatch", format("fcrc is %08x, the body gives %08x", e.fcrc, body))
    return left
  end
  e.data = sub(line, dpos)
  -- a one-chunk frame with the short header: its mcrc is its data's CRC (PROTOCOL.md 2.5)
  if not e.mcrc then e.mcrc = e.cdata end
  return left, accept(rx, e, now, events)
end

--- Completes a message whose chunks have all been processed (step 9): delivers it once, or
--- drops it with its error. `env.inflate_b64` inflates a `solid` message.
local function complete(rx, msg, events, env)
  remove_msg(rx, msg)
  local payload, err = message.finish(msg, env)
  if not payload then return message_error(rx, events, msg, err) end
  remember(rx, msg.id, msg.mcrc)
  events[#events + 1] = { kind = "message", id = msg.id, method = msg.method, payload = payload }
end

--- Steps a verdict waits for a step with `fresh` units before it starts anyway.
local VERDICT_PATIENCE = 8

--- Works on `msg` within `left` units, completing it when its last chunk is processed. Work
--- that cannot be split (an inflate, the final join) starts when its cost fits `left`, or
--- when at least `fresh` units are left; a verdict that waited VERDICT_PATIENCE steps for
--- that (`msg.waits`, counted by `step`) starts with any budget. Returns the budget left.
local function advance(rx, msg, left, events, env, fresh)
  left = message.advance(msg, left, env, fresh)
  if message.ready(msg) and left > 0 then
    local cost = message.finish_cost(msg)
    if cost <= left or left >= fresh or (msg.waits or 0) >= VERDICT_PATIENCE then
      complete(rx, msg, events, env)
      left = left - cost
    end
  end
  return left
end

--- Chunk numbers of message `id` neither verified nor queued, ascending (at most `limit`
--- of them, default all), or nil if no message with this id is in progress.
---@param rx table
---@param id number
---@param limit number|nil
---@return number[]|nil
function reassembler.missing(rx, id, limit)
  local msg = rx.msgs[id]
  local _, count = progress(rx, id)
  if not count then return nil end
  return message.missing(msg, count, rx.qidx[id], limit or count)
end

--- What the adapter answers to `status(id)` (PROTOCOL.md 5.3): "missing" and the chunk
--- numbers neither verified nor queued (empty when every chunk is held and verification is
--- under way), "done" (delivered recently), "failed" and the error of a message dropped
--- recently, or "unknown".
---@param rx table
---@param id number
---@param limit number|nil at most this many chunk numbers
---@return string state
---@return number[]|table|nil missing chunk numbers, or the error `{name, message}` for "failed"
function reassembler.status(rx, id, limit)
  local missing = reassembler.missing(rx, id, limit)
  if missing then return "missing", missing end
  if rx.failed[id] then return "failed", rx.failed[id] end
  if rx.done_mcrc[id] then return "done", nil end
  return "unknown", nil
end

--- Chunk numbers as ranges, `{1, 2, 3, 7}` -> "1-3,7" (the `<ranges>` of PROTOCOL.md 5.3).
---@param list number[] ascending
---@return string
function reassembler.format_ranges(list)
  local out = {}
  local i, n = 1, #list
  while i <= n do
    local j = i
    while j < n and list[j + 1] == list[j] + 1 do j = j + 1 end
    if j == i then
      out[#out + 1] = format("%d", list[i])
    else
      out[#out + 1] = format("%d-%d", list[i], list[j])
    end
    i = j + 1
  end
  return concat(out, ",")
end

--- Drops messages that made no progress for max_age ticks or frames.
local function expire(rx, now, events)
  local order = rx.order
  local i = 1
  while i <= #order do
    local msg = rx.msgs[order[i]]
    local stale = rx.pushed - msg.last_frame >= rx.max_age_frames
      or (type(now) == "number" and now - msg.last_tick >= rx.max_age_ticks)
    if stale then
      local missing = reassembler.missing(rx, msg.id) or {}
      remove_msg(rx, msg)
      local shown = {}
      for j = 1, #missing do
        if j > 32 then shown[#shown + 1] = "..." break end
        shown[#shown + 1] = format("%d", missing[j])
      end
      local err = errors.new("Expired", format("message %d: no progress for max_age, missing chunks %s", msg.id,
        concat(shown, ",")), msg.id)
      remember_failure(rx, msg.id, err)
      events[#events + 1] = { kind = "expired", id = msg.id, missing = missing, error = err }
    else
      i = i + 1
    end
  end
end

---@class InvsyncStepEnv
---@field inflate_b64 fun(text: string): string|nil the game's helpers.decode_string, needed for zlib and solid

--- Does up to about `budget` work units of verification and decoding. Returns the events
--- of this call, in order: `{kind = "message", id, method, payload}` (delivered once),
--- `{kind = "error", scope = "frame"|"message", seq, id, index, error}`,
--- `{kind = "duplicate", seq, id, index}` and `{kind = "expired", id, missing, error}`;
--- and the work units spent. A call stops as soon as the budget is used up; it can overrun
--- it only by the last unit of work started: one CRC combination, a frame header's CRC, a
--- frame's character scan, the output of one LZ4 sequence, or work that cannot be split
--- (one inflate, the join of a completed payload and a `solid` message's inflate of it),
--- which starts only when its estimated cost
--- fits what is left, or when at least `fresh` units are left (default `budget`: only as the
--- first work of a call). An adapter that shares a tick's budget passes its whole tick budget
--- as `fresh`, so such work waits for a tick that has spent nothing else (and a verdict
--- that waited a few steps starts anyway, so nothing waits forever).
---@param rx table
---@param budget number
---@param now number|nil
---@param env InvsyncStepEnv|nil
---@param fresh number|nil
---@return table[] events
---@return number spent
function reassembler.step(rx, budget, now, env, fresh)
  local events = {}
  expire(rx, now, events)
  fresh = fresh or budget
  local left = budget
  local order = rx.order
  -- verdicts first: a message whose chunks are all processed waits only for its join, the
  -- largest piece of work, which so gets the tick while it is least used
  local i = 1
  while left > 0 and i <= #order do
    local id = order[i]
    local msg = rx.msgs[id]
    if message.ready(msg) then
      left = advance(rx, msg, left, events, env, fresh)
      if order[i] == id then msg.waits = (msg.waits or 0) + 1 end
    end
    if order[i] == id then i = i + 1 end
  end
  while left > 0 and rx.qhead <= rx.qtail do
    local msg
    left, msg = verify(rx, rx.queue[rx.qhead], left, now, events)
    -- go on with that message at once, so a single-frame message completes right here
    if msg and left > 0 then left = advance(rx, msg, left, events, env, fresh) end
  end
  i = 1
  while left > 0 and i <= #order do
    local id = order[i]
    local msg = rx.msgs[id]
    left = advance(rx, msg, left, events, env, fresh)
    if order[i] == id then i = i + 1 end
  end
  return events, budget - left
end

--- True when nothing is queued or in progress (no partial state held).
---@param rx table
---@return boolean
function reassembler.idle(rx)
  return rx.qhead > rx.qtail and #rx.order == 0 and next(rx.msgs) == nil and next(rx.qidx) == nil
    and rx.multi == 0 and rx.buffered == 0 and rx.queued_bytes == 0
end

--- True when `step` has work to do.
---@param rx table
---@return boolean
function reassembler.busy(rx)
  if rx.qhead <= rx.qtail then return true end
  for i = 1, #rx.order do
    local msg = rx.msgs[rx.order[i]]
    if message.has_work(msg) then return true end
  end
  return false
end

return reassembler
