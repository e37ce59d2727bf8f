-- A scenario that syncs its players' inventories through invsync.
-- Copy the folder `invsync/` next to this file; the host (an invsync host) does the rest.
local invsync = require("invsync.factorio")

invsync.setup({
  -- every setting is optional; see invsync/settings.lua for the list and the defaults, e.g.
  -- acquire_timeout = 600,   -- ticks to wait for the host's answer before offering Retry
})

-- Optional: messages of your own from the host (anything that is not a player-sync message).
invsync.on_message(function(payload, id)
  log("invsync example: message " .. id .. " from the host, " .. #payload .. " bytes")
end)
