//! `struct`: Roberto Ierusalimschy's binary packing library (pack, unpack, size), with
//! the formats `< > = !n x b B h H l L T i[n] I[n] f d s c[n]`.

use mlua::{Lua, MultiValue, Table, Value, Variadic};

use super::fail;

struct Fmt<'a> {
    s: &'a [u8],
    pos: usize,
    little: bool,
    align: usize,
}

enum Item {
    Pad,
    Int { size: usize, signed: bool },
    Float,
    Double,
    Zstr,
    Chars(Option<usize>),
}

impl Fmt<'_> {
    fn number(&mut self) -> Option<usize> {
        let start = self.pos;
        let mut n: usize = 0;
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_digit() {
            n = n
                .saturating_mul(10)
                .saturating_add((self.s[self.pos] - b'0') as usize);
            self.pos += 1;
        }
        (self.pos > start).then_some(n)
    }

    /// The next item, with options applied; None at the end.
    fn next(&mut self) -> mlua::Result<Option<(Item, usize)>> {
        while self.pos < self.s.len() {
            let c = self.s[self.pos];
            self.pos += 1;
            let item = match c {
                b' ' => continue,
                b'<' | b'=' => {
                    self.little = true;
                    continue;
                }
                b'>' => {
                    self.little = false;
                    continue;
                }
                b'!' => {
                    self.align = self.number().unwrap_or(8);
                    if !self.align.is_power_of_two() {
                        return Err(fail("alignment must be power of 2"));
                    }
                    continue;
                }
                b'x' => (Item::Pad, 1),
                b'b' => (
                    Item::Int {
                        size: 1,
                        signed: true,
                    },
                    1,
                ),
                b'B' => (
                    Item::Int {
                        size: 1,
                        signed: false,
                    },
                    1,
                ),
                b'h' => (
                    Item::Int {
                        size: 2,
                        signed: true,
                    },
                    2,
                ),
                b'H' => (
                    Item::Int {
                        size: 2,
                        signed: false,
                    },
                    2,
                ),
                b'l' => (
                    Item::Int {
                        size: 8,
                        signed: true,
                    },
                    8,
                ),
                b'L' | b'T' => (
                    Item::Int {
                        size: 8,
                        signed: false,
                    },
                    8,
                ),
                b'i' | b'I' => {
                    let size = self.number().unwrap_or(4);
                    if !(1..=8).contains(&size) {
                        return Err(fail(format!(
                            "integral size {size} is larger than limit of 8"
                        )));
                    }
                    (
                        Item::Int {
                            size,
                            signed: c == b'i',
                        },
                        size,
                    )
                }
                b'f' => (Item::Float, 4),
                b'd' => (Item::Double, 8),
                b's' => (Item::Zstr, 1),
                b'c' => {
                    let n = self.number();
                    (Item::Chars(n), 1)
                }
                other => return Err(fail(format!("invalid format option '{}'", other as char))),
            };
            return Ok(Some(item));
        }
        Ok(None)
    }

    fn padding(&self, len: usize, size: usize) -> usize {
        let a = size.min(self.align);
        if a <= 1 || len.is_multiple_of(a) {
            0
        } else {
            a - len % a
        }
    }
}

fn fmt(s: &[u8]) -> Fmt<'_> {
    Fmt {
        s,
        pos: 0,
        little: true,
        align: 1,
    }
}

fn to_f64(v: &Value) -> mlua::Result<f64> {
    match v {
        Value::Integer(i) => Ok(*i as f64),
        Value::Number(n) => Ok(*n),
        Value::String(s) => std::str::from_utf8(&s.as_bytes())
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .ok_or_else(|| fail("bad argument to 'pack' (number expected)")),
        _ => Err(fail("bad argument to 'pack' (number expected)")),
    }
}

fn pack(format: &[u8], vals: &[Value]) -> mlua::Result<Vec<u8>> {
    let mut f = fmt(format);
    let mut out = Vec::new();
    let mut args = vals.iter();
    let mut next_arg = || args.next().cloned().unwrap_or(Value::Nil);
    while let Some((item, size)) = f.next()? {
        let pad = f.padding(out.len(), size);
        out.resize(out.len() + pad, 0);
        match item {
            Item::Pad => out.push(0),
            Item::Int { size, signed: _ } => {
                let x = to_f64(&next_arg())?;
                let v = if x < 0.0 { x as i64 as u64 } else { x as u64 };
                let bytes = v.to_le_bytes();
                if f.little {
                    out.extend_from_slice(&bytes[..size]);
                } else {
                    out.extend(bytes[..size].iter().rev());
                }
            }
            Item::Float => {
                let b = (to_f64(&next_arg())? as f32).to_bits().to_le_bytes();
                if f.little {
                    out.extend_from_slice(&b)
                } else {
                    out.extend(b.iter().rev())
                }
            }
            Item::Double => {
                let b = to_f64(&next_arg())?.to_bits().to_le_bytes();
                if f.little {
                    out.extend_from_slice(&b)
                } else {
                    out.extend(b.iter().rev())
                }
            }
            Item::Zstr | Item::Chars(_) => {
                let s = match next_arg() {
                    Value::String(s) => s.as_bytes().to_vec(),
                    v @ (Value::Integer(_) | Value::Number(_)) => {
                        crate::convert::format_g(to_f64(&v)?, 14).into_bytes()
                    }
                    _ => return Err(fail("bad argument to 'pack' (string expected)")),
                };
                match item {
                    Item::Zstr => {
                        if s.contains(&0) {
                            return Err(fail("string contains zeros"));
                        }
                        out.extend_from_slice(&s);
                        out.push(0);
                    }
                    Item::Chars(n) => {
                        let n = n.unwrap_or(1);
                        let n = if n == 0 { s.len() } else { n };
                        if s.len() < n {
                            return Err(fail("string too short"));
                        }
                        out.extend_from_slice(&s[..n]);
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}

fn unpack(lua: &Lua, format: &[u8], data: &[u8], init: usize) -> mlua::Result<MultiValue> {
    let mut f = fmt(format);
    let mut pos = init;
    let mut out: Vec<Value> = Vec::new();
    let short = || fail("data string too short");
    while let Some((item, size)) = f.next()? {
        pos += f.padding(pos, size);
        match item {
            Item::Pad => pos += 1,
            Item::Int { size, signed } => {
                let b = data.get(pos..pos + size).ok_or_else(short)?;
                let mut v: u64 = 0;
                for i in 0..size {
                    let byte = if f.little { b[size - 1 - i] } else { b[i] };
                    v = (v << 8) | byte as u64;
                }
                let n = if signed && size < 8 {
                    let shift = 64 - 8 * size as u32;
                    (((v << shift) as i64) >> shift) as f64
                } else if signed {
                    v as i64 as f64
                } else {
                    v as f64
                };
                out.push(Value::Number(n));
                pos += size;
            }
            Item::Float | Item::Double => {
                let n = if matches!(item, Item::Float) { 4 } else { 8 };
                let b = data.get(pos..pos + n).ok_or_else(short)?;
                let mut v: u64 = 0;
                for i in 0..n {
                    let byte = if f.little { b[n - 1 - i] } else { b[i] };
                    v = (v << 8) | byte as u64;
                }
                out.push(Value::Number(if n == 4 {
                    f32::from_bits(v as u32) as f64
                } else {
                    f64::from_bits(v)
                }));
                pos += n;
            }
            Item::Zstr => {
                let rest = data.get(pos..).ok_or_else(short)?;
                let end = rest
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or_else(|| fail("unfinished string for format 's'"))?;
                out.push(Value::String(lua.create_string(&rest[..end])?));
                pos += end + 1;
            }
            Item::Chars(n) => {
                let n = match n {
                    Some(0) => match out.pop() {
                        Some(Value::Number(x)) if x >= 0.0 => x as usize,
                        Some(Value::Integer(x)) if x >= 0 => x as usize,
                        _ => return Err(fail("format 'c0' needs a previous size")),
                    },
                    Some(n) => n,
                    None => 1,
                };
                let b = data.get(pos..pos.saturating_add(n)).ok_or_else(short)?;
                out.push(Value::String(lua.create_string(b)?));
                pos += n;
            }
        }
    }
    out.push(Value::Integer(pos as i64 + 1));
    Ok(MultiValue::from_iter(out))
}

pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, (format, vals): (mlua::String, Variadic<Value>)| {
            lua.create_string(pack(&format.as_bytes(), &vals)?)
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(
            |lua, (format, data, init): (mlua::String, mlua::String, Option<i64>)| {
                let init = init.unwrap_or(1).max(1) as usize - 1;
                unpack(lua, &format.as_bytes(), &data.as_bytes(), init)
            },
        )?,
    )?;
    t.set(
        "size",
        lua.create_function(|_, format: mlua::String| {
            let fb = format.as_bytes();
            let mut f = fmt(&fb);
            let mut len = 0usize;
            while let Some((item, size)) = f.next()? {
                len += f.padding(len, size);
                len += match item {
                    Item::Zstr => return Err(fail("options 'c0' - 's' have undefined sizes")),
                    Item::Chars(Some(0)) => {
                        return Err(fail("options 'c0' - 's' have undefined sizes"))
                    }
                    Item::Chars(n) => n.unwrap_or(1),
                    _ => size,
                };
            }
            Ok(len as i64)
        })?,
    )?;
    Ok(t)
}
