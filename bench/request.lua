-- wrk script of tools/bench.
--
--   wrk -s bench/request.lua URL -- BODY_FILE ["Name: value" ...]
--
-- POSTs BODY_FILE (Content-Type: application/json) with the extra headers
-- to URL; the request is built once (a static wrk request).  done() prints
-- one line that tools/bench parses:
--
--   BENCH requests=... duration_us=... p50_us=... p99_us=... errors=...
--
-- With BENCH_LIMIT=N in the environment (the RSS run), the thread stops
-- after N responses and interrupts wrk so it reports at once.

local limit = tonumber(os.getenv("BENCH_LIMIT") or "")
local count = 0

function init(args)
   local f = assert(io.open(args[1], "rb"))
   wrk.method = "POST"
   wrk.body = f:read("*a")
   f:close()
   wrk.headers["Content-Type"] = "application/json"

   for i = 2, #args do
      local name, value = args[i]:match("^([^:]+):%s*(.*)$")
      assert(name, "bad header: " .. args[i])
      wrk.headers[name] = value
   end
end

if limit then
   function response(status, headers, body)
      count = count + 1
      if count == limit then
         wrk.thread:stop()
         -- wrk's main thread sleeps for -d, SIGINT ends that sleep; sent
         -- from the background, as system() ignores SIGINT until it returns
         os.execute("(sleep 0.2; kill -INT $PPID) >/dev/null 2>&1 &")
      end
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d "
      .. "errors=%d status_errors=%d\n",
      summary.requests, summary.duration,
      latency:percentile(50), latency:percentile(99),
      e.connect + e.read + e.write + e.timeout, e.status))
end
