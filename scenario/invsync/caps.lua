--- The capability declaration of docs/PROTOCOL.md section 4, as deterministic JSON.

local limits = require("invsync.limits")

local format, concat = string.format, table.concat

local caps = {}

--- The JSON object the game answers to `caps()`, built from a receiver state (its
--- accepted methods in order and its limits) and, when given, the name of the custom command
--- that carries frames (`recv_command`, a name settings.lua has checked). Keys in a fixed order.
--- The module reads frames with the short header (frame.lua), so it always says `short_header`.
--- `export_json` (true when settings.export_json is on): the game rebuilds export strings from
--- the JSON a host sends in their place (PROTOCOL.md 4.1, blueprint.lua).
---@param rx table a state from reassembler.new
---@param recv_command string|nil
---@param export_json boolean|nil
---@return string
function caps.json(rx, recv_command, export_json)
  local methods = {}
  for i = 1, #rx.accept_list do methods[i] = '"' .. rx.accept_list[i] .. '"' end
  local entry = ""
  if recv_command then entry = format(',"recv_command":"%s"', recv_command) end
  if export_json then entry = entry .. ',"export_json":true' end
  return format('{"protocol":1,"decode":[%s],"max_frame":%d,"max_message":%d,"max_chunks":%d%s,"short_header":true}',
    concat(methods, ","), rx.max_frame or limits.max_frame_rcon, rx.max_message or limits.max_message,
    rx.max_chunks or limits.max_chunks, entry)
end

return caps
