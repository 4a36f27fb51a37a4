-- Charges, refunds or reads a client's limits atomically. Redis TIME is the clock.
-- KEYS[i]: the key of limit i (all hash-tagged with the client, so one slot).
-- ARGV[1]: mode: "charge" | "refund" | "peek"; ARGV[2]: points; ARGV[3]: credit, points refunded
--   before a charge (refunds this instance held for the client, folded into its next charge).
-- Then for each limit, 3 values: kind ("tb" | "sw"), a, b:
--   tb: a = capacity, b = refill per second; state hash {tokens, ts}
--   sw: a = limit per window, b = window seconds; state hash {win, cur, prev}; the used amount is
--       prev * (1 - elapsed fraction of the current window) + cur (two-window approximation).
-- Returns {allowed (1|0), retryAfter (string, "-1" = never), then per limit: remaining, reset, max, rate}.
local mode = ARGV[1]
local points = tonumber(ARGV[2])
local credit = tonumber(ARGV[3])
local count = (#ARGV - 3) / 3
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000

local state = {}
local allowed = true
local retry = 0

for i = 1, count do
  local base = 3 + (i - 1) * 3
  local kind = ARGV[base + 1]
  local a = tonumber(ARGV[base + 2])
  local b = tonumber(ARGV[base + 3])
  local s = { kind = kind, a = a, b = b }
  if kind == 'tb' then
    local h = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
    local tokens = tonumber(h[1]) or a
    local ts = tonumber(h[2]) or now
    s.tokens = math.min(a, tokens + math.max(0, now - ts) * b)
    if mode == 'charge' then s.tokens = math.min(a, s.tokens + credit) end
    if mode == 'charge' and s.tokens < points then
      allowed = false
      if points > a then retry = -1 elseif retry >= 0 then retry = math.max(retry, (points - s.tokens) / b) end
    end
  else
    local h = redis.call('HMGET', KEYS[i], 'win', 'cur', 'prev')
    local win = math.floor(now / b)
    local stored = tonumber(h[1]) or win
    local cur = tonumber(h[2]) or 0
    local prev = tonumber(h[3]) or 0
    if stored == win - 1 then prev = cur; cur = 0 elseif stored < win - 1 then prev = 0; cur = 0 end
    if mode == 'charge' then cur = math.max(0, cur - credit) end
    s.win = win; s.cur = cur; s.prev = prev
    s.elapsed = (now - win * b) / b
    if mode == 'charge' and prev * (1 - s.elapsed) + cur + points > a then
      allowed = false
      if points > a then
        retry = -1
      elseif retry >= 0 then
        local wait
        if prev > 0 and a - cur - points >= 0 then
          wait = (1 - (a - cur - points) / prev - s.elapsed) * b
        else
          -- not in this window: in the next one, cur becomes prev and fades as that window passes
          local nextFade = 0
          if cur > 0 then nextFade = math.max(0, 1 - (a - points) / cur) end
          wait = (1 - s.elapsed) * b + nextFade * b
        end
        retry = math.max(retry, wait)
      end
    end
  end
  state[i] = s
end

local result = { allowed and 1 or 0, tostring(retry) }
for i = 1, count do
  local s = state[i]
  if s.kind == 'tb' then
    if mode == 'charge' and allowed then s.tokens = s.tokens - points end
    if mode == 'refund' then s.tokens = math.min(s.a, s.tokens + points) end
    if mode ~= 'peek' then
      redis.call('HSET', KEYS[i], 'tokens', tostring(s.tokens), 'ts', tostring(now))
      -- once full again, the key says nothing a missing key would not
      redis.call('PEXPIRE', KEYS[i], math.ceil((s.a - s.tokens) / s.b * 1000) + 1000)
    end
    table.insert(result, tostring(s.tokens))
    table.insert(result, tostring((s.a - s.tokens) / s.b))
    table.insert(result, tostring(s.a))
    table.insert(result, tostring(s.b))
  else
    if mode == 'charge' and allowed then s.cur = s.cur + points end
    if mode == 'refund' then s.cur = math.max(0, s.cur - points) end
    if mode ~= 'peek' then
      redis.call('HSET', KEYS[i], 'win', tostring(s.win), 'cur', tostring(s.cur), 'prev', tostring(s.prev))
      redis.call('PEXPIRE', KEYS[i], math.ceil(2 * s.b * 1000))
    end
    local used = s.prev * (1 - s.elapsed) + s.cur
    table.insert(result, tostring(s.a - used))
    table.insert(result, tostring((1 - s.elapsed) * s.b))
    table.insert(result, tostring(s.a))
    table.insert(result, tostring(s.a / s.b))
  end
end
return result
