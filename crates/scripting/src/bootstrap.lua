-- The sandbox and the `redis` table, run once per Lua state. Chunk name "=cinnabar": the
-- error handler skips frames of this chunk so errors point at the user's code.
local G, I, getinfo = ...
local error, type, tostring, tonumber, rawget, rawset, setmetatable, select, xpcall, pcall =
    error, type, tostring, tonumber, rawget, rawset, setmetatable, select, xpcall, pcall
local floor, ceil, concat = math.floor, math.ceil, table.concat

local function ro_error()
  error("Attempt to modify a readonly table", 2)
end

local function missing(k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 3)
end

-- A read-only view of `real`; `strict` views raise on a missing name as Redis's globals do.
local function protect(real, strict)
  local mt = { __newindex = ro_error, __metatable = false }
  if strict then
    mt.__index = function(_, k)
      local v = real[k]
      if v == nil then missing(k) end
      return v
    end
  else
    mt.__index = real
  end
  return setmetatable({}, mt)
end
I.protect = protect

local function trunc(n)
  n = tonumber(n) or 0
  if n >= 0 then return floor(n) else return ceil(n) end
end

-- luaPushErrorBuff: "-CODE msg" keeps its code, anything else gets ERR.
local function err_table(e)
  local code, msg
  if e:sub(1, 1) == '-' then
    local sp = e:find(' ', 1, true)
    if sp then code, msg = e:sub(2, sp - 1), e:sub(sp + 1) else code, msg = 'ERR', e:sub(2) end
  else
    code, msg = 'ERR', e
  end
  msg = msg:gsub('^[\r\n]+', ''):gsub('[\r\n]+$', '')
  return { err = code .. ' ' .. msg }
end
I.err_table = err_table

local function raise(msg)
  error({ err = 'ERR ' .. msg })
end

local redis = {}
redis.call = I.call_raise
redis.pcall = I.pcall
redis.sha1hex = function(...)
  if select('#', ...) ~= 1 then raise('wrong number of arguments') end
  return I.sha1hex((...))
end
redis.error_reply = function(...)
  if select('#', ...) ~= 1 or type((...)) ~= 'string' then
    return { err = 'ERR wrong number or type of arguments' }
  end
  local e = ...
  if e:sub(1, 1) ~= '-' then e = '-' .. e end
  return err_table(e)
end
redis.status_reply = function(...)
  if select('#', ...) ~= 1 or type((...)) ~= 'string' then
    return { err = 'ERR wrong number or type of arguments' }
  end
  return { ok = (...) }
end
local function log(...)
  local n = select('#', ...)
  if n < 2 then raise('redis.log() requires two arguments or more.') end
  local level = ...
  if tonumber(level) == nil then raise('First argument must be a number (log level).') end
  level = trunc(level)
  if level < 0 or level > 3 then raise('Invalid debug level.') end
  local parts = {}
  for i = 2, n do
    local s = select(i, ...)
    if type(s) == 'string' or type(s) == 'number' then parts[#parts + 1] = tostring(s) end
  end
  I.log(level, concat(parts, ' '))
end
redis.log = log
redis.setresp = function(...)
  if select('#', ...) ~= 1 then raise('redis.setresp() requires one argument.') end
  local r = trunc((...))
  if r ~= 2 and r ~= 3 then raise('RESP version must be 2 or 3.') end
  I.resp = r
end
redis.set_repl = function(...)
  if select('#', ...) ~= 1 then raise('redis.set_repl() requires two arguments.') end
  local f = trunc((...))
  if f < 0 or f > 3 then
    raise('Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.')
  end
end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.acl_check_cmd = function(...)
  if select('#', ...) == 0 then raise('Please specify at least one argument for this redis lib call') end
  local ok = I.command_exists((...))
  if not ok then raise('Invalid command passed to redis.acl_check_cmd()') end
  return true
end
local consts = {
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REPL_NONE = 0, REPL_AOF = 1, REPL_SLAVE = 2, REPL_REPLICA = 2, REPL_ALL = 3,
  REDIS_VERSION = I.version, REDIS_VERSION_NUM = I.version_num,
}
for k, v in pairs(consts) do redis[k] = v end

-- FUNCTION LOAD's `redis`: registration, logging and constants only.
local flag_bits = { ['no-writes'] = 1, ['allow-oom'] = 2, ['allow-stale'] = 4,
  ['no-cluster'] = 8, ['allow-cross-slot-keys'] = 16 }
local function valid_name(n)
  return type(n) == 'string' and n:find('^[%w_]+$') ~= nil
end
local function register(name, callback, flags, description)
  if not valid_name(name) then
    raise('Function names can only contain letters, numbers, or underscores(_) and must be at least one character long')
  end
  for _, f in ipairs(I.pending) do
    if f.name == name then raise('Function already exists in the library') end
  end
  I.pending[#I.pending + 1] = { name = name, callback = callback, flags = flags or 0, description = description }
end
local loader = {
  register_function = function(...)
    local n = select('#', ...)
    if n == 1 then
      local t = ...
      if type(t) ~= 'table' then
        raise('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
      end
      local name, cb, flags, desc
      for k, v in pairs(t) do
        if k == 'function_name' then
          if type(v) ~= 'string' then raise('function_name argument given to redis.register_function must be a string') end
          name = v
        elseif k == 'callback' then
          if type(v) ~= 'function' then raise('callback argument given to redis.register_function must be a function') end
          cb = v
        elseif k == 'description' then
          if type(v) ~= 'string' then raise('description argument given to redis.register_function must be a string') end
          desc = v
        elseif k == 'flags' then
          if type(v) ~= 'table' then raise('flags argument to redis.register_function must be a table representing function flags') end
          flags = 0
          for _, f in ipairs(v) do
            local b = type(f) == 'string' and flag_bits[f]
            if not b then raise('unknown flag given') end
            if flags % (2 * b) < b then flags = flags + b end
          end
        else
          raise('unknown argument given to redis.register_function')
        end
      end
      if name == nil then raise('redis.register_function must get a function name argument') end
      if cb == nil then raise('redis.register_function must get a callback argument') end
      register(name, cb, flags, desc)
    elseif n == 2 then
      local name, cb = ...
      if type(name) ~= 'string' then raise('first argument to redis.register_function must be a string') end
      if type(cb) ~= 'function' then raise('second argument to redis.register_function must be a function') end
      register(name, cb, 0, nil)
    else
      raise('wrong number of arguments to redis.register_function')
    end
  end,
  log = log,
}
for k, v in pairs(consts) do loader[k] = v end

-- A Lua error raised by Rust code (a userdata): redis.call's error table, or the message.
local function from_rust(e)
  if type(e) ~= 'userdata' then return e end
  local s = tostring(e)
  if s:find('\1redis.call error', 1, true) then
    local t = I.last_error
    I.last_error = nil
    if t ~= nil then return t end
  end
  return s:match('runtime error: ([^\n]*)') or s
end
I.from_rust = from_rust

-- Redis's pcall hands back the message of an error table, and cannot catch SCRIPT KILL.
local function pcall_ret(ok, ...)
  if ok then return true, ... end
  local e = from_rust((...))
  if I.killed() then error(e, 0) end
  if type(e) == 'table' and type(rawget(e, 'err')) == 'string' then e = rawget(e, 'err') end
  return false, e
end
G.pcall = function(f, ...) return pcall_ret(pcall(f, ...)) end
local function xpcall_ret(ok, ...)
  if not ok and I.killed() then error((...), 0) end
  return ok, ...
end
G.xpcall = function(f, h) return xpcall_ret(xpcall(f, h)) end

for _, name in ipairs({ 'print', 'dofile', 'loadfile', 'require', 'module', 'package', 'os', 'io', 'debug' }) do
  rawset(G, name, nil)
end

-- The libraries become read-only views; `redis` also raises on a missing field.
local libs = { 'string', 'math', 'table', 'coroutine', 'cjson', 'cmsgpack', 'bit', 'struct' }
for _, name in ipairs(libs) do
  local t = rawget(G, name)
  if t ~= nil then rawset(G, name, protect(t, false)) end
end
I.redis = protect(redis, true)
I.loader = protect(loader, true)
rawset(G, 'redis', I.redis)

-- EVAL's environment: globals read-only, missing names raise.
I.env = protect(G, true)
rawset(G, '_G', I.env)
-- Libraries' environment: the same, with `redis` switched between load and run. While
-- FUNCTION LOAD runs the library's top level, `redis` is the only global (Redis points the
-- globals' __index at its LIBRARY_API table then).
I.fenv = setmetatable({}, {
  __newindex = ro_error,
  __metatable = false,
  __index = function(_, k)
    if k == 'redis' then return I.fredis end
    if I.fredis == I.loader then missing(k) end
    local v = G[k]
    if v == nil then missing(k) end
    return v
  end,
})
I.fredis = I.redis

local function handler(err)
  err = from_rust(err)
  local lvl = 2
  local i = getinfo(lvl, 'nSl')
  while i and (i.what == 'C' or i.source == '=cinnabar') do
    lvl = lvl + 1
    i = getinfo(lvl, 'nSl')
  end
  if type(err) ~= 'table' then err = { err = 'ERR ' .. tostring(err) } end
  if i then
    rawset(err, 'source', i.source)
    rawset(err, 'line', i.currentline)
  end
  return err
end
-- One run of a script (`eval`: KEYS and ARGV are globals) or function: ok, value, and the
-- RESP version the script chose for its reply.
I.run = function(f, keys, args, eval)
  I.resp = 2
  I.last_error = nil
  if eval then
    rawset(G, 'KEYS', keys)
    rawset(G, 'ARGV', args)
  end
  local ok, v = xpcall(function() return f(keys, args) end, handler)
  return ok, v, I.resp
end
I.load = function(f)
  return xpcall(f, function(err)
    err = from_rust(err)
    if type(err) ~= 'table' then err = { err = 'ERR ' .. tostring(err) } end
    return err
  end)
end
