-- Joining strings (join.lua): the same bytes as table.concat, for any number of pieces.
local t = require("testlib")
local join = require("invsync.join")

local tests = {}
local function test(name, fn) tests[#tests + 1] = { name, fn } end

test("strings joins any number of pieces in order", function()
  local r = t.rng(11)
  for _, n in ipairs({ 0, 1, 2, 3, join.WIDTH - 1, join.WIDTH, join.WIDTH + 1, 2 * join.WIDTH, 1000, 1025 }) do
    local list = {}
    for i = 1, n do list[i] = r.bytes(r.int(0, 40)) end
    t.eq(join.strings(list), table.concat(list), n .. " pieces")
    if n > 2 then
      t.eq(join.strings(list, n - 2), table.concat(list, "", 1, n - 2), "the first " .. (n - 2) .. " of " .. n)
      t.eq(#list, n, "the list is left as it was")
    end
  end
  t.eq(join.strings({ "", "", "" }), "", "empty pieces")
end)

test("groups join pieces as they come and give the whole at the end", function()
  local r = t.rng(12)
  for _, count in ipairs({ 0, 1, join.WIDTH - 1, join.WIDTH, 144, 1000, 5000 }) do
    local g = join.groups(count)
    local pieces, joined = {}, 0
    for i = 1, count do
      pieces[i] = string.rep(string.char(r.int(65, 90)), r.int(0, 300))
      local before = #g.parts
      local now = join.add(g, pieces[i])
      joined = joined + now
      t.ok(now == 0 or #g.parts == before + 1, "bytes are joined only when a group closes")
    end
    if count < join.WIDTH then t.eq(joined, 0, count .. " pieces: nothing joined before the end") end
    t.ok(#g.parts + #g.pend <= join.WIDTH + g.per, count .. " pieces kept as " .. #g.parts .. " groups")
    t.ok(#g.parts <= join.WIDTH, "one chain at the end")
    t.eq(join.finish(g), table.concat(pieces), count .. " pieces")
    t.assert_plain(g, "groups")
  end
end)

return tests
