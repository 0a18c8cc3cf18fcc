-- wrk script for bench/redirect/run.py: click through a file of request paths, one per line,
-- and count the answers by status.
--
--   wrk -s clicks.lua URL -- PATHS_FILE THREADS [START]
--
-- Each thread starts at its own offset in the file (thread i of n at i/n of the way through,
-- shifted by START) and cycles through it. done() sums the per-thread counters (setup() keeps
-- every thread so that done() can thread:get them) and prints one line for run.py to parse:
--
--   wrk-result requests=... duration_us=... p50_us=... p99_us=... sent=... status_302=...
--              status_other=... errors_connect=... errors_read=... errors_write=...
--              errors_timeout=...

local threads = {}

function setup(thread)
   thread:set("thread_index", #threads)
   table.insert(threads, thread)
end

function init(args)
   paths = {}
   for line in io.lines(args[1]) do
      if #line > 0 then
         paths[#paths + 1] = line
      end
   end
   local count = tonumber(args[2]) or 1
   local start = tonumber(args[3]) or 0
   position = (start + math.floor(#paths * thread_index / count)) % #paths
   -- wrk calls request() once on the first thread before the run to check the request it
   -- builds (script_verify_request); that request is never sent, so it is not counted.
   if thread_index == 0 then
      sent = -1
   else
      sent = 0
   end
   status_302 = 0
   status_other = 0
end

function request()
   position = position % #paths + 1
   sent = sent + 1
   return wrk.format(nil, paths[position])
end

function response(status, headers, body)
   if status == 302 then
      status_302 = status_302 + 1
   else
      status_other = status_other + 1
   end
end

function done(summary, latency, requests)
   local totals = { sent = 0, status_302 = 0, status_other = 0 }
   for _, thread in ipairs(threads) do
      for name, _ in pairs(totals) do
         totals[name] = totals[name] + thread:get(name)
      end
   end
   local errors = summary.errors
   io.write(string.format(
      "wrk-result requests=%d duration_us=%d p50_us=%d p99_us=%d sent=%d status_302=%d "
         .. "status_other=%d errors_connect=%d errors_read=%d errors_write=%d "
         .. "errors_timeout=%d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      totals.sent, totals.status_302, totals.status_other, errors.connect, errors.read,
      errors.write, errors.timeout
   ))
end
