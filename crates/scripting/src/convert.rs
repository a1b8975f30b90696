//! Conversions between Lua values and RESP, following Redis's `script_lua.c`:
//! a command's reply becomes a Lua value for `redis.call`, and a script's return value
//! becomes the reply to its caller.

use bytes::Bytes;
use mlua::{Lua, MultiValue, Table, Value};
use protocol::{parse_frame, Frame, ReplyWriter};

use crate::Host;

/// How deep a returned table may nest before its element is replaced by an error (Redis's
/// Lua stack limit plays this part).
const MAX_REPLY_DEPTH: usize = 1000;

/// `%.17g` of a Lua number, the text Redis passes for a number argument.
pub fn lua_number_text(v: &Value) -> Option<Vec<u8>> {
    let x = match v {
        // Below 1e17 an integral number's "%.17g" is its digits.
        Value::Integer(i) if i.unsigned_abs() < 100_000_000_000_000_000 => {
            return Some(i.to_string().into_bytes())
        }
        Value::Integer(i) => *i as f64,
        Value::Number(n) => *n,
        _ => return None,
    };
    Some(format_g(x, 17).into_bytes())
}

/// C's `%.<prec>g`.
pub fn format_g(x: f64, prec: usize) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let p = prec.max(1);
    let sci = format!("{:.*e}", p - 1, x);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{x:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn err_table(lua: &Lua, text: &str) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    let text = text.trim_matches(['\r', '\n']);
    t.raw_set("err", text)?;
    Ok(Value::Table(t))
}

/// `redis.call` (`raise`) / `redis.pcall`: command... → (value, raise-it).
pub(crate) fn redis_call(
    lua: &Lua,
    internal: &Table,
    host: &mut dyn Host,
    raise: bool,
    args: MultiValue,
) -> mlua::Result<(Value, bool)> {
    let mut argv: Vec<Bytes> = Vec::with_capacity(args.len());
    let mut bad = false;
    for v in args {
        match &v {
            Value::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(_) | Value::Number(_) => {
                argv.push(Bytes::from(lua_number_text(&v).unwrap_or_default()))
            }
            _ => {
                bad = true;
                break;
            }
        }
    }
    if argv.is_empty() && !bad {
        let e = err_table(
            lua,
            "ERR Please specify at least one argument for this redis lib call",
        )?;
        return Ok((e, raise));
    }
    if bad {
        let e = err_table(
            lua,
            "ERR Lua redis lib command arguments must be strings or integers",
        )?;
        return Ok((e, raise));
    }
    let resp3 = internal.raw_get::<i64>("resp")? == 3;
    match host.call(argv, resp3) {
        Err(text) => Ok((err_table(lua, &text)?, raise)),
        Ok(reply) => match parse_frame(&reply) {
            Ok(Some((frame, _))) => {
                let is_err = matches!(frame, Frame::Error(_) | Frame::BlobError(_));
                Ok((frame_to_lua(lua, frame, resp3)?, raise && is_err))
            }
            _ => Ok((
                err_table(lua, "ERR internal error: unparsable reply")?,
                raise,
            )),
        },
    }
}

/// A command's reply as the Lua value Redis gives a script.
pub fn frame_to_lua(lua: &Lua, frame: Frame, resp3: bool) -> mlua::Result<Value> {
    let single = |k: &str, v: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(k, v)?;
        Ok(Value::Table(t))
    };
    Ok(match frame {
        Frame::Integer(n) => Value::Number(n as f64),
        Frame::Bulk(b) => Value::String(lua.create_string(&b)?),
        Frame::NullBulk | Frame::NullArray => Value::Boolean(false),
        Frame::Null => {
            if resp3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Frame::Simple(s) => single("ok", Value::String(lua.create_string(&s)?))?,
        Frame::Error(e) | Frame::BlobError(e) => err_table(lua, &String::from_utf8_lossy(&e))?,
        Frame::Array(items) | Frame::Push(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.into_iter().enumerate() {
                t.raw_set(i + 1, frame_to_lua(lua, item, resp3)?)?;
            }
            Value::Table(t)
        }
        Frame::Map(pairs) => {
            let m = lua.create_table()?;
            for (k, v) in pairs {
                let k = frame_to_lua(lua, k, resp3)?;
                let v = frame_to_lua(lua, v, resp3)?;
                if !k.is_nil() {
                    m.raw_set(k, v)?;
                }
            }
            single("map", Value::Table(m))?
        }
        Frame::Set(items) => {
            let s = lua.create_table()?;
            for item in items {
                let k = frame_to_lua(lua, item, resp3)?;
                if !k.is_nil() {
                    s.raw_set(k, true)?;
                }
            }
            single("set", Value::Table(s))?
        }
        Frame::Attribute(_) => Value::Nil,
        Frame::Double(d) => single("double", Value::Number(d))?,
        Frame::Boolean(b) => Value::Boolean(b),
        Frame::BigNumber(b) => single("big_number", Value::String(lua.create_string(&b)?))?,
        Frame::Verbatim { format, text } => {
            let inner = lua.create_table()?;
            inner.raw_set("string", lua.create_string(&text)?)?;
            inner.raw_set("format", lua.create_string(format)?)?;
            single("verbatim_string", Value::Table(inner))?
        }
    })
}

fn field(t: &Table, k: &str) -> Value {
    t.raw_get::<Value>(k).unwrap_or(Value::Nil)
}

/// A script's return value as a reply (luaReplyToRedisReply). `script_resp3`: the script
/// switched to RESP3 with `redis.setresp(3)`.
pub fn write_reply(v: &Value, script_resp3: bool, out: &mut ReplyWriter) {
    let mut path = Vec::new();
    write_value(v, script_resp3, out, &mut path);
}

fn write_value(v: &Value, resp3: bool, out: &mut ReplyWriter, path: &mut Vec<usize>) {
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if !resp3 {
                if *b {
                    out.int(1)
                } else {
                    out.null()
                }
            } else {
                out.boolean(*b)
            }
        }
        Value::Integer(i) => out.int(*i),
        Value::Number(n) => out.int(lua_number_to_reply_int(*n)),
        Value::Table(t) => write_table(t, resp3, out, path),
        _ => out.null(),
    }
}

/// Redis's `(long long)` cast of a Lua number in a reply: truncation toward zero, and
/// x86-64's "integer indefinite" (i64::MIN) for NaN and numbers outside the i64 range.
fn lua_number_to_reply_int(n: f64) -> i64 {
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n) {
        n as i64
    } else {
        i64::MIN
    }
}

fn write_table(t: &Table, resp3: bool, out: &mut ReplyWriter, path: &mut Vec<usize>) {
    let id = t.to_pointer() as usize;
    if path.len() >= MAX_REPLY_DEPTH || path.contains(&id) {
        out.error(b"ERR reached lua stack limit");
        return;
    }
    if let Value::String(e) = field(t, "err") {
        let text = String::from_utf8_lossy(&e.as_bytes()).replace(['\r', '\n'], " ");
        out.error(text.as_bytes());
        return;
    }
    if let Value::String(s) = field(t, "ok") {
        let text = String::from_utf8_lossy(&s.as_bytes()).replace(['\r', '\n'], " ");
        out.simple(text.as_bytes());
        return;
    }
    match field(t, "double") {
        Value::Number(d) => return out.double(d),
        Value::Integer(i) => return out.double(i as f64),
        _ => {}
    }
    if let Value::String(s) = field(t, "big_number") {
        let text = String::from_utf8_lossy(&s.as_bytes()).replace(['\r', '\n'], " ");
        out.big_number(text.as_bytes());
        return;
    }
    if let Value::Table(vt) = field(t, "verbatim_string") {
        if let (Value::String(f), Value::String(s)) = (field(&vt, "format"), field(&vt, "string")) {
            let fb = f.as_bytes();
            let mut format = [b' '; 3];
            for (d, s) in format.iter_mut().zip(fb.iter()) {
                *d = *s;
            }
            out.verbatim(&format, &s.as_bytes());
            return;
        }
    }
    path.push(id);
    if let Value::Table(m) = field(t, "map") {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().filter_map(|p| p.ok()).collect();
        out.map(pairs.len());
        for (k, v) in &pairs {
            write_value(k, resp3, out, path);
            write_value(v, resp3, out, path);
        }
    } else if let Value::Table(s) = field(t, "set") {
        let keys: Vec<Value> = s
            .pairs::<Value, Value>()
            .filter_map(|p| p.ok().map(|p| p.0))
            .collect();
        out.set(keys.len());
        for k in &keys {
            write_value(k, resp3, out, path);
        }
    } else {
        let mut items = Vec::new();
        let mut i = 1;
        loop {
            match t.raw_get::<Value>(i) {
                Ok(Value::Nil) | Err(_) => break,
                Ok(v) => items.push(v),
            }
            i += 1;
        }
        out.array(items.len());
        for item in &items {
            write_value(item, resp3, out, path);
        }
    }
    path.pop();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_g_matches_c() {
        assert_eq!(format_g(1.0, 17), "1");
        assert_eq!(format_g(3.5, 17), "3.5");
        assert_eq!(format_g(0.1, 17), "0.10000000000000001");
        assert_eq!(format_g(1e20, 17), "1e+20");
        assert_eq!(format_g(-2.5e-7, 17), "-2.4999999999999999e-07");
        assert_eq!(format_g(100.0, 14), "100");
        assert_eq!(format_g(0.1, 14), "0.1");
    }
}
