-- The scenario `invsync bench` runs in the emulator: the reference module as a scenario author
-- would wire it, plus what the benchmark needs to read the game's own clock, and Clusterio's
-- way of moving the same bytes, for comparison.
local invsync = require("invsync.factorio")

invsync.setup({ sync = false }) -- the transport alone: no player sync in the benchmark

-- What the host sent, as the module delivered it (verified), and when.
invsync.on_message(function(payload, id)
  storage.bench = storage.bench or {}
  storage.bench.payload = payload
  storage.bench.received_tick = game.tick
  storage.bench.received_id = id
end)

-- Clusterio's inventory_sync (plugins/inventory_sync/module/download_inventory.lua) keeps the
-- chunks of a download in its state and appends each one as it arrives, then decodes the JSON
-- after the last. Clusterio calls it through a global table, so the baseline has one too: the
-- commands the bench sends are then byte for byte the ones Clusterio sends.
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
    local decoded = helpers.json_to_table(record.data)
    record.done_tick = game.tick
    record.ok = decoded ~= nil
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
  -- "<tick> <bytes>" of the last message the module delivered
  received = function()
    local b = storage.bench or {}
    rcon.print(string.format("%d %d", b.received_tick or -1, b.payload and #b.payload or -1))
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
  -- "<tick> <bytes>" of the Clusterio-style download
  baseline_done = function()
    local r = storage.baseline
    if not (r and r.done_tick and r.ok) then
      rcon.print("error: no complete baseline download")
      return
    end
    rcon.print(string.format("%d %d", r.done_tick, #r.data))
  end,
  -- Clusterio's upload: clusterio_api.send_json prints the JSON behind an IPC marker
  baseline_upload = function()
    local payload = received_payload("upload")
    if not payload then return end
    print("\f$ipc:inventory_sync_upload?j" .. payload)
    rcon.print(tostring(game.tick))
  end,
})
