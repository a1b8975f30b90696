//! `struct`: Roberto Ierusalimschy's binary packing library as Redis bundles it
//! (lua_struct.c 1.4): pack, unpack, size with the formats `< > ! x b B h H l L T i[n]
//! I[n] f d s c[n]` and space, integers up to 32 bytes, native (little) endian by default,
//! and its argument errors.

use mlua::{Lua, MultiValue, Table, Value};

use super::{arg_error, arg_type_name, check_bytes, check_integer, lib_error};

/// The largest integral size, in bytes.
const MAX_INT_SIZE: usize = 32;
/// `!` without a number: the platform's maximum alignment.
const MAX_ALIGN: usize = 8;

struct Header {
    little: bool,
    align: usize,
}

/// The format string with a cursor, read the way lua_struct.c reads it (stopping at NUL).
struct Fmt<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Fmt<'_> {
    fn peek(&self) -> u8 {
        self.s.get(self.pos).copied().unwrap_or(0)
    }

    /// The next option character, `None` at the end.
    fn next_opt(&mut self) -> Option<u8> {
        let c = self.peek();
        if c == 0 {
            return None;
        }
        self.pos += 1;
        Some(c)
    }

    /// `getnum`: digits after an option, or the default.
    fn number(&mut self, default: usize) -> usize {
        if !self.peek().is_ascii_digit() {
            return default;
        }
        let mut n: usize = 0;
        while self.peek().is_ascii_digit() {
            n = n
                .saturating_mul(10)
                .saturating_add((self.peek() - b'0') as usize);
            self.pos += 1;
        }
        n
    }
}

/// `optsize`: the size of option `opt` (reading its number), 0 for options without one.
fn opt_size(lua: &Lua, opt: u8, f: &mut Fmt) -> mlua::Result<usize> {
    Ok(match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' | b'd' => 8,
        b'f' => 4,
        b'x' => 1,
        b'c' => f.number(1),
        b'i' | b'I' => {
            let size = f.number(4);
            if size > MAX_INT_SIZE {
                return Err(lib_error(
                    lua,
                    format!("integral size {size} is larger than limit of {MAX_INT_SIZE}"),
                ));
            }
            size
        }
        _ => 0,
    })
}

/// `gettoalign`: padding before an item of `size` at `len`.
fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

/// `controloptions`: endianness, alignment, spaces; any other option is an error.
fn control(lua: &Lua, opt: u8, f: &mut Fmt, h: &mut Header) -> mlua::Result<()> {
    match opt {
        b' ' => {}
        b'>' => h.little = false,
        b'<' => h.little = true,
        b'!' => {
            let a = f.number(MAX_ALIGN);
            if !a.is_power_of_two() {
                return Err(lib_error(lua, format!("alignment {a} is not a power of 2")));
            }
            h.align = a;
        }
        other => {
            return Err(arg_error(
                lua,
                1,
                &format!("invalid format option '{}'", other as char),
            ))
        }
    }
    Ok(())
}

/// `luaL_checknumber`.
fn check_number(lua: &Lua, args: &[Value], narg: usize) -> mlua::Result<f64> {
    let v = args.get(narg - 1);
    let n = match v {
        Some(Value::Integer(i)) => Some(*i as f64),
        Some(Value::Number(n)) => Some(*n),
        Some(Value::String(s)) => std::str::from_utf8(&s.as_bytes())
            .ok()
            .and_then(|t| t.trim().parse().ok()),
        _ => None,
    };
    n.ok_or_else(|| {
        arg_error(
            lua,
            narg,
            &format!("number expected, got {}", arg_type_name(v)),
        )
    })
}

fn with_endian(bytes: &[u8], little: bool, out: &mut Vec<u8>) {
    if little {
        out.extend_from_slice(bytes);
    } else {
        out.extend(bytes.iter().rev());
    }
}

fn pack(lua: &Lua, args: &[Value]) -> mlua::Result<Vec<u8>> {
    let format = check_bytes(lua, args, 1)?;
    let mut f = Fmt { s: &format, pos: 0 };
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut arg = 2;
    let mut out = Vec::new();
    let mut total = 0usize;
    while let Some(opt) = f.next_opt() {
        let mut size = opt_size(lua, opt, &mut f)?;
        let pad = to_align(total, &h, opt, size);
        total += pad;
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = check_number(lua, args, arg)?;
                arg += 1;
                let v: u64 = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                // Bytes past the eighth are zeros (the value is an unsigned long shifted).
                let mut le = [0u8; MAX_INT_SIZE];
                le[..8].copy_from_slice(&v.to_le_bytes());
                with_endian(&le[..size], h.little, &mut out);
            }
            b'x' => out.push(0),
            b'f' => {
                let x = check_number(lua, args, arg)? as f32;
                arg += 1;
                with_endian(&x.to_le_bytes(), h.little, &mut out);
            }
            b'd' => {
                let x = check_number(lua, args, arg)?;
                arg += 1;
                with_endian(&x.to_le_bytes(), h.little, &mut out);
            }
            b'c' | b's' => {
                let s = check_bytes(lua, args, arg)?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(arg_error(lua, arg, "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                    size += 1;
                }
            }
            other => control(lua, other, &mut f, &mut h)?,
        }
        total += size;
    }
    Ok(out)
}

fn unpack(lua: &Lua, args: &[Value]) -> mlua::Result<MultiValue> {
    let format = check_bytes(lua, args, 1)?;
    let data = check_bytes(lua, args, 2)?;
    let init = check_integer(lua, args, 3, true)?.unwrap_or(1);
    let mut pos = (init as usize).wrapping_sub(1);
    let mut f = Fmt { s: &format, pos: 0 };
    let mut h = Header {
        little: true,
        align: 1,
    };
    let short = || arg_error(lua, 2, "data string too short");
    let mut out: Vec<Value> = Vec::new();
    while let Some(opt) = f.next_opt() {
        let mut size = opt_size(lua, opt, &mut f)?;
        pos = pos.wrapping_add(to_align(pos, &h, opt, size));
        if pos.checked_add(size).is_none_or(|end| end > data.len()) {
            return Err(short());
        }
        let bytes = |n: usize| {
            let b = &data[pos..pos + n];
            let mut le = [0u8; MAX_INT_SIZE];
            for (i, &x) in b.iter().enumerate() {
                le[if h.little { i } else { n - 1 - i }] = x;
            }
            le
        };
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                // An unsigned long accumulates the bytes: only the low eight survive.
                let le = bytes(size);
                let mut v =
                    u64::from_le_bytes([le[0], le[1], le[2], le[3], le[4], le[5], le[6], le[7]]);
                let n = if opt.is_ascii_lowercase() {
                    // `~0 << (size*8 - 1)`, with x86's shift count taken mod 64.
                    let mask = u64::MAX << ((size as i64 * 8 - 1) & 63);
                    if v & mask != 0 {
                        v |= mask;
                    }
                    v as i64 as f64
                } else {
                    v as f64
                };
                out.push(Value::Number(n));
            }
            b'x' => {}
            b'f' => {
                let le = bytes(4);
                out.push(Value::Number(
                    f32::from_le_bytes([le[0], le[1], le[2], le[3]]) as f64,
                ));
            }
            b'd' => {
                let le = bytes(8);
                out.push(Value::Number(f64::from_le_bytes([
                    le[0], le[1], le[2], le[3], le[4], le[5], le[6], le[7],
                ])));
            }
            b'c' => {
                if size == 0 {
                    let previous = match out.pop() {
                        Some(Value::Number(x)) => Some(x),
                        Some(Value::Integer(x)) => Some(x as f64),
                        Some(Value::String(t)) => std::str::from_utf8(&t.as_bytes())
                            .ok()
                            .and_then(|t| t.trim().parse().ok()),
                        _ => None,
                    };
                    let Some(previous) = previous else {
                        return Err(lib_error(lua, "format 'c0' needs a previous size"));
                    };
                    size = previous as usize;
                    if pos.checked_add(size).is_none_or(|end| end > data.len()) {
                        return Err(short());
                    }
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let rest = &data[pos..];
                let Some(end) = rest.iter().position(|&b| b == 0) else {
                    return Err(lib_error(lua, "unfinished string in data"));
                };
                size = end + 1;
                out.push(Value::String(lua.create_string(&rest[..end])?));
            }
            other => control(lua, other, &mut f, &mut h)?,
        }
        pos = pos.wrapping_add(size);
    }
    out.push(Value::Integer(pos as i64 + 1));
    Ok(MultiValue::from_iter(out))
}

fn size(lua: &Lua, args: &[Value]) -> mlua::Result<i64> {
    let format = check_bytes(lua, args, 1)?;
    let mut f = Fmt { s: &format, pos: 0 };
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut pos = 0usize;
    while let Some(opt) = f.next_opt() {
        let size = opt_size(lua, opt, &mut f)?;
        pos += to_align(pos, &h, opt, size);
        if opt == b's' {
            return Err(arg_error(lua, 1, "option 's' has no fixed size"));
        } else if opt == b'c' && size == 0 {
            return Err(arg_error(lua, 1, "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            control(lua, opt, &mut f, &mut h)?;
        }
        pos += size;
    }
    Ok(pos as i64)
}

pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            let mut args: Vec<Value> = args.into_iter().collect();
            // b_pack checks the format, then pushes a nil mark after its arguments: a
            // missing value reads as nil.
            check_bytes(lua, &args, 1)?;
            args.push(Value::Nil);
            lua.create_string(pack(lua, &args)?)
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, args: MultiValue| {
            let args: Vec<Value> = args.into_iter().collect();
            unpack(lua, &args)
        })?,
    )?;
    t.set(
        "size",
        lua.create_function(|lua, args: MultiValue| {
            let args: Vec<Value> = args.into_iter().collect();
            size(lua, &args)
        })?,
    )?;
    Ok(t)
}
