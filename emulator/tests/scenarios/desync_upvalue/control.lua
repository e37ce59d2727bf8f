-- Deliberately desync-prone: state kept in an upvalue is lost on save/load, so a game reloaded
-- from a save (or a player joining) computes something else than the server.
local counter = 0

script.on_init(function()
  storage.values = {}
end)

script.on_nth_tick(5, function()
  counter = counter + 1
  storage.values[#storage.values + 1] = counter
end)
