-- wrk script for the at-risk benchmark (bench/support.sh): GET /api/v1/support/at-risk with a
-- bearer token. Prints the latency percentiles (ms) in a line that support.sh parses, as
-- bench/list.lua does.
--
-- env: BENCH_TOKEN (bearer token of a support or admin user)

function init(args)
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
end

function request()
  return wrk.format("GET", "/api/v1/support/at-risk")
end

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
