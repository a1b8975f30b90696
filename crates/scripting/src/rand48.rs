//! `math.random` and `math.randomseed` as Redis replaces them (`redis_math_random` in
//! `script_lua.c` over `rand.c`'s `redisLrand48`): a 48-bit linear congruential generator
//! shared by every script of the engine, so `math.randomseed(n)` gives Redis's sequence.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mlua::{Lua, MultiValue, Table, Value};

/// rand48's multiplier, increment and initial state (X2 X1 X0 = 0x1234 0xABCD 0x330E).
const A: u64 = 0x5_DEEC_E66D;
const C: u64 = 0xB;
const INITIAL: u64 = 0x1234_ABCD_330E;
const MASK: u64 = (1 << 48) - 1;
/// REDIS_LRAND48_MAX.
const LRAND48_MAX: u64 = i32::MAX as u64;

/// `redisSrand48`: the state a seed gives (seed in the high 32 bits, 0x330E below).
fn seeded(seed: i32) -> u64 {
    (u64::from(seed as u32) << 16) | 0x330E
}

/// `redisLrand48`: advances the state and returns its top 31 bits.
fn next(state: &AtomicU64) -> u64 {
    let mut x = state.load(Ordering::Relaxed);
    x = (A.wrapping_mul(x).wrapping_add(C)) & MASK;
    state.store(x, Ordering::Relaxed);
    x >> 17
}

/// "user_script:1: " of the Lua code calling the running function (`luaL_where(L, 1)`).
fn location(lua: &Lua) -> String {
    lua.inspect_stack(1)
        .and_then(|d| {
            let line = d.curr_line();
            let src = d.source().short_src?.into_owned();
            (line > 0).then(|| format!("{src}:{line}: "))
        })
        .unwrap_or_default()
}

fn error(lua: &Lua, msg: &str) -> mlua::Error {
    mlua::Error::runtime(format!("{}{msg}", location(lua)))
}

/// `luaL_checkint`: a number or numeric string, truncated to a C int.
fn check_int(lua: &Lua, args: &[Value], narg: usize, name: &str) -> mlua::Result<i32> {
    let v = args.get(narg - 1);
    let n = match v {
        Some(Value::Integer(i)) => Some(*i as f64),
        Some(Value::Number(n)) => Some(*n),
        Some(Value::String(s)) => std::str::from_utf8(&s.as_bytes())
            .ok()
            .and_then(|t| t.trim().parse::<f64>().ok()),
        _ => None,
    };
    match n {
        Some(n) => Ok(n as i64 as i32),
        None => {
            let got = match v {
                None => "no value",
                Some(Value::Nil) => "nil",
                Some(Value::Boolean(_)) => "boolean",
                Some(Value::String(_)) => "string",
                Some(Value::Table(_)) => "table",
                Some(Value::Function(_)) => "function",
                Some(Value::Thread(_)) => "thread",
                Some(_) => "userdata",
            };
            Err(error(
                lua,
                &format!("bad argument #{narg} to '{name}' (number expected, got {got})"),
            ))
        }
    }
}

/// Replaces `math.random` and `math.randomseed` in `math`.
pub fn install(lua: &Lua, math: &Table) -> mlua::Result<()> {
    let state = Arc::new(AtomicU64::new(INITIAL));
    let st = state.clone();
    math.set(
        "random",
        lua.create_function(move |lua, args: MultiValue| {
            let args: Vec<Value> = args.into_iter().collect();
            let r = (next(&st) % LRAND48_MAX) as f64 / LRAND48_MAX as f64;
            match args.len() {
                0 => Ok(r),
                1 => {
                    let u = check_int(lua, &args, 1, "random")?;
                    if u < 1 {
                        return Err(error(
                            lua,
                            "bad argument #1 to 'random' (interval is empty)",
                        ));
                    }
                    Ok((r * f64::from(u)).floor() + 1.0)
                }
                2 => {
                    let l = check_int(lua, &args, 1, "random")?;
                    let u = check_int(lua, &args, 2, "random")?;
                    if l > u {
                        return Err(error(
                            lua,
                            "bad argument #2 to 'random' (interval is empty)",
                        ));
                    }
                    Ok((r * (f64::from(u) - f64::from(l) + 1.0)).floor() + f64::from(l))
                }
                _ => Err(error(lua, "wrong number of arguments")),
            }
        })?,
    )?;
    math.set(
        "randomseed",
        lua.create_function(move |lua, args: MultiValue| {
            let args: Vec<Value> = args.into_iter().collect();
            let seed = check_int(lua, &args, 1, "randomseed")?;
            state.store(seeded(seed), Ordering::Relaxed);
            Ok(())
        })?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_sequence_is_lrand48s() {
        // lrand48() after srand48(42), as glibc and Redis's rand.c give it.
        let st = AtomicU64::new(seeded(42));
        assert_eq!(next(&st), 1_598_855_263);
        // And before any seed.
        let st = AtomicU64::new(INITIAL);
        assert_eq!(next(&st), 851_401_618);
    }
}
