-- wrk script for the "http" workload: each write carries DEPTH pipelined requests for the
-- URL's path, and wrk counts every response.
--
--   wrk -s bench/wrk/pipeline.lua http://127.0.0.1:8080/plaintext -- 16
--
-- DEPTH is the first argument after "--" (16 when absent, as in TechEmpower's plaintext
-- test). wrk 4.1 records one latency sample per batch, from the write to the last
-- response, so the latency percentiles are per batch of DEPTH requests.

local batch

function init(args)
  local depth = tonumber(args[1]) or 16
  local requests = {}
  for i = 1, depth do
    requests[i] = wrk.format(nil, wrk.path)
  end
  batch = table.concat(requests)
end

function request()
  return batch
end
