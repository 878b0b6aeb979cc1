-- wrk script for bench/run: posts the signed callbacks of a file written by gen_callbacks,
-- each thread its own profiles (so one profile's reports come in lifecycle order per thread).
-- Usage: wrk -s bench/callbacks.lua URL -- FILE THREADS

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  requests = {}
  local profile = 0
  local line_no = 0
  for line in io.lines(file) do
    if profile % nthreads == id then
      local path, sig, token, body = line:match("^([^|]*)|([^|]*)|([^|]*)|(.*)$")
      requests[#requests + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = sig,
        ["I-Twilio-Idempotency-Token"] = token,
      }, body)
    end
    line_no = line_no + 1
    if line_no % 3 == 0 then profile = profile + 1 end
  end
  sent = 0
end

function request()
  sent = sent + 1
  -- Past the end the same requests go again: duplicates, still verified, not stored twice.
  return requests[((sent - 1) % #requests) + 1]
end

function done(summary, latency, requests_)
  local sent_total, distinct = 0, 0
  for _, thread in ipairs(threads) do
    sent_total = sent_total + thread:get("sent")
    distinct = distinct + #thread:get("requests")
  end
  local errors = summary.errors
  io.write(string.format(
    "RESULT requests=%d rps=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d socket_errors=%d wrapped=%s\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    errors.status, errors.connect + errors.read + errors.write + errors.timeout,
    tostring(sent_total > distinct)))
end
