//! `cmsgpack`: MessagePack encoding and decoding with lua-cmsgpack's rules (tables with
//! keys 1..n are arrays, integral numbers are integers, other numbers float32 when exact).

use mlua::{Lua, MultiValue, Table, Value, Variadic};

use super::fail;

const MAX_NESTING: usize = 16;

pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, vals: Variadic<Value>| {
            if vals.is_empty() {
                return Err(fail("MessagePack pack needs input."));
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
        lua.create_function(|lua, s: mlua::String| {
            let b = s.as_bytes();
            let mut pos = 0;
            let mut out = Vec::new();
            while pos < b.len() {
                out.push(decode(lua, &b, &mut pos, 0)?);
            }
            Ok(MultiValue::from_iter(out))
        })?,
    )?;
    let limited =
        |lua: &Lua, s: mlua::String, limit: i64, offset: i64| -> mlua::Result<MultiValue> {
            let b = s.as_bytes();
            if offset < 0 || offset as usize > b.len() {
                return Err(fail("Start offset greater than input length"));
            }
            let mut pos = offset as usize;
            let mut vals = Vec::new();
            while pos < b.len() && (limit <= 0 || (vals.len() as i64) < limit) {
                vals.push(decode(lua, &b, &mut pos, 0)?);
            }
            let next = if pos >= b.len() { -1 } else { pos as i64 };
            let mut out = vec![Value::Integer(next)];
            out.extend(vals);
            Ok(MultiValue::from_iter(out))
        };
    t.set(
        "unpack_one",
        lua.create_function(move |lua, (s, offset): (mlua::String, Option<i64>)| {
            limited(lua, s, 1, offset.unwrap_or(0))
        })?,
    )?;
    t.set(
        "unpack_limit",
        lua.create_function(
            move |lua, (s, limit, offset): (mlua::String, i64, Option<i64>)| {
                limited(lua, s, limit, offset.unwrap_or(0))
            },
        )?,
    )?;
    Ok(t)
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
            if n.fract() == 0.0 && n.abs() < 9.2e18 {
                encode_int(n as i64, out);
            } else if (n as f32) as f64 == n || n.is_nan() {
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

fn take<'a>(b: &'a [u8], pos: &mut usize, n: usize) -> mlua::Result<&'a [u8]> {
    if b.len() - *pos < n {
        return Err(fail("Missing bytes in input."));
    }
    let s = &b[*pos..*pos + n];
    *pos += n;
    Ok(s)
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, &x| (acc << 8) | x as u64)
}

fn decode(lua: &Lua, b: &[u8], pos: &mut usize, depth: usize) -> mlua::Result<Value> {
    if depth > 1000 {
        return Err(fail("Bad data format in input."));
    }
    let c = take(b, pos, 1)?[0];
    let str_of = |lua: &Lua, pos: &mut usize, n: usize| -> mlua::Result<Value> {
        Ok(Value::String(lua.create_string(take(b, pos, n)?)?))
    };
    let array = |lua: &Lua, pos: &mut usize, n: usize| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        for i in 1..=n {
            t.raw_set(i, decode(lua, b, pos, depth + 1)?)?;
        }
        Ok(Value::Table(t))
    };
    let map = |lua: &Lua, pos: &mut usize, n: usize| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        for _ in 0..n {
            let k = decode(lua, b, pos, depth + 1)?;
            let v = decode(lua, b, pos, depth + 1)?;
            if !k.is_nil() {
                t.raw_set(k, v)?;
            }
        }
        Ok(Value::Table(t))
    };
    Ok(match c {
        0x00..=0x7f => Value::Integer(c as i64),
        0x80..=0x8f => map(lua, pos, (c & 0x0f) as usize)?,
        0x90..=0x9f => array(lua, pos, (c & 0x0f) as usize)?,
        0xa0..=0xbf => str_of(lua, pos, (c & 0x1f) as usize)?,
        0xc0 => Value::Nil,
        0xc2 => Value::Boolean(false),
        0xc3 => Value::Boolean(true),
        0xc4 | 0xd9 => {
            let n = take(b, pos, 1)?[0] as usize;
            str_of(lua, pos, n)?
        }
        0xc5 | 0xda => {
            let n = be(take(b, pos, 2)?) as usize;
            str_of(lua, pos, n)?
        }
        0xc6 | 0xdb => {
            let n = be(take(b, pos, 4)?) as usize;
            str_of(lua, pos, n)?
        }
        0xca => {
            let v = be(take(b, pos, 4)?) as u32;
            Value::Number(f32::from_bits(v) as f64)
        }
        0xcb => Value::Number(f64::from_bits(be(take(b, pos, 8)?))),
        0xcc => Value::Integer(be(take(b, pos, 1)?) as i64),
        0xcd => Value::Integer(be(take(b, pos, 2)?) as i64),
        0xce => Value::Integer(be(take(b, pos, 4)?) as i64),
        0xcf => Value::Number(be(take(b, pos, 8)?) as f64),
        0xd0 => Value::Integer(be(take(b, pos, 1)?) as u8 as i8 as i64),
        0xd1 => Value::Integer(be(take(b, pos, 2)?) as u16 as i16 as i64),
        0xd2 => Value::Integer(be(take(b, pos, 4)?) as u32 as i32 as i64),
        0xd3 => Value::Integer(be(take(b, pos, 8)?) as i64),
        0xdc => {
            let n = be(take(b, pos, 2)?) as usize;
            array(lua, pos, n)?
        }
        0xdd => {
            let n = be(take(b, pos, 4)?) as usize;
            array(lua, pos, n)?
        }
        0xde => {
            let n = be(take(b, pos, 2)?) as usize;
            map(lua, pos, n)?
        }
        0xdf => {
            let n = be(take(b, pos, 4)?) as usize;
            map(lua, pos, n)?
        }
        0xe0..=0xff => Value::Integer(c as i8 as i64),
        _ => return Err(fail("Bad data format in input.")),
    })
}
