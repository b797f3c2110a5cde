-- wrk script: each request posts a one-centavo transfer between two different accounts of one
-- bank (POST /api/v1/transfers), each with its own Idempotency-Key unless RINGBANK_NO_KEYS=1.
-- Prepare the bank and the environment with bench/setup.sh (see README, Performance):
--
--   eval "$(bench/setup.sh http://127.0.0.1:8080 A 40)"
--   wrk -t2 -c64 -d15s -s bench/transfers.lua http://127.0.0.1:8080
--
-- At the end it prints how many answers were 201 (committed) and how many were anything else.

local token = os.getenv("RINGBANK_TOKEN") or error("RINGBANK_TOKEN is not set (run bench/setup.sh)")
local bank = os.getenv("RINGBANK_BANK") or error("RINGBANK_BANK is not set")
local accounts_text = os.getenv("RINGBANK_ACCOUNTS") or error("RINGBANK_ACCOUNTS is not set")
local with_keys = os.getenv("RINGBANK_NO_KEYS") ~= "1"

local accounts = {}
for number in string.gmatch(accounts_text, "[0-9]+") do
   accounts[#accounts + 1] = number
end
if #accounts < 2 then
   error("RINGBANK_ACCOUNTS needs at least two account numbers")
end

local threads = {}
local counter = 0
local prefix = ""

function setup(thread)
   thread:set("id", #threads + 1)
   threads[#threads + 1] = thread
end

function init(args)
   prefix = string.format("wrk-%d-%d-%d", os.time(), id, math.random(1, 1000000000))
   math.randomseed(os.time() + id * 7919)
   committed = 0
   other = 0
end

function request()
   local from = math.random(1, #accounts)
   local to = math.random(1, #accounts - 1)
   if to >= from then
      to = to + 1
   end
   local body = string.format(
      '{"debits":[{"bank":"%s","account":"%s","amount_cents":1}],"credits":[{"bank":"%s","account":"%s","amount_cents":1}],"description":"wrk"}',
      bank, accounts[from], bank, accounts[to])
   local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
   if with_keys then
      counter = counter + 1
      headers["Idempotency-Key"] = prefix .. "-" .. counter
   end
   return wrk.format("POST", "/api/v1/transfers", headers, body)
end

function response(status, headers, body)
   if status == 201 then
      committed = committed + 1
   else
      other = other + 1
   end
end

function done(summary, latency, requests)
   local total_committed, total_other = 0, 0
   for _, thread in ipairs(threads) do
      total_committed = total_committed + thread:get("committed")
      total_other = total_other + thread:get("other")
   end
   local seconds = summary.duration / 1e6
   io.write(string.format("committed (201): %d (%.0f/s); other answers: %d\n", total_committed, total_committed / seconds, total_other))
end
