--- The Factorio adapter: the only module that wires invsync into the game (events, the
--- remote interface `invsync`, `storage`, the native helpers). See scenario/README.md,
--- "Using the module in a scenario", for the calls an author makes:
---
---     local invsync = require("invsync.factorio")
---     invsync.setup({ --[[ settings, see settings.lua ]] })   -- in control.lua's main chunk
---     invsync.on_message(function(payload, id) ... end)      -- optional: your own messages
---     invsync.send(payload)                                   -- optional, at run time
---
--- `setup` registers the remote interface and the event handlers (on_init, on_load, on_tick,
--- player join/leave, GUI clicks). A scenario with handlers of its own for the same events
--- passes `{ register_events = false }` as the second argument and calls `invsync.lib`'s
--- functions from its handlers (the table has the shape of the game's event_handler
--- library: `on_init`, `on_load`, `events`).
---
--- Determinism: everything that changes game state happens in event handlers and console
--- commands, from `storage` and the game's inputs. `on_load` only sets a local flag so that
--- the first tick after a load announces the capabilities on stdout, which touches neither
--- `storage` nor the game.

local settings = require("invsync.settings")
local link = require("invsync.link")
local inbox = require("invsync.inbox")
local sync = require("invsync.sync")
local json = require("invsync.json")

local invsync = {}

--- Resolved settings (from the code, identical on every peer).
local cfg = nil
--- The scenario's handler of its own messages.
local message_handler = nil
--- Set by on_load: announce the capabilities on the first tick after a load.
local announce_after_load = false

local function state()
  local st = storage.invsync
  if not st then
    error("invsync: no state in storage; was invsync.setup() called in control.lua's main chunk before on_init ran?", 3)
  end
  return st
end

local function natives()
  return rawget(_G, "helpers") or game
end

--- `helpers.encode_string`, or nil when it fails ("nil if the encode failed", LuaHelpers): a
--- failed deflate only means that this payload goes out raw.
local function deflate_b64(payload)
  local ok, text = pcall(natives().encode_string, payload)
  if ok and type(text) == "string" then return text end
  return nil
end

local function env()
  local h = natives()
  return {
    print = print,
    log = log,
    deflate_b64 = deflate_b64,
    inflate_b64 = h.decode_string,
  }
end

local function sync_ctx(st)
  return {
    cfg = cfg,
    send = function(payload)
      local id, why = link.send(st.link, cfg, payload)
      if not id then log("invsync: could not send a sync message: " .. why) end
      return id
    end,
    log = log,
    progress = function(id) return link.progress(st.link, id) end,
  }
end

-- Life cycle -------------------------------------------------------------------------------

local function on_init()
  storage.invsync = { version = 1, link = link.new(cfg), inbox = inbox.new(), sync = sync.new() }
  link.announce_caps(storage.invsync.link, cfg)
end

local function on_load()
  announce_after_load = true
end

--- Hands a completed message to the sync (its own messages) or to the scenario's handler.
local function dispatch(st, id, payload)
  if inbox.sync_type(payload) then
    inbox.push(st.inbox, id, payload)
  elseif message_handler then
    message_handler(payload, id)
  else
    log("invsync: message " .. id .. " from the host has no handler (invsync.on_message); dropped")
  end
end

local function on_tick(event)
  local st = state()
  local now = event.tick
  local e = env()
  if announce_after_load then
    announce_after_load = false
    link.announce_caps_after_load(st.link, cfg, e, now)
  end
  -- one budget for the tick, shared in order of urgency (README, "Budgets")
  local left = cfg.tick_budget - link.take_debt(st.link, cfg.tick_budget)
  if cfg.sync then left = left - sync.take_debt(st.sync, math.max(left, 0), now) end
  left = left - link.flush(st.link, cfg, e, math.max(left, 0), now)
  local delivered, spent = link.receive(st.link, cfg, now, e, math.max(left, 0))
  left = left - spent
  for i = 1, #delivered do dispatch(st, delivered[i].id, delivered[i].payload) end
  local decoded, problems
  decoded, problems, spent = inbox.step(st.inbox, cfg, natives().json_to_table, math.max(left, 0))
  left = left - spent
  for i = 1, #problems do log("invsync: " .. problems[i]) end
  if cfg.sync then
    local ctx = sync_ctx(st)
    for i = 1, #decoded do
      local msg = decoded[i].msg
      sync.message(st.sync, ctx, msg.type, msg, now)
    end
    left = left - sync.tick(st.sync, ctx, now, math.max(left, 0))
  end
  left = left - link.flush(st.link, cfg, e, math.max(left, 0), now)
  link.stage(st.link, cfg, e, now, math.max(left, 0))
end

local function on_joined(event)
  if not cfg.sync then return end
  local st = state()
  sync.joined(st.sync, sync_ctx(st), game.get_player(event.player_index), event.tick)
end

local function on_leaving(event)
  if not cfg.sync then return end
  local st = state()
  sync.leaving(st.sync, sync_ctx(st), game.get_player(event.player_index), event.tick)
end

local function on_click(event)
  if not cfg.sync then return end
  local element = event.element
  if not (element and element.valid) then return end
  local name = element.name
  if name:sub(1, 8) ~= "invsync_" then return end
  local st = state()
  sync.clicked(st.sync, sync_ctx(st), game.get_player(event.player_index), name, event.tick)
end

-- The remote interface (PROTOCOL.md 5.3): each call answers with one rcon.print line. -----

local function answer(text)
  rcon.print(text)
end

--- One line: control characters become spaces.
local function one_line(text)
  return (string.gsub(text, "%c", " "))
end

--- The character inventories counted by `player_state`.
local CHARACTER_INVENTORIES = { "character_main", "character_guns", "character_ammo", "character_armor", "character_trash" }

--- Adds `count` of `name` at `quality` to `into` (`into[name][quality]`).
local function add_items(into, name, quality, count)
  if type(name) ~= "string" or type(count) ~= "number" then return end
  quality = type(quality) == "string" and quality or "normal"
  local by_quality = into[name]
  if not by_quality then
    by_quality = {}
    into[name] = by_quality
  end
  by_quality[quality] = (by_quality[quality] or 0) + count
end

--- Adds the stack tables of `list` (`{name, count, quality?}`, as player_data reads them).
local function add_entries(into, list)
  if type(list) ~= "table" then return end
  for i = 1, #list do
    local e = list[i]
    if type(e) == "table" then add_items(into, e.name, e.quality, e.count) end
  end
end

--- Adds what `character` holds in its inventories; nothing for nil or an invalid entity.
local function add_character(into, character)
  if not (character and character.valid) then return end
  for i = 1, #CHARACTER_INVENTORIES do
    local inv = character.get_inventory(defines.inventory[CHARACTER_INVENTORIES[i]])
    if inv then
      local contents = inv.get_contents()
      for k = 1, #contents do
        local c = contents[k]
        local q = c.quality
        if type(q) ~= "string" then q = q and q.name end
        add_items(into, c.name, q, c.count)
      end
    end
  end
end

--- A character no player controls (kept aside by the module).
local function detached(character)
  return character and character.valid and character.player == nil
end

--- `{"name":{"quality":count}}` with names and qualities sorted.
local function items_json(items)
  local names = {}
  for name in pairs(items) do names[#names + 1] = name end
  table.sort(names)
  local parts = {}
  for i = 1, #names do
    local by_quality = items[names[i]]
    local qualities = {}
    for q in pairs(by_quality) do qualities[#qualities + 1] = q end
    table.sort(qualities)
    local inner = {}
    for k = 1, #qualities do
      inner[k] = json.quote(qualities[k]) .. ":" .. string.format("%d", by_quality[qualities[k]])
    end
    parts[i] = json.quote(names[i]) .. ":{" .. table.concat(inner, ",") .. "}"
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function int_or_null(n)
  return type(n) == "number" and string.format("%d", n) or "null"
end

--- The `player_state(name)` answer (PROTOCOL.md 5.3): one line of JSON, or an `err` line.
---@param name any
---@return string
local function player_state_line(name)
  if type(name) ~= "string" then return "err - BadArgument player_state expects a player name" end
  local player = game.get_player(name)
  if not player then return "err - UnknownPlayer no player named " .. json.quote(name) end
  local rec = storage.invsync and storage.invsync.sync and storage.invsync.sync.players[player.index]
  local stash, temporary, kept = {}, nil, {}
  local state, generation, epoch, upload, sync_ticks, synced_by = "none", 0, nil, nil, nil, nil
  if rec then
    state, generation, epoch, upload = rec.state, rec.generation, rec.epoch, rec.upload
    if state == "playing" and rec.sync_started and rec.playing_since and rec.playing_since >= rec.sync_started then
      sync_ticks = rec.playing_since - rec.sync_started
      synced_by = rec.synced_by
    end
    add_entries(stash, rec.overflow)
    add_entries(kept, rec.overflow)
    if rec.temp and rec.temp.valid then
      temporary = {}
      add_character(temporary, rec.temp)
      if detached(rec.temp) then add_character(kept, rec.temp) end
    end
    -- once the player has left (idle), the synced character and its cursor are this game's
    -- copy of what it last uploaded or applied: the store's copy is the player's, and the next
    -- sync replaces this one (or finds it unchanged), so it is not counted as kept
    local aside = rec.state ~= "idle"
    if aside and rec.character ~= rec.temp and detached(rec.character) then add_character(kept, rec.character) end
    if aside and type(rec.cursor) == "table" then add_entries(kept, { rec.cursor }) end
    -- stacks this game could not place travel with the player's data (PLAYER_DATA `unplaced`)
    if aside and type(rec.unplaced) == "table" then add_entries(kept, rec.unplaced) end
    if type(rec.apply_cursor) == "table" then add_entries(kept, { rec.apply_cursor }) end
  end
  return string.format(
    '{"player":%s,"state":%s,"generation":%s,"epoch":%s,"upload_pending":%s,"upload_generation":%s,'
      .. '"temporary":%s,"sync_ticks":%s,"synced_by":%s,"stash":%s,"temporary_items":%s,"kept":%s}',
    json.quote(player.name), json.quote(state), int_or_null(generation), int_or_null(epoch),
    upload and "true" or "false", int_or_null(upload and upload.generation), state == "temporary" and "true" or "false",
    int_or_null(sync_ticks), synced_by and json.quote(synced_by) or "null", items_json(stash), temporary and items_json(temporary) or "null", items_json(kept))
end

--- The custom command that carries a frame (PROTOCOL.md 5.2): `/<recv_command> <frame>` does
--- what `recv(frame)` does, with no Lua source to compile. Any player may run a custom
--- command, but frames are the host's: only RCON and the server console (no player_index) are
--- served. Never raises: an error here would reach whoever sent the command, not the log.
local function recv_by_command(command)
  local ok, line = pcall(function()
    if command.player_index ~= nil then
      local player = game.get_player(command.player_index)
      if player then player.print("invsync: /" .. command.name .. " is for the host's RCON connection only") end
      return nil
    end
    return link.recv_command(state().link, command.parameter, game.tick)
  end)
  if not ok then
    answer("err - Internal " .. (one_line(tostring(line))))
  elseif line then
    answer(line)
  end
end

local interface = {
  recv = function(frame) answer(link.recv(state().link, frame, game.tick)) end,
  status = function(id) answer(link.status(state().link, id)) end,
  pull = function(id, index) answer(link.pull(state().link, id, index, game.tick)) end,
  ack = function(id) answer(link.ack(state().link, id)) end,
  caps = function()
    local st = state()
    answer(link.caps(st.link, cfg))
    link.announce_caps(st.link, cfg, env())
  end,
  --- The sync state of a player and the items the module holds for them (PROTOCOL.md 5.3).
  player_state = function(name)
    local ok, line = pcall(player_state_line, name)
    answer(ok and line or ("err - Internal " .. tostring(line)))
  end,
}

-- Public API -------------------------------------------------------------------------------

--- The handlers, shaped like the game's event_handler library, for scenarios that register
--- events themselves (`setup(settings, { register_events = false })`).
invsync.lib = {
  on_init = on_init,
  on_load = on_load,
  events = {},
}

--- Sets the module up. Call once, in control.lua's main chunk.
---@param given table|nil settings (settings.lua lists every key and its default)
---@param options table|nil `{ register_events = false }` to wire the events yourself
function invsync.setup(given, options)
  if cfg then error("invsync.setup: called twice", 2) end
  cfg = settings.resolve(given)
  remote.add_interface("invsync", interface)
  if cfg.recv_command then
    -- a name another script took already raises: the host then keeps to the remote call
    local ok, err = pcall(commands.add_command, cfg.recv_command,
      "invsync: one frame from the host (RCON only)", recv_by_command)
    if not ok then
      log("invsync: /" .. cfg.recv_command .. " not registered, frames come through the remote call: " .. tostring(err))
      cfg.recv_command = false
    end
  end
  local ev = defines.events
  invsync.lib.events = {
    [ev.on_tick] = on_tick,
    [ev.on_player_joined_game] = on_joined,
    [ev.on_pre_player_left_game] = on_leaving,
    [ev.on_gui_click] = on_click,
  }
  if not (options and options.register_events == false) then
    script.on_init(on_init)
    script.on_load(on_load)
    script.on_event(ev.on_tick, on_tick)
    script.on_event(ev.on_player_joined_game, on_joined)
    script.on_event(ev.on_pre_player_left_game, on_leaving)
    script.on_event(ev.on_gui_click, on_click)
  end
end

--- Registers the handler of the scenario's own messages from the host: every completed,
--- verified message that is not a player-sync message, called during on_tick as
--- `handler(payload, id)` with the payload string and the message id. Call in the main
--- chunk (handlers are code, not state).
---@param handler fun(payload: string, id: number)
function invsync.on_message(handler)
  if type(handler) ~= "function" then error("invsync.on_message: expected a function", 2) end
  message_handler = handler
end

--- Sends `payload` (a string; any bytes up to `zlib_max`, text above) to the host. Small
--- payloads go out on stdout in the module's next on_tick (the same tick when called from an
--- event or a command); larger ones are staged and pulled by the host, their frames built
--- over the next ticks within the tick budget. Returns the message id, or nil and why (the
--- outbox is full). Call from event handlers or commands, not on_load.
---@param payload string
---@return number|nil id
---@return string|nil err
function invsync.send(payload)
  return link.send(state().link, cfg, payload)
end

--- The tick at which message `id` (from `invsync.send`) had wholly left the game: its stdout
--- line printed, or every frame of a staged message pulled by the host. Nil until then (the
--- last 64 messages are remembered).
---@param id number
---@return number|nil
function invsync.sent_tick(id)
  return link.left_at(state().link, id)
end

--- The resolved settings (read-only use).
---@return table
function invsync.settings()
  return cfg
end

--- The sync state of a player (for admin commands and tests): the state name and the record.
---@param player_index number
---@return string|nil
---@return table|nil
function invsync.player_state(player_index)
  return sync.state_of(state().sync, player_index)
end

return invsync
