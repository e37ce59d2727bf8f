--- Default limits of docs/PROTOCOL.md section 4 and the receiver's work budget.
---
--- Budgets are work units, never time: one unit is one byte checksummed, one base64
--- character decoded or one byte of LZ4 output produced. The defaults keep a tick under about
--- 1 ms of Lua; what a unit costs in time is measured in scenario/README.md, "Budgets".

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
  --- Bytes of a frame's data per work unit for its deferred character check (one C-speed
  --- scan of the data, PROTOCOL.md 3 steps 3 and 5; measured 0.19 units per byte of base64,
  --- 0.09 of raw text, by the lua_codecs benchmark's "unit costs").
  scan_bytes = 4,
  --- Bytes of a staged `raw` payload per work unit for its text check (one C-speed scan of
  --- printable ASCII runs; measured 0.09 units per byte by the same benchmark).
  text_scan_bytes = 8,
  --- Work units per KiB a sender checksums when it stages a message: less than one unit a byte,
  --- since the `bit32` CRC got faster than the unit the charges were set against (16 bytes a
  --- step), so that staging ticks take the time the budget stands for (the measurements:
  --- scenario/README.md, "Budgets" and "Speed"). The receiver keeps one unit a byte: its other
  --- charges, set against the emulator's ticks, already fill its ticks (PROTOCOL.md 8).
  staging_crc_units_per_kib = 704,
  --- Bytes of a staged frame per work unit when it is built: a copy of its data, the frame
  --- string, and the collector's work that this allocation brings in the same tick. At 16
  --- bytes a unit, five 64 KiB frames were built in one tick and the collector swept the whole
  --- heap in it (1.0-1.2 ms in the emulator); at 4, with the text check of the same copy,
  --- about one a tick.
  build_bytes = 4,
  --- Work units for one call of the native inflate (`helpers.decode_string`) ...
  inflate_call_cost = 32,
  --- ... plus one per this many base64 characters of its input ...
  inflate_in_chars = 8,
  --- ... plus one per this many bytes of its output (the lua_codecs benchmark's "unit costs":
  --- 0.21 units per character of the huge sample's chunks, all costs included, 0.12 per output
  --- byte; the emulator's ticks, which `invsync bench --tick-log` shows, between half of that
  --- and all of it: 12 keeps the receiving ticks of `invsync bench` near 0.9 ms).
  inflate_out_bytes = 12,
  --- Bytes of payload per work unit when pieces are joined (join.lua): a C-speed copy into a
  --- buffer, then into the new string, and the garbage collector's step that allocating
  --- twice the payload in one tick brings. Measured in the emulator: 0.13-0.25 ms per MB when
  --- the allocator reuses memory, 1.1 ms when the megabytes are fresh pages (glibc maps
  --- allocations of 128 KiB and more anew), and 0.25-0.4 ms more per 200 kB when the
  --- collector's step lands in that tick; this charge covers the last two.
  join_bytes = 16,
}

return limits
