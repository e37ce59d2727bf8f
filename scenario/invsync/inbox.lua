--- Completed messages from the host, sorted into the module's own (player sync) and the
--- scenario's, and the JSON decoding of the module's own within a budget.
---
--- A payload is the module's own when it starts with `{"type":"<name>"` (whitespace allowed,
--- `type` the first key) and <name> is one of `SYNC_TYPES`; only those are parsed. Everything
--- else goes to the scenario's message handler untouched, so a large application payload
--- costs no parsing at all. Small payloads (up to `native_json_max`) are parsed with the
--- injected native `json_to_table` in one call; larger ones with json.lua within the budget
--- each call is given, one message at a time, in arrival order. Plain data, kept in `storage`.

local json = require("invsync.json")

local match, floor, ceil = string.match, math.floor, math.ceil

local inbox = {}

--- The `type` names of the player-sync messages from the host (scenario/README.md).
inbox.SYNC_TYPES = {
  acquired = true, busy = true, error = true, player_data = true, player_delta = true, uploaded = true,
  upload_refused = true,
}

--- A new, empty inbox.
---@return table
function inbox.new()
  return { head = 1, tail = 0, items = {}, dec = nil }
end

--- The sync message type of `payload`, or nil if it is not one of the module's own.
---@param payload string
---@return string|nil
function inbox.sync_type(payload)
  local name = match(payload, '^[ \t\r\n]*{[ \t\r\n]*"type"[ \t\r\n]*:[ \t\r\n]*"([%w_]+)"')
  if name and inbox.SYNC_TYPES[name] then return name end
  return nil
end

--- Queues a sync payload for decoding.
---@param st table
---@param id number the message id it came in
---@param payload string
function inbox.push(st, id, payload)
  st.tail = st.tail + 1
  st.items[st.tail] = { id = id, payload = payload }
end

--- True while payloads wait or one is being decoded.
---@param st table
---@return boolean
function inbox.busy(st)
  return st.head <= st.tail
end

local function pop(st)
  st.items[st.head] = nil
  st.head = st.head + 1
  if st.head > st.tail then st.head, st.tail = 1, 0 end
  st.dec = nil
end

--- Units charged per decoder unit (a token) of json.lua: a token costs about 20 times the
--- time of a byte checksummed (README, "Budgets").
inbox.TOKEN_COST = 20
--- Bytes per unit for the native json_to_table (native parsing is much faster than Lua).
inbox.NATIVE_BYTES = 4

--- Decodes within `budget` units. Returns the messages decoded in this call, in order, as
--- `{id = N, msg = table}`, the problems met as strings (a payload that is not valid JSON,
--- or not an object, is dropped and named there), and the units spent.
---@param st table
---@param cfg table resolved settings (native_json_max)
---@param json_to_table fun(text: string): table|nil the game's helpers.json_to_table
---@param budget number
---@return table[] decoded
---@return string[] problems
---@return number spent
function inbox.step(st, cfg, json_to_table, budget)
  local out, problems = {}, {}
  local left = budget
  while left > 0 and st.head <= st.tail do
    local item = st.items[st.head]
    local value, err
    if #item.payload <= cfg.native_json_max then
      value = json_to_table(item.payload)
      if value == nil then err = "not valid JSON" end
      left = left - 16 - floor(#item.payload / inbox.NATIVE_BYTES)
    else
      st.dec = st.dec or json.decoder(item.payload)
      local done, spent = json.decode_step(st.dec, ceil(left / inbox.TOKEN_COST))
      left = left - spent * inbox.TOKEN_COST
      if not done then break end
      value, err = st.dec.root, st.dec.err
    end
    if not err and type(value) ~= "table" then err = "not a JSON object" end
    if err then
      problems[#problems + 1] = "message " .. item.id .. ": " .. err
    else
      out[#out + 1] = { id = item.id, msg = value }
    end
    pop(st)
  end
  return out, problems, budget - left
end

return inbox
