-- The desk's load for wrk (Debian's `wrk`): a closed loop of keep-alive
-- connections, each sending GET PATH_TEMPLATE with {id} drawn in turn from
-- IDS_FILE and one header, for wrk's bounded duration. Prints one line:
-- requests per second, p50/p90/p99/max latency, and answers other than 200.
--
--   wrk -t2 -c50 -d20s -s benches/desk_wrk.lua http://ADDR -- PATH_TEMPLATE IDS_FILE 'Header: value'
--
-- wrk is C and costs the server's two cores far less than a Python client.

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    template, ids_file = args[1], args[2]
    header_name, header_value = args[3]:match("^([^:]+):%s*(.*)$")
    ids = {}
    for line in io.lines(ids_file) do
        if #line > 0 then
            ids[#ids + 1] = line
        end
    end
    -- Threads start at different places in the list.
    at = math.random(#ids)
    not_ok = 0
end

function request()
    at = at % #ids + 1
    local path = template:gsub("{id}", ids[at])
    return wrk.format("GET", path, { [header_name] = header_value })
end

function response(status)
    if status ~= 200 then
        not_ok = not_ok + 1
    end
end

function done(summary, latency, requests)
    local bad = 0
    local template = threads[1]:get("template")
    for _, t in ipairs(threads) do
        bad = bad + t:get("not_ok")
    end
    local e = summary.errors
    local secs = summary.duration / 1e6
    io.write(string.format(
        "%-40s %5.1f s %8d req %8.1f req/s  p50 %6.1f ms  p90 %6.1f ms  p99 %6.1f ms  max %6.1f ms  non-200: %d  socket errors: %d\n",
        template, secs, summary.requests, summary.requests / secs,
        latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
        latency.max / 1000, bad, e.connect + e.read + e.write + e.timeout))
end
