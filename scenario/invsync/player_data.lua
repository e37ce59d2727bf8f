--- A character's data as the JSON of docs/PLAYER_DATA.md: reading it out of the game and
--- writing it back, both as budgeted jobs.
---
--- Factorio-facing (LuaPlayer, LuaEntity, LuaItemStack, `prototypes`), but the jobs are plain
--- data kept in `storage` (API objects in them are references the game saves), so a job
--- survives a save and runs the same on every peer.
---
--- * `reader(...)` + `read_step(job, budget)`: visits every slot of the character's main,
---   guns, ammo, armor and trash inventories (with the equipment grids of armor, and the slot
---   filters of an inventory that has any), a budget at a
---   time, keeping each stack as a plain table; then writes the JSON text piece by piece, in
---   format 2 (equal stacks in consecutive slots merged into one entry with a run, plain stacks
---   as arrays; the order of keys is fixed, so two servers write the same bytes); then
---   checksums it (the fingerprint that tells "unchanged" at the next join). `capture(job)`
---   does the visiting at once, for a leaving player whose character the game hides after
---   the event. The crafting queue is read when the job is made: cancelled into the inventory
---   (room made), recorded with the items it held, and queued again (`take_crafting`).
--- * `writer(...)` + `write_step(job, budget)`: reads format 1 or 2; format 2's stacks are first
---   checked whole against the bounds of PLAYER_DATA.md, a budget at a time and before any run
---   is expanded, and a malformed payload is refused before anything is written. Then it
---   clears the character, sets colours and
---   bonuses, then places the stacks, a budget at a time: armor first (it adds main slots),
---   each inventory's slot filters before its stacks, each stack into its own slot only if that
---   slot is empty. Items the game does not know (a
---   removed mod), unknown qualities and export strings `import_stack` refuses are skipped
---   and listed in `job.skipped`; stacks that do not fit (an inventory that shrank, a slot of
---   the wrong kind) and equipment a grid refuses wait until every slot is written, then go
---   anywhere else in the character, and what still does not fit is kept in `job.overflow`
---   for the player to collect later. Nothing is destroyed or overwritten. Then the
---   crafting queue is queued again from its ingredients (`give_crafting`).
---
--- Work units (one unit: about one byte checksummed; its time is measured in scenario/README.md,
--- "Budgets"): visiting a slot costs SLOT_COST,
--- reading or writing a stack STACK_COST plus one unit per EXPORT_BYTES of its export string
--- (a run of format 2 expands as it is written: each of its stacks is charged), writing an
--- entry's JSON JSON_COST and MERGE_COST per stack it merges, checking a format-2 entry
--- ENTRY_COST, and checksumming CRC_BYTES bytes one unit. The API-call costs are estimates (see
--- scenario/README.md, "Budgets").

local json = require("invsync.json")
local crc32 = require("invsync.crc32")
local blueprint = require("invsync.blueprint")

local format, concat, floor, pcall, type = string.format, table.concat, math.floor, pcall, type
local byte, find, sub = string.byte, string.find, string.sub
local quote, number = json.quote, json.number

local player_data = {}

--- The format version written (PLAYER_DATA.md: format 2, dense stacks).
player_data.FORMAT = 2

--- Units for visiting a slot (two API calls: the slot, `valid_for_read`).
player_data.SLOT_COST = 8
--- Units for reading or writing a stack (about eight API calls and its JSON).
player_data.STACK_COST = 64
--- Units for writing each later slot of a format-2 run whose first stack was placed: the
--- checked definition again (no check, no prototype look-up), three API calls (the slot,
--- `valid_for_read`, `set_stack`).
player_data.RUN_STACK_COST = 24
--- Bytes of an export string per unit (export_stack deflates natively, import_stack
--- inflates and parses).
player_data.EXPORT_BYTES = 2
--- Units for writing a captured stack's JSON.
player_data.JSON_COST = 16
--- Bytes of an export string per unit when quoting it into the JSON.
player_data.EXPORT_JSON_BYTES = 8
--- Bytes checksummed per unit.
player_data.CRC_BYTES = 1

--- The inventories of the JSON, in the order written, with their `defines.inventory` names.
player_data.INVENTORIES = {
  { key = "main", define = "character_main" },
  { key = "guns", define = "character_guns" },
  { key = "ammo", define = "character_ammo" },
  { key = "armor", define = "character_armor" },
  { key = "trash", define = "character_trash" },
}

--- The order the writer fills them: armor first, because a worn armor adds main slots
--- (indices into INVENTORIES).
player_data.WRITE_ORDER = { 4, 2, 3, 1, 5 }

--- Item types whose contents travel as `export_stack` strings.
local EXPORTED = { ["blueprint"] = true, ["blueprint-book"] = true, ["deconstruction-item"] = true, ["upgrade-item"] = true }

--- Item types with a label, its colour and lock of their own (`ItemWithLabel`; blueprints and
--- planners carry theirs in the export string).
local LABELLED = { ["item-with-label"] = true, ["item-with-tags"] = true, ["item-with-inventory"] = true }

--- What `read_fields` reads beyond the common fields, by item type.
local SPECIAL = { ["tool"] = "tool", ["repair-tool"] = "tool", ["ammo"] = "ammo", ["armor"] = "armor" }
for kind in pairs(EXPORTED) do SPECIAL[kind] = "export" end
for kind in pairs(LABELLED) do SPECIAL[kind] = "data" end

--- Levels of items with an inventory inside one another that are read and written (the
--- top-level stack is level 1); deeper contents are not read.
player_data.MAX_NESTING = 3

--- Deepest table nesting inside `tags` and `custom_description` written as JSON.
local MAX_VALUE_DEPTH = 32

--- Any Lua value of tags (string, boolean, number, table) as JSON: object keys sorted (so two
--- servers write the same bytes), a table with the keys 1..n (n > 0) as a list, others as an
--- object whose keys are strings; what cannot be JSON (or is nested too deep) is `null`.
local function value_json(v, depth)
  local t = type(v)
  if t == "string" then return quote(v) end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    return number(v)
  end
  if t == "boolean" then return v and "true" or "false" end
  if t ~= "table" or depth > MAX_VALUE_DEPTH then return "null" end
  local keys, n = {}, #v
  for k in pairs(v) do keys[#keys + 1] = k end
  if n > 0 and #keys == n then
    local out = {}
    for i = 1, n do out[i] = value_json(v[i], depth + 1) end
    return "[" .. concat(out, ",") .. "]"
  end
  local named = {}
  for i = 1, #keys do named[i] = { tostring(keys[i]), keys[i] } end
  table.sort(named, function(a, b) return a[1] < b[1] end)
  local out = {}
  for i = 1, #named do out[i] = quote(named[i][1]) .. ":" .. value_json(v[named[i][2]], depth + 1) end
  return "{" .. concat(out, ",") .. "}"
end

--- `object[key]` under pcall: the value, or nil when the game raises.
local function try_get(object, key)
  local ok, v = pcall(function() return object[key] end)
  if ok then return v end
  return nil
end

local function inventory_of(character, define)
  return character.get_inventory(defines.inventory[define])
end

-- Slot filters -------------------------------------------------------------------------

--- Whether `inv` holds any slot filter (false for inventories without filters).
local function is_filtered(inv)
  local ok, yes = pcall(function() return inv.supports_filters() and inv.is_filtered() end)
  return ok and yes == true
end

--- The filter of slot `slot` as `{slot, name, quality?}`, or nil.
local function read_filter(inv, slot)
  local ok, f = pcall(inv.get_filter, slot)
  if not ok or type(f) ~= "table" or type(f.name) ~= "string" then return nil end
  local quality = f.quality
  if type(quality) ~= "string" then quality = quality and quality.name or nil end
  return { slot = slot, name = f.name, quality = quality ~= "normal" and quality or nil }
end

--- The JSON of the captured filters (`job.filters`, by inventory index) as a
--- `,"filters":{...}` member, or "" when no slot is filtered; and the filters written.
local function filters_json(filters)
  local parts, n = {}, 0
  local invs = player_data.INVENTORIES
  for i = 1, #invs do
    local list = filters[i]
    if list and #list > 0 then
      n = n + #list
      local items = {}
      for k = 1, #list do
        local f = list[k]
        items[k] = format('{"slot":%d,"name":%s%s}', f.slot, quote(f.name),
          f.quality and (',"quality":' .. quote(f.quality)) or "")
      end
      parts[#parts + 1] = quote(invs[i].key) .. ":[" .. concat(items, ",") .. "]"
    end
  end
  if #parts == 0 then return "", 0 end
  return ',"filters":{' .. concat(parts, ",") .. "}", n
end

--- The filters a payload gives inventory `key` (of `size` slots), by slot: entries that are
--- not `{slot, name, quality?}` with a slot of the inventory are left out.
local function wanted_filters(data, key, size)
  local out = {}
  local all = type(data.filters) == "table" and data.filters[key]
  if type(all) ~= "table" then return out end
  for i = 1, math.min(#all, size) do
    local f = all[i]
    if type(f) == "table" and type(f.slot) == "number" and f.slot >= 1 and f.slot <= size
      and f.slot == floor(f.slot) and type(f.name) == "string"
      and (f.quality == nil or type(f.quality) == "string") then
      out[f.slot] = { name = f.name, quality = f.quality or "normal" }
    end
  end
  return out
end

-- Stacks -------------------------------------------------------------------------------

--- The stack's fields as a plain table (`name`, `count` and whichever of `quality`, `health`,
--- `durability`, `ammo`, `export` differ from a fresh stack), or nil for an empty stack.
---@param st LuaItemStack
---@return table|nil
function player_data.read_stack(st)
  if not st.valid_for_read then return nil end
  return player_data.read_fields(st)
end

--- `read_stack` of a stack known to hold something; and the units its contents cost (an
--- item with an inventory), beyond the stack's own.
---@param st LuaItemStack
---@param depth number|nil nesting level (1 when absent)
---@param known table|nil the export this slot was uploaded with (`job.exports` of that upload)
---@return table
---@return number
function player_data.read_fields(st, depth, known)
  local e = { name = st.name, count = st.count }
  local quality = st.quality.name
  if quality ~= "normal" then e.quality = quality end
  local health = st.health
  if health < 1 then e.health = health end
  local spoiled = st.spoil_percent
  if spoiled > 0 then e.spoil_percent = spoiled end
  local kind = st.type
  -- one look-up for the plain items (most stacks): a leaving player's slots are all read in one tick
  local how = SPECIAL[kind]
  if not how then return e, 0 end
  if how == "tool" then
    local d = st.durability
    if d < st.prototype.get_durability(quality) then e.durability = d end
  elseif how == "ammo" then
    local a = st.ammo
    if a < st.prototype.magazine_size then e.ammo = a end
  elseif how == "export" then
    -- a blueprint-like stack this module uploaded from this slot (same name, quality and count)
    -- is not exported again: its export is referred to ("Export references" below)
    if known and known.name == e.name and known.quality == e.quality and known.count == e.count then
      e.export, e.known = known.ref, known
    else
      e.export = st.export_stack()
    end
  elseif how == "armor" then
    e.grid = player_data.read_grid(st.grid)
  else
    return e, player_data.read_item_data(st, e, kind, depth or 1)
  end
  return e, 0
end

--- Reads into `e.more` what an item with a label, with tags or with an inventory carries
--- (every read under pcall; `more` is left out when there is nothing). Returns the units the
--- contents cost.
---@param st LuaItemStack
---@param stack table
---@param kind string
---@param depth number
---@return number
function player_data.read_item_data(st, stack, kind, depth)
  local e = {}
  local cost = player_data.read_more(st, e, kind, depth)
  if next(e) ~= nil then stack.more = e end
  return cost
end

--- `read_item_data` into the table `e` itself.
function player_data.read_more(st, e, kind, depth)
  local label = try_get(st, "label")
  if type(label) == "string" then e.label = label end
  local c = try_get(st, "label_color")
  if type(c) == "table" and type(c.r) == "number" and type(c.g) == "number" and type(c.b) == "number" then
    e.label_color = { r = c.r, g = c.g, b = c.b, a = type(c.a) == "number" and c.a or 1 }
  end
  if try_get(st, "allow_manual_label_change") == false then e.allow_manual_label_change = false end
  if kind == "item-with-tags" then
    local tags = try_get(st, "tags")
    if type(tags) == "table" and next(tags) ~= nil then e.tags = tags end
    local d = try_get(st, "custom_description")
    if (type(d) == "string" and d ~= "") or type(d) == "table" then e.custom_description = d end
  end
  if kind ~= "item-with-inventory" or depth >= player_data.MAX_NESTING then return 0 end
  local ok, inv = pcall(st.get_inventory, defines.inventory.item_main)
  if not ok or not inv then return 0 end
  local list, cost = {}, 0
  for i = 1, #inv do
    local s = inv[i]
    cost = cost + player_data.SLOT_COST
    if s.valid_for_read then
      local x, more = player_data.read_fields(s, depth + 1)
      x.slot = i
      list[#list + 1] = x
      cost = cost + player_data.STACK_COST + more
    end
  end
  if #list > 0 then e.inventory = list end
  return cost
end

--- The equipment of a grid as a list of `{name, x, y, quality?, energy?, shield?}` sorted by
--- position (row, then column), or nil for no grid or an empty one.
---@param grid LuaEquipmentGrid|nil
---@return table|nil
function player_data.read_grid(grid)
  if not grid then return nil end
  local list = {}
  local equipment = grid.equipment
  for i = 1, #equipment do
    local q = equipment[i]
    local pos = q.position
    local e = { name = q.name, x = pos.x, y = pos.y }
    local quality = q.quality.name
    if quality ~= "normal" then e.quality = quality end
    local energy, shield = q.energy, q.shield
    if energy > 0 then e.energy = energy end
    if shield > 0 then e.shield = shield end
    list[i] = e
  end
  if #list == 0 then return nil end
  table.sort(list, function(a, b) return a.y < b.y or (a.y == b.y and a.x < b.x) end)
  return list
end

local function grid_json(grid)
  local parts = {}
  for i = 1, #grid do
    local q = grid[i]
    local p = { format('{"name":%s,"x":%d,"y":%d', quote(q.name), q.x, q.y) }
    if q.quality then p[#p + 1] = ',"quality":' .. quote(q.quality) end
    if q.energy then p[#p + 1] = ',"energy":' .. number(q.energy) end
    if q.shield then p[#p + 1] = ',"shield":' .. number(q.shield) end
    p[#p + 1] = "}"
    parts[i] = concat(p)
  end
  return "[" .. concat(parts, ",") .. "]"
end

--- Whether stack table `e` is plain (a name, a count and at most a quality): format 2 writes
--- it as an array.
local function is_plain(e)
  return not (e.health or e.durability or e.ammo or e.spoil_percent or e.export or e.export_json or e.grid or e.more)
end

local list_json

--- The format-2 JSON of stack table `e` (PLAYER_DATA.md): `[slot, name, count, run?, quality?]`
--- for a plain stack, else an object with the short keys in their fixed order. `slot` is nil
--- for a slotless stack (0 in an array, no `s` in an object), `run` nil for a run of 1.
---@param e table
---@param slot number|nil
---@param run number|nil
---@return string
function player_data.stack_json(e, slot, run)
  if is_plain(e) then
    local head = format("[%d,%s,%d", slot or 0, quote(e.name), e.count)
    if e.quality then return format("%s,%d,%s]", head, run or 1, quote(e.quality)) end
    if run then return format("%s,%d]", head, run) end
    return head .. "]"
  end
  local parts = { "{" }
  if slot then parts[#parts + 1] = format('"s":%d,', slot) end
  if run then parts[#parts + 1] = format('"r":%d,', run) end
  parts[#parts + 1] = format('"n":%s,"c":%d', quote(e.name), e.count)
  if e.quality then parts[#parts + 1] = ',"q":' .. quote(e.quality) end
  if e.health then parts[#parts + 1] = ',"h":' .. number(e.health) end
  if e.durability then parts[#parts + 1] = ',"d":' .. number(e.durability) end
  if e.ammo then parts[#parts + 1] = ',"a":' .. number(e.ammo) end
  if e.spoil_percent then parts[#parts + 1] = ',"p":' .. number(e.spoil_percent) end
  local x = e.export
  if x then parts[#parts + 1] = ',"x":' .. (byte(x, 1) == 1 and ('"' .. x .. '"') or quote(x)) end
  -- JSON the game could not rebuild into an export (PROTOCOL.md 4.1) is carried on as it came
  if e.export_json then parts[#parts + 1] = ',"xj":' .. quote(e.export_json) end
  if e.grid then parts[#parts + 1] = ',"g":' .. grid_json(e.grid) end
  -- the rare fields are kept in `more`, so that a plain stack costs one look-up for them all
  local m = e.more
  if m then
    if m.label then parts[#parts + 1] = ',"l":' .. quote(m.label) end
    local c = m.label_color
    if c then
      parts[#parts + 1] = format(',"lc":{"r":%s,"g":%s,"b":%s,"a":%s}', number(c.r), number(c.g),
        number(c.b), number(c.a))
    end
    if m.allow_manual_label_change == false then parts[#parts + 1] = ',"lm":false' end
    if m.tags then parts[#parts + 1] = ',"t":' .. value_json(m.tags, 1) end
    if m.custom_description then parts[#parts + 1] = ',"cd":' .. value_json(m.custom_description, 1) end
    if m.inventory then parts[#parts + 1] = ',"i":[' .. list_json(m.inventory) .. "]" end
  end
  parts[#parts + 1] = "}"
  return concat(parts)
end

--- Units for comparing a plain stack with the entry before it (a few field look-ups).
player_data.MERGE_COST = 8

--- The format-2 entry that starts at `list[k]` (stack tables with slots, in increasing slot
--- order): the stacks equal to it in the slots right after it are merged into its run.
--- `body` is the slotless JSON of `list[k]` when a previous call made it (an object stack).
--- Returns the entry's JSON, the index after the run, the units spent, and the slotless
--- JSON of the stack at that index when it was made (for the next call).
---@param list table
---@param k number
---@param body string|nil
---@return string
---@return number
---@return number
---@return string|nil
function player_data.entry_json(list, k, body)
  local e, n = list[k], #list
  local slot, j = e.slot, k + 1
  if is_plain(e) then
    local name, count, quality = e.name, e.count, e.quality
    while j <= n do
      local f = list[j]
      if f.slot ~= slot + j - k or f.name ~= name or f.count ~= count or f.quality ~= quality or not is_plain(f) then
        break
      end
      j = j + 1
    end
    local run = j - k
    return player_data.stack_json(e, slot, run > 1 and run or nil), j,
      player_data.JSON_COST + (j - k) * player_data.MERGE_COST, nil
  end
  -- an object stack: equal when its JSON is (tags are written with sorted keys)
  body = body or player_data.stack_json(e)
  local spent, next_body = player_data.JSON_COST + floor(#body / player_data.EXPORT_JSON_BYTES), nil
  while j <= n do
    local f = list[j]
    if f.slot ~= slot + j - k or is_plain(f) then break end
    local other = player_data.stack_json(f)
    spent = spent + player_data.JSON_COST + floor(#other / player_data.EXPORT_JSON_BYTES)
    if other ~= body then
      next_body = other
      break
    end
    j = j + 1
  end
  local run = j - k
  local text = format(run > 1 and '{"s":%d,"r":%d,' or '{"s":%d,', slot, run) .. body:sub(2)
  return text, j, spent, next_body
end

--- The format-2 JSON of a list of stack tables (without its brackets): with their slots and
--- runs merged, or slotless (`slotted` false: the crafting ingredients, `unplaced`).
---@param list table
---@param slotted boolean|nil
---@return string
function list_json(list, slotted)
  local out, k, body = {}, 1, nil
  if slotted == false then
    for i = 1, #list do out[i] = player_data.stack_json(list[i]) end
    return concat(out, ",")
  end
  while k <= #list do
    local text, _
    text, k, _, body = player_data.entry_json(list, k, body)
    out[#out + 1] = text
  end
  return concat(out, ",")
end
player_data.list_json = list_json

--- The number members of a stack that `check_stack` checks alike.
local NUMBER_FIELDS = { "health", "durability", "ammo" }

--- Checks a stack table from a payload; returns it normalised (a new table) or nil and why.
---@param e any
---@param where string
---@param depth number|nil nesting level of an item inside an item with an inventory (1: none)
---@return table|nil
---@return string|nil
function player_data.check_stack(e, where, depth)
  if type(e) ~= "table" then return nil, where .. ": expected a stack object" end
  local name, count = e.name, e.count
  if type(name) ~= "string" or name == "" then return nil, where .. ": expected a non-empty 'name'" end
  if type(count) ~= "number" or count < 1 or count ~= floor(count) then
    return nil, where .. " (" .. name .. "): expected a whole 'count' >= 1"
  end
  local out = { name = name, count = count }
  if e.slot ~= nil then
    if type(e.slot) ~= "number" or e.slot < 1 or e.slot ~= floor(e.slot) then
      return nil, where .. " (" .. name .. "): expected a whole 'slot' >= 1"
    end
    out.slot = e.slot
  end
  if e.quality ~= nil then
    if type(e.quality) ~= "string" then return nil, where .. " (" .. name .. "): 'quality' must be a string" end
    if e.quality ~= "normal" then out.quality = e.quality end
  end
  for i = 1, #NUMBER_FIELDS do
    local field = NUMBER_FIELDS[i]
    local v = e[field]
    if v ~= nil then
      if type(v) ~= "number" or v ~= v then return nil, where .. " (" .. name .. "): '" .. field .. "' must be a number" end
      out[field] = v
    end
  end
  local spoiled = e.spoil_percent
  if spoiled ~= nil then
    if type(spoiled) ~= "number" or not (spoiled >= 0 and spoiled <= 1) then
      return nil, where .. " (" .. name .. "): 'spoil_percent' must be a number in [0, 1]"
    end
    if spoiled > 0 then out.spoil_percent = spoiled end
  end
  if e.export ~= nil then
    if type(e.export) ~= "string" then return nil, where .. " (" .. name .. "): 'export' must be a string" end
    out.export = e.export
  end
  if e.export_json ~= nil then
    -- format 2's `xj` (host -> game): carried for the blueprint import of issue 16 part 3
    if type(e.export_json) ~= "string" then return nil, where .. " (" .. name .. "): 'xj' must be a string" end
    out.export_json = e.export_json
  end
  if e.grid ~= nil then
    if type(e.grid) ~= "table" then return nil, where .. " (" .. name .. "): 'grid' must be a list" end
    local grid = {}
    for i = 1, #e.grid do
      local q = e.grid[i]
      if type(q) ~= "table" or type(q.name) ~= "string" or type(q.x) ~= "number" or type(q.y) ~= "number"
        or (q.quality ~= nil and type(q.quality) ~= "string") or (q.energy ~= nil and type(q.energy) ~= "number")
        or (q.shield ~= nil and type(q.shield) ~= "number") then
        return nil, where .. " (" .. name .. "): grid[" .. i .. "] must be {name, x, y, quality?, energy?, shield?}"
      end
      grid[i] = { name = q.name, x = q.x, y = q.y, quality = q.quality ~= "normal" and q.quality or nil,
        energy = q.energy, shield = q.shield }
    end
    if #grid > 0 then out.grid = grid end
  end
  -- a payload has them as members of the stack, a stack table of this module in `more`
  local src = e.more
  if src == nil and (e.label ~= nil or e.tags ~= nil or e.inventory ~= nil or e.label_color ~= nil
      or e.custom_description ~= nil or e.allow_manual_label_change ~= nil) then
    src = e
  end
  if src == nil then return out end
  if type(src) ~= "table" then return nil, where .. " (" .. name .. "): 'more' must be an object" end
  local more, err = player_data.check_item_data(src, {}, where .. " (" .. name .. ")", depth or 1)
  if not more then return nil, err end
  if next(more) ~= nil then out.more = more end
  return out
end

--- The label, tags and inventory fields of `e` checked into `out`; returns `out`, or nil and
--- why.
function player_data.check_item_data(e, out, where, depth)
  if e.label ~= nil then
    if type(e.label) ~= "string" then return nil, where .. ": 'label' must be a string" end
    out.label = e.label
  end
  local c = e.label_color
  if c ~= nil then
    if type(c) ~= "table" or type(c.r) ~= "number" or type(c.g) ~= "number" or type(c.b) ~= "number"
      or (c.a ~= nil and type(c.a) ~= "number") then
      return nil, where .. ": 'label_color' must be {r, g, b, a?}"
    end
    out.label_color = { r = c.r, g = c.g, b = c.b, a = c.a or 1 }
  end
  if e.allow_manual_label_change ~= nil then
    if type(e.allow_manual_label_change) ~= "boolean" then
      return nil, where .. ": 'allow_manual_label_change' must be a boolean"
    end
    if not e.allow_manual_label_change then out.allow_manual_label_change = false end
  end
  if e.tags ~= nil then
    if type(e.tags) ~= "table" then return nil, where .. ": 'tags' must be an object" end
    if next(e.tags) ~= nil then out.tags = e.tags end
  end
  local d = e.custom_description
  if d ~= nil then
    if type(d) ~= "string" and type(d) ~= "table" then
      return nil, where .. ": 'custom_description' must be a string or a list"
    end
    if d ~= "" then out.custom_description = d end
  end
  if e.inventory ~= nil then
    if type(e.inventory) ~= "table" then return nil, where .. ": 'inventory' must be a list" end
    if depth >= player_data.MAX_NESTING and #e.inventory > 0 then
      return nil, where .. ": items with an inventory nested deeper than " .. player_data.MAX_NESTING .. " levels"
    end
    local list = {}
    for i = 1, #e.inventory do
      local x, err = player_data.check_stack(e.inventory[i], where .. ".inventory[" .. i .. "]", depth + 1)
      if not x then return nil, err end
      if not x.slot then return nil, where .. ".inventory[" .. i .. "]: expected a 'slot'" end
      list[i] = x
    end
    if #list > 0 then out.inventory = list end
  end
  return out
end

--- Stacks inside stack table `e` (its inventory's, at every level): each costs a stack's units.
local function nested_count(e)
  local n = 0
  local inner = e.more and e.more.inventory
  if inner then
    for i = 1, #inner do n = n + 1 + nested_count(inner[i]) end
  end
  return n
end

--- Whether stack table `e` carries more than `insert` can give a stack (it needs a slot of its
--- own, written with `write_stack`).
local function carries_data(e)
  return e.export or e.export_json or e.grid or e.more
end

--- Why the game cannot hold this stack at all (unknown item or quality), or nil.
---@param e table
---@return string|nil
function player_data.unknown_reason(e)
  if not prototypes.item[e.name] then return "the item " .. e.name .. " does not exist in this game" end
  if e.quality and not prototypes.quality[e.quality] then
    return "the quality " .. e.quality .. " does not exist in this game"
  end
  return nil
end

--- Puts the equipment list `grid` into the grid of the armor in `st`. Returns the equipment
--- that could not be placed, as stack tables of their items (nil when all was placed).
---@param st LuaItemStack
---@param grid table
---@return table|nil
local function write_grid(st, grid)
  local made, g = pcall(st.create_grid)
  local unplaced = nil
  for i = 1, #grid do
    local q = grid[i]
    local ok, placed = false, nil
    if made then
      ok, placed = pcall(g.put, { name = q.name, position = { x = q.x, y = q.y }, quality = q.quality or "normal" })
    end
    if ok and placed then
      if q.energy then pcall(function() placed.energy = q.energy end) end
      if q.shield then pcall(function() placed.shield = q.shield end) end
    else
      unplaced = unplaced or {}
      unplaced[#unplaced + 1] = { name = q.name, count = 1, quality = q.quality }
    end
  end
  return unplaced
end

--- The `ItemStackDefinition` of stack table `e` for `set_stack` (an export is imported after).
---@param e table
---@return table
function player_data.definition(e)
  return {
    name = e.name, count = e.export and 1 or e.count, quality = e.quality or "normal",
    health = e.health, durability = e.durability, ammo = e.ammo, spoil_percent = e.spoil_percent,
  }
end

--- Writes stack table `e` into the LuaItemStack `st` (which is replaced). Returns true (and
--- the equipment its grid refused, as stack tables, if any), or false and "refused" (the slot
--- does not take it) or "import" (import_stack refused the export string; the slot is left
--- empty).
---@param st LuaItemStack
---@param e table
---@return boolean
---@return string|table|nil
function player_data.write_stack(st, e)
  -- an export the host sent as its JSON (`xj`, PROTOCOL.md 4.1) is rebuilt natively first
  if e.export_json and not blueprint.rebuild(e, helpers.encode_string) then return false, "import" end
  local ok, placed = pcall(st.set_stack, player_data.definition(e))
  if not ok or not placed then return false, "refused" end
  if e.export then
    local done, code = pcall(st.import_stack, e.export)
    if not done or code == 1 then
      st.clear()
      return false, "import"
    end
  end
  if e.grid then return true, write_grid(st, e.grid) end
  if e.more then return true, player_data.write_item_data(st, e.more) end
  return true
end

--- Writes the label, tags and inventory `e` (a stack table's `more`) into the stack `st`
--- (which holds its item). Returns the stacks of its inventory that found no place in it (without their
--- slot), or nil. Raises nothing.
---@param st LuaItemStack
---@param e table
---@return table|nil
function player_data.write_item_data(st, e)
  local function put(key, v)
    if v ~= nil then pcall(function() st[key] = v end) end
  end
  put("tags", e.tags)
  put("custom_description", e.custom_description)
  put("label", e.label)
  put("label_color", e.label_color)
  if e.allow_manual_label_change == false then put("allow_manual_label_change", false) end
  local list = e.inventory
  if not list then return nil end
  local ok, inv = pcall(st.get_inventory, defines.inventory.item_main)
  if not ok then inv = nil end
  local rest = nil
  local function miss(x)
    rest = rest or {}
    x.slot = nil
    rest[#rest + 1] = x
  end
  for i = 1, #list do
    local x = list[i]
    if inv and x.slot <= #inv and not inv[x.slot].valid_for_read then
      local placed, more = player_data.write_stack(inv[x.slot], x)
      if not placed then
        miss(x)
      elseif type(more) == "table" then
        for k = 1, #more do miss(more[k]) end
      end
    else
      miss(x)
    end
  end
  return rest
end

--- Puts stack table `e` anywhere in `character` (plain stacks through `insert`, exported ones
--- and armor with a grid into an empty main slot). Returns the count that did not fit (0 when
--- all did), and `"import"` when that is because the game refused the export string (no
--- room would help); equipment a grid refused is appended to `rest` as stack tables.
---@param character LuaEntity
---@param e table
---@param rest table|nil
---@return number
---@return string|nil
function player_data.insert_anywhere(character, e, rest)
  if carries_data(e) then
    local main = inventory_of(character, "character_main")
    for i = 1, #main do
      local st = main[i]
      if not st.valid_for_read then
        local ok, unplaced = player_data.write_stack(st, e)
        if ok and type(unplaced) == "table" then
          for k = 1, #unplaced do
            local u = unplaced[k]
            local left = player_data.insert_anywhere(character, u)
            if left > 0 and rest then
              u.count = left
              rest[#rest + 1] = u
            end
          end
        end
        if ok then return 0 end
        return e.count, unplaced == "import" and "import" or nil
      end
    end
    return e.count
  end
  local ok, n = pcall(character.insert, {
    name = e.name, count = e.count, quality = e.quality or "normal",
    health = e.health, durability = e.durability, ammo = e.ammo, spoil_percent = e.spoil_percent,
  })
  if not ok then return e.count end
  return e.count - n
end

-- The crafting queue -------------------------------------------------------------------

--- Main slots added while the queue is cancelled or recreated, so that the ingredients it
--- returns always fit (Clusterio adds as many).
player_data.CRAFT_ROOM = 1000

local function safe_get(object, key)
  local ok, v = pcall(function() return object[key] end)
  if ok then return v end
  return nil
end

--- Moves the stacks of main slots past `base` into slots 1..`base` (merging into stacks of
--- the same item first), so that lowering the bonus back spills nothing. Returns the stacks
--- that found no room, as stack tables (taken out of the inventory).
local function pack_into(main, base)
  local rest = {}
  for i = base + 1, #main do
    local st = main[i]
    if st.valid_for_read then
      local plain = st.health == 1 and not EXPORTED[st.type] and st.type ~= "armor"
      if plain then
        local limit = st.prototype.stack_size
        for j = 1, base do
          local to = main[j]
          if to.valid_for_read and to.name == st.name and to.quality.name == st.quality.name and to.health == 1
            and to.count < limit then
            local n = math.min(limit - to.count, st.count)
            to.count = to.count + n
            if n == st.count then st.clear() break end
            st.count = st.count - n
          end
        end
      end
      if st.valid_for_read then
        for j = 1, base do
          if not main[j].valid_for_read then
            main[j].swap_stack(st)
            break
          end
        end
      end
      if st.valid_for_read then
        rest[#rest + 1] = player_data.read_fields(st)
        st.clear()
      end
    end
  end
  return rest
end

--- Runs `fn(main)` with CRAFT_ROOM more main slots, then packs what landed past the old end
--- back into the inventory and restores the bonus. Returns the stacks that found no room.
local function with_room(character, fn)
  local bonus = character.character_inventory_slots_bonus
  local main = inventory_of(character, "character_main")
  local base = #main
  character.character_inventory_slots_bonus = bonus + player_data.CRAFT_ROOM
  main = inventory_of(character, "character_main")
  local ok, err = pcall(fn, main)
  local rest = pack_into(main, base)
  character.character_inventory_slots_bonus = bonus
  if not ok then rest.error = err end
  return rest
end

--- The item counts of `contents` (`get_contents()`) by "name/quality".
local function count_map(contents)
  local m = {}
  for i = 1, #contents do
    local c = contents[i]
    local key = c.name .. "/" .. (c.quality or "normal")
    m[key] = (m[key] or 0) + c.count
  end
  return m
end

--- Queues `queue` (a list of `{recipe, count}`) on `character`, as `begin_crafting` allows.
local function begin_queue(character, queue)
  for i = 1, #queue do
    local q = queue[i]
    pcall(character.begin_crafting, { recipe = q.recipe, count = q.count, silent = true })
  end
end

--- Reads the character's crafting queue without changing what it owns: the queue is
--- cancelled into the main inventory (with room made), recorded, and queued again; the
--- ingredients that queuing again took back are the queue's items. Returns
--- `{queue = {{recipe, count}...}, progress = p?, ingredients = {stack...}}`, or nil for an
--- empty queue; and the stacks the inventory had no room for afterwards (kept out of it).
---@param character LuaEntity
---@return table|nil crafting
---@return table|nil rest
function player_data.take_crafting(character)
  local size = safe_get(character, "crafting_queue_size")
  if type(size) ~= "number" or size == 0 then return nil end
  local listed = character.crafting_queue or {}
  local queue = {}
  for i = 1, #listed do
    local q = listed[i]
    if not q.prerequisite then
      local last = queue[#queue]
      if last and last.recipe == q.recipe then last.count = last.count + q.count
      else queue[#queue + 1] = { recipe = q.recipe, count = q.count } end
    end
  end
  local progress = character.crafting_queue_progress
  local ingredients = {}
  local rest = with_room(character, function(main)
    -- the last entry first: cancelling an entry cancels the prerequisites queued for it
    local guard = 2 * size + 8
    while guard > 0 and character.crafting_queue_size > 0 do
      local q = character.crafting_queue
      local last = q[#q]
      character.cancel_crafting({ index = last.index, count = last.count })
      guard = guard - 1
    end
    local cancelled = main.get_contents()
    begin_queue(character, queue)
    local now = count_map(main.get_contents())
    for i = 1, #cancelled do
      local c = cancelled[i]
      local quality = c.quality or "normal"
      local taken = c.count - (now[c.name .. "/" .. quality] or 0)
      if taken > 0 then
        ingredients[#ingredients + 1] = { name = c.name, count = taken, quality = quality ~= "normal" and quality or nil }
      end
    end
  end)
  if progress and progress > 0 and character.crafting_queue_size > 0 then
    pcall(function() character.crafting_queue_progress = progress end)
  end
  if #queue == 0 and #ingredients == 0 then return nil, rest end
  return { queue = queue, progress = (progress and progress > 0) and progress or nil, ingredients = ingredients }, rest
end

--- The JSON of a crafting table.
---@param c table
---@return string
function player_data.crafting_json(c)
  local q = {}
  for i = 1, #c.queue do
    q[i] = format('{"recipe":%s,"count":%d}', quote(c.queue[i].recipe), c.queue[i].count)
  end
  return format('{"queue":[%s],%s"ingredients":[%s]}', concat(q, ","),
    c.progress and ('"progress":' .. number(c.progress) .. ",") or "", list_json(c.ingredients, false))
end

--- Recreates the crafting queue `c` (from a payload) on `character`: the ingredients go into
--- the main inventory (room made), then the queue is started again. Returns the stacks that
--- found no room (ingredients a recipe of this game did not take, beyond the inventory's
--- room), to keep for the player, and the entries skipped as `{entry, reason}`.
---@param character LuaEntity
---@param c any
---@return table rest
---@return table skipped
function player_data.give_crafting(character, c)
  local skipped = {}
  if type(c) ~= "table" then return {}, skipped end
  local queue = {}
  if type(c.queue) == "table" then
    for i = 1, #c.queue do
      local q = c.queue[i]
      if type(q) == "table" and type(q.recipe) == "string" and type(q.count) == "number" and q.count >= 1 then
        queue[#queue + 1] = { recipe = q.recipe, count = floor(q.count) }
      end
    end
  end
  local ingredients = {}
  if type(c.ingredients) == "table" then
    for i = 1, #c.ingredients do
      local e, err = player_data.check_stack(c.ingredients[i], "crafting.ingredients[" .. i .. "]")
      if not e then
        skipped[#skipped + 1] = { entry = c.ingredients[i], reason = err }
      else
        local why = player_data.unknown_reason(e)
        if why then skipped[#skipped + 1] = { entry = e, reason = why } else ingredients[#ingredients + 1] = e end
      end
    end
  end
  local missed = {}
  local rest = with_room(character, function(main)
    for i = 1, #ingredients do
      local e = ingredients[i]
      local ok, n = pcall(main.insert, { name = e.name, count = e.count, quality = e.quality or "normal" })
      n = ok and n or 0
      if n < e.count then missed[#missed + 1] = { name = e.name, count = e.count - n, quality = e.quality } end
    end
    begin_queue(character, queue)
  end)
  for i = 1, #missed do rest[#rest + 1] = missed[i] end
  local progress = c.progress
  if type(progress) == "number" and progress > 0 and character.crafting_queue_size > 0 then
    pcall(function() character.crafting_queue_progress = progress end)
  end
  return rest, skipped
end

--- Cancels the whole crafting queue of `character` into its main inventory (room made).
--- Returns the stacks that found no room afterwards, taken out of the inventory.
---@param character LuaEntity
---@return table rest
function player_data.cancel_crafting(character)
  local size = safe_get(character, "crafting_queue_size")
  if type(size) ~= "number" or size == 0 then return {} end
  return with_room(character, function()
    local guard = 2 * size + 8
    while guard > 0 and character.crafting_queue_size > 0 do
      local q = character.crafting_queue
      local last = q[#q]
      character.cancel_crafting({ index = last.index, count = last.count })
      guard = guard - 1
    end
  end)
end

-- The player's own settings ------------------------------------------------------------

--- Quick bar slots read and written (10 pages of 10).
player_data.QUICK_BAR_SLOTS = 100

--- `object[key](...)` under pcall (also when `key` is missing): ok, result.
local function call(object, key, ...)
  local ok, f = pcall(function() return object[key] end)
  if not ok then return false, nil end
  return pcall(f, ...)
end

--- The members of PLAYER_DATA that are the player's own settings (`mining_categories`,
--- `flashlight`, `tag`, `quick_bar`), as JSON text with a leading comma each ("" for none).
---@param player LuaPlayer
---@param character LuaEntity
---@return string
function player_data.settings_json(player, character)
  local parts = {}
  local cats = safe_get(character, "character_additional_mining_categories")
  if type(cats) == "table" and #cats > 0 then
    local q = {}
    for i = 1, #cats do q[i] = quote(cats[i]) end
    parts[#parts + 1] = ',"mining_categories":[' .. concat(q, ",") .. "]"
  end
  local ok, lit = call(character, "is_flashlight_enabled")
  if ok and lit == false then parts[#parts + 1] = ',"flashlight":false' end
  local tag = safe_get(player, "tag")
  if type(tag) == "string" and tag ~= "" then parts[#parts + 1] = ',"tag":' .. quote(tag) end
  local slots = {}
  for i = 1, player_data.QUICK_BAR_SLOTS do
    local got, f = call(player, "get_quick_bar_slot", i)
    if got and type(f) == "table" and type(f.name) == "string" then
      local quality = type(f.quality) == "string" and f.quality ~= "normal" and f.quality or nil
      slots[#slots + 1] = format('{"slot":%d,"name":%s%s}', i, quote(f.name),
        quality and (',"quality":' .. quote(quality)) or "")
    end
  end
  if #slots > 0 then parts[#parts + 1] = ',"quick_bar":[' .. concat(slots, ",") .. "]" end
  return concat(parts)
end

--- Applies the player's own settings of payload `data` (absent ones get the defaults: no
--- extra mining category, the flashlight on, no tag, an empty quick bar). Quick bar items
--- this game does not know are left out. Raises nothing.
---@param player LuaPlayer
---@param character LuaEntity
---@param data table
function player_data.apply_settings(player, character, data)
  local cats = {}
  if type(data.mining_categories) == "table" then
    for i = 1, #data.mining_categories do
      local c = data.mining_categories[i]
      if type(c) == "string" then cats[#cats + 1] = c end
    end
  end
  pcall(function() character.character_additional_mining_categories = cats end)
  call(character, data.flashlight == false and "disable_flashlight" or "enable_flashlight")
  local tag = type(data.tag) == "string" and data.tag or ""
  pcall(function() player.tag = tag end)
  local bar = {}
  if type(data.quick_bar) == "table" then
    for i = 1, #data.quick_bar do
      local q = data.quick_bar[i]
      if type(q) == "table" and type(q.slot) == "number" and type(q.name) == "string" then bar[q.slot] = q end
    end
  end
  for i = 1, player_data.QUICK_BAR_SLOTS do
    local q = bar[i]
    local filter = nil
    if q and prototypes.item[q.name] then
      filter = { name = q.name, quality = type(q.quality) == "string" and q.quality or "normal" }
    end
    call(player, "set_quick_bar_slot", i, filter)
  end
end

-- Personal logistics ---------------------------------------------------------------------

--- Bounds of the `logistics` member (PLAYER_DATA.md): sections, requests a section, slot.
player_data.MAX_LOGISTIC_SECTIONS = 100
player_data.MAX_SECTION_FILTERS = 1000
player_data.MAX_LOGISTIC_SLOT = 65535
--- Units for reading or writing one section or one request (a few API calls and its JSON).
player_data.LOGISTIC_COST = 16

--- The quality comparators as the game reads them back (`ComparatorString`).
local COMPARATORS = { ["="] = true, [">"] = true, ["<"] = true, ["≥"] = true, ["≤"] = true, ["≠"] = true }
local MAX_INT, MAX_UINT = 2147483647, 4294967295

local function whole(v, lo, hi)
  return type(v) == "number" and v == floor(v) and v >= lo and v <= hi
end

--- Checks the `logistics` member of a payload; returns it normalised (absent: the defaults,
--- enabled, no trashing of what is not requested, no section), or nil and where and why it
--- is wrong.
---@param l any
---@return table|nil
---@return string|nil
function player_data.check_logistics(l)
  local out = { enabled = true, trash_not_requested = false, sections = {} }
  if l == nil then return out end
  if type(l) ~= "table" then return nil, "'logistics' is not an object" end
  for _, key in ipairs({ "enabled", "trash_not_requested" }) do
    if l[key] ~= nil then
      if type(l[key]) ~= "boolean" then return nil, "logistics." .. key .. " must be a boolean" end
      out[key] = l[key]
    end
  end
  local sections = l.sections
  if sections == nil then sections = {} end
  if type(sections) ~= "table" then return nil, "logistics.sections must be a list" end
  if #sections > player_data.MAX_LOGISTIC_SECTIONS then
    return nil, format("logistics: %d sections, at most %d", #sections, player_data.MAX_LOGISTIC_SECTIONS)
  end
  for i = 1, #sections do
    local s, where = sections[i], "logistics.sections[" .. i .. "]"
    if type(s) ~= "table" then return nil, where .. " must be an object" end
    local group, active, multiplier, filters = s.group, s.active, s.multiplier, s.filters
    if group ~= nil and type(group) ~= "string" then return nil, where .. ".group must be a string" end
    if active ~= nil and type(active) ~= "boolean" then return nil, where .. ".active must be a boolean" end
    if multiplier ~= nil and not (type(multiplier) == "number" and multiplier >= 0 and multiplier < math.huge) then
      return nil, where .. ".multiplier must be a number >= 0"
    end
    if filters == nil then filters = {} end
    if type(filters) ~= "table" then return nil, where .. ".filters must be a list" end
    if #filters > player_data.MAX_SECTION_FILTERS then
      return nil, format("%s: %d filters, at most %d", where, #filters, player_data.MAX_SECTION_FILTERS)
    end
    local list, last = {}, 0
    for k = 1, #filters do
      local f, at = filters[k], where .. ".filters[" .. k .. "]"
      if type(f) ~= "table" then return nil, at .. " must be an object" end
      if not whole(f.slot, last + 1, player_data.MAX_LOGISTIC_SLOT) then
        return nil, format("%s: 'slot' must be a whole number in %d..%d (slots increase)", at, last + 1,
          player_data.MAX_LOGISTIC_SLOT)
      end
      last = f.slot
      if type(f.name) ~= "string" or f.name == "" then return nil, at .. ": expected a non-empty 'name'" end
      if f.quality ~= nil and (type(f.quality) ~= "string" or f.quality == "") then
        return nil, at .. ": 'quality' must be a non-empty string"
      end
      if f.comparator ~= nil and not COMPARATORS[f.comparator] then
        return nil, at .. ": 'comparator' must be one of = > < ≥ ≤ ≠"
      end
      if f.min ~= nil and not whole(f.min, -MAX_INT - 1, MAX_INT) then
        return nil, at .. ": 'min' must be a whole number (an int)"
      end
      if f.max ~= nil and not whole(f.max, 0, MAX_UINT) then
        return nil, at .. ": 'max' must be a whole number >= 0"
      end
      if f.max ~= nil and (f.min or 0) > f.max then return nil, at .. ": 'min' is greater than 'max'" end
      list[k] = { slot = f.slot, name = f.name, quality = f.quality, comparator = f.comparator,
        min = f.min ~= 0 and f.min or nil, max = f.max }
    end
    out.sections[i] = { group = group or "", active = active ~= false, multiplier = multiplier or 1, filters = list }
  end
  return out
end

--- The JSON of a checked logistics table, with a leading comma ("" for the defaults: the
--- member is left out).
---@param l table
---@return string
function player_data.logistics_json(l)
  if l.enabled and not l.trash_not_requested and #l.sections == 0 then return "" end
  local parts = {}
  if not l.enabled then parts[#parts + 1] = '"enabled":false' end
  if l.trash_not_requested then parts[#parts + 1] = '"trash_not_requested":true' end
  local sections = {}
  for i = 1, #l.sections do
    local s = l.sections[i]
    local p = {}
    if s.group ~= "" then p[#p + 1] = '"group":' .. quote(s.group) end
    if not s.active then p[#p + 1] = '"active":false' end
    if s.multiplier ~= 1 then p[#p + 1] = '"multiplier":' .. number(s.multiplier) end
    local filters = {}
    for k = 1, #s.filters do
      local f = s.filters[k]
      filters[k] = format('{"slot":%d,"name":%s%s%s%s%s}', f.slot, quote(f.name),
        f.quality and (',"quality":' .. quote(f.quality)) or "",
        f.comparator and (',"comparator":' .. quote(f.comparator)) or "",
        f.min and format(',"min":%d', f.min) or "", f.max and format(',"max":%d', f.max) or "")
    end
    p[#p + 1] = '"filters":[' .. concat(filters, ",") .. "]"
    sections[i] = "{" .. concat(p, ",") .. "}"
  end
  parts[#parts + 1] = '"sections":[' .. concat(sections, ",") .. "]"
  return ',"logistics":{' .. concat(parts, ",") .. "}"
end

--- Whether the force of `player` has personal logistic requests (research): without them the
--- game ignores `set_slot`.
local function requests_researched(player)
  local force = safe_get(player, "force")
  return force ~= nil and safe_get(force, "character_logistic_requests") == true
end

--- The requester point of `character`, or nil.
local function requester_point(character)
  local ok, point = call(character, "get_requester_point")
  if ok then return point end
  return nil
end

--- Reads the character's personal logistics as a checked logistics table (the bounds of
--- PLAYER_DATA.md: what lies beyond them is not read); while the force has no personal
--- logistics, `kept` (the table the data brought and this game could not set) is carried on
--- instead. Returns the table (nil when there is nothing to read) and the units it cost.
---@param player LuaPlayer
---@param character LuaEntity
---@param kept table|nil
---@return table|nil
---@return number
function player_data.read_logistics(player, character, kept)
  if kept and not requests_researched(player) then return kept, player_data.LOGISTIC_COST end
  local point = requester_point(character)
  if not point then return nil, player_data.LOGISTIC_COST end
  local ok, l, units = pcall(function()
    local out = { enabled = point.enabled, trash_not_requested = point.trash_not_requested, sections = {} }
    local sections = point.sections
    local units = player_data.LOGISTIC_COST
    for i = 1, math.min(#sections, player_data.MAX_LOGISTIC_SECTIONS) do
      local s = sections[i]
      local filters, list = s.filters, {}
      for slot = 1, math.min(#filters, player_data.MAX_LOGISTIC_SLOT) do
        local v = filters[slot].value
        if #list < player_data.MAX_SECTION_FILTERS and type(v) == "table" and type(v.name) == "string" then
          local quality = v.quality
          if quality ~= nil and type(quality) ~= "string" then quality = quality.name end
          local min, max = filters[slot].min or 0, filters[slot].max
          list[#list + 1] = { slot = slot, name = v.name, quality = quality, comparator = v.comparator,
            min = min ~= 0 and min or nil, max = max }
        end
      end
      out.sections[i] = { group = s.group, active = s.active, multiplier = s.multiplier, filters = list }
      units = units + player_data.LOGISTIC_COST * (1 + #list)
    end
    return out, units
  end)
  if not ok then return nil, player_data.LOGISTIC_COST end
  return l, units
end

--- Replaces the personal logistics of `character` by the checked logistics table `l`: every
--- section removed, then `l`'s added. A section with a group is added with it (the game
--- creates a group the force does not have, empty); its requests are written only when the
--- group shows none here, so a group this force already has keeps its own requests. Requests
--- the game refuses (an item or quality it does not know) are listed in `skipped`. While the
--- force has no personal logistics the point is left alone and `l` is returned, to be
--- carried on. Raises nothing. Returns the table kept (or nil) and the units spent.
---@param player LuaPlayer
---@param character LuaEntity
---@param l table
---@param skipped table list of {entry, reason}
---@return table|nil kept
---@return number spent
function player_data.apply_logistics(player, character, l, skipped)
  local point = requester_point(character)
  local default = l.enabled and not l.trash_not_requested and #l.sections == 0
  if not point or not requests_researched(player) then
    return not default and l or nil, player_data.LOGISTIC_COST
  end
  local units = player_data.LOGISTIC_COST
  local count = safe_get(point, "sections_count") or 0
  for i = count, 1, -1 do pcall(point.remove_section, i) end
  pcall(function() point.enabled = l.enabled end)
  pcall(function() point.trash_not_requested = l.trash_not_requested end)
  for i = 1, #l.sections do
    local s = l.sections[i]
    local ok, sec = pcall(point.add_section, s.group ~= "" and s.group or nil)
    if not (ok and sec) then
      skipped[#skipped + 1] = { entry = { name = "logistic section " .. i }, reason = "the game added no section" }
      break
    end
    pcall(function() sec.active = s.active end)
    pcall(function() sec.multiplier = s.multiplier end)
    if s.group == "" or safe_get(sec, "filters_count") == 0 then
      for k = 1, #s.filters do
        local f = s.filters[k]
        local why = player_data.unknown_reason({ name = f.name, quality = f.quality })
        if not why then
          local set, err = pcall(sec.set_slot, f.slot, {
            value = { type = "item", name = f.name, quality = f.quality, comparator = f.comparator },
            min = f.min or 0, max = f.max,
          })
          if not set then why = tostring(err) end
        end
        if why then skipped[#skipped + 1] = { entry = { name = "logistic request for " .. f.name }, reason = why } end
      end
    end
    units = units + player_data.LOGISTIC_COST * (1 + #s.filters)
  end
  return nil, units
end

-- Reading ------------------------------------------------------------------------------

-- Export references ------------------------------------------------------------------
--
-- A blueprint library can be megabytes of export strings. Reading it costs `export_stack`
-- (the game deflates natively) and a CRC-32 of every byte, so a check of a kept character at
-- a join, or the read-back of a delta (sync.lua), would take time in proportion to the
-- library. Instead each top-level export is checksummed once, on its own, when it is first
-- read, and its bytes in the JSON are a reference `\1<crc 8 hex><length 8 hex>\1` (18 bytes)
-- until the end: the whole text's CRC-32 joins the reference's CRC in (`crc32.combine`), and
-- an upload's text gets the strings back as the checksum passes them. The references are kept with the
-- upload (`job.exports`, by inventory and slot): a later read of the same character takes a
-- stack with the same name, quality and count in the same slot as that export without
-- exporting it. A script that edits a blueprint's contents in a kept character while its
-- player is away is then not seen by the check: the edit stays in the character and travels
-- with its next upload; no item is lost or made (PROTOCOL.md 7). The byte 0x01 never occurs
-- in the JSON otherwise (`json.quote` escapes every control character).

local make_refs

--- Slots per inventory in an export key (`inventory index * KEY_SLOTS + slot`).
local KEY_SLOTS = 65536
--- Units for joining a reference's CRC into the text's: two or three polynomial products of
--- crc32.lua (about 500 VM instructions each), more for an export of 64 KiB or longer.
player_data.COMBINE_COST = 256
player_data.LONG_COMBINE_COST = 1024
--- Units for looking at a captured stack again (a few table reads).
player_data.VISIT_COST = 4
--- Length of a reference.
local REF_LEN = 18

--- A job that reads `character` (and `player` for colours, `cursor` as a stack table) into
--- PLAYER_DATA JSON. The colours and bonuses are read now.
---@param player LuaPlayer
---@param character LuaEntity
---@param cursor table|nil
---@param bonuses string[] bonus property names, in the order written
---@param unplaced table|nil stack tables this game could not place when the data came in
---  (unknown items, refused exports): carried on unchanged, never dropped (PLAYER_DATA.md)
---@param kept_logistics table|nil the logistics the data brought that this game could not set
---  (`apply_logistics`): carried on while the force has no personal logistics
---@param cache table|nil `job.exports` of the read this character was uploaded with: its
---  blueprint-like stacks still in their slots (same name, quality and count) are not exported
---  again (a check of a kept character; never for an upload, which needs the strings)
---@return table job
function player_data.reader(player, character, cursor, bonuses, unplaced, kept_logistics, cache)
  local function colour(c)
    return format('{"r":%s,"g":%s,"b":%s,"a":%s}', number(c.r), number(c.g), number(c.b), number(c.a or 1))
  end
  local b = {}
  for i = 1, #bonuses do
    b[i] = quote(bonuses[i]) .. ":" .. number(character[bonuses[i]])
  end
  local logistics, debt = player_data.read_logistics(player, character, kept_logistics)
  local head = format('{"format":%d,"name":%s,"color":%s,"chat_color":%s,"bonuses":{%s}%s%s,"inventories":{',
    player_data.FORMAT, quote(player.name), colour(player.color), colour(player.chat_color), concat(b, ","),
    player_data.settings_json(player, character), logistics and player_data.logistics_json(logistics) or "")
  -- the crafting queue is read now, at once: its items are in the inventory for a moment
  local read, crafting, rest = pcall(player_data.take_crafting, character)
  if not read then crafting, rest = nil, nil end
  local tail = {}
  if crafting then tail[#tail + 1] = ',"crafting":' .. player_data.crafting_json(crafting) end
  if cursor then tail[#tail + 1] = ',"cursor":' .. player_data.stack_json(cursor) end
  if unplaced and #unplaced > 0 then tail[#tail + 1] = ',"unplaced":[' .. list_json(unplaced, false) .. "]" end
  return {
    character = character, phase = "slots", inv = 1, slot = 1, k = 1, debt = debt,
    captured = {}, filters = {}, parts = { head }, items = {}, stacks = 0,
    tail = concat(tail) .. "}",
    text = nil, crc = 0, crc_pos = 1, len = 0,
    cache = cache, exports = {}, strings = {},
    -- stacks the crafting left without room (rare): uploaded in the overflow of the data
    homeless = rest and #rest > 0 and rest or nil,
  }
end

--- Visits slots for about `budget` units, keeping their stacks as tables in
--- `job.captured[inv]`. Returns the units left, or nil and a message if the character vanished.
local function read_slots(job, budget)
  local left = budget
  local invs = player_data.INVENTORIES
  while left > 0 and job.phase == "slots" do
    local spec = invs[job.inv]
    if not job.character.valid then return nil, "the character disappeared while it was being read" end
    local inv = inventory_of(job.character, spec.define)
    local n = inv and #inv or 0
    local list = job.captured[job.inv] or {}
    job.captured[job.inv] = list
    local slot = job.slot
    if slot == 1 then job.filtered = inv ~= nil and is_filtered(inv) end
    local filters = job.filtered and (job.filters[job.inv] or {}) or nil
    job.filters[job.inv] = filters
    local cache, base = job.cache, job.inv * KEY_SLOTS
    while slot <= n and left > 0 do
      local st = inv[slot]
      local e, inner
      if st.valid_for_read then e, inner = player_data.read_fields(st, nil, cache and cache[base + slot]) end
      left = left - player_data.SLOT_COST - (inner or 0)
      if filters then
        filters[#filters + 1] = read_filter(inv, slot)
        left = left - player_data.SLOT_COST
      end
      if e then
        e.slot = slot
        list[#list + 1] = e
        left = left - player_data.STACK_COST
        if e.export then left = left - floor(#e.export / player_data.EXPORT_BYTES) end
      end
      slot = slot + 1
    end
    job.slot = slot
    if slot > n then
      job.inv, job.slot = job.inv + 1, 1
      if job.inv > #invs then job.phase, job.inv, job.k = "refs", 1, 1 end
    end
  end
  return left
end

--- Visits every slot now (for a leaving player: the game shows no character once the player
--- is gone), in a tighter loop than `read_step`'s. Returns the units it cost (for the tick's
--- budget to pay), or nil and a message if the character is not valid.
---@param job table
---@return number|nil spent
---@return string|nil err
function player_data.capture(job)
  if job.phase ~= "slots" then return 0 end
  local debt = job.debt or 0
  job.debt = nil
  local character = job.character
  if not character.valid then return nil, "the character is not valid" end
  local invs, read = player_data.INVENTORIES, player_data.read_fields
  local slots, stacks, exported, contents = 0, 0, 0, 0
  for i = job.inv, #invs do
    local inv = inventory_of(character, invs[i].define)
    local list = job.captured[i] or {}
    job.captured[i] = list
    local n = #list
    local first = i == job.inv and job.slot or 1
    local size = inv and #inv or 0
    if first == 1 then job.filtered = inv ~= nil and is_filtered(inv) end
    local filters = job.filtered and (job.filters[i] or {}) or nil
    job.filters[i] = filters
    local cache, base = job.cache, i * KEY_SLOTS
    for slot = first, size do
      local st = inv[slot]
      if st.valid_for_read then
        local e, inner = read(st, nil, cache and cache[base + slot])
        e.slot = slot
        n = n + 1
        list[n] = e
        if e.export then exported = exported + #e.export end
        contents = contents + inner
      end
      if filters then filters[#filters + 1] = read_filter(inv, slot) end
    end
    slots, stacks = slots + (size - first + 1) * (filters and 2 or 1), stacks + n
  end
  job.phase, job.inv, job.slot, job.k = "refs", 1, 1, 1
  return debt + slots * player_data.SLOT_COST + stacks * player_data.STACK_COST + floor(exported / player_data.EXPORT_BYTES)
    + contents
end

--- Replaces the export strings of the captured top-level stacks with references (see "Export
--- references"), checksumming each string on its own, for about `budget` units (a long string
--- over several calls). Returns the units left.
function make_refs(job, budget)
  local left = budget
  local invs = player_data.INVENTORIES
  while left > 0 do
    local i = job.inv
    if i > #invs then
      job.phase, job.inv, job.k = "json", 1, 1
      return left
    end
    local list = job.captured[i] or {}
    local e = list[job.k]
    if not e then
      job.inv, job.k = i + 1, 1
    else
      local x = e.export
      if e.known then
        -- not exported again: the reference of the upload it came from
        job.exports[i * KEY_SLOTS + e.slot] = e.known
        job.refs = (job.refs or 0) + 1
        e.known = nil
        job.k = job.k + 1
        left = left - player_data.VISIT_COST
      elseif x and byte(x, 1) ~= 1 then
        local pos = job.x_pos or 1
        local stop = pos + left * player_data.CRC_BYTES - 1
        if stop > #x then stop = #x end
        job.x_crc = crc32.update(job.x_crc or 0, x, pos, stop)
        left = left - floor((stop - pos + 1) / player_data.CRC_BYTES) - 1
        job.x_pos = stop + 1
        if stop == #x then
          local hex = format("%08x%08x", job.x_crc, #x)
          local ref = "\1" .. hex .. "\1"
          job.strings[hex] = x
          job.export_bytes, job.refs = (job.export_bytes or 0) + #x, (job.refs or 0) + 1
          e.export = ref
          job.exports[i * KEY_SLOTS + e.slot] = { name = e.name, quality = e.quality, count = e.count, ref = ref }
          job.x_pos, job.x_crc = nil, nil
          job.k = job.k + 1
        end
      else
        job.k = job.k + 1
        left = left - player_data.VISIT_COST
      end
    end
  end
  return left
end

--- Whether a delta (PLAYER_DATA.md "Deltas") is worth asking for instead of the whole data,
--- for a copy read by the finished upload read `job`: a delta costs a read of the kept
--- character to check it and one to verify what it made, with its exports by reference, where
--- the whole data costs writing every stack and importing every export. A library of exports
--- is cheap to read by reference and dear to import; thousands of plain stacks are the
--- opposite (PROTOCOL.md 7).
---@param job table
---@return boolean
function player_data.delta_worth(job)
  local exported = job.export_bytes or 0
  local read = job.stacks * (player_data.SLOT_COST + player_data.STACK_COST + player_data.JSON_COST)
    + (job.len - exported) / player_data.CRC_BYTES + (job.refs or 0) * player_data.COMBINE_COST
  local write = job.stacks * player_data.STACK_COST + exported / player_data.EXPORT_BYTES
  return 2 * read < write
end

--- Reads for about `budget` units. Returns true when `job.text` (the JSON; with references in
--- place of the exports of a check that had `cache`), `job.crc` (the CRC-32 of the JSON with
--- the exports), `job.len` (its length) and `job.exports` (its references) are ready, false when more calls are needed, or nil and a message if the character
--- vanished; and the units spent.
---@param job table
---@param budget number
---@return boolean|nil done
---@return string|nil err
---@return number spent
function player_data.read_step(job, budget)
  -- the units of what the job read when it was made (the personal logistics)
  local left = budget - (job.debt or 0)
  job.debt = nil
  local invs = player_data.INVENTORIES
  while left > 0 do
    if job.phase == "slots" then
      local err
      left, err = read_slots(job, left)
      if not left then return nil, err, budget end
    elseif job.phase == "refs" then
      left = make_refs(job, left)
    elseif job.phase == "json" then
      local list = job.captured[job.inv] or {}
      local k, items, body = job.k, job.items, job.body
      while k <= #list and left > 0 do
        -- one entry per run of equal stacks; its units cover the stacks compared (an object
        -- stack, its export string, tags or contents, by the JSON it makes)
        local text, after, spent
        text, after, spent, body = player_data.entry_json(list, k, body)
        items[#items + 1] = text
        left = left - spent
        k = after
      end
      job.k, job.body = k, body
      if k > #list then
        local parts = job.parts
        parts[#parts + 1] = (job.inv > 1 and "," or "") .. quote(invs[job.inv].key) .. ":[" .. concat(items, ",") .. "]"
        job.stacks = job.stacks + #list
        job.items, job.body = {}, nil
        job.captured[job.inv] = nil
        job.inv, job.k = job.inv + 1, 1
        if job.inv > #invs then
          local text, n = filters_json(job.filters)
          parts[#parts + 1] = "}" .. text
          left = left - n * player_data.JSON_COST
          job.filters = nil
          parts[#parts + 1] = job.tail
          job.text = concat(parts)
          job.parts = nil
          job.phase = "crc"
        end
      end
    elseif job.phase == "crc" then
      local text, pos = job.text, job.crc_pos
      -- the next reference (an export checksummed on its own), or the end
      local at = job.ref_at
      if not at or at < pos then
        at = find(text, "\1", pos, true) or #text + 1
        job.ref_at = at
      end
      if pos == at then
        local hex = sub(text, at + 1, at + 16)
        local crc, len = tonumber(sub(hex, 1, 8), 16), tonumber(sub(hex, 9, 16), 16)
        job.crc = crc32.combine(job.crc, crc, len)
        job.len = (job.len or 0) + len
        left = left - (len < 65536 and player_data.COMBINE_COST or player_data.LONG_COMBINE_COST)
        local strings = job.strings
        if strings and strings[hex] then
          -- an upload: the text so far and the string back in place of its reference (one
          -- copy of each piece here, one join at the end, as a text without references costs)
          local out = job.out or {}
          job.out = out
          out[#out + 1] = sub(text, job.piece or 1, at - 1)
          out[#out + 1] = strings[hex]
          job.piece = at + REF_LEN
        end
        pos = at + REF_LEN
      else
        local stop = pos + left * player_data.CRC_BYTES - 1
        if stop >= at then stop = at - 1 end
        job.crc = crc32.update(job.crc, text, pos, stop)
        job.len = (job.len or 0) + stop - pos + 1
        left = left - floor((stop - pos + 1) / player_data.CRC_BYTES) - 1
        pos = stop + 1
      end
      job.crc_pos = pos
      if pos > #text then
        local out = job.out
        if out then
          out[#out + 1] = sub(text, job.piece)
          job.text = concat(out)
          left = left - floor(#job.text / player_data.EXPORT_JSON_BYTES)
        end
        job.strings, job.ref_at, job.out, job.piece = nil, nil, nil, nil
        job.phase = "done"
        return true, nil, budget - left
      end
    else
      return true, nil, budget - left
    end
  end
  return false, nil, budget - left
end

-- Format 2: reading dense stacks --------------------------------------------------------

--- Bounds of format 2 (PLAYER_DATA.md): the last slot (and so the longest run), and the most
--- stacks a payload may expand to, checked before anything is expanded.
player_data.MAX_SLOT = 65535
player_data.MAX_EXPANDED = 65535 * 8
--- Units for normalising one format-2 entry (checking it, making its stack table), and for
--- each stack of an item's inventory expanded from a run.
player_data.ENTRY_COST = 48

--- The members of an object stack and the stack-table field each gives (`s`, `r` and `i` are
--- read apart; other keys are ignored, as format 1 ignores unknown members).
local SHORT_KEYS = {
  n = "name", c = "count", q = "quality", h = "health", d = "durability", a = "ammo", p = "spoil_percent",
  x = "export", xj = "export_json", g = "grid", l = "label", lc = "label_color",
  lm = "allow_manual_label_change", t = "tags", cd = "custom_description",
}

--- A value of the payload as an error shows it (as JSON, roughly).
local function shown(v)
  if type(v) == "string" then return quote(v) end
  if type(v) == "number" and v == floor(v) and v > -1e15 and v < 1e15 then return format("%d", v) end
  return tostring(v)
end

--- The largest slot, count or run a stack may name (a `uint32`).
local MAX_U32 = 4294967295

--- Whether `v` is a whole number that fits a `uint32` (the slot, count and run of a stack);
--- and, if not, why not, for an error below `where`.
local function is_uint(v, what)
  if type(v) == "number" and v == floor(v) and v >= 0 and v <= MAX_U32 then return true end
  return false, format(": the %s is %s, not a whole number in 0..=4294967295", what, shown(v))
end

--- The members of a format-2 array stack, in order.
local ARRAY_MEMBERS = { "slot", "name", "count", "run", "quality" }

--- The stack table of a format-2 array `[slot, name, count, run?, quality?]`, its slot and its
--- run; or nil and why not (after the entry's place in the payload).
local function from_array(v)
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  -- a null inside leaves a hole: then the last index tells the array's length
  if n < 3 or n > 5 or v[n] == nil then
    return nil, format(": a plain stack is [slot, name, count, run?, quality?], not an array of %d",
      math.max(n, v[5] and 5 or v[4] and 4 or v[3] and 3 or 0))
  end
  local slot, name, count, run, quality = v[1], v[2], v[3], v[4], v[5]
  -- the common case in one expression (this runs for most stacks of a payload)
  if type(slot) == "number" and slot % 1 == 0 and slot >= 0 and slot <= MAX_U32
    and type(name) == "string" and type(count) == "number" and count % 1 == 0 and count >= 0 and count <= MAX_U32
    and (run == nil or (type(run) == "number" and run % 1 == 0 and run >= 0 and run <= MAX_U32))
    and (quality == nil or type(quality) == "string") then
    return { name = name, count = count, quality = quality }, slot, run or 1
  end
  -- else in the order of the array, so that the first wrong member is named
  for i = 1, n do
    local x, what = v[i], ARRAY_MEMBERS[i]
    if x ~= nil then
      if i == 2 or i == 5 then
        if type(x) ~= "string" then return nil, format(": the %s is %s, not a string", what, shown(x)) end
      else
        local ok, why = is_uint(x, what)
        if not ok then return nil, why end
      end
    end
  end
  return nil, ": not a plain stack"
end

--- The stack table of a format-2 object stack (without its `i`), its slot and its run; or nil
--- and why not.
local function from_object(v)
  if v.n == nil then return nil, ": an object stack without 'n' (name)" end
  if v.c == nil then return nil, ": an object stack without 'c' (count)" end
  if v.s ~= nil then
    local ok, why = is_uint(v.s, "slot")
    if not ok then return nil, why end
  end
  if v.r ~= nil then
    local ok, why = is_uint(v.r, "run")
    if not ok then return nil, why end
  end
  -- the members present only (a few of the fifteen); whatever the order, the same table
  local e = {}
  for key, x in pairs(v) do
    local long = SHORT_KEYS[key]
    if long then e[long] = x end
  end
  if e.export ~= nil and e.export_json ~= nil then
    return nil, ": both x (export) and xj (export_json); a stack has one"
  end
  return e, v.s, v.r or 1
end

--- Checks the slot and run of an entry against the bounds and the entries before it in its
--- list (`list.after`: the last slot they take); returns nil, or why it is out of bounds.
local function check_place(slot, run, slotted, list)
  if run == 0 then return ": run 0 is not >= 1" end
  if run > player_data.MAX_SLOT then return format(": run %d is past %d", run, player_data.MAX_SLOT) end
  if not slotted then
    if slot ~= nil and slot ~= 0 then return format(": a slotless stack has no slot (slot %d)", slot) end
    if run ~= 1 then return format(": a slotless stack has no run (run %d)", run) end
    return nil
  end
  if slot == nil then return ": a stack of an inventory without a slot" end
  if slot < 1 or slot > player_data.MAX_SLOT then
    return format(": slot %d is not in 1..=%d", slot, player_data.MAX_SLOT)
  end
  if slot <= list.after then
    return format(": slot %d is not after slot %d, where the entry before ends", slot, list.after)
  end
  if slot + run - 1 > player_data.MAX_SLOT then
    return format(": the run of %d from slot %d goes past %d", run, slot, player_data.MAX_SLOT)
  end
  list.after = slot + run - 1
  return nil
end

local dense_list

--- One format-2 entry `v` as a checked stack table (`check_stack`'s, with its slot when
--- `slotted`) and its run; or nil and where and why it is malformed. `list.after` is the last
--- slot the entries before it take; `ctx.room` counts down the stacks the payload may still
--- expand to, `ctx.entries` counts the entries made; the list holding `v` is expanded
--- `copies` times (the runs of the items it is inside).
local function dense_entry(v, where, slotted, list, ctx, depth, copies)
  if type(v) ~= "table" then return nil, where .. ": expected a stack, an array or an object" end
  local array = v[1] ~= nil
  local e, slot, run = (array and from_array or from_object)(v)
  if not e then return nil, where .. slot end
  local why = check_place(slot, run, slotted, list)
  if why then return nil, where .. why end
  e.slot = slotted and slot or nil
  -- counted before anything is expanded: a run of an item with contents copies them
  ctx.room = ctx.room - run * copies
  if ctx.room < 0 then
    return nil, format("%s: the payload expands to more than %d stacks", where, player_data.MAX_EXPANDED)
  end
  ctx.entries = ctx.entries + 1
  if not array and v.i ~= nil then
    local inner, err = dense_list(v.i, where .. ".i", ctx, depth + 1, copies * run)
    if not inner then return nil, err end
    e.inventory = inner
  end
  local out, err = player_data.check_stack(e, where, depth)
  if not out then return nil, err end
  return out, run
end

--- The format-2 list of an item's inventory `v` as checked stack tables, one per slot (it is
--- small and written at once); or nil and where and why it is malformed.
function dense_list(v, where, ctx, depth, copies)
  if type(v) ~= "table" then return nil, where .. ": expected a list of stacks" end
  local out, list = {}, { after = 0 }
  for k = 1, #v do
    local at = where .. "[" .. k .. "]"
    local e, run = dense_entry(v[k], at, true, list, ctx, depth, copies)
    if not e then return nil, run end
    out[#out + 1] = e
    for r = 1, run - 1 do out[#out + 1] = player_data.run_stack(e, r, at, depth) end
    ctx.entries = ctx.entries + run - 1
  end
  return out
end

--- The stack of entry `e` of a list of stacks in slot `r` of its run (0: the entry's own
--- slot), checked and new (`check_stack`); or nil and why it is malformed.
---@param e any
---@param r number
---@param where string
---@param depth number|nil
---@return table|nil
---@return string|nil
function player_data.run_stack(e, r, where, depth)
  local out, err = player_data.check_stack(e, where, depth)
  if out and r > 0 then out.slot = out.slot + r end
  return out, err
end

--- A job that normalises the stacks of format-2 payload `data` (`check_step`), every bound
--- checked before anything is expanded (PLAYER_DATA.md).
---@param data table
---@return table
function player_data.checker(data)
  local todo = {}
  local given = data.inventories or {}
  for i = 1, #player_data.INVENTORIES do
    local key = player_data.INVENTORIES[i].key
    if given[key] ~= nil then
      todo[#todo + 1] = { key = key, where = "inventories." .. key, value = given[key], slotted = true }
    end
  end
  if data.cursor ~= nil then todo[#todo + 1] = { key = "cursor", where = "cursor", value = data.cursor } end
  if data.unplaced ~= nil then todo[#todo + 1] = { key = "unplaced", where = "unplaced", value = data.unplaced } end
  local c = data.crafting
  if type(c) == "table" and c.ingredients ~= nil then
    todo[#todo + 1] = { key = "ingredients", where = "crafting.ingredients", value = c.ingredients }
  end
  return {
    todo = todo, t = 1, k = 1, after = 0, out = {}, runs = {},
    room = player_data.MAX_EXPANDED, entries = 0,
    dense = { inventories = {}, runs = {}, crafting = c },
  }
end

--- Normalises for about `budget` units (ENTRY_COST an entry). Returns true when `job.dense`
--- holds the payload's stacks as format 1 gives them (`{inventories = {key = list}, runs =
--- {key = runs}, cursor, unplaced, crafting}`: the stack tables of `check_stack`; an
--- inventory's runs, `runs[key][k]` for its entry k when longer than 1, are expanded as they
--- are written, an item's inventory here), false when more calls are needed, or nil and where
--- and why the payload is malformed; and the units spent.
---@param job table
---@param budget number
---@return boolean|nil done
---@return string|nil err
---@return number spent
function player_data.check_step(job, budget)
  local left, todo, dense = budget, job.todo, job.dense
  while job.t <= #todo do
    local item = todo[job.t]
    if item.key == "cursor" then
      local e, err = dense_entry(item.value, "cursor", false, job, job, 1, 1)
      if not e then return nil, err, budget - left end
      dense.cursor = e
      left = left - player_data.ENTRY_COST
    else
      local list, out = item.value, job.out
      if type(list) ~= "table" then return nil, item.where .. ": expected a list of stacks", budget - left end
      local k = job.k
      while k <= #list do
        if left <= 0 then
          job.k = k
          return false, nil, budget - left
        end
        local before = job.entries
        local e, run = dense_entry(list[k], item.where .. "[" .. k .. "]", item.slotted, job, job, 1, 1)
        if not e then return nil, run, budget - left end
        out[k] = e
        if run > 1 then job.runs[k] = run end
        -- an item's inventory is expanded here: each of its stacks is an entry
        left = left - (job.entries - before) * player_data.ENTRY_COST
        k = k + 1
      end
      if item.slotted then
        dense.inventories[item.key], dense.runs[item.key] = out, job.runs
      elseif item.key == "unplaced" then
        dense.unplaced = out
      else
        dense.crafting = { queue = dense.crafting.queue, progress = dense.crafting.progress, ingredients = out }
      end
    end
    job.t, job.k, job.after, job.out, job.runs = job.t + 1, 1, 0, {}, {}
  end
  return true, nil, budget - left
end

-- Writing ------------------------------------------------------------------------------

--- The `cleared` of a delta (PLAYER_DATA.md, "Deltas") checked, as `{key = {{from, to}, ...}}`,
--- or nil and why the delta cannot be applied to `character` as it is: malformed, not format
--- 2, or a change a patch cannot make in place (the armor, which moves main slots; the
--- inventory slot bonus; a crafting queue, whose ingredients live in the inventory). The
--- caller then asks for the whole data.
---@param character LuaEntity
---@param data table the delta's PARTIAL
---@param cleared any
---@return table|nil
---@return string|nil
function player_data.check_patch(character, data, cleared)
  if data.format ~= 2 then return nil, "data: format " .. shown(data.format) .. ", a delta's data is format 2" end
  if type(cleared) ~= "table" then return nil, "cleared: expected an object" end
  local known, unknown = {}, {}
  for i = 1, #player_data.INVENTORIES do known[player_data.INVENTORIES[i].key] = true end
  for key in pairs(cleared) do
    if not known[key] then unknown[#unknown + 1] = tostring(key) end
  end
  if #unknown > 0 then
    -- the first in sorted order: the message never depends on the order of `pairs`
    table.sort(unknown)
    return nil, format("cleared: %s is not an inventory", quote(unknown[1]))
  end
  local out = {}
  for i = 1, #player_data.INVENTORIES do
    local key = player_data.INVENTORIES[i].key
    local list = cleared[key]
    if list ~= nil then
      if type(list) ~= "table" then return nil, "cleared." .. key .. ": expected a list of ranges" end
      local after = nil
      for k = 1, #list do
        local r = list[k]
        local at = format("cleared.%s[%d]: ", key, k)
        if type(r) ~= "table" or #r ~= 2 then return nil, at .. "expected [from, to]" end
        local from, to = r[1], r[2]
        if type(from) ~= "number" or type(to) ~= "number" or from ~= floor(from) or to ~= floor(to)
          or from < 1 or to < from or to > player_data.MAX_SLOT then
          return nil, format("%s[%s, %s] is not a range from <= to in 1..=%d", at, shown(from), shown(to),
            player_data.MAX_SLOT)
        end
        if after and from <= after + 1 then
          return nil, format("%s[%d, %d] is not apart from the range before, which ends at slot %d", at, from, to, after)
        end
        after = to
      end
      out[key] = list
    end
  end
  local given = type(data.inventories) == "table" and data.inventories or {}
  if (type(given.armor) == "table" and #given.armor > 0) or out.armor then
    return nil, "the delta changes the armor"
  end
  local bonus = type(data.bonuses) == "table" and data.bonuses.character_inventory_slots_bonus or 0
  if type(bonus) ~= "number" or bonus < character.character_inventory_slots_bonus then
    return nil, "the delta shrinks the inventory"
  end
  if data.crafting ~= nil or (safe_get(character, "crafting_queue_size") or 0) > 0 then
    return nil, "a crafting queue is not patched"
  end
  return out
end

--- Empties, in `inv` (`size` slots, inventory index `i`), the slots of `ranges` and of the
--- format-2 entries `list` (with `runs`), which a delta's stacks then fill, walking both in
--- slot order: a stack inside a cleared range is an error. Notes each emptied slot in `touched`
--- (by export key). Returns the slots emptied, or nil and why. `dry`: only checks.
local function empty_for_patch(inv, size, i, key, ranges, list, runs, touched, dry)
  local n, r = 0, 1
  local function empty(slot)
    if slot <= size and not dry then
      inv[slot].clear()
      touched[i * KEY_SLOTS + slot] = true
      n = n + 1
    end
  end
  for k = 1, #list do
    local first = list[k].slot
    local last = first + (runs[k] or 1) - 1
    while ranges[r] and ranges[r][2] < first do
      for slot = ranges[r][1], math.min(ranges[r][2], size) do empty(slot) end
      r = r + 1
    end
    if ranges[r] and ranges[r][1] <= last then
      return nil, format("data.inventories.%s: slot %d has a stack and is cleared", key, math.max(first, ranges[r][1]))
    end
    for slot = first, math.min(last, size) do empty(slot) end
  end
  for k = r, #ranges do
    for slot = ranges[k][1], math.min(ranges[k][2], size) do empty(slot) end
  end
  return n
end

--- A job that writes decoded player data `data` into `character` (and colours into `player`).
--- With `cleared` it writes a delta (PLAYER_DATA.md, "Deltas"): `data` holds only the stacks
--- that change, `cleared` the slots emptied, and the other slots are left as they are.
--- Returns the job, or nil and why the data cannot be applied at all (wrong format, a delta
--- that cannot be patched: `check_patch`).
---@param player LuaPlayer
---@param character LuaEntity
---@param data table
---@param bonuses string[]
---@param cleared table|nil a delta's `cleared`
---@return table|nil job
---@return string|nil err
function player_data.writer(player, character, data, bonuses, cleared)
  if type(data) ~= "table" then return nil, "the player data is not a JSON object" end
  if data.format ~= 1 and data.format ~= player_data.FORMAT then
    return nil, "the player data has format " .. tostring(data.format) .. ", this module reads formats 1 and 2"
  end
  local inventories = data.inventories
  if inventories ~= nil and type(inventories) ~= "table" then return nil, "'inventories' is not an object" end
  -- checked whole before anything is written: bad logistics apply nothing
  local logistics, why = player_data.check_logistics(data.logistics)
  if not logistics then return nil, why end
  local dense = data.format == 2
  local patch
  if cleared ~= nil then
    patch, why = player_data.check_patch(character, data, cleared)
    if not patch then return nil, why end
  end
  return {
    player = player, character = character, data = data, bonuses = bonuses, logistics = logistics, patch = patch,
    -- format 2's stacks are checked whole first, a budget at a time, and refused before
    -- anything is written; `dense` then holds them normalised (`data` stays the payload: a
    -- character that dies while it is written gets it again)
    check = dense and player_data.checker(data) or nil, dense = nil,
    phase = dense and "check" or "prepare", inv = 1, k = 1, r = 0,
    skipped = {}, overflow = {}, deferred = {}, cursor = nil, placed = 0,
  }
end

local function set_colour(player, key, c)
  if type(c) == "table" and type(c.r) == "number" and type(c.g) == "number" and type(c.b) == "number" then
    pcall(function() player[key] = { r = c.r, g = c.g, b = c.b, a = type(c.a) == "number" and c.a or 1 } end)
  end
end

local function skip(job, e, reason)
  job.skipped[#job.skipped + 1] = { entry = e, reason = reason }
end

--- Queues stack table `e` for the leftovers phase (after every slot is written).
local function defer(job, e)
  job.deferred[#job.deferred + 1] = e
end

--- Places one checked stack table into its slot of `inv` if that slot is empty; anything else
--- waits for the leftovers phase, so no fallback ever lands in a slot a later stack needs.
local function place(job, inv, e)
  local why = player_data.unknown_reason(e)
  if why then return skip(job, e, why) end
  local slot = e.slot
  if slot and slot <= #inv and not inv[slot].valid_for_read then
    local ok, problem = player_data.write_stack(inv[slot], e)
    if ok then
      job.placed = job.placed + 1
      if type(problem) == "table" then
        for i = 1, #problem do defer(job, problem[i]) end
      end
      return true
    end
    if problem == "import" then return skip(job, e, "the game refused its export string") end
  end
  defer(job, e)
end

--- Whether the later slots of a run of stack `e` can take its definition as it is: nothing
--- to write after `set_stack` (no export, grid, label, tags or contents).
local function repeatable(e)
  return e.export == nil and e.export_json == nil and e.grid == nil and e.more == nil
end

--- Writes the definition of a run's placed first stack (`first.def`) into `slot` of `inv`
--- (`size` slots) if that slot is empty. Returns true when placed; false leaves the stack to
--- the caller (for the leftovers phase, as `place` does).
local function place_again(job, inv, size, first, slot)
  if not inv or slot > size then return false end
  local st = inv[slot]
  if st.valid_for_read then return false end
  local ok, placed = pcall(st.set_stack, first.def)
  if not (ok and placed) then return false end
  job.placed = job.placed + 1
  return true
end

--- Sets the slot filters of `inv` to the payload's (the local ones go: every slot of a
--- filtered inventory is set), for about `left` units; `job.filters_done` is false until
--- every slot is set, then true. A filter the game refuses (an unknown item) is left out.
--- Returns the units left.
local function set_filters(job, inv, key, left)
  if job.filters_done == nil then
    job.fwant = wanted_filters(job.data, key, #inv)
    job.fslot = 1
    job.filters_done = not (next(job.fwant) ~= nil or is_filtered(inv))
    left = left - player_data.SLOT_COST
  end
  if job.filters_done then return left end
  local want, slot, n = job.fwant, job.fslot, #inv
  while slot <= n and left > 0 do
    local f = want[slot]
    pcall(inv.set_filter, slot, f)
    left = left - player_data.SLOT_COST
    slot = slot + 1
  end
  job.fslot = slot
  if slot > n then job.filters_done, job.fwant = true, nil end
  return left
end

--- Puts a deferred stack table anywhere in the character; the rest goes to the overflow.
local function place_anywhere(job, e)
  local left, why = player_data.insert_anywhere(job.character, e, job.deferred)
  if why == "import" then
    -- not a matter of room: the stack cannot exist in this game as it is
    skip(job, e, "the game refused its export string")
  elseif left > 0 then
    local rest = {}
    for k, v in pairs(e) do rest[k] = v end
    rest.slot, rest.count = nil, left
    job.overflow[#job.overflow + 1] = rest
  else
    job.placed = job.placed + 1
  end
end

--- Writes for about `budget` units. Returns true when done (the cursor stack, if any, is
--- left in `job.cursor` for the caller to put once the player controls the character), false
--- when more calls are needed, or nil and a message if the character vanished; and the units
--- spent.
---@param job table
---@param budget number
---@return boolean|nil done
---@return string|nil err
---@return number spent
function player_data.write_step(job, budget)
  local left = budget
  local invs = player_data.INVENTORIES
  local order = player_data.WRITE_ORDER
  local character = job.character
  while left > 0 do
    if not character.valid then return nil, "the character disappeared while it was being written", budget - left end
    -- where the stacks are: format 2's normalised, or format 1's payload
    local stacks = job.dense or job.data
    if job.phase == "check" then
      local done, err, spent = player_data.check_step(job.check, left)
      left = left - spent
      if done == nil then return nil, "the player data is malformed: " .. err, budget - left end
      if done then job.dense, job.check, job.phase = job.check.dense, nil, "prepare" end
    elseif job.phase == "prepare" then
      local data = job.data
      set_colour(job.player, "color", data.color)
      set_colour(job.player, "chat_color", data.chat_color)
      if job.patch then
        -- a delta: only the slots it names are emptied (to be written), the others stay
        -- (checked whole first: a malformed delta changes nothing)
        job.touched = {}
        for pass = 1, 2 do
          for i = 1, #invs do
            local key = invs[i].key
            local inv = inventory_of(character, invs[i].define)
            local n, why = empty_for_patch(inv, inv and #inv or 0, i, key, job.patch[key] or {},
              stacks.inventories[key] or {}, stacks.runs[key] or {}, job.touched, pass == 1)
            if not n then return nil, "the delta is malformed: " .. why, budget - left end
            left = left - n * player_data.SLOT_COST
          end
        end
      else
        -- the local queue belongs to the local data being replaced, like the inventories
        pcall(player_data.cancel_crafting, character)
        -- empty first (armor last), so that no bonus slot shrinks under a stack
        for i = #order, 1, -1 do
          local inv = inventory_of(character, invs[order[i]].define)
          if inv then inv.clear() end
        end
      end
      local given = type(data.bonuses) == "table" and data.bonuses or {}
      for i = 1, #job.bonuses do
        local name = job.bonuses[i]
        local v = given[name]
        if type(v) ~= "number" then v = 0 end
        pcall(function() character[name] = v end)
      end
      player_data.apply_settings(job.player, character, data)
      local kept, units = player_data.apply_logistics(job.player, character, job.logistics, job.skipped)
      job.kept_logistics, job.logistics = kept, nil
      left = left - units
      left = left - 64 - player_data.QUICK_BAR_SLOTS
      job.phase = "stacks"
    elseif job.phase == "stacks" then
      local spec = invs[order[job.inv]]
      local list = stacks.inventories and stacks.inventories[spec.key]
      if type(list) ~= "table" then list = {} end
      local runs = job.dense and job.dense.runs[spec.key]
      local inv = inventory_of(character, spec.define)
      if job.k == 1 and inv and not job.filters_done then
        -- filters before the stacks (the armor, written first, has set the slot count)
        left = set_filters(job, inv, spec.key, left)
      end
      -- (`r` is nil in a job saved by a module before format 2)
      local k, r = job.k, job.r or 0
      local size = inv and #inv or 0
      while job.filters_done ~= false and k <= #list and left > 0 do
        -- a run of format 2 expands here, a stack per slot and per charge
        local first = job.run_first
        if r > 0 and first then
          -- a later slot of a run whose first stack was placed: the same definition
          left = left - player_data.RUN_STACK_COST
          if not place_again(job, inv, size, first, first.slot + r) then
            defer(job, player_data.run_stack(list[k], r, spec.key .. "[" .. k .. "]"))
            left = left - player_data.STACK_COST
          end
        else
          local e, err = player_data.run_stack(list[k], r, spec.key .. "[" .. k .. "]")
          if not e then
            skip(job, list[k], err)
          elseif inv then
            if place(job, inv, e) and runs and (runs[k] or 1) > 1 and repeatable(e) then
              job.run_first = { slot = e.slot, def = player_data.definition(e) }
            end
          else
            defer(job, e)
          end
          left = left - player_data.STACK_COST
          if e and e.export then left = left - floor(#e.export / player_data.EXPORT_BYTES) end
          if e and e.more then left = left - nested_count(e) * player_data.STACK_COST end
        end
        r = r + 1
        if r >= (runs and runs[k] or 1) then k, r, job.run_first = k + 1, 0, nil end
      end
      job.k, job.r = k, r
      if job.filters_done ~= false and k > #list then
        job.inv, job.k, job.filters_done = job.inv + 1, 1, nil
        if job.inv > #order then job.phase = "unplaced" end
      end
    elseif job.phase == "unplaced" then
      -- stacks an earlier game could not place: placed anywhere if this game knows them,
      -- else skipped again (and carried on by the caller)
      local list = stacks.unplaced
      if type(list) ~= "table" then list = {} end
      local k = job.k
      while k <= #list and left > 0 do
        local e, err = player_data.check_stack(list[k], "unplaced[" .. k .. "]")
        if not e then
          skip(job, list[k], err)
        else
          e.slot = nil
          local why = player_data.unknown_reason(e)
          if why then skip(job, e, why) else defer(job, e) end
        end
        left = left - player_data.STACK_COST
        k = k + 1
      end
      job.k = k
      if k > #list then job.phase, job.k = "leftovers", 1 end
    elseif job.phase == "leftovers" then
      local k = job.k
      while k <= #job.deferred and left > 0 do
        local e = job.deferred[k]
        place_anywhere(job, e)
        left = left - player_data.STACK_COST
        if e.export then left = left - floor(#e.export / player_data.EXPORT_BYTES) end
        k = k + 1
      end
      job.k = k
      if k > #job.deferred then
        if stacks.crafting ~= nil then
          local ok, rest, skipped = pcall(player_data.give_crafting, character, stacks.crafting)
          if ok then
            for i = 1, #rest do job.overflow[#job.overflow + 1] = rest[i] end
            for i = 1, #skipped do job.skipped[#job.skipped + 1] = skipped[i] end
          end
          left = left - player_data.STACK_COST * 4
        end
        local c = stacks.cursor
        if c ~= nil then
          local e, err = player_data.check_stack(c, "cursor")
          if not e then
            skip(job, c, err)
          else
            local why = player_data.unknown_reason(e)
            if why then skip(job, e, why) else job.cursor = e end
          end
        end
        job.phase = "done"
        job.data, job.dense = nil, nil
        return true, nil, budget - left
      end
    else
      return true, nil, budget - left
    end
  end
  return false, nil, budget - left
end

--- The skipped entries of a write that are stacks (an item or quality this game does not know,
--- an export string it refused), normalised and without their slot: what the player still
--- owns and the next upload carries as `unplaced`. Entries that are not stacks at all (a
--- malformed entry) are not items and are not carried.
---@param skipped table list of {entry, reason}
---@return table
function player_data.unplaced(skipped)
  local out = {}
  for i = 1, #skipped do
    local e = player_data.check_stack(skipped[i].entry, "skipped")
    if e then
      e.slot = nil
      out[#out + 1] = e
    end
  end
  return out
end

-- Moving a temporary character's items --------------------------------------------------

--- A job that moves every stack of `from` into `into`; what does not fit goes to
--- `job.overflow` as stack tables.
---@param from LuaEntity
---@param into LuaEntity
---@return table
function player_data.mover(from, into)
  -- the crafting queue's items are the temporary character's too: back into its inventory
  local ok, rest = pcall(player_data.cancel_crafting, from)
  return { from = from, into = into, inv = 1, slot = 1, overflow = ok and rest or {}, moved = 0 }
end

--- Moves for about `budget` units; true when done (a vanished character ends the job), and
--- the units spent (as the second and third results, like the other steps).
---@param job table
---@param budget number
---@return boolean done
---@return nil
---@return number spent
function player_data.move_step(job, budget)
  local left = budget
  local invs = player_data.INVENTORIES
  while left > 0 do
    if job.inv > #invs or not (job.from.valid and job.into.valid) then return true, nil, budget - left end
    local inv = inventory_of(job.from, invs[job.inv].define)
    local n = inv and #inv or 0
    local slot = job.slot
    while slot <= n and left > 0 do
      local st = inv[slot]
      left = left - player_data.SLOT_COST
      local e = player_data.read_stack(st)
      if e then
        st.clear()
        local rest = player_data.insert_anywhere(job.into, e, job.overflow)
        if rest > 0 then
          e.count = rest
          job.overflow[#job.overflow + 1] = e
        end
        job.moved = job.moved + 1
        left = left - 2 * player_data.STACK_COST
        if e.export then left = left - 2 * floor(#e.export / player_data.EXPORT_BYTES) end
      end
      slot = slot + 1
    end
    job.slot = slot
    if slot > n then job.inv, job.slot = job.inv + 1, 1 end
  end
  return job.inv > #invs, nil, budget - left
end

return player_data
