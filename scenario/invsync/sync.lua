--- The player sync: a player's inventory follows them from server to server.
---
--- On join the player waits as a spectator (their character is kept aside, untouched) while
--- the module asks the host for exclusive access (`acquire`). The host answers `acquired`
--- (with its generation and, when the stored data must replace the local one, the id and
--- size of the message carrying it), `busy` (another server holds the player) or `error`.
--- The download shows a progress bar; the data is applied only once complete and verified,
--- then the player gets their character back. When the local inventory was synced earlier
--- and is unchanged (same checksum as what was uploaded from here), the host sends nothing:
--- `acquire` claims it at once and the local inventory is checked while the answer travels
--- (the player plays it only once the check holds; a failed check asks again), so a player
--- whose newer data is elsewhere never waits for the local inventory to be read. On failure
--- or timeout the player picks Retry or a temporary
--- inventory (a fresh character), which is merged into the synced one at the next
--- successful sync; what does not fit is kept for the player to collect, never destroyed.
--- On leave the character is read and uploaded with generation + 1, and the upload is sent
--- again with backoff until the host confirms it (`uploaded`). After a crash and a restart
--- from an autosave, players this module had as online but who are not connected are
--- treated as having left: they are uploaded again. The messages are defined in
--- scenario/README.md, "Sync messages".
---
--- State: one record per player index in `storage` (`sync.players`), visited in ascending
--- index order (`sync.order`); no decision depends on the order of string keys. Work on
--- inventories is budgeted: `tick` gets a budget of units, and records with a job (reading,
--- writing, merging) take turns spending it.

local json = require("invsync.json")
local player_data = require("invsync.player_data")
local gui = require("invsync.gui")

local format, floor, ceil = string.format, math.floor, math.ceil
local quote = json.quote

local sync = {}

--- Longest list of skipped stacks remembered per player (for admins; the player is told).
local MAX_SKIPPED = 100
--- Skipped stacks named one by one in the chat message; the rest are counted.
local MAX_TOLD = 8
--- Ticks between progress bar updates.
local GUI_EVERY = 10
--- Ticks between attempts to make a character for a player who cannot have one now.
local CHARACTER_RETRY = 60

--- States with an inventory job (`acquiring`, and `downloading` a delta: the check of the local
--- inventory that `acquire` claimed unchanged, while the answer travels; `verifying`: the read
--- of a character a delta was written into, checked against the delta's checksum).
local JOB_STATES = {
  reading = true, acquiring = true, downloading = true, applying = true, verifying = true, merging = true,
  saving = true,
}
--- States of a player who is (or, before a crash, was) connected.
local ONLINE_STATES = {
  reading = true, waiting = true, acquiring = true, downloading = true, applying = true, verifying = true,
  merging = true, failed = true, playing = true, temporary = true, no_character = true,
}

--- A new sync state.
---@return table
function sync.new()
  return { players = {}, order = {}, next_request = 1, next_upload = 1, turn = 0 }
end

-- Records ------------------------------------------------------------------------------

local function record(S, player)
  local index = player.index
  local rec = S.players[index]
  if rec then
    rec.name = player.name
    return rec
  end
  rec = { index = index, name = player.name, state = "idle", generation = 0, overflow = {}, skipped = {} }
  S.players[index] = rec
  local order = S.order
  local at = #order + 1
  while at > 1 and order[at - 1] > index do
    order[at] = order[at - 1]
    at = at - 1
  end
  order[at] = index
  return rec
end

local function by_name(S, name)
  if type(name) ~= "string" then return nil, nil end
  local player = game.get_player(name)
  if not player then return nil, nil end
  return S.players[player.index], player
end

-- Messages to the host ------------------------------------------------------------------

--- The local copy matches no upload from here any more: no claim of it, no references to its
--- exports, no delta against it.
local function forget_upload(rec)
  rec.fingerprint, rec.fingerprint_len, rec.exports, rec.delta_worth = nil, nil, nil, nil
end

local function send_acquire(S, ctx, rec, unchanged, now)
  -- a delta only for a copy claimed unchanged, and only where it beats the whole data
  local delta = unchanged and rec.delta_worth
  local r = S.next_request
  S.next_request = r + 1
  rec.request = r
  rec.check, rec.job = nil, nil
  rec.state = "acquiring"
  rec.deadline = now + ctx.cfg.acquire_timeout
  rec.early, rec.delta = nil, nil
  ctx.send(format('{"type":"acquire","player":%s,"request":%d,"generation":%d,"unchanged":%s%s}',
    quote(rec.name), r, rec.generation, unchanged and "true" or "false", delta and ',"delta":true' or ""))
end

--- Gives up the hold of the current request. The epoch is the grant's fencing token; before
--- `acquired` arrived it is unknown (`null`), and the host matches the request instead.
local function send_release(ctx, rec)
  if rec.request then
    local epoch = rec.epoch_request == rec.request and rec.epoch or nil
    ctx.send(format('{"type":"release","player":%s,"request":%d,"epoch":%s}', quote(rec.name), rec.request,
      epoch and format("%d", epoch) or "null"))
  end
  rec.request = nil
end

local function send_upload(ctx, rec, now)
  local up = rec.upload
  up.tries = up.tries + 1
  up.next_at = now + up.wait
  up.wait = math.min(up.wait * 2, ctx.cfg.upload_retry_max_ticks)
  ctx.send(up.payload)
end

-- Telling the player --------------------------------------------------------------------

local function kib(n)
  return format("%.1f", (n or 0) / 1024)
end

local function view(rec, now)
  local s = rec.state
  if s == "reading" or s == "verifying" then return { status = "Checking your inventory..." } end
  if s == "saving" or s == "waiting" then
    return { status = "Finishing the upload of your inventory from your last visit..." }
  end
  if s == "acquiring" then return { status = "Asking for your inventory..." } end
  if s == "downloading" then
    local d = rec.download
    local got, total = d.got, d.bytes
    local v = { status = format("Downloading your inventory: %s of %s KiB", kib(got), kib(total)),
      progress = total > 0 and math.min(got / total, 1) or 0 }
    local elapsed = now - d.started
    if got > 0 and elapsed > 0 and total > got then
      local ticks_left = (total - got) * elapsed / got
      v.detail = format("About %d s left", ceil(ticks_left / 60))
    elseif got == 0 then
      v.detail = "Waiting for the first bytes..."
    end
    return v
  end
  if s == "applying" or s == "merging" then return { status = "Applying your inventory...", progress = 1 } end
  if s == "no_character" then return { status = rec.reason } end
  if s == "failed" then
    return { status = rec.reason or "The inventory sync failed.", choices = true,
      detail = "Retry, or play with a temporary inventory that is merged into yours at the next successful sync." }
  end
  return nil
end

local function refresh(player, rec, now)
  if not (player and player.valid and player.connected) then return end
  local v = view(rec, now)
  if v then gui.show(player, v) else gui.hide(player) end
  gui.top(player, rec.state == "temporary", #rec.overflow)
end

local function tell_skipped(player, list)
  if #list == 0 or not (player.valid and player.connected) then return end
  player.print(format("%d stack(s) or logistic request(s) of yours could not be restored in this game:", #list))
  for i = 1, math.min(#list, MAX_TOLD) do
    local e = list[i].entry
    local what = type(e) == "table" and type(e.name) == "string"
      and (type(e.count) == "number" and format("%s x%s", e.name, tostring(e.count)) or e.name) or "?"
    player.print(format("  %s: %s", what, list[i].reason))
  end
  if #list > MAX_TOLD then player.print(format("  ... and %d more", #list - MAX_TOLD)) end
end

local function remember_skipped(rec, list)
  for i = 1, #list do
    rec.skipped[#rec.skipped + 1] = list[i]
  end
  while #rec.skipped > MAX_SKIPPED do table.remove(rec.skipped, 1) end
end

local function add_overflow(player, rec, list)
  if #list == 0 then return end
  for i = 1, #list do rec.overflow[#rec.overflow + 1] = list[i] end
  if player.valid and player.connected then
    player.print(format("%d stack(s) did not fit into your inventory. They are kept for you: make room, then "
      .. "click \"Collect\" in the top bar.", #list))
  end
end

-- Characters and the cursor -------------------------------------------------------------

--- Takes what the player holds in the cursor off it, as a stack table (nil if empty).
local function take_cursor(player)
  local st = player.cursor_stack
  if not (st and st.valid_for_read) then return nil end
  local e = player_data.read_stack(st)
  st.clear()
  return e
end

--- Puts a cursor stack table into `character` (anywhere), the rest into the overflow.
local function stow(player, rec, character, e)
  if not e then return end
  local rest = {}
  local left = player_data.insert_anywhere(character, e, rest)
  if left > 0 then
    e.count = left
    rest[#rest + 1] = e
  end
  add_overflow(player, rec, rest)
end

--- A new character for `player`, who then controls it (the god controller first, as Clusterio
--- does, then `create_character`, whose result is checked), or nil (the player is left a
--- spectator).
local function make_character(player)
  pcall(player.set_controller, { type = defines.controllers.god })
  local ok, made = pcall(player.create_character)
  local character = ok and made and player.character or nil
  if character and character.valid then return character end
  pcall(player.set_controller, { type = defines.controllers.spectator })
  return nil
end

--- Makes sure `rec.character` is a valid character to sync into: the one kept aside, or else
--- a new one, made as Clusterio does (the god controller, then `create_character`, whose
--- result is checked); the player is left a spectator. Returns true, or false and why a
--- character cannot be made now (offline, dead, or a controller the game refuses it in).
local function ensure_character(player, rec)
  if rec.character and rec.character.valid then return true end
  rec.character = nil
  if not player.connected then return false, "You are not connected." end
  if player.ticks_to_respawn then return false, "Your inventory is restored when you respawn." end
  local c = player.controller_type
  if c == defines.controllers.editor or c == defines.controllers.remote then
    return false, "Your inventory is restored when you leave the editor or the remote view."
  end
  local character = make_character(player)
  if not character then
    return false, "A character cannot be made for you here yet; your inventory is restored as soon as it can."
  end
  rec.character = character
  pcall(player.set_controller, { type = defines.controllers.spectator })
  return true
end

--- Detaches the player from their characters while the sync works: the synced character is
--- kept in `rec.character`, the held cursor in `rec.cursor`.
local function detach(player, rec)
  local current = player.character
  if current and not current.valid then current = nil end
  if current and rec.temp and rec.temp.valid and current == rec.temp then
    -- on a temporary inventory: what it holds in the cursor goes into it
    stow(player, rec, rec.temp, take_cursor(player))
  elseif current then
    -- the character they play (or left with) is the synced one
    rec.character = current
    local e = take_cursor(player)
    if e then rec.cursor = e end
  end
  -- (no synced character at all, because it died or was never made: one is made when the
  -- data is applied, see ensure_character)
  if not (rec.character and rec.character.valid) then rec.character = nil end
  pcall(player.set_controller, { type = defines.controllers.spectator })
end

--- Gives the player their synced character back and ends the sync.
local function attach(player, rec, cursor)
  player.set_controller({ type = defines.controllers.character, character = rec.character })
  local e = cursor or rec.cursor
  rec.cursor = nil
  if e then
    local st = player.cursor_stack
    local ok, unplaced = false, nil
    if st then ok, unplaced = player_data.write_stack(st, e) end
    if not ok then stow(player, rec, rec.character, e) end
    if type(unplaced) == "table" then
      for i = 1, #unplaced do stow(player, rec, rec.character, unplaced[i]) end
    end
  end
  rec.state = "playing"
  rec.deadline = nil
end

-- The steps of a join -------------------------------------------------------------------

local function fail(player, rec, reason)
  rec.state = "failed"
  rec.reason = reason
  rec.job, rec.check = nil, nil
  rec.download = nil
  rec.early, rec.delta = nil, nil
  refresh(player, rec, 0)
end

--- No character can be made for the player now (dead, editor, remote view...): wait, and
--- try again every CHARACTER_RETRY ticks. `pending` is what to do then: the player data to
--- apply, or true to give the (new) character back.
local function wait_for_character(player, rec, why, pending, now)
  if rec.state ~= "no_character" and player.valid and player.connected then player.print(why) end
  rec.state = "no_character"
  rec.reason = why
  rec.pending = pending
  rec.job = nil
  rec.deadline = now + CHARACTER_RETRY
  refresh(player, rec, now)
end

local function finish(ctx, player, rec, now)
  if not (rec.character and rec.character.valid) then
    -- the character kept aside is gone (it died while it stood unattended): a new one
    local ok, why = ensure_character(player, rec)
    if not ok then return wait_for_character(player, rec, why, true, now) end
    player.print("Your character was lost while your inventory was being synced; what it carried is where it "
      .. "was lost (its corpse). You have a new character.")
  end
  if rec.temp and rec.temp.valid then
    rec.state = "merging"
    rec.job = player_data.mover(rec.temp, rec.character)
    refresh(player, rec, now)
    return
  end
  attach(player, rec, rec.apply_cursor)
  rec.playing_since = now
  rec.apply_cursor = nil
  rec.job = nil
  refresh(player, rec, now)
end

--- The host keeps the local copy (`acquired` without data). A copy claimed unchanged is
--- played only once its check holds: still running, the player waits (`reading`); found
--- changed (or its character gone), the module asks again without the claim and the host
--- sends the stored data.
local function keep_local(S, ctx, player, rec, now)
  local check = rec.check
  if check == "running" then
    rec.state = "reading"
    return refresh(player, rec, now)
  end
  rec.check = nil
  if check == "changed" then
    -- the local copy matches no upload
    forget_upload(rec)
    send_acquire(S, ctx, rec, false, now)
    return refresh(player, rec, now)
  end
  rec.synced_by = "local"
  finish(ctx, player, rec, now)
end

--- A delta (PROTOCOL.md 7, `player_delta`) cannot be played: its base is not the local copy,
--- it cannot be written in place, or the character it made is not the data it names. The
--- module asks again without the claim, and the host sends the whole data, which replaces
--- whatever the character holds.
local function ask_whole(S, ctx, player, rec, why, now)
  ctx.log(format("invsync: player %s: the delta to generation %s was not played (%s); asking for the whole data",
    rec.name, tostring(rec.host_generation), why))
  rec.apply_cursor = nil
  forget_upload(rec)
  send_acquire(S, ctx, rec, false, now)
  refresh(player, rec, now)
end

--- Writes the delta `rec.delta.msg` into the kept character once the check of that character
--- (its base) has held.
local function apply_delta(S, ctx, player, rec, now)
  local check, msg = rec.check, rec.delta.msg
  rec.check = nil
  if check ~= "same" then return ask_whole(S, ctx, player, rec, "the local copy changed", now) end
  local cleared = msg.cleared
  if cleared == nil then cleared = {} end
  local job, err = player_data.writer(player, rec.character, msg.data, ctx.cfg.bonuses, cleared)
  if not job then return ask_whole(S, ctx, player, rec, err, now) end
  rec.state = "applying"
  rec.job = job
  rec.download, rec.early = nil, nil
  refresh(player, rec, now)
end

--- A delta for the current grant arrived: written once the check of its base holds.
local function got_delta(S, ctx, player, rec, msg, now)
  rec.delta.msg = msg
  if rec.check == "running" then
    rec.state = "reading"
    return refresh(player, rec, now)
  end
  apply_delta(S, ctx, player, rec, now)
end

--- What to do when `player` (connected) needs its synced inventory.
local function begin(S, ctx, player, rec, now)
  if rec.state == "saving" then
    -- still reading what they left with: acquire once that upload is confirmed
    rec.rejoin = true
  elseif rec.upload then
    rec.state = "waiting"
    rec.deadline = now + ctx.cfg.acquire_timeout
  elseif rec.generation > 0 and rec.fingerprint and rec.character then
    -- claim the local copy unchanged now and check it while the answer travels: when the host
    -- has newer data the check is dropped unread; when it keeps the local copy, the player
    -- plays it only once the check holds (`keep_local`)
    send_acquire(S, ctx, rec, true, now)
    rec.check = "running"
    rec.job = player_data.reader(player, rec.character, rec.cursor, ctx.cfg.bonuses, rec.unplaced, rec.kept_logistics,
      rec.exports)
    if rec.job.homeless then add_overflow(player, rec, rec.job.homeless) end
  else
    send_acquire(S, ctx, rec, false, now)
  end
  refresh(player, rec, now)
end

local function start_apply(ctx, player, rec, data, now)
  local ready, why = ensure_character(player, rec)
  if not ready then return wait_for_character(player, rec, why, data, now) end
  local job, err = player_data.writer(player, rec.character, data, ctx.cfg.bonuses)
  if not job then
    ctx.log(format("invsync: player %s: %s", rec.name, err))
    send_release(ctx, rec)
    return fail(player, rec, "Your stored inventory cannot be read by this game: " .. err)
  end
  rec.state = "applying"
  rec.job = job
  -- the held cursor belongs to the local copy, which the data replaces once it is written
  -- (dropped in job_done): a payload refused while it is checked leaves that copy whole
  forget_upload(rec) -- the local copy matches no upload now
  rec.download = nil
  rec.early = nil
  refresh(player, rec, now)
end

-- Events --------------------------------------------------------------------------------

--- A player joined (on_player_joined_game).
---@param S table
---@param ctx table {cfg, send, log}
---@param player LuaPlayer
---@param now number
function sync.joined(S, ctx, player, now)
  local rec = record(S, player)
  if ONLINE_STATES[rec.state] then
    -- online here already: a restart from an autosave lost their leave; handle it first
    sync.leaving(S, ctx, player, now, true)
  end
  detach(player, rec)
  rec.sync_started = now
  begin(S, ctx, player, rec, now)
end

--- A player is leaving (on_pre_player_left_game), or was found offline after a restart.
---@param S table
---@param ctx table
---@param player LuaPlayer
---@param now number
---@param recovered boolean|nil true when the player was online in the autosave this game restarted from
function sync.leaving(S, ctx, player, now, recovered)
  local rec = S.players[player.index]
  if not rec then return end
  rec.recovered = recovered or nil
  local s = rec.state
  rec.rejoin = nil
  if s == "playing" or s == "merging" then
    -- a merge cut short is fine: what moved is uploaded, the rest stays in the temporary character
    local character = player.character
    if s == "merging" or not (character and character.valid) then character = rec.character end
    if not (character and character.valid) then
      ctx.log(format("invsync: player %s left without a character; nothing to upload", rec.name))
      send_release(ctx, rec)
      rec.state, rec.job = "idle", nil
      return
    end
    rec.character = character
    local cursor = nil
    if s == "merging" then
      -- still a spectator: the cursor to upload is the one the data brought, not yet placed
      cursor = rec.apply_cursor
      rec.cursor, rec.apply_cursor = rec.apply_cursor, nil
    else
      local st = player.cursor_stack
      if st and st.valid_for_read then cursor = player_data.read_stack(st) end
    end
    rec.state = "saving"
    rec.job = player_data.reader(player, character, cursor, ctx.cfg.bonuses, rec.unplaced, rec.kept_logistics)
    if rec.job.homeless then add_overflow(player, rec, rec.job.homeless) end
    -- every stack is read now, in the event: the game shows no character for a player who has
    -- left; only writing the JSON, checksumming and sending wait for later ticks
    local spent, err = player_data.capture(rec.job)
    if spent then
      S.debt = (S.debt or 0) + spent
      S.debt_tick = now
    else
      ctx.log(format("invsync: player %s: %s; nothing to upload", rec.name, err))
      send_release(ctx, rec)
      rec.state, rec.job = "idle", nil
    end
  elseif s == "temporary" then
    if rec.temp and rec.temp.valid then stow(player, rec, rec.temp, take_cursor(player)) end
    send_release(ctx, rec)
    rec.state = "idle"
  elseif s == "saving" or s == "idle" then
    return
  else
    -- the sync did not finish: nothing to upload (never a partly applied inventory)
    send_release(ctx, rec)
    rec.state, rec.job, rec.download, rec.early, rec.apply_cursor, rec.delta = "idle", nil, nil, nil, nil, nil
  end
end

--- A GUI click on one of the module's elements (on_gui_click).
---@param S table
---@param ctx table
---@param player LuaPlayer
---@param name string the element's name
---@param now number
function sync.clicked(S, ctx, player, name, now)
  local rec = S.players[player.index]
  if not rec then return end
  if name == gui.RETRY and rec.state == "failed" then
    -- as at a join: a claim of an unchanged local copy is checked again
    begin(S, ctx, player, rec, now)
  elseif name == gui.TEMPORARY and rec.state == "failed" then
    if rec.temp and rec.temp.valid then
      player.set_controller({ type = defines.controllers.character, character = rec.temp })
    else
      rec.temp = (not player.ticks_to_respawn) and make_character(player) or nil
      if not rec.temp then
        player.print("A temporary character cannot be made for you now; try again in a moment.")
        return
      end
    end
    send_release(ctx, rec)
    rec.state = "temporary"
    player.print("You are playing with a temporary inventory. It is merged into your synced inventory at the "
      .. "next successful sync (\"Sync my inventory\" in the top bar, or your next visit).")
    refresh(player, rec, now)
  elseif name == gui.SYNC_NOW and rec.state == "temporary" then
    detach(player, rec)
    rec.sync_started = now
    begin(S, ctx, player, rec, now)
  elseif name == gui.COLLECT then
    local character = player.character
    if not (character and character.valid) or #rec.overflow == 0 then return end
    local kept, given = {}, 0
    for i = 1, #rec.overflow do
      local e = rec.overflow[i]
      if i <= ctx.cfg.overflow_per_click then
        local left = player_data.insert_anywhere(character, e, kept)
        if left > 0 then
          e.count = left
          kept[#kept + 1] = e
        else
          given = given + 1
        end
      else
        kept[#kept + 1] = e
      end
    end
    rec.overflow = kept
    player.print(format("Collected %d stack(s); %d still wait for room.", given, #kept))
    refresh(player, rec, now)
  end
end

--- A decoded sync message from the host.
---@param S table
---@param ctx table
---@param kind string the message type
---@param msg table
---@param now number
function sync.message(S, ctx, kind, msg, now)
  local rec, player = by_name(S, msg.player)
  if not rec then
    ctx.log(format("invsync: %s message for unknown player %s", kind, tostring(msg.player)))
    return
  end
  local live = player.connected
  if kind == "uploaded" then
    local up = rec.upload
    if up and msg.upload == up.id and msg.generation == up.generation then
      rec.generation = up.generation
      -- the local copy is this upload (until a sync replaces it): what a claim of it checks
      rec.fingerprint, rec.fingerprint_len, rec.exports, rec.delta_worth = up.crc, up.len, up.exports, up.delta_worth
      rec.upload = nil
      -- the player came back before this answer: the local copy is what was uploaded,
      -- unless a script changed the character since; claimed and checked as at a join
      if rec.state == "waiting" and live then begin(S, ctx, player, rec, now) end
    end
    return
  end
  if kind == "upload_refused" then
    local up = rec.upload
    if up and msg.upload == up.id and msg.generation == up.generation then
      -- the host holds newer data (a restart sent a stale upload): the local copy is not the
      -- synced one any more, so the next sync downloads
      ctx.log(format("invsync: player %s: upload %d (generation %d) refused: %s", rec.name, up.id, up.generation,
        type(msg.message) == "string" and msg.message or "no reason given"))
      rec.upload = nil
      forget_upload(rec)
      if rec.state == "waiting" and live then
        send_acquire(S, ctx, rec, false, now)
        refresh(player, rec, now)
      end
    end
    return
  end
  if kind == "player_delta" then
    if type(msg.generation) ~= "number" then return end
    local d = rec.delta
    if rec.state == "downloading" and d and not d.msg and msg.generation == rec.host_generation and msg.base == d.base then
      got_delta(S, ctx, player, rec, msg, now)
    elseif rec.state == "acquiring" then
      rec.early = { generation = msg.generation, delta = msg }
    end
    return
  end
  if kind == "player_data" then
    if type(msg.generation) ~= "number" then return end
    if rec.state == "downloading" and msg.generation == rec.host_generation then
      start_apply(ctx, player, rec, msg.data, now)
    elseif rec.state == "acquiring" then
      rec.early = { generation = msg.generation, data = msg.data }
    end
    return
  end
  -- acquired, busy, error: answers to our current request only
  if msg.request ~= rec.request or not live then return end
  if kind == "acquired" and rec.state == "acquiring" then
    local generation = msg.generation
    if type(generation) ~= "number" or generation < 0 or generation ~= floor(generation) then
      return fail(player, rec, "The inventory server sent an invalid answer (generation).")
    end
    local epoch = msg.epoch
    if type(epoch) ~= "number" or epoch < 1 or epoch ~= floor(epoch) then
      return fail(player, rec, "The inventory server sent an invalid answer (epoch).")
    end
    -- kept in storage: an upload after a restart from an autosave carries the grant it was made under
    rec.epoch, rec.epoch_request = epoch, rec.request
    rec.recovered = nil
    rec.host_generation = generation
    if msg.has_data ~= true or type(msg.message) ~= "number" then
      -- keep the local inventory
      rec.generation = generation
      return keep_local(S, ctx, player, rec, now)
    end
    local base = msg.base
    if base ~= nil then
      -- only what changed since the local copy, which this module claimed unchanged: that
      -- claim's check goes on (the base of the delta)
      if base ~= rec.generation or rec.check == nil or rec.check == "changed" then
        local why = rec.check == "changed" and "the local copy changed"
          or ("a delta against generation " .. tostring(base) .. " answered a claim of generation " .. rec.generation)
        rec.check, rec.job = nil, nil
        return ask_whole(S, ctx, player, rec, why, now)
      end
      rec.delta = { base = base }
      local early = rec.early
      rec.early = nil
      rec.generation = generation
      if early and early.delta and early.generation == generation and early.delta.base == base then
        return got_delta(S, ctx, player, rec, early.delta, now)
      end
    else
      -- the stored data replaces the local copy: its check (if one runs) is moot
      rec.check, rec.job = nil, nil
      if rec.early and rec.early.data and rec.early.generation == generation then
        rec.generation = generation
        return start_apply(ctx, player, rec, rec.early.data, now)
      end
    end
    rec.state = "downloading"
    rec.download = { message = msg.message, bytes = type(msg.bytes) == "number" and msg.bytes or 0, started = now,
      last = now, got = 0 }
    rec.generation = generation
    rec.deadline = now + ctx.cfg.download_timeout
    refresh(player, rec, now)
  elseif kind == "busy" and (rec.state == "acquiring" or rec.state == "downloading") then
    local holder = type(msg.holder) == "string" and msg.holder or "another server"
    fail(player, rec, format("Your inventory is in use on %s.", holder))
  elseif kind == "error" and (rec.state == "acquiring" or rec.state == "downloading") then
    local text = type(msg.message) == "string" and msg.message or "unknown error"
    fail(player, rec, "The inventory server reported an error: " .. text)
  end
end

-- Every tick ----------------------------------------------------------------------------


local function job_done(S, ctx, player, rec, now)
  local s = rec.state
  local job = rec.job
  rec.job = nil
  if s == "acquiring" or s == "reading" or s == "downloading" then
    local same = job.crc == rec.fingerprint and job.len == rec.fingerprint_len
    rec.check = same and "same" or "changed"
    -- still waiting for the answer (or the delta), or it said to keep the local copy (or the
    -- delta is here): that copy is now judged
    if s == "reading" then
      if rec.delta then apply_delta(S, ctx, player, rec, now) else keep_local(S, ctx, player, rec, now) end
    end
  elseif s == "applying" and rec.delta then
    if #job.skipped > 0 or #job.overflow > 0 then
      -- (nothing is kept aside from a delta: the whole data replaces what it wrote)
      return ask_whole(S, ctx, player, rec, "not every stack of it could be written", now)
    end
    -- read back what the delta made, every export still in its slot by reference
    local cache = {}
    for key, ref in pairs(rec.exports or {}) do
      if not job.touched[key] then cache[key] = ref end
    end
    rec.delta.kept_logistics, rec.delta.cursor = job.kept_logistics, job.cursor
    rec.state = "verifying"
    rec.job = player_data.reader(player, rec.character, job.cursor, ctx.cfg.bonuses, nil, job.kept_logistics, cache)
  elseif s == "verifying" then
    local d = rec.delta
    rec.delta = nil
    if format("%08x", job.crc) ~= d.msg.checksum or job.len ~= d.msg.length then
      return ask_whole(S, ctx, player, rec, format("it made %d bytes with checksum %08x, not %s with %s", job.len,
        job.crc, tostring(d.msg.length), tostring(d.msg.checksum)), now)
    end
    -- the character holds the stored generation: as after a whole write
    forget_upload(rec)
    rec.cursor = nil
    rec.unplaced = nil
    rec.kept_logistics = d.kept_logistics
    rec.apply_cursor = d.cursor
    rec.synced_by = "delta"
    finish(ctx, player, rec, now)
  elseif s == "applying" then
    rec.cursor = nil -- the local copy's cursor: replaced by the data's (`job.cursor`)
    remember_skipped(rec, job.skipped)
    -- what this game could not place is still the player's: every upload from here carries it
    rec.unplaced = player_data.unplaced(job.skipped)
    -- and so are personal logistics this game could not set (no research): carried on
    rec.kept_logistics = job.kept_logistics
    tell_skipped(player, job.skipped)
    add_overflow(player, rec, job.overflow)
    rec.apply_cursor = job.cursor
    rec.synced_by = "data"
    finish(ctx, player, rec, now)
  elseif s == "merging" then
    add_overflow(player, rec, job.overflow)
    if rec.temp and rec.temp.valid then rec.temp.destroy() end
    rec.temp = nil
    if job.moved > 0 then player.print(format("Merged %d stack(s) of your temporary inventory into your inventory.", job.moved)) end
    finish(ctx, player, rec, now)
  elseif s == "saving" then
    local u = S.next_upload
    S.next_upload = u + 1
    local generation = rec.generation + 1
    -- the epoch of the grant this player was played under (0 if this save predates epochs:
    -- the host then refuses the upload and keeps its data as a conflict)
    local epoch = rec.epoch or 0
    rec.upload = {
      id = u, generation = generation, crc = job.crc, len = #job.text, exports = job.exports, tries = 0,
      delta_worth = player_data.delta_worth(job),
      wait = ctx.cfg.upload_retry_ticks, next_at = now,
      payload = format('{"type":"upload","player":%s,"generation":%d,"upload":%d,"epoch":%d,%s"data":',
        quote(rec.name), generation, u, epoch, rec.recovered and '"recovered":true,' or "") .. job.text .. "}",
    }
    send_upload(ctx, rec, now)
    if rec.rejoin and player.connected then
      rec.rejoin = nil
      rec.state = "waiting"
      rec.deadline = now + ctx.cfg.acquire_timeout
      refresh(player, rec, now)
    else
      rec.state = "idle"
    end
  end
end

local function step_job(S, ctx, player, rec, now, budget)
  local s, job = rec.state, rec.job
  local done, err, spent
  if s == "reading" or s == "acquiring" or s == "downloading" or s == "verifying" or s == "saving" then
    done, err, spent = player_data.read_step(job, budget)
  elseif s == "applying" then
    done, err, spent = player_data.write_step(job, budget)
  else
    done, err, spent = player_data.move_step(job, budget)
  end
  if err then
    ctx.log(format("invsync: player %s: %s", rec.name, err))
    rec.job = nil
    local gone = not (rec.character and rec.character.valid)
    if s == "saving" then
      rec.state = "idle"
    elseif rec.delta and (s == "applying" or s == "verifying") then
      ask_whole(S, ctx, player, rec, err, now)
    elseif s == "applying" and gone and job.data then
      -- the character kept aside died while it was written: write the data into a new one
      start_apply(ctx, player, rec, job.data, now)
    elseif (s == "reading" or s == "acquiring" or s == "downloading") and gone then
      -- nothing local to keep: the stored data is needed (asked again once the answer to
      -- the claim comes, or now if it came)
      rec.character = nil
      rec.check = "changed"
      if s == "reading" then
        if rec.delta then apply_delta(S, ctx, player, rec, now) else keep_local(S, ctx, player, rec, now) end
      end
    else
      send_release(ctx, rec)
      fail(player, rec, "Your inventory could not be " .. (s == "applying" and "written" or "read") .. ": " .. err)
    end
  elseif done then
    job_done(S, ctx, player, rec, now)
  end
  return spent or budget
end

--- Runs the jobs of records `list` with `left` units, one job per call, taking turns (the
--- turn kept in `S[turn]`); another while budget is left (a job finishing early). Returns the
--- units left.
local function take_turns(S, ctx, list, turn, now, left)
  local tries = #list
  while left > 0 and tries > 0 do
    S[turn] = (S[turn] or 0) % #list + 1
    local rec = list[S[turn]]
    if rec.job and JOB_STATES[rec.state] then
      left = left - step_job(S, ctx, game.get_player(rec.index), rec, now, left)
    end
    tries = tries - 1
  end
  return left
end

--- The sync's work of one tick: players found offline, timeouts, retries, progress, and the
--- inventory jobs (reading, writing, merging) within `budget` units, records taking turns.
--- Returns the units spent.
---@param S table
---@param ctx table {cfg, send, log, progress = fun(id): state, got, wlen}
---@param now number
---@param budget number
---@return number spent
function sync.tick(S, ctx, now, budget)
  local order = S.order
  -- jobs of players who wait to play first; uploads of those who left with what is left
  local with_job, saving = {}, {}
  for i = 1, #order do
    local rec = S.players[order[i]]
    local player = game.get_player(rec.index)
    if not (player and player.valid) then
      rec.state, rec.job = "idle", nil
    else
      if ONLINE_STATES[rec.state] and not player.connected then
        -- online here but not connected, with no leave event: the server restarted
        sync.leaving(S, ctx, player, now, true)
      end
      local s = rec.state
      if rec.upload and now >= rec.upload.next_at then send_upload(ctx, rec, now) end
      if (s == "acquiring" or s == "waiting") and now >= rec.deadline then
        fail(player, rec, s == "waiting" and "The inventory server has not confirmed your last upload yet."
          or "The inventory server did not answer in time.")
      elseif s == "no_character" and now >= rec.deadline then
        local pending = rec.pending
        rec.pending = nil
        if type(pending) == "table" then start_apply(ctx, player, rec, pending, now) else finish(ctx, player, rec, now) end
      elseif s == "downloading" then
        local d = rec.download
        local state, got = ctx.progress(d.message)
        if state == "done" then
          -- complete and verified; decoding may take a few ticks more
          got = d.bytes
          rec.deadline = now + ctx.cfg.download_timeout
        end
        if got and got > d.got then
          d.got = got
          d.last = now
          rec.deadline = now + ctx.cfg.download_timeout
        end
        if state == "failed" or now >= rec.deadline then
          fail(player, rec, state == "failed" and "Your inventory arrived damaged." or "The download of your inventory stalled.")
        elseif now % GUI_EVERY == 0 then
          refresh(player, rec, now)
        end
      end
      if JOB_STATES[rec.state] and rec.job and rec.state ~= "saving" then with_job[#with_job + 1] = rec end
      if rec.state == "saving" and rec.job then saving[#saving + 1] = rec end
    end
  end
  local left = take_turns(S, ctx, with_job, "turn", now, budget)
  left = take_turns(S, ctx, saving, "save_turn", now, left)
  return budget - left
end

--- The units the leave events spent reading inventories since the last call, to charge to
--- this tick's budget: all of `budget` in the tick of the leave (which has run them already),
--- at most half of it in later ticks, the rest to the next ticks, so that the other half stays
--- for the players who wait to play (a leave that read 4000 stacks in its event held a join up
--- for the dozen ticks its debt took to pay; it now takes twice as long).
---@param S table
---@param budget number
---@param now number the tick
---@return number
function sync.take_debt(S, budget, now)
  local d = S.debt or 0
  local cap = S.debt_tick == now and budget or floor(budget / 2)
  if d > cap then d = cap end
  S.debt = (S.debt or 0) - d
  return d
end

--- A record's state, for tests and admin commands: the state name and the record.
---@param S table
---@param index number
---@return string|nil
---@return table|nil
function sync.state_of(S, index)
  local rec = S.players[index]
  return rec and rec.state, rec
end

return sync
