-- wrk script for benches/soak.sh: cycles through every route (good and deliberately
-- bad requests) and counts the answers by status; done() prints them as
-- "status CODE COUNT" lines for soak.sh to judge.

local function slurp(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("*a")
    f:close()
    return s
end

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    local bundle = slurp(os.getenv("SOAK_BUNDLE_BODY"))
    local json = { ["Content-Type"] = "application/json" }
    requests = {
        wrk.format("GET", "/v1/recipe?service=eks&accelerator=h100&intent=training&os=ubuntu&platform=kubeflow"),
        wrk.format("GET", "/v1/recipe?service=gke&intent=inference", { ["Accept-Encoding"] = "zstd" }),
        wrk.format("GET", "/v1/recipe?service=aks&accelerator=a100", { ["Accept-Encoding"] = "gzip" }),
        wrk.format("GET", "/v1/recipe?service=eks&intent=training", { ["If-None-Match"] = "*" }),
        wrk.format("GET", "/v1/query?service=eks&accelerator=h100&selector=components.gpu-operator.values.driver"),
        wrk.format("POST", "/v1/recipe", json, '{"kind":"RecipeCriteria","spec":{"service":"oke","nodes":4}}'),
        wrk.format("POST", "/v1/query", { ["Content-Type"] = "application/x-yaml" },
            "criteria:\n  service: eks\n  intent: inference\nselector: criteria\n"),
        wrk.format("POST", "/v1/bundle", json, bundle),
        wrk.format("GET", "/v1/recipe?service=kind&nodes=2"),
        wrk.format("POST", "/v1/bundle?deployer=argocd&repo=https://example.invalid/r.git", json, bundle),
        wrk.format("GET", "/v1/recipe?service=not-a-service"), -- 400 on purpose
        wrk.format("GET", "/nowhere"),                         -- 404 on purpose
        wrk.format("GET", "/health"),
        wrk.format("GET", "/metrics"),
    }
    counter = math.random(#requests)
    statuses = {}
end

function request()
    counter = counter % #requests + 1
    return requests[counter]
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
    local total = {}
    for _, t in ipairs(threads) do
        for code, n in pairs(t:get("statuses")) do
            total[code] = (total[code] or 0) + n
        end
    end
    for code, n in pairs(total) do
        io.write(string.format("status %d %d\n", code, n))
    end
    local e = summary.errors
    io.write(string.format("socket-errors connect=%d read=%d write=%d timeout=%d\n",
        e.connect, e.read, e.write, e.timeout))
    io.write(string.format("latency-ms p50=%.2f p90=%.2f p99=%.2f max=%.2f\n",
        latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
        latency.max / 1000))
    io.write(string.format("requests %d in %.1f s\n", summary.requests, summary.duration / 1e6))
end
