-- wrk: each request a new transaction (new id, a random customer and terminal) of the scored day, or with
-- WRK_BATCH=N a JSON list of N of them (for /score_batch). WRK_PATH and WRK_WRAP (the echo service takes
-- {"transaction": {...}}) come from the environment. WRK_RUN numbers the run: ids are new in every run (a
-- repeated id is a retry, which the service does not store again, and a batch holding one takes a slower path).
local counter, thread_id = 0, 0
local path = os.getenv("WRK_PATH") or "/score"
local wrap = os.getenv("WRK_WRAP") == "1"
local batch = tonumber(os.getenv("WRK_BATCH") or "0")
local day = os.getenv("WRK_DAY") or "2018-05-10"
local token = os.getenv("WRK_TOKEN")
local first_id = 1000000000 * (1 + tonumber(os.getenv("WRK_RUN") or "0"))
setup = function(thread) thread:set("tid", thread_id); thread_id = thread_id + 1 end
init = function(args) math.randomseed(tid * 7919 + 17) end

local function transaction()
  counter = counter + 1
  local sec = counter % 86400
  return string.format(
    '{"transaction_id":%d,"tx_datetime":"%sT%02d:%02d:%02d","customer_id":%d,"terminal_id":%d,"tx_amount":%.2f}',
    first_id + tid * 100000000 + counter, day, math.floor(sec / 3600), math.floor(sec / 60) % 60, sec % 60,
    math.random(0, 4999), math.random(0, 9999), math.random() * 100)
end

request = function()
  local body
  if batch > 0 then
    local items = {}
    for i = 1, batch do items[i] = transaction() end
    body = "[" .. table.concat(items, ",") .. "]"
  else
    body = transaction()
  end
  if wrap then body = '{"transaction":' .. body .. '}' end
  local headers = {["Content-Type"] = "application/json"}
  if token then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("POST", path, headers, body)
end
