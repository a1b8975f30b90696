//! `bit`: LuaBitOp's operations on 32-bit integers.

use mlua::{Lua, MultiValue, Table, Value};

use super::{arg_error, arg_type_name};

/// LuaBitOp's `tobit`: the number modulo 2^32, as a signed 32-bit integer.
pub fn tobit(x: f64) -> i32 {
    if !x.is_finite() {
        return 0;
    }
    let r = x.round_ties_even().rem_euclid(4_294_967_296.0);
    (r as u64 as u32) as i32
}

/// LuaBitOp's `barg`: argument `idx` (1-based) as a 32-bit value; numbers and numeric
/// strings convert, anything else is "number expected".
fn barg(lua: &Lua, args: &[Value], idx: usize) -> mlua::Result<i32> {
    let v = args.get(idx - 1);
    let n = match v {
        Some(Value::Integer(i)) => Some(*i as f64),
        Some(Value::Number(n)) => Some(*n),
        Some(Value::String(s)) => std::str::from_utf8(&s.as_bytes())
            .ok()
            .and_then(lua_str2number),
        _ => None,
    };
    match n {
        Some(n) => Ok(tobit(n)),
        None => Err(arg_error(
            lua,
            idx,
            &format!("number expected, got {}", arg_type_name(v)),
        )),
    }
}

/// Lua 5.1's string-to-number conversion: decimal (strtod) or 0x hexadecimal, surrounded
/// by optional whitespace.
fn lua_str2number(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let hex = body
        .strip_prefix("0x")
        .or_else(|| body.strip_prefix("0X"))
        .and_then(|h| u64::from_str_radix(h, 16).ok().map(|v| v as f64));
    match hex {
        Some(v) => Some(if neg { -v } else { v }),
        None => t.parse().ok(),
    }
}

pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    fn unary(f: fn(i32) -> i32) -> impl Fn(&Lua, MultiValue) -> mlua::Result<i32> {
        move |lua, args| {
            let args: Vec<Value> = args.into_iter().collect();
            Ok(f(barg(lua, &args, 1)?))
        }
    }
    t.set("tobit", lua.create_function(unary(|x| x))?)?;
    t.set("bnot", lua.create_function(unary(|x| !x))?)?;
    t.set(
        "bswap",
        lua.create_function(unary(|x| (x as u32).swap_bytes() as i32))?,
    )?;
    // LuaBitOp reads the first argument, then the rest from the last one down.
    fn fold(f: fn(i32, i32) -> i32) -> impl Fn(&Lua, MultiValue) -> mlua::Result<i32> {
        move |lua, args| {
            let args: Vec<Value> = args.into_iter().collect();
            let mut acc = barg(lua, &args, 1)?;
            for i in (2..=args.len()).rev() {
                acc = f(acc, barg(lua, &args, i)?);
            }
            Ok(acc)
        }
    }
    t.set("band", lua.create_function(fold(|a, b| a & b))?)?;
    t.set("bor", lua.create_function(fold(|a, b| a | b))?)?;
    t.set("bxor", lua.create_function(fold(|a, b| a ^ b))?)?;
    fn shift(f: fn(u32, u32) -> u32) -> impl Fn(&Lua, MultiValue) -> mlua::Result<i32> {
        move |lua, args| {
            let args: Vec<Value> = args.into_iter().collect();
            let x = barg(lua, &args, 1)?;
            let n = barg(lua, &args, 2)? & 31;
            Ok(f(x as u32, n as u32) as i32)
        }
    }
    t.set("lshift", lua.create_function(shift(|x, n| x << n))?)?;
    t.set("rshift", lua.create_function(shift(|x, n| x >> n))?)?;
    t.set(
        "arshift",
        lua.create_function(shift(|x, n| ((x as i32) >> n) as u32))?,
    )?;
    t.set("rol", lua.create_function(shift(|x, n| x.rotate_left(n)))?)?;
    t.set("ror", lua.create_function(shift(|x, n| x.rotate_right(n)))?)?;
    t.set(
        "tohex",
        lua.create_function(|lua, args: MultiValue| {
            let args: Vec<Value> = args.into_iter().collect();
            let v = barg(lua, &args, 1)? as u32;
            let mut n = if args.len() < 2 {
                8
            } else {
                barg(lua, &args, 2)?
            };
            let upper = n < 0;
            if upper {
                n = n.wrapping_neg();
            }
            // At most 8 digits; 0 gives "".
            let n = (n as u32).min(8) as usize;
            let s = if upper {
                format!("{v:08X}")
            } else {
                format!("{v:08x}")
            };
            Ok(s[8 - n..].to_string())
        })?,
    )?;
    Ok(t)
}
