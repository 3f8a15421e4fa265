-- Shared by the wrk scripts that use each input once and stop when it is
-- used up (rotate.lua, redeem.lua, refresh.lua). Load it with
--   local early = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "early_stop.lua")
-- The script keeps the globals `stopped`, `t_first` and `t_last` (0 at
-- start; wrk reads them per thread in done()): set t_first = early.now()
-- at its first request and t_last = early.now() at each answer.
-- wrk still waits out -d after a thread stops, so its Requests/sec would be
-- too low: report() prints "early_stop_rps: R" (answers per second between
-- the run's first request and last answer), which lib.sh reports instead.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local idle_path = os.getenv("IDLE_PATH") or "/healthz"
local M = {}

-- Seconds on a monotonic clock (clock.lua).
M.now = dofile(here .. "clock.lua")

-- Stop this thread (once); the cheap GET (IDLE_PATH, default /healthz) to
-- send while wrk winds it down.
function M.stop()
  if stopped == 0 then
    stopped = 1
    wrk.thread:stop()
  end
  return wrk.format("GET", idle_path, {}, nil)
end

-- In done(): the early_stop_* lines when a thread stopped, for `answers`
-- answers over all threads; returns how many threads stopped.
function M.report(threads, answers)
  local stop, first, last = 0, math.huge, 0
  for _, t in ipairs(threads) do
    stop = stop + t:get("stopped")
    local tf, tl = t:get("t_first"), t:get("t_last")
    if tf > 0 and tf < first then first = tf end
    if tl > last then last = tl end
  end
  if stop > 0 and last > first then
    io.write(string.format("early_stop_rps: %.2f\n", answers / (last - first)))
    io.write(string.format("early_stop_seconds: %.2f\n", last - first))
  end
  return stop
end

return M
