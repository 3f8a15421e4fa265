-- wrk script: redeem authorization codes, a different one each request
-- (benches/signin.sh). A code is never sent twice: a replayed code is
-- refused and revokes what its first use issued.
--   CODES_FILE     "code verifier" lines (benches/mint-signins.mjs, or the
--                  peer's /bench/mint)
--   CLIENT_ID      the public client (sent in the body, no Authorization)
--   REDIRECT_URI   RESOURCE: form-encoded already
--   IDLE_PATH      a cheap GET (default /healthz): sent once by a thread when
--                  its codes are used up, as it stops
-- Once its codes are used up a thread stops (wrk.thread:stop()); wrk still
-- waits out -d, so its Requests/sec would be too low: done() then prints
-- "early_stop_rps: R" (2xx-or-not answers to code requests per second
-- between this run's first request and last answer), which lib.sh reports
-- instead. done() prints "redeem: answers=N ok=N failed=N codes_left=N".
-- With several wrk threads set WRK_THREADS: they take interleaved codes.
local early = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "early_stop.lua")
local now = early.now

local stride = tonumber(os.getenv("WRK_THREADS") or "1")
local prefix = "grant_type=authorization_code&redirect_uri=" .. os.getenv("REDIRECT_URI")
  .. "&client_id=" .. os.getenv("CLIENT_ID") .. "&resource=" .. os.getenv("RESOURCE")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"

local threads, next_id = {}, 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local codes, verifiers, i = {}, {}, 0
total, sent, answers, ok, failed, stopped, t_first, t_last = 0, 0, 0, 0, 0, 0, 0, 0
function init(args)
  for line in io.lines(os.getenv("CODES_FILE")) do
    local c, v = line:match("^(%S+) (%S+)$")
    if c then codes[#codes + 1] = c; verifiers[#verifiers + 1] = v end
  end
  total = #codes
  i = (id or 0) + 1 - stride
end

request = function()
  i = i + stride
  if i > #codes then
    return early.stop()
  end
  if t_first == 0 then t_first = now() end
  sent = sent + 1
  return wrk.format(nil, nil, nil, prefix .. "&code=" .. codes[i] .. "&code_verifier=" .. verifiers[i])
end

function response(status, headers, body)
  answers = answers + 1
  if status == 200 then ok = ok + 1 else failed = failed + 1 end
  t_last = now()
end

function done(summary, latency, requests)
  local a, o, f, total, sent = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("answers"); o = o + t:get("ok"); f = f + t:get("failed")
    total = t:get("total"); sent = sent + t:get("sent")
  end
  local stop = early.report(threads, a)
  io.write(string.format("redeem: answers=%d ok=%d failed=%d codes_left=%d stopped_threads=%d\n",
    a, o, f, total - sent, stop))
end
