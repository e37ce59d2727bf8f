-- A small scenario exercising the emulator's API surface.
local util = require("lib.util")

script.on_init(function()
  storage.joined = {}
  storage.ticks = 0
  print("basic scenario: on_init at tick " .. game.tick)
end)

script.on_event(defines.events.on_player_joined_game, function(event)
  local player = game.get_player(event.player_index)
  storage.joined[#storage.joined + 1] = player.name
  player.print("welcome " .. player.name)
  log("joined " .. util.describe(player))
end)

script.on_nth_tick(60, function(event)
  storage.ticks = storage.ticks + 1
end)

remote.add_interface("basic", {
  echo = function(text) rcon.print("echo:" .. text) end,
  joined = function() rcon.print(helpers.table_to_json(storage.joined)) end,
})
