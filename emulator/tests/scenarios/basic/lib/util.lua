local util = {}

---@param player LuaPlayer
---@return string
function util.describe(player)
  return player.name .. "#" .. player.index
end

return util
