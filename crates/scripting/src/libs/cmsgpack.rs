//! `cmsgpack`: MessagePack encoding and decoding with lua-cmsgpack's rules (tables with
//! keys 1..n are arrays, integral numbers are integers, other numbers float32 when exact).

use mlua::{Lua, MultiValue, Table, Value, Variadic};

use super::{arg_error, check_bytes, check_integer, lib_error};

const MAX_NESTING: usize = 16;

pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, vals: Variadic<Value>| {
            if vals.is_empty() {
                return Err(arg_error(lua, 0, "MessagePack pack needs input."));
            }
            let mut out = Vec::new();
            for v in vals.iter() {
                encode(v, &mut out, 0)?;
            }
            lua.create_string(out)
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, args: MultiValue| {
            let args: Vec<Value> = args.into_iter().collect();
            let b = check_bytes(lua, &args, 1)?;
            unpack(lua, &b, 0, 0)
        })?,
    )?;
    t.set(
        "unpack_one",
        lua.create_function(|lua, args: MultiValue| {
            let args: Vec<Value> = args.into_iter().collect();
            let offset = check_integer(lua, &args, 2, true)?.unwrap_or(0);
            let b = check_bytes(lua, &args, 1)?;
            unpack(lua, &b, 1, offset)
        })?,
    )?;
    t.set(
        "unpack_limit",
        lua.create_function(|lua, args: MultiValue| {
            let args: Vec<Value> = args.into_iter().collect();
            let limit = check_integer(lua, &args, 2, false)?.unwrap_or(0);
            let offset = check_integer(lua, &args, 3, true)?.unwrap_or(0);
            let b = check_bytes(lua, &args, 1)?;
            unpack(lua, &b, limit, offset)
        })?,
    )?;
    Ok(t)
}

/// lua-cmsgpack's `mp_unpack_full`: with no limit and no offset every value in the input;
/// otherwise up to `limit` values from `offset`, preceded by the offset after them (-1
/// once the input is used up).
fn unpack(lua: &Lua, b: &[u8], limit: i64, offset: i64) -> mlua::Result<MultiValue> {
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        // Redis's message names the input length as the limit.
        return Err(lib_error(
            lua,
            format!(
                "Invalid request to unpack with offset of {} and limit of {}.",
                offset as i32,
                b.len() as i32
            ),
        ));
    }
    if offset as u64 > b.len() as u64 {
        return Err(lib_error(
            lua,
            format!(
                "Start offset {} greater than input length {}.",
                offset as i32,
                b.len() as i32
            ),
        ));
    }
    let limit = if decode_all { i64::MAX } else { limit };
    let mut pos = offset as usize;
    let mut vals = Vec::new();
    while pos < b.len() && (vals.len() as i64) < limit {
        // The input string and the values decoded so far are on the Lua stack.
        let top = 1 + vals.len();
        vals.push(decode(lua, b, &mut pos, top)?);
    }
    if !decode_all {
        let next = if pos >= b.len() { -1 } else { pos as i64 };
        vals.insert(0, Value::Integer(next));
    }
    Ok(MultiValue::from_iter(vals))
}

fn encode_int(i: i64, out: &mut Vec<u8>) {
    if i >= 0 {
        let u = i as u64;
        if u < 128 {
            out.push(u as u8);
        } else if u <= 0xff {
            out.extend_from_slice(&[0xcc, u as u8]);
        } else if u <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else if i >= -32 {
        out.push(i as i8 as u8);
    } else if i >= -128 {
        out.extend_from_slice(&[0xd0, i as i8 as u8]);
    } else if i >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(i as i16).to_be_bytes());
    } else if i >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

fn encode_len(len: usize, fix: u8, fix_max: usize, codes: [u8; 3], out: &mut Vec<u8>) {
    if len <= fix_max {
        out.push(fix | len as u8);
    } else if codes[0] != 0 && len <= 0xff {
        out.extend_from_slice(&[codes[0], len as u8]);
    } else if len <= 0xffff {
        out.push(codes[1]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(codes[2]);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn encode(v: &Value, out: &mut Vec<u8>, depth: usize) -> mlua::Result<()> {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_int(*i, out),
        Value::Number(n) => {
            let n = *n;
            // lua-cmsgpack: an integer when the number survives a round trip through int64
            // (never NaN or infinities), else a float when it survives one through float.
            if n.fract() == 0.0
                && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n)
            {
                encode_int(n as i64, out);
            } else if (n as f32) as f64 == n {
                out.push(0xca);
                out.extend_from_slice(&(n as f32).to_be_bytes());
            } else {
                out.push(0xcb);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        Value::String(s) => {
            let b = s.as_bytes();
            encode_len(b.len(), 0xa0, 31, [0xd9, 0xda, 0xdb], out);
            out.extend_from_slice(&b);
        }
        Value::Table(t) if depth < MAX_NESTING => {
            let pairs: Vec<(Value, Value)> =
                t.pairs::<Value, Value>().collect::<mlua::Result<_>>()?;
            let n = pairs.len();
            let is_array = pairs.iter().all(|(k, _)| match k {
                Value::Integer(i) => *i >= 1 && (*i as usize) <= n,
                Value::Number(x) => *x >= 1.0 && x.fract() == 0.0 && (*x as usize) <= n,
                _ => false,
            });
            if is_array {
                encode_len(n, 0x90, 15, [0, 0xdc, 0xdd], out);
                for i in 1..=n {
                    let item: Value = t.raw_get(i)?;
                    encode(&item, out, depth + 1)?;
                }
            } else {
                encode_len(n, 0x80, 15, [0, 0xde, 0xdf], out);
                for (k, val) in &pairs {
                    encode(k, out, depth + 1)?;
                    encode(val, out, depth + 1)?;
                }
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

fn take<'a>(lua: &Lua, b: &'a [u8], pos: &mut usize, n: usize) -> mlua::Result<&'a [u8]> {
    if b.len() - *pos < n {
        return Err(lib_error(lua, "Missing bytes in input."));
    }
    let s = &b[*pos..*pos + n];
    *pos += n;
    Ok(s)
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, &x| (acc << 8) | x as u64)
}

/// Lua's C stack limit (LUAI_MAXCSTACK): lua-cmsgpack checks it as it pushes, so deep
/// nesting fails with Lua's "stack overflow" errors instead of exhausting native stack.
const MAX_SLOTS: usize = 8000;

/// An array or map being filled while its members are read.
enum Open {
    Array(Table, usize, usize),
    Map(Table, usize, usize, Option<Value>),
}

/// A container header or a complete scalar.
enum Item {
    Array(usize),
    Map(usize),
    Scalar(Value),
}

fn item(lua: &Lua, b: &[u8], pos: &mut usize) -> mlua::Result<Item> {
    let c = take(lua, b, pos, 1)?[0];
    let str_of = |pos: &mut usize, n: usize| -> mlua::Result<Item> {
        Ok(Item::Scalar(Value::String(
            lua.create_string(take(lua, b, pos, n)?)?,
        )))
    };
    Ok(match c {
        0x00..=0x7f => Item::Scalar(Value::Integer(c as i64)),
        0x80..=0x8f => Item::Map((c & 0x0f) as usize),
        0x90..=0x9f => Item::Array((c & 0x0f) as usize),
        0xa0..=0xbf => str_of(pos, (c & 0x1f) as usize)?,
        0xc0 => Item::Scalar(Value::Nil),
        0xc2 => Item::Scalar(Value::Boolean(false)),
        0xc3 => Item::Scalar(Value::Boolean(true)),
        0xd9 => {
            let n = take(lua, b, pos, 1)?[0] as usize;
            str_of(pos, n)?
        }
        0xda => {
            let n = be(take(lua, b, pos, 2)?) as usize;
            str_of(pos, n)?
        }
        0xdb => {
            let n = be(take(lua, b, pos, 4)?) as usize;
            str_of(pos, n)?
        }
        0xca => {
            let v = be(take(lua, b, pos, 4)?) as u32;
            Item::Scalar(Value::Number(f32::from_bits(v) as f64))
        }
        0xcb => Item::Scalar(Value::Number(f64::from_bits(be(take(lua, b, pos, 8)?)))),
        0xcc => Item::Scalar(Value::Integer(be(take(lua, b, pos, 1)?) as i64)),
        0xcd => Item::Scalar(Value::Integer(be(take(lua, b, pos, 2)?) as i64)),
        0xce => Item::Scalar(Value::Integer(be(take(lua, b, pos, 4)?) as i64)),
        // lua_pushunsigned is lua_pushinteger on 64-bit builds: past i64::MAX it wraps.
        0xcf => Item::Scalar(Value::Number(be(take(lua, b, pos, 8)?) as i64 as f64)),
        0xd0 => Item::Scalar(Value::Integer(be(take(lua, b, pos, 1)?) as u8 as i8 as i64)),
        0xd1 => Item::Scalar(Value::Integer(
            be(take(lua, b, pos, 2)?) as u16 as i16 as i64
        )),
        0xd2 => Item::Scalar(Value::Integer(
            be(take(lua, b, pos, 4)?) as u32 as i32 as i64
        )),
        0xd3 => Item::Scalar(Value::Integer(be(take(lua, b, pos, 8)?) as i64)),
        0xdc => Item::Array(be(take(lua, b, pos, 2)?) as usize),
        0xdd => Item::Array(be(take(lua, b, pos, 4)?) as usize),
        0xde => Item::Map(be(take(lua, b, pos, 2)?) as usize),
        0xdf => Item::Map(be(take(lua, b, pos, 4)?) as usize),
        0xe0..=0xff => Item::Scalar(Value::Integer(c as i8 as i64)),
        // bin 8/16/32 and the ext types are not in lua-cmsgpack 0.4.0.
        _ => return Err(lib_error(lua, "Bad data format in input.")),
    })
}

/// lua-cmsgpack's `mp_decode_to_lua_type`: one value at `pos`, with `top` slots already
/// on the Lua stack. Iterative; the slot accounting mirrors the C code's pushes so the
/// stack-overflow errors come where Redis's do.
fn decode(lua: &Lua, b: &[u8], pos: &mut usize, top: usize) -> mlua::Result<Value> {
    let mut open: Vec<Open> = Vec::new();
    let mut top = top;
    loop {
        if top + 1 > MAX_SLOTS {
            return Err(lib_error(
                lua,
                "stack overflow (too many return values at once; use unpack_one or \
                 unpack_limit instead.)",
            ));
        }
        let mut v = match item(lua, b, pos)? {
            Item::Scalar(v) => v,
            Item::Array(n) => {
                let t = lua.create_table()?;
                if top + 2 > MAX_SLOTS {
                    return Err(lib_error(
                        lua,
                        "stack overflow (in function mp_decode_to_lua_array)",
                    ));
                }
                if n == 0 {
                    Value::Table(t)
                } else {
                    open.push(Open::Array(t, n, 1));
                    top += 2; // the table and the index
                    continue;
                }
            }
            Item::Map(n) => {
                let t = lua.create_table()?;
                if n == 0 {
                    Value::Table(t)
                } else {
                    open.push(Open::Map(t, n, 0, None));
                    top += 1; // the table
                    continue;
                }
            }
        };
        // `v` is complete: store it, closing the containers it completes.
        loop {
            match open.last_mut() {
                None => return Ok(v),
                Some(Open::Array(t, n, i)) => {
                    t.raw_set(*i, v)?;
                    if *i < *n {
                        *i += 1;
                        break;
                    }
                }
                Some(Open::Map(t, n, i, key)) => match key.take() {
                    None => {
                        *key = Some(v);
                        top += 1;
                        break;
                    }
                    Some(k) => {
                        top -= 1;
                        match &k {
                            Value::Nil => return Err(super::fail("table index is nil")),
                            Value::Number(x) if x.is_nan() => {
                                return Err(super::fail("table index is NaN"))
                            }
                            _ => t.raw_set(k, v)?,
                        }
                        *i += 1;
                        if *i < *n {
                            break;
                        }
                    }
                },
            }
            v = match open.pop() {
                Some(Open::Array(t, ..)) => {
                    top -= 2;
                    Value::Table(t)
                }
                Some(Open::Map(t, ..)) => {
                    top -= 1;
                    Value::Table(t)
                }
                None => Value::Nil,
            };
        }
    }
}
