-- wrk script for scripts/bench client (the REST ceiling): POSTs the ExportImage request
-- that bench_client --write-request wrote (proto3 JSON, without requestId).
--   EE_WRK_BODY  file holding the JSON body (request.json)
--   EE_WRK_PATH  request path, "/v1/projects/bench/image:export"
-- (wrk runs for its -d duration whatever a script does: thread:stop() ends a thread's
-- requests but not the run, so wrk cannot make exactly N calls in a measured time.)
local f = assert(io.open(assert(os.getenv("EE_WRK_BODY"), "EE_WRK_BODY unset"), "rb"))
wrk.method = "POST"
wrk.path = assert(os.getenv("EE_WRK_PATH"), "EE_WRK_PATH unset")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
