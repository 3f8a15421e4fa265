-- wrk script: use refresh tokens, each exactly once (benches/signin.sh).
--   POOL_FILE   refresh tokens, one a line: the pool (at least one per
--               connection; a spare few keep every connection busy)
--   CLIENT_ID   the public client (sent in the body, no Authorization)
--   IDLE_PATH   a cheap GET (default /healthz), sent when the pool is empty
-- Each request takes a token out of the pool; the refresh_token of each 200
-- answer (the rotated one) goes back in. A token is never presented twice
-- (a reused one is refused and revokes its family). If the pool runs dry
-- (failures) the thread stops, as redeem.lua does. done() prints
-- "refresh: answers=N ok=N failed=N pool_left=N" and, after a stop,
-- "early_stop_rps: R". With several wrk threads set WRK_THREADS: they take
-- interleaved lines of the pool file.
local early = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "early_stop.lua")
local now = early.now

local stride = tonumber(os.getenv("WRK_THREADS") or "1")
local prefix = "grant_type=refresh_token&client_id=" .. os.getenv("CLIENT_ID") .. "&refresh_token="
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"

local threads, next_id = {}, 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

-- A FIFO: pool[head..tail].
local pool, head, tail = {}, 1, 0
answers, ok, failed, pool_left, stopped, t_first, t_last = 0, 0, 0, 0, 0, 0, 0
function init(args)
  local n = 0
  for line in io.lines(os.getenv("POOL_FILE")) do
    if (n % stride) == (id or 0) and line ~= "" then
      tail = tail + 1
      pool[tail] = line
    end
    n = n + 1
  end
  pool_left = tail - head + 1
end

request = function()
  if head > tail then
    return early.stop()
  end
  local tok = pool[head]
  pool[head] = nil
  head = head + 1
  pool_left = tail - head + 1
  if t_first == 0 then t_first = now() end
  return wrk.format(nil, nil, nil, prefix .. tok)
end

function response(status, headers, body)
  answers = answers + 1
  t_last = now()
  local tok = status == 200 and body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if tok then
    ok = ok + 1
    tail = tail + 1
    pool[tail] = tok
  else
    failed = failed + 1
  end
  pool_left = tail - head + 1
end

function done(summary, latency, requests)
  local a, o, f, left = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("answers"); o = o + t:get("ok"); f = f + t:get("failed")
    left = left + t:get("pool_left")
  end
  local stop = early.report(threads, a)
  io.write(string.format("refresh: answers=%d ok=%d failed=%d pool_left=%d stopped_threads=%d\n",
    a, o, f, left, stop))
end
