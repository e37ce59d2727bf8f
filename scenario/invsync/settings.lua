--- The adapter's settings: budgets, timeouts and limits, with their documented defaults.
---
--- Every budget is in work units per tick and every timeout in ticks (60 per second of game
--- time); nothing is measured in wall time. The defaults keep one tick of the module under
--- about 1 ms of PUC Lua 5.2 (scenario/README.md, "Budgets", gives the calibration), and the
--- per-tick instruction counts the tests check follow from them.

local limits = require("invsync.limits")

local settings = {}

--- The defaults. A scenario passes a table with any of these keys to `setup`.
settings.DEFAULTS = {
  -- receiving (host -> game) --------------------------------------------------------------
  --- Methods the game decodes, in order of preference (PROTOCOL.md 4): zlib natively, a
  --- chunk at a time, and solid natively, once per message (after zlib: where both give the
  --- same wire text, one chunk, the chunk is inflated as it is verified), raw
  --- as is, lz4 in pure Lua.
  decode = { "zlib", "solid", "raw", "lz4" },
  --- Longest frame accepted through `recv`.
  max_frame = limits.max_frame_rcon,
  --- Largest message accepted (plen and wlen). One native inflate per zlib message is
  --- bounded by it.
  max_message = limits.max_message,
  --- Largest chunk count accepted.
  max_chunks = limits.max_chunks,
  --- The custom console command that carries a frame from the host (PROTOCOL.md 5.2),
  --- `/invsync-recv <frame>`: no Lua to compile and a 14-byte wrapper instead of the remote
  --- call's 38. 1 to 64 of a-z, 0-9, - and _; false registers none (hosts use the remote call).
  recv_command = "invsync-recv",
  --- Messages of several chunks in progress at once.
  max_messages = limits.max_messages,
  --- A message in progress without progress for this many ticks is dropped (Expired).
  max_age_ticks = limits.max_age_ticks,

  -- the budget -----------------------------------------------------------------------------
  --- Work units per tick for everything the module does in on_tick, shared in this order:
  --- small outgoing messages, receiving, JSON decoding, inventories, small messages again,
  --- staging, after the remote calls of the tick. One unit is about one byte checksummed, and
  --- every kind of work is charged in these units, so that a tick stays under about 1 ms of Lua
  --- (the time a unit and a tick take: README, "Budgets").
  tick_budget = 24576,

  -- sending (game -> host) ----------------------------------------------------------------
  --- Longest frame printed on stdout (after the form feed marker).
  stdout_max_frame = limits.max_frame_stdout,
  --- Longest frame returned by `pull` (at most the protocol's 262144 for pulled frames). Each
  --- staged frame is built, and each pull answered, with a copy into fresh memory in one
  --- tick, and a host pulls several frames at once (5 in flight): 64 KiB keeps such a tick
  --- near 0.3 ms, where 256 KiB frames took over 1 ms in the emulator.
  pull_max_frame = 65536,
  --- Payloads up to this size are deflated natively (helpers.encode_string) and sent as zlib
  --- when that is smaller; larger ones go raw, so no single native deflate call takes long
  --- (16 KiB: about half a millisecond). Deflating pays off mostly when it makes a payload fit
  --- one stdout line; a staged message costs the game the same pull commands either way.
  zlib_max = 16384,
  --- A staged message not acknowledged is announced again after this many ticks ...
  staged_reannounce_ticks = 600,
  --- ... and dropped after this many.
  staged_max_age = 36000,
  --- Messages waiting to be staged at once; `send` refuses more (the caller retries later).
  max_outbox = 256,

  -- JSON ----------------------------------------------------------------------------------
  --- Payloads up to this size are parsed with the native helpers.json_to_table in one call;
  --- larger ones with the budgeted pure-Lua decoder (json.lua).
  native_json_max = 65536,
  --- Declare `export_json` (PROTOCOL.md 4.1): the host may then send a blueprint's export as
  --- its JSON (`xj`), which the module deflates again natively. Off by default: on the `bp`
  --- sample it costs more wire bytes and game time than it saves (PROTOCOL.md 4.1).
  export_json = false,

  -- player sync ---------------------------------------------------------------------------
  --- Run the player sync (join: acquire and download; leave: upload). Off, the module only
  --- carries messages.
  sync = true,
  --- No answer to `acquire` within this many ticks: the sync fails (Retry / temporary).
  acquire_timeout = 600,
  --- No progress of the download for this many ticks: the sync fails.
  download_timeout = 600,
  --- First wait before an unconfirmed upload is sent again; doubled after every attempt ...
  upload_retry_ticks = 300,
  --- ... up to this wait.
  upload_retry_max_ticks = 7200,
  --- Overflow stacks handed back per click of the "collect" button.
  overflow_per_click = 200,
  --- Character bonuses synced (LuaControl property names), in the order they are written.
  bonuses = {
    "character_build_distance_bonus", "character_crafting_speed_modifier", "character_health_bonus",
    "character_inventory_slots_bonus", "character_item_drop_distance_bonus",
    "character_item_pickup_distance_bonus", "character_loot_pickup_distance_bonus",
    "character_maximum_following_robot_count_bonus", "character_mining_speed_modifier",
    "character_reach_distance_bonus", "character_resource_reach_distance_bonus",
    "character_running_speed_modifier", "character_trash_slot_count_bonus",
  },
}

local function is_count(v)
  return type(v) == "number" and v >= 1 and v == math.floor(v)
end

--- The settings with every missing key filled in from DEFAULTS. Raises on an unknown key or a
--- value of the wrong kind, naming it (a programming error in the scenario's control.lua).
---@param given table|nil
---@return table
function settings.resolve(given)
  given = given or {}
  if type(given) ~= "table" then
    error("invsync.setup: expected a settings table, got " .. type(given), 3)
  end
  local out = {}
  for key, default in pairs(settings.DEFAULTS) do
    local v = given[key]
    if v == nil then v = default end
    if key == "recv_command" then
      if v ~= false and not (type(v) == "string" and #v >= 1 and #v <= 64 and not v:find("[^a-z0-9_%-]")) then
        error("invsync.setup: setting 'recv_command' must be false or a command name of 1 to 64 of a-z, 0-9, - and _, got "
          .. tostring(v), 3)
      end
    elseif type(default) == "number" and not is_count(v) then
      error("invsync.setup: setting '" .. key .. "' must be a whole number >= 1, got " .. tostring(v), 3)
    elseif type(default) == "boolean" and type(v) ~= "boolean" then
      error("invsync.setup: setting '" .. key .. "' must be true or false, got " .. tostring(v), 3)
    elseif type(default) == "table" then
      if type(v) ~= "table" then
        error("invsync.setup: setting '" .. key .. "' must be a list of strings, got " .. type(v), 3)
      end
      local copy = {}
      for i = 1, #v do
        if type(v[i]) ~= "string" then
          error("invsync.setup: setting '" .. key .. "'[" .. i .. "] must be a string", 3)
        end
        copy[i] = v[i]
      end
      v = copy
    end
    out[key] = v
  end
  for key in pairs(given) do
    if settings.DEFAULTS[key] == nil then
      error("invsync.setup: unknown setting '" .. tostring(key) .. "'", 3)
    end
  end
  return out
end

return settings
