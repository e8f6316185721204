-- One wrk script for every row, configured by the environment (bench/wrk.py sets it):
--   BENCH_PATHS   file with one request path per line (default: the URL's own path)
--   BENCH_ONCE    "1": walk the paths once, each thread its own share, then stop
--                 (cold rows: no code is asked twice, so no answer comes from the cache)
--   BENCH_METHOD, BENCH_BODY (file), BENCH_CONTENT_TYPE: a POST with a fixed body
--   BENCH_THREADS the -t value, to split the paths between threads
-- done() prints one JSON line starting with BENCH_RESULT for bench/wrk.py to read.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_usec; } bench_timeval;
  int gettimeofday(bench_timeval *tv, void *tz);
]]
local tv = ffi.new("bench_timeval")

local function now()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) + tonumber(tv.tv_usec) / 1e6
end

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function read_file(name)
  local f = assert(io.open(name, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

function init(args)
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  once = os.getenv("BENCH_ONCE") == "1"
  paths = {}
  local list = os.getenv("BENCH_PATHS") or ""
  if list ~= "" then
    local i = 0
    for line in io.lines(list) do
      if line ~= "" then
        if i % nthreads == id then table.insert(paths, line) end
        i = i + 1
      end
    end
  else
    paths = { wrk.path }
  end
  local body_file = os.getenv("BENCH_BODY") or ""
  if body_file ~= "" then
    wrk.body = read_file(body_file)
    wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
  end
  wrk.method = os.getenv("BENCH_METHOD") or "GET"
  next_index = 0
  answered = 0
  started_at = now()
  requests_ = {}
  for i, p in ipairs(paths) do
    requests_[i] = wrk.format(nil, p)
  end
end

function request()
  next_index = next_index % #requests_ + 1
  return requests_[next_index]
end

function response(status, headers, body)
  answered = answered + 1
  if once and answered >= #paths then
    -- wrk's own clock runs to -d whatever the threads do: time the walk here
    stopped_at = now()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local duration = summary.duration
  local first, last = nil, nil
  for _, t in ipairs(threads) do
    local a, b = t:get("started_at"), t:get("stopped_at")
    if b == nil then last = nil; break end
    first = math.min(first or a, a)
    last = math.max(last or b, b)
  end
  if last ~= nil then duration = (last - first) * 1e6 end
  local out = string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}',
    summary.requests, duration, summary.bytes, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max)
  io.write("BENCH_RESULT " .. out .. "\n")
end
