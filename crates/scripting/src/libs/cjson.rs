//! `cjson`: JSON encoding and decoding with lua-cjson's rules (arrays are tables with keys
//! 1..n, `cjson.null` for JSON null, numbers as `%.14g`).

use std::fmt::Write as _;

use mlua::{LightUserData, Lua, Table, Value};

use super::fail;
use crate::convert::format_g;

const MAX_DEPTH: usize = 1000;

pub fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("null", null())?;
    t.set(
        "encode",
        lua.create_function(|lua, v: Value| {
            let mut out = String::new();
            encode(&v, &mut out, 0)?;
            lua.create_string(out)
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(|lua, s: mlua::String| {
            let bytes = s.as_bytes();
            match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(j) => to_lua(lua, &j),
                Err(e) => Err(fail(format!(
                    "Expected value but found invalid token at character {}",
                    e.column()
                ))),
            }
        })?,
    )?;
    Ok(t)
}

fn to_lua(lua: &Lua, j: &serde_json::Value) -> mlua::Result<Value> {
    use serde_json::Value as J;
    Ok(match j {
        J::Null => null(),
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        J::String(s) => Value::String(lua.create_string(s)?),
        J::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            Value::Table(t)
        }
        J::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, v) in map {
                t.raw_set(k.as_str(), to_lua(lua, v)?)?;
            }
            Value::Table(t)
        }
    })
}

fn number(x: f64, out: &mut String) -> mlua::Result<()> {
    if !x.is_finite() {
        return Err(fail("Cannot serialise number: must not be NaN or Inf"));
    }
    out.push_str(&format_g(x, 14));
    Ok(())
}

fn string(s: &[u8], out: &mut String) {
    out.push('"');
    for ch in String::from_utf8_lossy(s).chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn encode(v: &Value, out: &mut String, depth: usize) -> mlua::Result<()> {
    match v {
        Value::Nil => out.push_str("null"),
        Value::LightUserData(p) if p.0.is_null() => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Number(n) => number(*n, out)?,
        Value::String(s) => string(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth >= MAX_DEPTH {
                return Err(fail(format!(
                    "Cannot serialise, excessive nesting ({})",
                    depth + 1
                )));
            }
            let pairs: Vec<(Value, Value)> =
                t.pairs::<Value, Value>().collect::<mlua::Result<_>>()?;
            // lua-cjson's array test: only positive integer keys; not excessively sparse.
            let mut max = 0usize;
            let mut array = !pairs.is_empty();
            for (k, _) in &pairs {
                let idx = match k {
                    Value::Integer(i) if *i >= 1 => Some(*i as usize),
                    Value::Number(n) if *n >= 1.0 && n.fract() == 0.0 => Some(*n as usize),
                    _ => None,
                };
                match idx {
                    Some(i) => max = max.max(i),
                    None => {
                        array = false;
                        break;
                    }
                }
            }
            if array {
                if max > 10 && max > pairs.len() * 2 {
                    return Err(fail("Cannot serialise table: excessively sparse array"));
                }
                out.push('[');
                for i in 1..=max {
                    if i > 1 {
                        out.push(',');
                    }
                    let item: Value = t.raw_get(i)?;
                    encode(&item, out, depth + 1)?;
                }
                out.push(']');
            } else {
                out.push('{');
                for (n, (k, val)) in pairs.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    match k {
                        Value::String(s) => string(&s.as_bytes(), out),
                        Value::Integer(i) => {
                            let _ = write!(out, "\"{i}\"");
                        }
                        Value::Number(x) => {
                            out.push('"');
                            number(*x, out)?;
                            out.push('"');
                        }
                        _ => {
                            return Err(fail(
                                "Cannot serialise table: table key must be a number or string",
                            ))
                        }
                    }
                    out.push(':');
                    encode(val, out, depth + 1)?;
                }
                out.push('}');
            }
        }
        other => {
            return Err(fail(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            )))
        }
    }
    Ok(())
}
