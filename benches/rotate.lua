-- wrk script: POST token=<a different token each request> (first-seen introspection).
--   TOKENS_FILE   tokens, one a line
--   TOKENS_START  first line to use (default 1): lib.sh gives each run its own slice
--   BASIC_AUTH    Authorization header value
-- Once past the last line it wraps to TOKENS_START (those requests are no
-- longer first-seen); done() prints "first_seen_repeats: N" (N such requests).
-- With several wrk threads (-t) set WRK_THREADS too, so threads take
-- interleaved tokens instead of the same ones.
local start = tonumber(os.getenv("TOKENS_START") or "1")
local stride = tonumber(os.getenv("WRK_THREADS") or "1")
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
repeats = 0
function init(args)
  local n = 0
  for line in io.lines(os.getenv("TOKENS_FILE")) do
    n = n + 1
    if n >= start then tokens[#tokens + 1] = line end
  end
  i = (id or 0) + 1 - stride
end

request = function()
  i = i + stride
  if i > #tokens then
    i = ((i - 1) % stride) + 1
    repeats = repeats + 1
  elseif repeats > 0 then
    repeats = repeats + 1
  end
  return wrk.format(nil, nil, nil, "token=" .. tokens[i])
end

function done(summary, latency, requests)
  local r = 0
  for _, t in ipairs(threads) do r = r + (t:get("repeats") or 0) end
  io.write("first_seen_repeats: ", r, "\n")
end
