--- What a player sees of the sync: a window while the inventory is fetched (status, a
--- progress bar of bytes received, the time left, Retry / temporary inventory buttons after a
--- failure) and buttons in the top bar (sync now while on a temporary inventory, collect the
--- stacks that did not fit).
---
--- Every element is named `invsync_*`; clicks come back through `on_gui_click` with these
--- names (see sync.lua). Captions are plain strings (English), so a scenario can restyle or
--- translate by replacing this module.

local gui = {}

gui.WINDOW = "invsync_sync"
gui.RETRY = "invsync_retry"
gui.TEMPORARY = "invsync_temporary"
gui.SYNC_NOW = "invsync_sync_now"
gui.COLLECT = "invsync_collect"

local function child(parent, spec)
  local el = parent[spec.name]
  if el and el.valid then return el end
  return parent.add(spec)
end

---@class InvsyncView
---@field status string the main line
---@field detail string|nil a second line
---@field progress number|nil 0..1, or nil for no progress bar
---@field choices boolean|nil show Retry and temporary inventory

--- Shows (or updates) the sync window of `player`.
---@param player LuaPlayer
---@param view InvsyncView
function gui.show(player, view)
  local window = child(player.gui.screen, { type = "frame", name = gui.WINDOW, caption = "Inventory sync", direction = "vertical" })
  window.force_auto_center()
  local status = child(window, { type = "label", name = "invsync_status" })
  status.caption = view.status
  local bar = child(window, { type = "progressbar", name = "invsync_progress" })
  bar.visible = view.progress ~= nil
  bar.value = view.progress or 0
  local detail = child(window, { type = "label", name = "invsync_detail" })
  detail.caption = view.detail or ""
  detail.visible = view.detail ~= nil
  local buttons = child(window, { type = "flow", name = "invsync_buttons", direction = "horizontal" })
  buttons.visible = view.choices == true
  child(buttons, { type = "button", name = gui.RETRY, caption = "Retry" })
  child(buttons, { type = "button", name = gui.TEMPORARY, caption = "Play with a temporary inventory" })
end

--- Closes the sync window.
---@param player LuaPlayer
function gui.hide(player)
  local window = player.gui.screen[gui.WINDOW]
  if window and window.valid then window.destroy() end
end

--- Shows or removes the top-bar buttons: "sync now" while the player is on a temporary
--- inventory, "collect" while `leftover` stacks wait for room.
---@param player LuaPlayer
---@param temporary boolean
---@param leftover number
function gui.top(player, temporary, leftover)
  local top = player.gui.top
  local sync_now = top[gui.SYNC_NOW]
  if temporary and not sync_now then
    top.add({ type = "button", name = gui.SYNC_NOW, caption = "Sync my inventory",
      tooltip = "You are playing with a temporary inventory. Fetch your synced one and merge the two." })
  elseif not temporary and sync_now then
    sync_now.destroy()
  end
  local collect = top[gui.COLLECT]
  if leftover > 0 then
    if not collect then collect = top.add({ type = "button", name = gui.COLLECT }) end
    collect.caption = "Collect " .. leftover .. " leftover stacks"
    collect.tooltip = "Items that did not fit into your inventory during the sync. Make room, then click."
  elseif collect then
    collect.destroy()
  end
end

return gui
