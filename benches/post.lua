-- wrk script: POST the file named by POST_BODY to the URL's path, as JSON.
local f = assert(io.open(os.getenv("POST_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
