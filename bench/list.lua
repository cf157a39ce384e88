-- wrk script for the list benchmark: GET /api/v1/dids?prefix=P (first page, default limit
-- 100) with a bearer token, P drawn at random from BENCH_PREFIXES (one prefix a line) for
-- every request. Prints the latency percentiles (ms) in a line that run.sh parses.
--
-- env: BENCH_PREFIXES (file), BENCH_TOKEN (bearer token)

local prefixes = {}
local token = os.getenv("BENCH_TOKEN")
local counter = 0

local function load()
  local f = assert(io.open(os.getenv("BENCH_PREFIXES"), "r"))
  for line in f:lines() do
    if #line > 0 then
      -- '+' in a query string means a space: send it as %2B.
      prefixes[#prefixes + 1] = "/api/v1/dids?prefix=" .. line:gsub("%+", "%%2B")
    end
  end
  f:close()
end

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  load()
  math.randomseed(os.time() + (id or 0) * 7919)
  wrk.headers["Authorization"] = "Bearer " .. token
end

function request()
  return wrk.format("GET", prefixes[math.random(#prefixes)])
end

-- No response() callback: it would make wrk hand every body to Lua. Non-2xx answers
-- are counted by wrk itself (summary.errors.status).
function done(summary, latency, requests)
  local e = summary.errors
  local ms = function(us) return string.format("%.3f", us / 1000) end
  io.write(string.format(
    "RESULT count=%d duration_s=%.1f p50=%s p90=%s p99=%s p999=%s max=%s non2xx=%d errors=%d\n",
    summary.requests, summary.duration / 1e6,
    ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)),
    ms(latency:percentile(99.9)), ms(latency.max),
    e.status, e.connect + e.read + e.write + e.timeout))
end
