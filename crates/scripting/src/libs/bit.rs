//! `bit`: LuaBitOp's operations on 32-bit integers.

use mlua::{Lua, Table, Variadic};

/// LuaBitOp's `tobit`: the number modulo 2^32, as a signed 32-bit integer.
pub fn tobit(x: f64) -> i32 {
    if !x.is_finite() {
        return 0;
    }
    let r = x.round_ties_even().rem_euclid(4_294_967_296.0);
    (r as u64 as u32) as i32
}

pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("tobit", lua.create_function(|_, x: f64| Ok(tobit(x)))?)?;
    t.set("bnot", lua.create_function(|_, x: f64| Ok(!tobit(x)))?)?;
    fn fold(f: fn(i32, i32) -> i32) -> impl Fn(&Lua, (f64, Variadic<f64>)) -> mlua::Result<i32> {
        move |_, (first, rest)| Ok(rest.iter().fold(tobit(first), |acc, x| f(acc, tobit(*x))))
    }
    t.set("band", lua.create_function(fold(|a, b| a & b))?)?;
    t.set("bor", lua.create_function(fold(|a, b| a | b))?)?;
    t.set("bxor", lua.create_function(fold(|a, b| a ^ b))?)?;
    fn shift(f: fn(u32, u32) -> u32) -> impl Fn(&Lua, (f64, f64)) -> mlua::Result<i32> {
        move |_, (x, n)| Ok(f(tobit(x) as u32, (tobit(n) & 31) as u32) as i32)
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
        "bswap",
        lua.create_function(|_, x: f64| Ok((tobit(x) as u32).swap_bytes() as i32))?,
    )?;
    t.set(
        "tohex",
        lua.create_function(|_, (x, n): (f64, Option<f64>)| {
            let mut n = n.map(tobit).unwrap_or(8);
            let upper = n < 0;
            if upper {
                n = -n;
            }
            let n = n.clamp(1, 8) as usize;
            let v = tobit(x) as u32;
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
