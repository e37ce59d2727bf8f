--- The sender of docs/PROTOCOL.md section 2: a payload in, frames out, in budgeted steps.
---
--- The game sends `raw` (the payload as it is, when it is frame text) or `zlib` (through
--- the injected `deflate_b64`, in the game `helpers.encode_string`); it never compresses in
--- pure Lua. `new` plans the chunks: `raw` by arithmetic, cut between UTF-8 characters;
--- `zlib` as one stream per chunk (PROTOCOL.md 2.3), one native deflate per payload slice,
--- slices sized to fill the frames, by the reference encoder's rule so both make the same
--- frames for the same deflate. `step(job, budget)` then checksums every chunk once (folding
--- the chunk CRCs into `mcrc` with `crc32.combine_op`) and builds the frames, checking `raw`
--- text on the copy of each chunk a frame is built from, each call doing about `budget` work
--- units, so staging a large message is spread over ticks. The job is plain data: keep it in
--- `storage` while it is staged for `pull`.

local errors = require("invsync.errors")
local limits = require("invsync.limits")
local frame = require("invsync.frame")
local crc32 = require("invsync.crc32")
local text = require("invsync.text")

local byte, sub, find, format, floor, ceil, concat = string.byte, string.sub, string.find, string.format, math.floor, math.ceil, table.concat

local sender = {}

local COMBINE_COST = limits.combine_cost
local TEXT_SCAN_BYTES = limits.text_scan_bytes
local CRC_UNITS_PER_KIB = limits.staging_crc_units_per_kib
local BUILD_BYTES = limits.build_bytes

local MAX_ID = 4294967295

--- Sum of the decimal lengths of 1 ..= n.
local function digit_sum(n)
  local total, d, lo = 0, 1, 1
  while lo <= n do
    local hi = lo * 10 - 1
    if hi > n then hi = n end
    total = total + (hi - lo + 1) * d
    d, lo = d + 1, lo * 10
  end
  return total
end

--- Largest p <= limit (0-based byte offset) that does not fall inside a UTF-8 character.
local function utf8_floor(wire, n, limit)
  if limit > n then limit = n end
  return text.boundary(wire, 1, limit)
end

--- Room for data in a frame of a message of `count` chunks (base64: whole quanta only).
local function room(id, method, plen, wlen, count, max_frame)
  local r = max_frame - frame.header_len(id, count, count, method, plen, wlen)
  if r < 0 then r = 0 end
  if method ~= "raw" then r = r - r % 4 end
  return r
end

--- Cuts `wire` into at most `count` nearly equal chunks of at most `r` bytes; returns the
--- chunk ends (0-based, exclusive) or nil if some chunk would not fit.
local function split_into(wire, count, r, b64)
  local n = #wire
  local ends = {}
  local start = 0
  for left = count, 1, -1 do
    if start == n then break end
    local remaining = n - start
    local e
    if left == 1 then
      e = n
    elseif b64 then
      e = start + ceil(ceil(remaining / 4) / left) * 4
    else
      local target = ceil(remaining / left)
      if target > r then target = r end
      e = utf8_floor(wire, n, start + target)
      if e <= start then
        e = utf8_floor(wire, n, start + 4)
        if e < start + 1 then e = start + 1 end
        while e < n do
          local b = byte(wire, e + 1)
          if b < 0x80 or b >= 0xC0 then break end
          e = e + 1
        end
      end
    end
    if e > n then e = n end
    if e - start > r then return nil end
    ends[#ends + 1] = e
    start = e
  end
  return ends
end

--- Plans the chunks of a wire text exactly as the reference encoder does (so both produce
--- the same frames): the fewest chunks whose headers leave room for the data, cut nearly
--- equal, `raw` between characters. Returns the chunk ends (1-based, inclusive) or nil, err.
local function plan(id, method, plen, wire, max_frame)
  local n = #wire
  local function too_small(count)
    return nil, errors.new("FrameTooSmall", format("message %d: max_frame %d leaves no room for 4 bytes of data after "
      .. "a %d-byte header", id, max_frame, frame.header_len(id, count, count, method, plen, n)), id)
  end
  if n == 0 then
    if frame.header_len(id, 1, 1, method, plen, 0) > max_frame then return too_small(1) end
    return { 0 }
  end
  local count = 1
  while true do
    local r = room(id, method, plen, n, count, max_frame)
    if r < 4 then return too_small(count) end
    local need = ceil(n / r)
    if need <= count then break end
    count = need
  end
  while true do
    local r = room(id, method, plen, n, count, max_frame)
    if r < 4 then return too_small(count) end
    local ends = split_into(wire, count, r, method ~= "raw")
    if ends then return ends end
    count = count + 1
  end
end

--- The most payload bytes one `zlib` chunk holds (PROTOCOL.md 2.3: one native inflate stays
--- short however compressible the data).
local ZLIB_MAX_SLICE = 65536
--- The smallest zlib chunk (a stream of one byte or of nothing) is 12 base64 characters.
local ZLIB_SMALLEST = 12

--- Cuts `payload` into about `target` slices of balanced size, each deflated (`deflate`, one
--- native call per slice) into at most `room` characters; a slice that deflates too big is
--- shrunk by its overshoot, with a margin, and deflated again. `whole` is the deflated whole
--- payload, reused when the only slice is the payload. The reference encoder's rule
--- (codec/src/encode.rs `cut_zlib`), step for step, so both make the same chunks.
local function cut_zlib(payload, deflate, room, target, whole)
  local n = #payload
  local chunks, pos = {}, 0
  while pos < n do
    local left = target - #chunks
    if left < 1 then left = 1 end
    local len = ceil((n - pos) / left)
    if len > ZLIB_MAX_SLICE then len = ZLIB_MAX_SLICE end
    if len < 1 then len = 1 end
    while true do
      local chunk
      if pos == 0 and len == n then chunk = whole else chunk = deflate(sub(payload, pos + 1, pos + len)) end
      if #chunk <= room or len == 1 then
        chunks[#chunks + 1] = chunk
        pos = pos + len
        break
      end
      local scaled = floor(len * room / #chunk * 0.95)
      if scaled > len - 1 then scaled = len - 1 end
      if scaled < 1 then scaled = 1 end
      len = scaled
    end
  end
  return chunks
end

--- The chunks of a `zlib` message (PROTOCOL.md 2.3): each the padded base64 of a complete
--- zlib stream of the next slice of the payload, sized to fill a frame of `max_frame` and at
--- most ZLIB_MAX_SLICE bytes of payload. As the reference encoder (`encode_zlib`): the room
--- for data assumes bounds for the header's count and wire length, widened if the result
--- outgrows them; the number of slices starts from the deflated size of the whole payload.
--- Returns the chunk texts or nil, err (FrameTooSmall).
--- Raised (as a value) by a zlib candidate's deflate when the native deflate returned nil.
local DEFLATE_FAILED = {}

local function zlib_chunks(id, payload, max_frame, deflate, whole)
  local n = #payload
  local whole_len = #whole
  -- (small frames cut compressible data into many small streams, each with its own zlib
  -- header and checksum, so the wire can grow far past the whole payload's deflate)
  local count_bound = floor(whole_len / 64) + 16
  local wire_bound = (whole_len + 1024) * 4
  while true do
    local widest = frame.header_len(id, count_bound, count_bound, "zlib", n, wire_bound)
    local room = max_frame - widest
    if room < 0 then room = 0 end
    room = room - room % 4
    if room < ZLIB_SMALLEST then
      return nil, errors.new("FrameTooSmall", format("message %d: max_frame %d leaves no room for a %d-character zlib "
        .. "chunk after a %d-byte header", id, max_frame, ZLIB_SMALLEST, widest), id)
    end
    local chunks
    if n == 0 then
      chunks = { whole }
    else
      local target = ceil(whole_len / room)
      local by_slice = ceil(n / ZLIB_MAX_SLICE)
      if by_slice > target then target = by_slice end
      if target < 1 then target = 1 end
      chunks = cut_zlib(payload, deflate, room, target, whole)
    end
    local wire_len = 0
    for k = 1, #chunks do wire_len = wire_len + #chunks[k] end
    if #chunks <= count_bound and wire_len <= wire_bound then return chunks end
    if #chunks > count_bound then
      count_bound = count_bound * 10
      if count_bound > MAX_ID then count_bound = MAX_ID end
    end
    if wire_len > wire_bound then wire_bound = wire_bound * 10 end
  end
end

--- Total bytes of the frames of a plan, plus `overhead` per frame.
local function total_size(id, method, plen, wlen, count, overhead)
  local base = frame.header_len(id, 1, count, method, plen, wlen) - 1 -- without the index digits
  return wlen + count * (base + overhead) + digit_sum(count)
end

--- Switches `job` to its planned option number `i` (the next smallest, after a raw payload
--- turned out unrepresentable).
local function restart(job, i)
  local o = job.options[i]
  job.choice = i
  job.method, job.wire, job.ends = o.method, o.wire, o.ends
  job.wlen, job.count = #o.wire, #o.ends
  job.phase = "crc"
  job.k, job.pos, job.cur, job.acc = 1, 1, 0, 0
  job.ccrc = {}
  job.frames = {}
end

---@class InvsyncSendOptions
---@field id number message id, 1 ..= 4294967295
---@field method string "raw", "zlib" or "auto" (the smaller of those `decode` accepts)
---@field max_frame number|nil the receiver's max_frame (default 3999, stdout)
---@field max_message number|nil the receiver's max_message
---@field max_chunks number|nil the receiver's max_chunks
---@field decode string[]|nil for "auto": the receiver's decode list (default {"raw"})
---@field overhead number|nil for "auto": bytes each frame costs on the channel beyond itself
---@field deflate_b64 fun(payload: string): string the game's helpers.encode_string, for zlib
---@field deflated string|nil `deflate_b64(payload)` if the caller has it already (saves a call)

--- Plans a message. Returns the job (plain data) or nil and an error (MessageTooLarge,
--- TooManyChunks, FrameTooSmall, NoAcceptableMethod). `raw` text is checked by `step`.
--- `zlib` is deflated here (native calls); `job.deflated` is the number of payload bytes
--- handed to `deflate_b64`, for the caller's budget.
---@param payload string
---@param opts InvsyncSendOptions
---@return table|nil job
---@return InvsyncError|nil err
function sender.new(payload, opts)
  if type(payload) ~= "string" then error("invsync.sender.new: payload must be a string", 2) end
  local id = opts.id
  if type(id) ~= "number" or id < 1 or id > MAX_ID or id ~= floor(id) then
    error("invsync.sender.new: opts.id must be an integer in 1 ..= 4294967295", 2)
  end
  local max_frame = opts.max_frame or limits.max_frame_stdout
  local max_message = opts.max_message or limits.max_message
  local max_chunks = opts.max_chunks or limits.max_chunks
  local plen = #payload
  if plen > max_message then
    return nil, errors.new("MessageTooLarge", format("message %d: payload of %d bytes, max_message is %d", id, plen, max_message), id)
  end
  local method = opts.method
  local candidates = {}
  if method == "auto" then
    local decode = opts.decode or { "raw" }
    for i = 1, #decode do
      if decode[i] == "raw" or (decode[i] == "zlib" and opts.deflate_b64) then candidates[#candidates + 1] = decode[i] end
    end
    if #candidates == 0 then
      return nil, errors.new("NoAcceptableMethod", format("message %d: the receiver decodes none of raw, zlib (with deflate_b64)", id), id)
    end
  elseif method == "raw" or method == "zlib" then
    candidates[1] = method
  else
    error("invsync.sender.new: opts.method must be \"raw\", \"zlib\" or \"auto\", got " .. tostring(method), 2)
  end
  local job = { id = id, plen = plen }
  local options, first_err = {}, nil
  local deflated = 0
  for i = 1, #candidates do
    local m = candidates[i]
    local wire = payload
    local ends, err
    if m == "zlib" then
      local deflate_b64 = opts.deflate_b64
      if not deflate_b64 then error("invsync.sender.new: zlib needs opts.deflate_b64", 2) end
      local function deflate(p)
        deflated = deflated + #p
        local z = deflate_b64(p)
        -- nil: the native deflate failed (helpers.encode_string may), so no zlib this time
        if z == nil then error(DEFLATE_FAILED, 0) end
        if type(z) ~= "string" or #z % 4 ~= 0 or not find(z, "^[A-Za-z0-9+/]*=?=?$") then
          error("invsync.sender.new: deflate_b64 did not return padded base64 text")
        end
        return z
      end
      local ok, chunks, why = pcall(function()
        return zlib_chunks(id, payload, max_frame, deflate, opts.deflated or deflate(payload))
      end)
      if not ok then
        if chunks ~= DEFLATE_FAILED then error(chunks, 0) end
        chunks, why = nil, errors.new("NoAcceptableMethod", format("message %d: the native deflate failed", id), id)
      end
      err = why
      if chunks then
        wire = concat(chunks)
        ends = {}
        local at = 0
        for k = 1, #chunks do
          at = at + #chunks[k]
          ends[k] = at
          -- a slice of one byte is kept even if it deflates past the room (as the reference)
          if frame.header_len(id, k, #chunks, m, plen, #wire) + #chunks[k] > max_frame then
            ends, err = nil, errors.new("FrameTooSmall", format("message %d: chunk %d of %d characters does not fit "
              .. "max_frame %d", id, k, #chunks[k], max_frame), id)
            break
          end
        end
      end
    else
      ends, err = plan(id, m, plen, wire, max_frame)
    end
    if ends and #wire > max_message then
      ends, err = nil, errors.new("MessageTooLarge", format("message %d: wire text of %d bytes, max_message is %d", id, #wire, max_message), id)
    end
    if ends and #ends > max_chunks then
      ends, err = nil, errors.new("TooManyChunks", format("message %d: %d chunks at max_frame %d, max_chunks is %d",
        id, #ends, max_frame, max_chunks), id)
    end
    if ends then
      options[#options + 1] = { method = m, wire = wire, ends = ends,
        size = total_size(id, m, plen, #wire, #ends, opts.overhead or 0) }
    else
      first_err = first_err or err
    end
  end
  if #options == 0 then return nil, first_err end
  -- smallest total first; ties keep the receiver's order (stable insertion sort)
  for i = 2, #options do
    local o, j = options[i], i - 1
    while j >= 1 and options[j].size > o.size do
      options[j + 1] = options[j]
      j = j - 1
    end
    options[j + 1] = o
  end
  job.options = options
  job.deflated = deflated
  job.choice = 0
  restart(job, 1)
  return job
end

local function chunk_start(job, k)
  return k == 1 and 1 or job.ends[k - 1] + 1
end

--- Does up to about `budget` work units. Returns true when the frames are ready
--- (`job.frames`), false when more calls are needed, or nil and an error
--- (RawUnrepresentable when no other method is left); and, third, the units spent.
---@param job table
---@param budget number
---@return boolean|nil done
---@return InvsyncError|nil err
---@return number spent
function sender.step(job, budget)
  local left = budget
  local wire = job.wire
  while left > 0 do
    local phase = job.phase
    if phase == "done" then return true, nil, budget - left end
    if phase == "crc" then
      local k = job.k
      local stop = job.ends[k]
      local pos = job.pos
      local take = stop - pos + 1
      local most = floor(left * 1024 / CRC_UNITS_PER_KIB)
      if most < 1 then most = 1 end
      if take > most then take = most end
      if take > 0 then
        job.cur = crc32.update(job.cur, wire, pos, pos + take - 1)
        job.pos = pos + take
        left = left - ceil(take * CRC_UNITS_PER_KIB / 1024)
      end
      if job.pos > stop then
        local n = stop - chunk_start(job, k) + 1
        job.ccrc[k] = job.cur
        if k == 1 then
          job.acc = job.cur
        else
          job.acc = crc32.combine_op(job.acc, job.cur, crc32.shift_op(n))
          left = left - COMBINE_COST
        end
        job.cur = 0
        job.k = k + 1
        if k == job.count then
          job.phase, job.k = "build", 1
        end
      end
    elseif phase == "build" then
      local k = job.k
      local s, e = chunk_start(job, k), job.ends[k]
      local data = sub(wire, s, e)
      local bad, off, detail
      if job.method == "raw" then
        -- the text check scans the copy the frame needs anyway (chunks end between characters,
        -- so checking them one by one checks the whole), rather than copies of its own
        bad, off, detail = text.check(data)
        left = left - floor((e - s + 1) / TEXT_SCAN_BYTES)
      end
      if bad then
        local nxt = job.choice + 1
        if not job.options[nxt] then
          job.phase = "failed"
          return nil, errors.new("RawUnrepresentable", format("message %d: payload byte %d: %s (%s)",
            job.id, off + s - 1, detail, bad), job.id, nil, off + s - 1), budget - left
        end
        restart(job, nxt)
        wire = job.wire
      else
        local hdr = frame.body_header(job.id, k, job.count, job.method, job.plen, job.wlen, job.acc)
        local fcrc = crc32.combine_op(crc32.of(hdr), job.ccrc[k], crc32.shift_op(e - s + 1))
        job.frames[k] = frame.assemble(fcrc, hdr, data)
        left = left - COMBINE_COST - #hdr - floor((e - s + 1) / BUILD_BYTES)
        job.k = k + 1
        if k == job.count then
          job.phase = "done"
          job.ccrc, job.options, job.wire = nil, nil, nil
          return true, nil, budget - left
        end
      end
    else
      error("invsync.sender.step: job has failed")
    end
  end
  return job.phase == "done", nil, budget - left
end

--- Frames a payload in one call (tests, tools, and messages known to be small).
---@param payload string
---@param opts InvsyncSendOptions
---@return string[]|nil frames
---@return InvsyncError|nil err
function sender.frames(payload, opts)
  local job, err = sender.new(payload, opts)
  if not job then return nil, err end
  while true do
    local done, serr = sender.step(job, 1e9)
    if serr then return nil, serr end
    if done then return job.frames end
  end
end

--- Total bytes the frames of a finished job take (without channel overhead).
---@param job table
---@return number
function sender.wire_bytes(job)
  local total = 0
  for i = 1, #job.frames do total = total + #job.frames[i] end
  return total
end

return sender
