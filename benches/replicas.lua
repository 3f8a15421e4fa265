-- wrk script of benches/replicas.sh: the mixed profile (benches/mixed.lua:
-- one token exchange, then PER_TOKEN introspections of the token it got)
-- spread over several agent-sts replicas, one port per thread group.
--   PORTS                      "8180 8181 8182": thread i talks to PORTS[(i-1) % #PORTS + 1]
--   TX_PATH, TX_BODY_FILE, TX_AUTH, INTROSPECT_PATH, INTROSPECT_AUTH, PER_TOKEN
--                              as in benches/mixed.lua
--   OUT_DIR                    where each thread writes
--                                samples-<t>.csv  end_us,latency_us,status,kind
--                                                 (kind: t = token answer, i = introspection,
--                                                 e = anything else, l = a lost request)
--                                tokens-<t>.txt   the payload (middle part) of every access
--                                                 token a 200 answer of /token carried
--   DEAD_AFTER (50)            a thread whose requests went unanswered this many times
--                              in a row (its replica is gone: wrk reconnects and fails
--                              at once, ~1 core spinning) stops itself
-- Run with as many threads as connections (-tN -cN): one connection per
-- thread, so request() and response() alternate and the time between them
-- is the request's latency (wrk gives scripts no per-request latency).
-- A request() that follows a request() without a response() in between
-- means the first one was lost (a socket error): counted per thread.
-- done() prints one "replica:" line per port and one "replicas:" total.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } replicas_timespec;
int clock_gettime(int clk, replicas_timespec *tp);
]]
local ts = ffi.new("replicas_timespec")
local function now_us()
  ffi.C.clock_gettime(0, ts) -- CLOCK_REALTIME: comparable with the driver's and date's
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

local ports = {}
for p in string.gmatch(os.getenv("PORTS") or "", "%d+") do table.insert(ports, p) end
assert(#ports > 0, "PORTS is empty")

local threads, n = {}, 0
function setup(thread)
  n = n + 1
  local port = ports[(n - 1) % #ports + 1]
  thread.addr = wrk.lookup("127.0.0.1", port)[1]
  thread:set("tid", n)
  thread:set("port", port)
  table.insert(threads, thread)
end

local per = tonumber(os.getenv("PER_TOKEN") or "20")
local dead_after = tonumber(os.getenv("DEAD_AFTER") or "50")
local tx_path, intro_path = os.getenv("TX_PATH"), os.getenv("INTROSPECT_PATH")
local f = assert(io.open(os.getenv("TX_BODY_FILE"), "r"))
local tx_body = f:read("*a")
f:close()
local form = "application/x-www-form-urlencoded"
local tx_headers = { ["Content-Type"] = form, ["Accept"] = "application/json", ["Authorization"] = os.getenv("TX_AUTH") }
local intro_headers = { ["Content-Type"] = form, ["Accept"] = "application/json", ["Authorization"] = os.getenv("INTROSPECT_AUTH") }

local queue, head, tail = {}, 1, 0
local samples, tokens
local pending, started, lost_run = false, 0, 0
answers, ok, non2xx, tokens_issued, introspections, active, inactive, lost, stopped_at, first_us, last_us =
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0

function init(args)
  local dir = os.getenv("OUT_DIR")
  samples = assert(io.open(string.format("%s/samples-%d.csv", dir, tid), "w"))
  samples:setvbuf("full", 1048576)
  tokens = assert(io.open(string.format("%s/tokens-%d.txt", dir, tid), "w"))
  tokens:setvbuf("line")
end

function request()
  if pending and answers > 0 then
    lost = lost + 1
    lost_run = lost_run + 1
    samples:write(string.format("%.0f,0,0,l\n", now_us()))
    if lost_run >= dead_after and stopped_at == 0 then
      stopped_at = now_us()
      samples:flush()
      wrk.thread:stop()
    end
  end
  pending, started = true, now_us()
  if head <= tail then
    local e = queue[head]
    e.left = e.left - 1
    if e.left == 0 then queue[head] = nil; head = head + 1 end
    return wrk.format("POST", intro_path, intro_headers, "token=" .. e.token)
  end
  return wrk.format("POST", tx_path, tx_headers, tx_body)
end

function response(status, headers, body)
  local t = now_us()
  local kind = "e"
  answers = answers + 1
  pending, lost_run = false, 0
  if first_us == 0 then first_us = t end
  last_us = t
  if status >= 200 and status < 300 then ok = ok + 1 else non2xx = non2xx + 1 end
  if status == 200 then
    local tok = body:match('"access_token"%s*:%s*"([^"]+)"')
    if tok then
      kind = "t"
      tokens_issued = tokens_issued + 1
      tokens:write(tok:match("^[^.]*%.([^.]*)%.") or tok, "\n")
      tail = tail + 1
      queue[tail] = { token = tok, left = per }
    elseif body:find('"active"%s*:%s*true') then
      kind = "i"; introspections = introspections + 1; active = active + 1
    elseif body:find('"active"%s*:%s*false') then
      kind = "i"; introspections = introspections + 1; inactive = inactive + 1
    end
  end
  samples:write(string.format("%.0f,%.0f,%d,%s\n", t, t - started, status, kind))
end

function done(summary, latency, requests)
  local by_port, order = {}, {}
  local keys = { "answers", "ok", "non2xx", "tokens_issued", "introspections", "active", "inactive", "lost" }
  for _, t in ipairs(threads) do
    local p = t:get("port")
    if not by_port[p] then
      by_port[p] = { threads = 0, stopped = 0, stopped_at = 0 }
      for _, k in ipairs(keys) do by_port[p][k] = 0 end
      table.insert(order, p)
    end
    local s = by_port[p]
    s.threads = s.threads + 1
    for _, k in ipairs(keys) do s[k] = s[k] + (t:get(k) or 0) end
    local at = t:get("stopped_at") or 0
    if at > 0 then
      s.stopped = s.stopped + 1
      if s.stopped_at == 0 or at < s.stopped_at then s.stopped_at = at end
    end
  end
  local total = { threads = 0, stopped = 0 }
  for _, k in ipairs(keys) do total[k] = 0 end
  for _, p in ipairs(order) do
    local s = by_port[p]
    io.write(string.format("replica: port=%s threads=%d answers=%d ok=%d non2xx=%d tokens=%d introspections=%d active=%d inactive=%d lost=%d stopped_threads=%d stopped_at_us=%.0f\n",
      p, s.threads, s.answers, s.ok, s.non2xx, s.tokens_issued, s.introspections, s.active, s.inactive, s.lost, s.stopped, s.stopped_at))
    for k, v in pairs(total) do total[k] = v + s[k] end
  end
  io.write(string.format("replicas: answers=%d ok=%d non2xx=%d tokens=%d introspections=%d inactive=%d lost=%d stopped_threads=%d\n",
    total.answers, total.ok, total.non2xx, total.tokens_issued, total.introspections, total.inactive, total.lost, total.stopped))
end
