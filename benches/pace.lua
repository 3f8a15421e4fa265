-- Pacing for wrk scripts (no wrk2 here): with RATE set, defines wrk's
-- delay() so each wrk thread sends one request every 1/RATE s (the
-- monotonic clock of clock.lua). Loaded with dofile by paced_post.lua and
-- soak.lua.
local rate = tonumber(os.getenv("RATE") or "0") or 0
if rate > 0 then
  local seconds = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "clock.lua")
  local function now_ms()
    return seconds() * 1000
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
