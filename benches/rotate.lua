-- wrk script: POST token=<a different token each request> (first-seen
-- introspection, first-seen exchange).
--   TOKENS_FILE   tokens, one a line
--   TOKENS_START  first line to use (default 1): lib.sh gives each run its own slice
--   BASIC_AUTH    Authorization header value
--   BODY_PREFIX   form body before the token (default "token=")
--   IDLE_PATH     a cheap GET (default /healthz): sent once by a thread when
--                 its tokens are used up, as it stops
-- No token is sent twice: once its tokens are used up a thread stops
-- (wrk.thread:stop()); wrk still waits out -d, so done() then prints
-- "early_stop_rps: R" (answers per second between the run's first request
-- and last answer), which lib.sh reports instead of wrk's rate, and
-- "first_seen: answers=N tokens_left=N stopped_threads=N".
-- With several wrk threads (-t) set WRK_THREADS too, so threads take
-- interleaved tokens instead of the same ones.
local early = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "early_stop.lua")
local now = early.now

local start = tonumber(os.getenv("TOKENS_START") or "1")
local stride = tonumber(os.getenv("WRK_THREADS") or "1")
local prefix = os.getenv("BODY_PREFIX") or "token="
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BASIC_AUTH")

local threads, next_id = {}, 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local tokens, i = {}, 0
answers, left, stopped, t_first, t_last = 0, 0, 0, 0, 0
function init(args)
  local n = 0
  for line in io.lines(os.getenv("TOKENS_FILE")) do
    n = n + 1
    if n >= start then tokens[#tokens + 1] = line end
  end
  i = (id or 0) + 1 - stride
  left = #tokens
end

request = function()
  i = i + stride
  if i > #tokens then
    return early.stop()
  end
  if t_first == 0 then t_first = now() end
  left = #tokens - i
  return wrk.format(nil, nil, nil, prefix .. tokens[i])
end

function response(status, headers, body)
  answers = answers + 1
  t_last = now()
end

function done(summary, latency, requests)
  local a, l = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("answers"); l = l + t:get("left")
  end
  local stop = early.report(threads, a)
  io.write(string.format("first_seen: answers=%d tokens_left=%d stopped_threads=%d\n", a, l, stop))
end
