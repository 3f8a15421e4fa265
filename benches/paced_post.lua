-- wrk script: POST a fixed form body, optionally at a fixed rate, rotating
-- the Authorization header over several clients, and count the answers by
-- status code (wrk itself only counts "non-2xx").
--   BODY_FILE  file holding the application/x-www-form-urlencoded body
--   AUTHS      one or more Authorization values separated by "|"
--              (request i uses AUTHS[i mod n]: several agents in one run)
--   RATE       requests a second for each wrk thread; 0 or unset: as fast
--              as the connections go (closed loop). Pacing gives each
--              request a slot RATE apart (a clock from LuaJIT's ffi) and
--              delays the connection until its slot; a connection that
--              comes back late takes the next slot at once (no catch-up
--              burst). wrk measures latency from the write, after the delay.
-- done() prints "statuses: 200=N 429=M ..." and "class: 2xx=… 4xx=… 5xx=… other=…".
local f = assert(io.open(os.getenv("BODY_FILE"), "r"))
local body = f:read("*a")
f:close()

local auths = {}
for a in string.gmatch(os.getenv("AUTHS") or "", "[^|]+") do table.insert(auths, a) end
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Accept"] = "application/json" }
local path = nil

local threads = {}
function setup(thread) table.insert(threads, thread) end

local n = 0
function init(args)
  path = wrk.path
end

function request()
  n = n + 1
  if #auths > 0 then headers["Authorization"] = auths[(n % #auths) + 1] end
  return wrk.format("POST", path, headers, body)
end

-- pacing
-- pacing (RATE, above): delay() from pace.lua, beside this script
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "pace.lua")

statuses = {}
function response(status, hdrs, b)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local all, codes = {}, {}
  for _, t in ipairs(threads) do
    for code, count in pairs(t:get("statuses") or {}) do
      if all[code] == nil then table.insert(codes, code) end
      all[code] = (all[code] or 0) + count
    end
  end
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
