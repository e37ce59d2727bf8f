--- Export strings rebuilt from the JSON a host sent in their place (PLAYER_DATA format 2's
--- `xj`, PROTOCOL.md 4.1): `"0" .. helpers.encode_string(json)`, the game's exchange-string
--- format, which `import_stack` then takes as it takes an uploaded export.
---
--- A host sends `xj` only to a game that declares `export_json` (settings.export_json), so
--- that the framing's zlib compresses the blueprints of a payload together.

local blueprint = {}

--- Longest JSON text rebuilt: the host never sends more (its MAX_EXPORT_JSON), and one native
--- deflate of it runs in one tick.
blueprint.MAX_JSON = 4 * 1024 * 1024

--- Units per byte of JSON rebuilt: `helpers.encode_string` deflates at level 9 (link.lua's
--- DEFLATE_COST).
blueprint.REBUILD_COST = 2

--- The export string for JSON text `json`, or nil and why not (not a string, empty, longer
--- than MAX_JSON, or refused by `encode_string`). Raises nothing.
---@param json any
---@param encode_string fun(text: string): string|nil the game's helpers.encode_string
---@return string|nil
---@return string|nil
function blueprint.export_of(json, encode_string)
  if type(json) ~= "string" then return nil, "'xj' must be a string" end
  if #json == 0 then return nil, "'xj' is empty" end
  if #json > blueprint.MAX_JSON then
    return nil, string.format("'xj' is %d bytes, over %d", #json, blueprint.MAX_JSON)
  end
  local ok, text = pcall(encode_string, json)
  if not ok or type(text) ~= "string" then return nil, "helpers.encode_string refused 'xj'" end
  return "0" .. text
end

--- Turns stack table `e`'s `export_json` into its `export`, in place. True when `e` has no
--- JSON left to rebuild; false and why when it could not be rebuilt (`e` is left as it was).
---@param e table
---@param encode_string fun(text: string): string|nil the game's helpers.encode_string
---@return boolean
---@return string|nil
function blueprint.rebuild(e, encode_string)
  if e.export_json == nil then return true end
  local export, why = blueprint.export_of(e.export_json, encode_string)
  if not export then return false, why end
  e.export, e.export_json = export, nil
  return true
end

--- Work units for rebuilding the export of JSON text `json`.
---@param json string
---@return number
function blueprint.cost(json)
  return #json * blueprint.REBUILD_COST
end

return blueprint
