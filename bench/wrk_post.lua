-- POST one fixed JSON body on every request and print one JSON line of figures at the end.
--
--   wrk -t1 -c50 -d8s -s bench/wrk_post.lua http://127.0.0.1:8000/graphql -- BODY_FILE [LENGTH]
--
-- Counts responses whose body contains "errors" and, when LENGTH > 0, responses whose body
-- is not LENGTH bytes long, so a fast stream of failures cannot pass for throughput.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  wrk.method = "POST"
  wrk.body = file:read("*a")
  file:close()
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
  expected_length = tonumber(args[2] or "0")
  graphql_errors = 0
  length_mismatches = 0
end

function response(status, headers, body)
  if string.find(body, '"errors"', 1, true) then
    graphql_errors = graphql_errors + 1
  end
  if expected_length > 0 and #body ~= expected_length then
    length_mismatches = length_mismatches + 1
  end
end

function done(summary, latency, requests)
  local gql, mismatched = 0, 0
  for _, thread in ipairs(threads) do
    gql = gql + thread:get("graphql_errors")
    mismatched = mismatched + thread:get("length_mismatches")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50":%d,"p95":%d,"p99":%d,"max":%d,'
      .. '"socket_errors":%d,"status_errors":%d,"graphql_errors":%d,"length_mismatches":%d}\n',
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.timeout, e.status, gql, mismatched
  ))
end
