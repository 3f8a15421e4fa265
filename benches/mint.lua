-- wrk script: mint access tokens and keep them (benches/lib.sh lib_mint_tokens).
--   BODY_FILE   form body of the token request (client_credentials)
--   BASIC_AUTH  Authorization header value
--   OUT_FILE    each access_token of a 200 answer is appended, one a line
-- Run with -t1 (one writer); lib.sh stops wrk once OUT_FILE has enough lines.
local f = assert(io.open(os.getenv("BODY_FILE"), "r"))
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BASIC_AUTH")

local out
function init(args)
  out = assert(io.open(os.getenv("OUT_FILE"), "a"))
  out:setvbuf("line")
end

function response(status, headers, body)
  if status == 200 then
    local tok = body:match('"access_token"%s*:%s*"([^"]+)"')
    if tok then out:write(tok, "\n") end
  end
end
