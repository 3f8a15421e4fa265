-- wrk script: the traffic of an agent calling MCP tools. One token exchange,
-- then PER_TOKEN (20) introspections of the token it returned: the first is
-- first-seen, the others are answered from the cache.
--   TX_PATH, TX_BODY_FILE, TX_AUTH                the exchange (form body, Authorization)
--   INTROSPECT_PATH, INTROSPECT_AUTH              the introspection (the gateway's credentials)
--   PER_TOKEN                                     introspections per token (default 20)
-- wrk scripts see threads, not connections: each thread keeps a queue of the
-- tokens it obtained and introspects each PER_TOKEN times before asking for
-- another, so the exchange : introspection ratio is 1 : PER_TOKEN and every
-- token's first introspection is first-seen, as with one agent per connection.
-- done() prints "mixed: exchanges=E introspections=I active=A inactive=N failed=F".
local per = tonumber(os.getenv("PER_TOKEN") or "20")
local tx_path, intro_path = os.getenv("TX_PATH"), os.getenv("INTROSPECT_PATH")
local f = assert(io.open(os.getenv("TX_BODY_FILE"), "r"))
local tx_body = f:read("*a")
f:close()
local form = "application/x-www-form-urlencoded"
local tx_headers = { ["Content-Type"] = form, ["Accept"] = "application/json", ["Authorization"] = os.getenv("TX_AUTH") }
local intro_headers = { ["Content-Type"] = form, ["Accept"] = "application/json", ["Authorization"] = os.getenv("INTROSPECT_AUTH") }

local threads = {}
function setup(thread) table.insert(threads, thread) end

local queue, head, tail = {}, 1, 0
exchanges, introspections, active, inactive, failed = 0, 0, 0, 0, 0

function request()
  if head <= tail then
    local e = queue[head]
    e.left = e.left - 1
    if e.left == 0 then queue[head] = nil; head = head + 1 end
    introspections = introspections + 1
    return wrk.format("POST", intro_path, intro_headers, "token=" .. e.token)
  end
  exchanges = exchanges + 1
  return wrk.format("POST", tx_path, tx_headers, tx_body)
end

function response(status, headers, body)
  if status ~= 200 then failed = failed + 1; return end
  local tok = body:match('"access_token"%s*:%s*"([^"]+)"')
  if tok then
    tail = tail + 1
    queue[tail] = { token = tok, left = per }
  elseif body:find('"active"%s*:%s*true') then
    active = active + 1
  else
    inactive = inactive + 1
  end
end

function done(summary, latency, requests)
  local s = { exchanges = 0, introspections = 0, active = 0, inactive = 0, failed = 0 }
  for _, t in ipairs(threads) do
    for k in pairs(s) do s[k] = s[k] + (t:get(k) or 0) end
  end
  io.write(string.format("mixed: exchanges=%d introspections=%d active=%d inactive=%d failed=%d\n",
    s.exchanges, s.introspections, s.active, s.inactive, s.failed))
end
