-- Pacing for wrk scripts (no wrk2 here): with RATE set, defines wrk's
-- delay() so each wrk thread sends one request every 1/RATE s (a
-- monotonic clock through LuaJIT's ffi). Loaded with dofile by
-- paced_post.lua and soak.lua.
local rate = tonumber(os.getenv("RATE") or "0") or 0
if rate > 0 then
  local ffi = require("ffi")
  pcall(ffi.cdef, [[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime(int clk_id, bench_timespec *tp);
  ]])
  local ts = ffi.new("bench_timespec")
  local function now_ms()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  end
  local interval, next_slot = 1000 / rate, nil
  function delay()
    local now = now_ms()
    if next_slot == nil or next_slot < now then next_slot = now end
    local wait = next_slot - now
    next_slot = next_slot + interval
    return math.floor(wait + 0.5)
  end
end
