-- Driven by bench/load.py:  wrk ... -s wrk.lua URL -- METHOD PATH BODIES_FILE LIMIT
-- Sends METHOD PATH, cycling through the bodies (one JSON per line; none for GET). With a
-- LIMIT, the thread times itself and prints its result after LIMIT answers (wrk's main
-- thread sleeps out -d regardless, so load.py interrupts it on that line); otherwise, or
-- if -d runs out first, done() prints wrk's own summary. Always run with -t1.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *now);
]]
local timespec = ffi.new("bench_timespec")
local function monotonic()
  ffi.C.clock_gettime(1, timespec) -- CLOCK_MONOTONIC
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) / 1e9
end

local method, path, limit
local bodies = {}
local sent, answered, failed, began = 0, 0, 0, nil
local verified = false

function init(args)
  method, path, limit = args[1], args[2], tonumber(args[4]) or 0
  if args[3] and args[3] ~= "" then
    for line in io.lines(args[3]) do
      bodies[#bodies + 1] = line
    end
  end
end

function request()
  if not verified then
    -- wrk calls this once on thread 0 to check the script; that request is never sent.
    verified = true
    return wrk.format(method, path)
  end
  began = began or monotonic()
  sent = sent + 1
  if limit > 0 and sent > limit then
    -- Connections still busy near the limit need something harmless to send; its 404 tells
    -- response() that it is not one of the LIMIT (they may overtake the last real ones).
    return wrk.format("GET", "/bench-filler")
  end
  local body = nil
  if #bodies > 0 then
    body = bodies[(sent - 1) % #bodies + 1]
  end
  return wrk.format(method, path, nil, body)
end

function response(status, headers, body)
  if status == 404 and sent > limit then
    return
  end
  answered = answered + 1
  if status >= 400 then
    failed = failed + 1
  end
  if limit > 0 and answered == limit then
    local now = monotonic()
    io.write(string.format('BENCH {"requests":%d,"duration_us":%d,"errors":%d,"ended_at":%.6f}\n',
      answered, (now - began) * 1e6, failed, now))
    io.flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
