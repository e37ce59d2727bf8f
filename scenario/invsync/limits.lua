--- Default limits of docs/PROTOCOL.md section 4 and the receiver's work budget.
---
--- Budgets are work units, never time: one unit is one byte checksummed, one base64
--- character decoded or one byte of LZ4 output produced. On PUC Lua 5.2 one unit costs
--- 20 to 70 ns, so the default of 16384 units per tick stays under about 1 ms.

local limits = {
  --- Longest frame accepted over RCON (host -> game), without the command wrapper.
  max_frame_rcon = 8192,
  --- Longest frame printed on stdout (game -> host), without the form feed marker.
  max_frame_stdout = 3999,
  --- Longest frame returned in an RCON reply (`pull`).
  max_frame_pull = 262144,
  --- Largest `plen` and `wlen`.
  max_message = 16777216,
  --- Largest `count`.
  max_chunks = 65536,
  --- Messages in progress at once.
  max_messages = 64,
  --- Bytes buffered at once (wire text reserved by messages in progress plus queued frames).
  max_buffered = 67108864,
  --- A message in progress without progress for this many ticks is dropped (`Expired`).
  max_age_ticks = 3600,
  --- ... or for this many frames pushed to the receiver.
  max_age_frames = 100000,
  --- Bytes of frames waiting in the receiver for their fcrc check (not in PROTOCOL.md: the
  --- reference codec verifies at once). At RCON speeds the queue holds a few frames at most.
  max_queued = 4194304,
  --- Completed message ids remembered to recognise late duplicates.
  remember_completed = 64,
  --- Work units the adapter gives `reassembler.step` and `sender.step` per tick by default.
  step_budget = 16384,
  --- Work units charged for one CRC combination (a few polynomial products, ~15 us).
  combine_cost = 256,
}

return limits
