-- A monotonic clock in seconds for the wrk scripts that time their own runs
-- (rotate.lua, redeem.lua, refresh.lua): load it with
--   local now = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "monotonic.lua")
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
return function()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end
