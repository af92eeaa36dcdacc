-- wrk: each request a new transaction (new id, a random customer and terminal) of the scored day.
-- WRK_PATH and WRK_WRAP (the echo service takes {"transaction": {...}}) come from the environment.
local counter, thread_id = 0, 0
local path = os.getenv("WRK_PATH") or "/score"
local wrap = os.getenv("WRK_WRAP") == "1"
local day = os.getenv("WRK_DAY") or "2018-05-10"
local token = os.getenv("WRK_TOKEN")
setup = function(thread) thread:set("tid", thread_id); thread_id = thread_id + 1 end
init = function(args) math.randomseed(tid * 7919 + 17) end
request = function()
  counter = counter + 1
  local sec = counter % 86400
  local body = string.format(
    '{"transaction_id":%d,"tx_datetime":"%sT%02d:%02d:%02d","customer_id":%d,"terminal_id":%d,"tx_amount":%.2f}',
    900000000 + tid * 10000000 + counter, day, math.floor(sec / 3600), math.floor(sec / 60) % 60, sec % 60,
    math.random(0, 4999), math.random(0, 9999), math.random() * 100)
  if wrap then body = '{"transaction":' .. body .. '}' end
  local headers = {["Content-Type"] = "application/json"}
  if token then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("POST", path, headers, body)
end
