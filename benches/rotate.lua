-- wrk script: POST token=<a different token each request> (first-seen introspection).
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BASIC_AUTH")
request = function()
  i = i + 1
  if i > #tokens then i = 1 end
  return wrk.format(nil, nil, nil, "token=" .. tokens[i])
end
