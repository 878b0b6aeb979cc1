-- wrk script for bench/run: sends the requests gen_callbacks wrote, thread n those of FILE.n
-- (each thread its own profiles, so one profile's reports come in lifecycle order).
-- Usage: wrk -s bench/callbacks.lua URL -- FILE
-- wrk starts its clock once every thread's init has returned, and the threads already started
-- send meanwhile: a slow init (loading the file) would inflate requests/s.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  path = args[1] .. "." .. id
  file = assert(io.open(path, "rb"))
  wrapped = false
end

-- Each request is read as it is sent, after the line giving its length: init reads nothing,
-- so the threads start sending together.
function request()
  local length = file:read("*l")
  if not length then
    -- Past the end the same requests go again: duplicates, still verified, not stored twice.
    wrapped = true
    file:seek("set", 0)
    length = assert(file:read("*l"), path .. " holds no requests")
  end
  return assert(file:read(tonumber(length)), path .. " ends mid-request")
end

function done(summary, latency, requests_)
  local any_wrapped = false
  for _, thread in ipairs(threads) do
    any_wrapped = any_wrapped or thread:get("wrapped")
  end
  local errors = summary.errors
  io.write(string.format(
    "RESULT requests=%d rps=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d socket_errors=%d wrapped=%s\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    errors.status, errors.connect + errors.read + errors.write + errors.timeout,
    tostring(any_wrapped)))
end
