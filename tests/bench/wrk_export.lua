-- wrk script for scripts/bench client (the REST ceiling): POSTs the ExportImage request
-- that bench_client --write-request wrote, without requestId, and stops each wrk thread
-- after its share of the calls so every contender makes the same number.
--   EE_WRK_BODY              file holding the JSON body (request.json)
--   EE_WRK_PATH              request path, "/v1/projects/bench/image:export"
--   EE_WRK_CALLS_PER_THREAD  responses after which a thread stops (0 or unset: run for -d)
local f = assert(io.open(assert(os.getenv("EE_WRK_BODY"), "EE_WRK_BODY unset"), "rb"))
wrk.method = "POST"
wrk.path = assert(os.getenv("EE_WRK_PATH"), "EE_WRK_PATH unset")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

local limit = tonumber(os.getenv("EE_WRK_CALLS_PER_THREAD") or "0") or 0
local seen = 0

function response(status, headers, body)
  seen = seen + 1
  if limit > 0 and seen >= limit then
    wrk.thread:stop()
  end
end
