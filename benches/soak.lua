-- wrk script for benches/soak.sh: the traffic of benches/mixed.lua (one
-- token exchange, then PER_TOKEN introspections of the token it returned)
-- at a fixed rate, with every answer counted by status code.
--   TX_PATH, TX_BODY_FILE, TX_AUTH      the exchange (form body, Authorization)
--   INTROSPECT_PATH, INTROSPECT_AUTH    the introspection (the gateway's credentials)
--   PER_TOKEN                           introspections per token (default 4)
--   RATE                                requests a second for each wrk thread
--                                       (exchanges and introspections together);
--                                       0: closed loop, as fast as it goes
-- Pacing as in benches/paced_post.lua: a slot every 1/RATE s, the
-- connection waits for its slot (LuaJIT ffi clock), no catch-up bursts.
-- done() prints "soak: exchanges=E introspections=I active=A inactive=N failed=F",
-- "statuses: 200=N ..." and "class: 2xx=… 4xx=… 5xx=… other=…".
local per = tonumber(os.getenv("PER_TOKEN") or "4")
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
statuses = {}

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
  statuses[status] = (statuses[status] or 0) + 1
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

-- pacing (RATE, above): delay() from pace.lua, beside this script
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "pace.lua")

function done(summary, latency, requests)
  local s = { exchanges = 0, introspections = 0, active = 0, inactive = 0, failed = 0 }
  local all, codes = {}, {}
  for _, t in ipairs(threads) do
    for k in pairs(s) do s[k] = s[k] + (t:get(k) or 0) end
    for code, count in pairs(t:get("statuses") or {}) do
      if all[code] == nil then table.insert(codes, code) end
      all[code] = (all[code] or 0) + count
    end
  end
  io.write(string.format("soak: exchanges=%d introspections=%d active=%d inactive=%d failed=%d\n",
    s.exchanges, s.introspections, s.active, s.inactive, s.failed))
  table.sort(codes)
  local parts, class = {}, { ["2xx"] = 0, ["4xx"] = 0, ["5xx"] = 0, other = 0 }
  for _, code in ipairs(codes) do
    table.insert(parts, string.format("%d=%d", code, all[code]))
    local k = (code >= 200 and code < 300) and "2xx" or (code >= 400 and code < 500) and "4xx"
      or (code >= 500 and code < 600) and "5xx" or "other"
    class[k] = class[k] + all[code]
  end
  io.write("statuses: " .. table.concat(parts, " ") .. "\n")
  io.write(string.format("class: 2xx=%d 4xx=%d 5xx=%d other=%d\n", class["2xx"], class["4xx"], class["5xx"], class.other))
end
