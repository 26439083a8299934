-- wrk script: POST OpenLineage RunEvents, each with its own run id (so none is a duplicate),
-- 500 jobs over 3,000 datasets, a schema facet on the output. One event per request, or a JSON
-- array of N events with `wrk ... -s lineage.lua URL -- N`.
local counter = 0
local threads = 0
local per_request = 1

function init(args)
  per_request = tonumber(args[1]) or 1
end

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local fields = {}
for k = 0, 7 do
  fields[#fields + 1] = string.format('{"name":"c%d","type":"string"}', k)
end
local schema = table.concat(fields, ",")

local function event()
  counter = counter + 1
  local n = (tonumber(tid) or 0) * 100000000 + counter
  return string.format(
    '{"eventType":"COMPLETE","eventTime":"2026-11-28T12:00:00+00:00",' ..
    '"producer":"https://example.com/bench",' ..
    '"schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json",' ..
    '"run":{"runId":"00000000-0000-4000-8000-%012d"},' ..
    '"job":{"namespace":"ingest","name":"job-%d"},' ..
    '"inputs":[{"namespace":"ingest","name":"table-%d"},{"namespace":"ingest","name":"table-%d"}],' ..
    '"outputs":[{"namespace":"ingest","name":"table-%d","facets":{"schema":{' ..
    '"_producer":"https://example.com/bench",' ..
    '"_schemaURL":"https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",' ..
    '"fields":[%s]}}}]}',
    n, n % 500, (n * 7) % 2000, (n * 13) % 2000, 2000 + n % 1000, schema)
end

function request()
  local body
  if per_request == 1 then
    body = event()
  else
    local events = {}
    for i = 1, per_request do events[i] = event() end
    body = "[" .. table.concat(events, ",") .. "]"
  end
  -- wrk.format replaces wrk.headers (where -H puts the API key) with the table it is given.
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/api/v1/lineage", headers, body)
end

function done(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
