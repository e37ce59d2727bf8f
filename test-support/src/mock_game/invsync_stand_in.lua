--- A tiny stand-in for the game module's side of docs/PROTOCOL.md 5.3-5.5, for tests of the
--- host link. It keeps the module's bookkeeping in `storage` and answers the remote interface
--- exactly as 5.3 says; frame checks, decoding and encoding are the codec's rules, reached
--- through `native` (as the real module reaches the game's `helpers`). The reference module in
--- scenario/ and the emulator replace it for end-to-end runs.
---
--- Settings come from the table `mock_config` (set by the test harness):
--- `deferred` (verify on the next tick and answer `ok n/n` for the last chunk),
--- `announce_received` (print `received` reports for messages verified on a tick),
--- `decode`, `max_frame` (the declaration), `max_frame_stdout`, `max_frame_pull`,
--- `send_methods` (what the game produces when it sends).

local native, config = native, mock_config
local format, concat, sort = string.format, table.concat, table.sort

storage.invsync = storage.invsync or { held = {}, done = {}, failed = {}, staged = {}, next_id = 1 }
local s = storage.invsync

--- A fresh id for a message from the game.
---@return integer
local function next_id()
  local id = s.next_id
  s.next_id = id + 1
  return id
end

--- Prints a control message inline (one frame, raw).
---@param json string
local function print_control(json)
  local frames = native.encode(next_id(), json, config.max_frame_stdout, "raw")
  for i = 1, #frames do print("\f" .. frames[i]) end
end

---@param typed boolean with the `type` field of a control message
---@return string
local function caps_json(typed)
  local methods = {}
  for i = 1, #config.decode do methods[i] = '"' .. config.decode[i] .. '"' end
  return format('{%s"protocol":1,"decode":[%s],"max_frame":%d,"max_message":16777216,"max_chunks":65536}',
    typed and '"type":"caps",' or "", concat(methods, ","), config.max_frame)
end

--- Verifies and decodes a held message whose chunks are all in.
---@param id integer
---@param announce boolean print a `received` report
---@return boolean ok, string? name, string? detail
local function finish(id, announce)
  local m = s.held[id]
  s.held[id] = nil
  local ok, a, b = native.decode(m.frames, m.count)
  if ok then
    s.done[id] = true
    native.deliver(id, a)
    if announce then print_control(format('{"type":"received","id":%d,"status":"done"}', id)) end
    return true
  end
  s.failed[id] = { name = a, detail = b }
  if announce then
    print_control(format('{"type":"received","id":%d,"status":"failed","error":"%s","detail":%s}',
      id, a, native.json_string(b)))
  end
  return false, a, b
end

--- The chunks of a held message not held yet, as `<ranges>`.
---@param m table
---@return string
local function missing_ranges(m)
  local out, i = {}, 1
  while i <= m.count do
    if m.frames[i] then
      i = i + 1
    else
      local lo = i
      while i + 1 <= m.count and not m.frames[i + 1] do i = i + 1 end
      out[#out + 1] = lo == i and tostring(lo) or (lo .. "-" .. i)
      i = i + 1
    end
  end
  return concat(out, ",")
end

local interface = {}

---@param frame string
function interface.recv(frame)
  local h = native.check(frame, not config.deferred)
  if not h.ok then
    rcon.print(format("err %s %s %s", h.id or "-", h.name, h.detail))
    return
  end
  local id = h.id
  if s.done[id] then
    rcon.print("done " .. id)
    return
  end
  local m = s.held[id]
  if not m then
    m = { count = h.count, frames = {}, have = 0 }
    s.held[id] = m
    s.failed[id] = nil
  end
  if m.count ~= h.count then
    rcon.print(format("err %d ConflictingFrame count is %d, the message held has %d", id, h.count, m.count))
    return
  end
  if not m.frames[h.index] then
    m.frames[h.index] = frame
    m.have = m.have + 1
  end
  if m.have == m.count and not config.deferred then
    local ok, name, detail = finish(id, false)
    rcon.print(ok and ("done " .. id) or format("err %d %s %s", id, name, detail))
    return
  end
  rcon.print(format("ok %d %d/%d", id, m.have, m.count))
end

---@param id integer
function interface.status(id)
  if s.done[id] then
    rcon.print("done " .. id)
  elseif s.failed[id] then
    rcon.print(format("failed %d %s %s", id, s.failed[id].name, s.failed[id].detail))
  elseif s.held[id] then
    local ranges = missing_ranges(s.held[id])
    rcon.print(ranges == "" and ("missing " .. id) or format("missing %d %s", id, ranges))
  else
    rcon.print("unknown " .. id)
  end
end

---@param id integer
---@param index integer
function interface.pull(id, index)
  local m = s.staged[id]
  local frame = m and m.frames[index]
  rcon.print(frame or ("unknown " .. id))
end

---@param id integer
function interface.ack(id)
  if s.staged[id] then
    s.staged[id] = nil
    rcon.print("ok " .. id)
  else
    rcon.print("unknown " .. id)
  end
end

function interface.caps()
  rcon.print(caps_json(false))
  print_control(caps_json(true))
end

remote.add_interface("invsync", interface)

--- Deferred verification, once per tick, oldest id first (no dependence on `pairs` order).
function invsync_on_tick()
  if not config.deferred then return end
  local ids = {}
  for id, m in pairs(s.held) do
    if m.have == m.count then ids[#ids + 1] = id end
  end
  sort(ids)
  for i = 1, #ids do finish(ids[i], config.announce_received) end
end

--- The game sends `payload` to the host: inline if one stdout frame holds it, else staged.
---@param payload string
---@return integer id, string path
function invsync_send(payload)
  local id = next_id()
  local frames = native.encode(id, payload, config.max_frame_stdout, config.send_methods)
  if #frames == 1 then
    print("\f" .. frames[1])
    return id, "stdout"
  end
  local method, wlen, plen
  frames, method, wlen, plen = native.encode(id, payload, config.max_frame_pull, config.send_methods)
  s.staged[id] = { frames = frames }
  print_control(format('{"type":"staged","id":%d,"count":%d,"wlen":%d,"method":"%s","bytes":%d}',
    id, #frames, wlen, method, plen))
  return id, "pulled"
end
