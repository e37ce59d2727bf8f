-- Deliberately desync-prone: which key `pairs` meets first decides a state change. Standard Lua
-- orders string keys by a hash seeded per Lua state, so peers disagree (the game patches this).
script.on_init(function()
  storage.pool = {}
  for i = 1, 64 do
    storage.pool["item-" .. i] = i
  end
  storage.picked = {}
end)

script.on_nth_tick(10, function()
  for name in pairs(storage.pool) do
    storage.picked[#storage.picked + 1] = name
    storage.pool[name] = nil
    break
  end
end)
