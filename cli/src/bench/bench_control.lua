-- The scenario `invsync bench` runs in the emulator: the reference module as a scenario author
-- would wire it, plus what the benchmark needs to read the game's own clock and check what
-- arrived, and Clusterio's way of moving the same player, for comparison.
--
-- Both ways into the game end when the player has the inventory in hand: invsync's when the
-- module's own pieces have decoded the player data (inbox.lua: native JSON up to
-- native_json_max, json.lua within the budget above) and written it into the bench player's
-- character (player_data.lua's writer), as the player sync does; Clusterio's when its last
-- chunk has been decoded and written, in that one command. The bench player joins before
-- anything is sent (the driver script the bench starts the emulator with).
local invsync = require("invsync.factorio")
local crc32 = require("invsync.crc32")
local inbox = require("invsync.inbox")
local player_data = require("invsync.player_data")

-- The transport alone (no player sync: the bench applies the data itself, below); the bench
-- runs the module's tick first and then its own, so it wires the events itself.
invsync.setup({ sync = false }, { register_events = false })
local cfg = invsync.settings()
local module_tick = invsync.lib.events[defines.events.on_tick]
script.on_init(invsync.lib.on_init)
script.on_load(invsync.lib.on_load)

local PLAYER = "bench"

local function natives()
  return rawget(_G, "helpers") or game
end

local function bench_player()
  local player = game.get_player(PLAYER)
  if not (player and player.character) then error("the bench player " .. PLAYER .. " has no character") end
  return player
end

--- Items in the character's five inventories.
local function items_held(character)
  local n = 0
  for _, spec in ipairs(player_data.INVENTORIES) do
    local inv = character.get_inventory(defines.inventory[spec.define])
    if inv then n = n + inv.get_item_count() end
  end
  return n
end

-- invsync: the message the module delivered, decoded and written within the tick budget ---

-- What the host sent, as the module delivered it (verified), and when.
invsync.on_message(function(payload, id)
  local queue = inbox.new()
  inbox.push(queue, id, payload)
  storage.bench = { payload = payload, id = id, received_tick = game.tick, phase = "decode", queue = queue }
end)

local function failed(b, why)
  b.phase, b.error, b.job, b.queue = "failed", why, nil, nil
end

--- One step of decoding or writing; the units spent.
local function apply_step(b, budget)
  if b.phase == "decode" then
    local decoded, problems, spent = inbox.step(b.queue, cfg, natives().json_to_table, budget)
    if problems[1] then
      failed(b, problems[1])
    elseif decoded[1] then
      local player = bench_player()
      local job, err = player_data.writer(player, player.character, decoded[1].msg, cfg.bonuses)
      if job then b.phase, b.job, b.queue = "write", job, nil else failed(b, err) end
    end
    return spent
  end
  local done, err, spent = player_data.write_step(b.job, budget)
  if err then
    failed(b, err)
  elseif done then
    local job = b.job
    if job.cursor then player_data.write_stack(bench_player().cursor_stack, job.cursor) end
    b.skipped, b.overflow = #job.skipped, #job.overflow
    b.phase, b.job, b.applied_tick = "applied", nil, game.tick
  end
  return spent
end

script.on_event(defines.events.on_tick, function(event)
  module_tick(event)
  local b = storage.bench
  -- From the tick after delivery (the module spent that tick's budget receiving), with the
  -- module's budget: the module's own work in these ticks is a few control messages.
  if not (b and event.tick > b.received_tick) then return end
  local left = cfg.tick_budget
  while left > 0 and (b.phase == "decode" or b.phase == "write") do
    local phase = b.phase
    local spent = apply_step(b, left)
    left = left - spent
    if spent <= 0 and b.phase == phase then break end
  end
end)

-- Clusterio's way ---------------------------------------------------------------------------

-- Clusterio's character inventories, armor first (its define_player_inventories.lua says why:
-- the armor's bonus slots must exist before main is written).
local CLUSTERIO_INVENTORIES = {
  { "armor", "character_armor" }, { "main", "character_main" }, { "guns", "character_guns" },
  { "ammo", "character_ammo" }, { "trash", "character_trash" },
}
-- The character properties Clusterio stores (its define_player_stat_keys.lua, Factorio 2.0).
local CLUSTERIO_STAT_KEYS = {
  "character_crafting_speed_modifier", "character_mining_speed_modifier",
  "character_additional_mining_categories", "character_running_speed_modifier",
  "character_build_distance_bonus", "character_item_drop_distance_bonus", "character_reach_distance_bonus",
  "character_resource_reach_distance_bonus", "character_item_pickup_distance_bonus",
  "character_loot_pickup_distance_bonus", "character_inventory_slots_bonus", "character_trash_slot_count_bonus",
  "character_maximum_following_robot_count_bonus", "character_health_bonus",
}

--- Writes Clusterio's serialized player (the form cli/src/bench/clusterio.rs models: an entry
--- per run of identical stacks, `s` its first slot when not the next one, `r` the repeats,
--- `e` an export string, else `n` `c` `q` `h` `d` `a`) into the bench player, as its
--- deserialize_player does for what the emulator models (colours, stats, inventories).
local function clusterio_apply(player, data)
  player.color = data.color
  player.chat_color = data.chat_color
  local character = player.character
  local stats = data.character or {}
  for _, key in ipairs(CLUSTERIO_STAT_KEYS) do
    local v = stats[key]
    if v ~= nil then pcall(function() character[key] = v end) end
  end
  local inventories = stats.inventories or {}
  for _, spec in ipairs(CLUSTERIO_INVENTORIES) do
    local inv = character.get_inventory(defines.inventory[spec[2]])
    local serialized = inventories[spec[1]]
    if inv and serialized then
      inv.clear()
      local last = 0
      for _, e in ipairs(serialized.i or {}) do
        local base = e.s or last + 1
        local repeats = e.r or 0
        for index = base, math.min(base + repeats, #inv) do
          local slot = inv[index]
          if e.e then
            slot.import_stack(e.e)
          else
            pcall(slot.set_stack, { name = e.n, count = e.c, quality = e.q, health = e.h, durability = e.d, ammo = e.a })
          end
        end
        last = base + repeats
      end
    end
  end
end

-- Clusterio's inventory_sync (plugins/inventory_sync/module/download_inventory.lua) keeps the
-- chunks of a download in its state and appends each one as it arrives; after the last it
-- decodes the JSON and deserializes the player in the same command. Clusterio calls it
-- through a global table, so the baseline has one too: the commands the bench sends are then
-- byte for byte the ones Clusterio sends.
inventory_sync = {
  download_inventory = function(player_name, data, number, total)
    local record = storage.baseline
    if record == nil or number == 1 then
      record = { data = "" }
      storage.baseline = record
    end
    record.data = record.data .. data
    if number ~= total then
      return
    end
    local decoded = natives().json_to_table(record.data)
    if type(decoded) == "table" then
      clusterio_apply(game.get_player(player_name), decoded)
      record.ok = true
    end
    record.done_tick = game.tick
  end,
}

--- What the host sent, or nil after printing why there is nothing to `what`.
---@param what string
---@return string|nil
local function received_payload(what)
  local b = storage.bench
  if not (b and b.payload) then
    rcon.print("error: nothing to " .. what)
    return nil
  end
  return b.payload
end

remote.add_interface("invsync_bench", {
  -- JSON: the state of the last message the module delivered ("decode", "write", "applied",
  -- "failed"), when it was delivered and applied, the items the character holds, and what the
  -- writer skipped or could not fit
  received = function()
    local b = storage.bench or {}
    local player = game.get_player(PLAYER)
    rcon.print(natives().table_to_json({
      state = b.phase or "none", received_tick = b.received_tick or -1, applied_tick = b.applied_tick or -1,
      items = player and player.character and items_held(player.character) or -1,
      skipped = b.skipped or 0, overflow = b.overflow or 0, error = b.error or "",
    }))
  end,
  -- the CRC-32 (8 hex digits), computed here, of the payload the module delivered (which `echo`
  -- sends back), or of the text Clusterio's download put together; "tampered": of the payload
  -- with its first byte changed (`invsync bench --tamper`, to test the host's check)
  checksum = function(which)
    local text
    if which == "baseline" then
      text = storage.baseline and storage.baseline.data
    else
      text = storage.bench and storage.bench.payload
      if text and which == "tampered" then text = (text:byte(1) == 0 and "\1" or "\0") .. text:sub(2) end
    end
    rcon.print(text and crc32.hex(crc32.of(text)) or "error: no " .. tostring(which) .. " text")
  end,
  -- sends back what arrived; answers the module's message id
  echo = function()
    local payload = received_payload("echo")
    if not payload then return end
    local id, why = invsync.send(payload)
    rcon.print(id and tostring(id) or ("error: " .. tostring(why)))
  end,
  -- the tick at which the last frame of message `id` left the game
  sent = function(id)
    local tick = invsync.sent_tick(id)
    rcon.print(tick and tostring(tick) or "error: message " .. tostring(id) .. " has not left")
  end,
  -- "<tick> <items>": when the Clusterio-style download was applied, and the items the
  -- character holds
  baseline_done = function()
    local r = storage.baseline
    if not (r and r.done_tick and r.ok) then
      rcon.print("error: no complete baseline download")
      return
    end
    rcon.print(string.format("%d %d", r.done_tick, items_held(bench_player().character)))
  end,
  -- Clusterio's upload: clusterio_api.send_json prints the JSON behind an IPC marker (here the
  -- serialized player its download brought)
  baseline_upload = function()
    local r = storage.baseline
    if not (r and r.ok) then
      rcon.print("error: nothing to upload")
      return
    end
    print("\f$ipc:inventory_sync_upload?j" .. r.data)
    rcon.print(tostring(game.tick))
  end,
})
