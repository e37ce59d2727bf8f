-- The JSON writer helpers and the resumable decoder (portable Lua suite).
local t = require("testlib")
local json = require("invsync.json")

local tests = {}
local function test(name, fn) tests[#tests + 1] = { name, fn } end

-- a canonical text of a decoded value (keys sorted), to compare structures
local function canon(v)
  local kind = type(v)
  if kind == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local out = {}
    for i = 1, #keys do out[i] = tostring(keys[i]) .. "=" .. canon(v[keys[i]]) end
    return "{" .. table.concat(out, ",") .. "}"
  elseif kind == "string" then
    return string.format("%q", v)
  end
  return tostring(v)
end

test("quote escapes exactly what JSON needs", function()
  t.eq(json.quote("iron-plate"), '"iron-plate"', "plain")
  t.eq(json.quote('a"b\\c'), '"a\\"b\\\\c"', "quote and backslash")
  t.eq(json.quote("l1\nl2\t\1\127"), '"l1\\nl2\\t\\u0001\\u007f"', "controls")
  t.eq(json.quote("\195\169t\195\169"), '"\195\169t\195\169"', "UTF-8 kept")
end)

test("number writes integers plainly and other numbers exactly", function()
  t.eq(json.number(100), "100", "integer")
  t.eq(json.number(-3), "-3", "negative")
  t.eq(json.number(0.5), "0.5", "half")
  t.eq(json.number(0.85), "0.85", "short decimal")
  local third = 1 / 3
  t.eq(tonumber(json.number(third)), third, "a third reads back exactly")
  t.eq(tonumber(json.number(0.1 + 0.2)), 0.1 + 0.2, "0.1 + 0.2 reads back exactly")
  t.eq(json.number(2 ^ 52), "4503599627370496", "large integer")
  t.ok(not pcall(json.number, 0 / 0), "NaN raises")
end)

test("decode: values, nesting, escapes, null", function()
  local v = json.decode('{"a":[1,2.5,-3e2,true,false,null,"x"],"b":{"c":{}},"d":[],"e":"\\u00e9\\ud83d\\ude00\\n\\/"}')
  t.eq(v.a[1], 1, "int"); t.eq(v.a[2], 2.5, "float"); t.eq(v.a[3], -300, "exponent")
  t.eq(v.a[4], true, "true"); t.eq(v.a[5], false, "false"); t.eq(v.a[6], nil, "null is a hole")
  t.eq(v.a[7], "x", "after the hole")
  t.eq(type(v.b.c), "table", "empty object"); t.eq(next(v.d), nil, "empty array")
  t.eq(v.e, "\195\169\240\159\152\128\n/", "escapes decoded to UTF-8")
  local o = json.decode('  { "k" : null , "m" : 1 }  ')
  t.eq(o.k, nil, "null member absent"); t.eq(o.m, 1, "whitespace everywhere")
end)

test("decode: round trip of what the writer helpers produce", function()
  local r = t.rng(9)
  for _ = 1, 50 do
    local s = r.bytes(r.int(0, 40), 1, 127)
    local n = r.int(-100000, 100000) / r.int(1, 1000)
    local text = '{"s":' .. json.quote(s) .. ',"n":' .. json.number(n) .. "}"
    local v = json.decode(text)
    t.eq(v.s, s, "string"); t.eq(v.n, n, "number")
  end
end)

test("decode: errors name what and where, never raise", function()
  local bad = {
    { "", "end" }, { "{", "end" }, { '{"a" 1}', "':'" }, { "[1,]", "value" }, { "[1 2]", "','" },
    { '{"a":1,}', "key" }, { "tru", "value" }, { '"abc', "unterminated" }, { '"a\1b"', "control" },
    { '"\\x"', "escape" }, { '"\\u12"', "hex" }, { '"\\ud800"', "surrogate" }, { "1 2", "after" },
    { "01.", "number" }, { "[" .. string.rep("[", 70) .. "]", "deeper" }, { "{1:2}", "key" },
  }
  for _, case in ipairs(bad) do
    local v, err = json.decode(case[1])
    t.eq(v, nil, "no value for " .. case[1])
    t.ok(type(err) == "string" and err:find(case[2], 1, true), "error for " .. case[1] .. " mentions " .. case[2] .. ": " .. tostring(err))
  end
end)

test("decode_step: any budget gives the same value, a small budget many steps", function()
  local parts = {}
  for i = 1, 200 do
    parts[i] = string.format('{"slot":%d,"name":"item-%d","count":%d,"export":%s}', i, i, i * 3,
      json.quote(string.rep("AbC", i % 7)))
  end
  local text = '{"format":1,"inventories":{"main":[' .. table.concat(parts, ",") .. ']}}'
  local want = canon(json.decode(text))
  for _, budget in ipairs({ 1, 2, 7, 64, 1000 }) do
    local d = json.decoder(text)
    local steps, total = 0, 0
    while true do
      local done, spent = json.decode_step(d, budget)
      steps = steps + 1
      total = total + spent
      t.ok(spent <= budget + 1 + #text / 64, "a step spends about its budget")
      if done then break end
    end
    t.eq(d.err, nil, "no error at budget " .. budget)
    t.eq(canon(d.root), want, "same value at budget " .. budget)
    if budget == 1 then t.ok(steps > 1000, "budget 1 takes many steps (" .. steps .. ")") end
  end
end)

test("decode_step: each escape in a string is charged, so a string of escapes is not one free token", function()
  local plain = json.quote(string.rep("a", 1000))
  local escaped = json.quote(string.rep('"', 1000))
  local function spent_on(text)
    local d = json.decoder(text)
    local done, spent = json.decode_step(d, 100000)
    t.ok(done and d.err == nil, "decoded " .. text:sub(1, 10))
    return spent
  end
  local cheap, dear = spent_on(plain), spent_on(escaped)
  t.ok(dear >= cheap + 1000, "1000 escapes cost at least 1000 units more (" .. cheap .. " against " .. dear .. ")")
  t.eq(json.decode(escaped), string.rep('"', 1000), "and decode to the quotes")
end)

return tests
