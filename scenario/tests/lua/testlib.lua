--- Helpers for the Lua test suite (not part of the module scenario authors copy).
--- Portable across Lua 5.2, 5.4 and Luau: its PRNG is its own, since math.random differs.

local crc32 = require("invsync.crc32")
local frame = require("invsync.frame")

local byte, char, format, concat, floor = string.byte, string.char, string.format, table.concat, math.floor

local t = {}

local function show(v)
  if type(v) == "string" then
    if #v > 80 then return format("<string of %d bytes, crc %08x>", #v, crc32.of(v)) end
    return format("%q", v)
  end
  return tostring(v)
end
t.show = show

--- Raises unless a == b, naming `what`.
function t.eq(a, b, what)
  if a ~= b then
    error((what or "value") .. ": expected " .. show(b) .. ", got " .. show(a), 2)
  end
end

--- Raises unless v is truthy.
function t.ok(v, what)
  if not v then error((what or "condition") .. " is false", 2) end
  return v
end

--- Raises unless err is an error table named `name`.
function t.err(err, name, what)
  if type(err) ~= "table" then
    error((what or "call") .. ": expected error " .. name .. ", got no error", 2)
  end
  if err.name ~= name then
    error((what or "call") .. ": expected error " .. name .. ", got " .. tostring(err.name) .. " (" .. tostring(err.message) .. ")", 2)
  end
  if type(err.message) ~= "string" or #err.message == 0 then
    error((what or "call") .. ": error " .. name .. " has no message", 2)
  end
end

--- A small deterministic PRNG (MINSTD: products stay below 2^53, so doubles and integers
--- agree) with the same sequence on every Lua.
function t.rng(seed)
  local state = seed % 2147483646 + 1
  local r = {}
  --- integer in lo ..= hi
  function r.int(lo, hi)
    state = (state * 48271) % 2147483647
    return lo + floor((state - 1) / 2147483646 * (hi - lo + 1))
  end
  function r.bytes(n, lo, hi)
    local out = {}
    for i = 1, n do out[i] = char(r.int(lo or 0, hi or 255)) end
    return concat(out)
  end
  function r.shuffle(list)
    for i = #list, 2, -1 do
      local j = r.int(1, i)
      list[i], list[j] = list[j], list[i]
    end
    return list
  end
  return r
end

--- Bytes from hex digits (spaces ignored).
function t.unhex(h)
  h = h:gsub("%s", "")
  return (h:gsub("..", function(x) return char(tonumber(x, 16)) end))
end

--- Hex digits of bytes.
function t.hex(s)
  return (s:gsub(".", function(c) return format("%02x", byte(c)) end))
end

--- Frames for a wire text cut at the given chunk lengths (independent of sender.lua,
--- so reassembler tests do not trust the sender).
function t.make_frames(id, method, plen, wire, lengths)
  local count = #lengths
  local mcrc = crc32.of(wire)
  local frames, pos = {}, 1
  for k = 1, count do
    local data = wire:sub(pos, pos + lengths[k] - 1)
    pos = pos + lengths[k]
    local hdr = format("%d %d/%d %s %d %d %08x ", id, k, count, method, plen, #wire, mcrc)
    frames[k] = frame.assemble(crc32.of(hdr .. data), hdr, data)
  end
  return frames
end

--- Chunk lengths that cut n bytes into pieces of `size` (the last shorter).
function t.lengths(n, size)
  local out = {}
  while n > size do
    out[#out + 1] = size
    n = n - size
  end
  out[#out + 1] = n
  return out
end

--- Pushes frames and steps until idle; returns delivered payloads by id, all events, and
--- the push results.
function t.deliver(rx_mod, rx, frames, budget, now)
  local pushes, events, payloads = {}, {}, {}
  for i = 1, #frames do pushes[i] = rx_mod.push(rx, frames[i], now or 0) end
  for _ = 1, 100000 do
    local ev = rx_mod.step(rx, budget or 1e9, now or 0, t.env)
    for i = 1, #ev do
      events[#events + 1] = ev[i]
      if ev[i].kind == "message" then
        if payloads[ev[i].id] then error("message " .. ev[i].id .. " delivered twice") end
        payloads[ev[i].id] = ev[i].payload
      end
    end
    if not rx_mod.busy(rx) then break end
  end
  return payloads, events, pushes
end

--- The first error event (or failed push) of a delivery.
function t.first_error(pushes, events)
  for i = 1, #pushes do
    if pushes[i].status == "error" then return pushes[i].error end
  end
  for i = 1, #events do
    if events[i].error then return events[i].error end
  end
  return nil
end

--- A canonical text of a plain value (keys sorted), to compare states; keys listed in
--- `skip` are left out at every level.
function t.dump(v, skip)
  skip = skip or {}
  local ty = type(v)
  if ty == "string" then return format("%q", v) end
  if ty ~= "table" then return tostring(v) end
  local keys = {}
  for k in pairs(v) do
    if not skip[k] then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b)
    if type(a) ~= type(b) then return type(a) < type(b) end
    return a < b
  end)
  local parts = {}
  for i = 1, #keys do
    parts[i] = "[" .. t.dump(keys[i], skip) .. "]=" .. t.dump(v[keys[i]], skip)
  end
  return "{" .. concat(parts, ",") .. "}"
end

--- Walks a value and raises if it holds anything `storage` cannot keep as plain data
--- (functions, userdata, threads, metatables).
function t.assert_plain(v, path, seen)
  path = path or "state"
  seen = seen or {}
  local ty = type(v)
  if ty == "table" then
    if seen[v] then return end
    seen[v] = true
    if getmetatable(v) ~= nil then error(path .. " has a metatable") end
    for k, x in pairs(v) do
      t.assert_plain(k, path .. ".<key>", seen)
      t.assert_plain(x, path .. "." .. tostring(k), seen)
    end
  elseif ty ~= "string" and ty ~= "number" and ty ~= "boolean" then
    error(path .. " is a " .. ty .. ", not plain data")
  end
end

return t
