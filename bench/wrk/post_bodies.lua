-- POST JSON bodies read from a file (one body per line), picked at random for each request.
-- Arguments after `--`: the body file, optionally the number of responses after which
-- each thread stops (0 or absent: run for wrk's duration), and the path of a file that
-- the thread creates when it stops there. wrk's main thread sleeps for the whole
-- duration even after every thread has stopped, so the caller watches for that file
-- and ends wrk early with SIGINT, which still runs done().
-- done() writes one line "JSON:{...}" with the counts and latency percentiles in microseconds.

local requests_by_index = {}
local max_responses = 0
local responses = 0
local stopped_marker = nil

function init(args)
  for line in io.lines(args[1]) do
    requests_by_index[#requests_by_index + 1] = wrk.format("POST", nil, {["Content-Type"] = "application/json"}, line)
  end
  max_responses = tonumber(args[2] or "0")
  stopped_marker = args[3]
  math.randomseed(os.time())
end

function request()
  return requests_by_index[math.random(#requests_by_index)]
end

function response(status, headers, body)
  responses = responses + 1
  if max_responses > 0 and responses >= max_responses then
    if stopped_marker then
      io.open(stopped_marker, "w"):close()
    end
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'JSON:{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
