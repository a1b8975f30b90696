//! The libraries Redis gives scripts beyond Lua 5.1's own: cjson, cmsgpack, bit, struct.

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod structlib;

use mlua::{Lua, Table, Value};

/// Sets the `cjson`, `cmsgpack`, `bit` and `struct` globals.
pub fn install(lua: &Lua, globals: &Table) -> mlua::Result<()> {
    globals.set("bit", bit::module(lua)?)?;
    globals.set("cjson", cjson::module(lua)?)?;
    globals.set("cmsgpack", cmsgpack::module(lua)?)?;
    globals.set("struct", structlib::module(lua)?)?;
    Ok(())
}

/// A Lua error with exactly this message (no "runtime error:" prefix when shown by Lua).
pub(crate) fn fail(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::runtime(msg.into())
}

/// `luaL_where(L, 1)`: "chunk:line: " of the Lua code that called the running library
/// function, or "" when a C function (pcall) called it.
fn location(lua: &Lua) -> String {
    lua.inspect_stack(1)
        .and_then(|d| {
            let line = d.curr_line();
            let src = d.source().short_src?.into_owned();
            (line > 0).then(|| format!("{src}:{line}: "))
        })
        .unwrap_or_default()
}

/// `luaL_error` from a library function: the message after the caller's location.
pub(crate) fn lib_error(lua: &Lua, msg: impl AsRef<str>) -> mlua::Error {
    fail(format!("{}{}", location(lua), msg.as_ref()))
}

/// `luaL_argerror`: "bad argument #N to 'name' (extramsg)", named as the caller named the
/// function.
pub(crate) fn arg_error(lua: &Lua, narg: usize, extramsg: &str) -> mlua::Error {
    let (name, what) = lua
        .inspect_stack(0)
        .map(|d| {
            let n = d.names();
            (n.name.map(|s| s.into_owned()), n.name_what)
        })
        .unwrap_or((None, None));
    let mut narg = narg;
    if what == Some("method") {
        narg = narg.saturating_sub(1);
        if narg == 0 {
            let name = name.as_deref().unwrap_or("?");
            return lib_error(lua, format!("calling '{name}' on bad self ({extramsg})"));
        }
    }
    let name = name.as_deref().unwrap_or("?");
    lib_error(
        lua,
        format!("bad argument #{narg} to '{name}' ({extramsg})"),
    )
}

/// `lua_typename` of an argument, "no value" when it is absent.
pub(crate) fn arg_type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::LightUserData(_)) | Some(Value::UserData(_)) => "userdata",
        Some(Value::Integer(_)) | Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

/// `luaL_checklstring`: the argument as bytes (numbers as Lua's `tostring` writes them,
/// "%.14g"), or the "string expected" argument error.
pub(crate) fn check_bytes(lua: &Lua, args: &[Value], narg: usize) -> mlua::Result<Vec<u8>> {
    match args.get(narg - 1) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Integer(i)) => Ok(crate::convert::format_g(*i as f64, 14).into_bytes()),
        Some(Value::Number(n)) => Ok(crate::convert::format_g(*n, 14).into_bytes()),
        other => Err(arg_error(
            lua,
            narg,
            &format!("string expected, got {}", arg_type_name(other)),
        )),
    }
}

/// `luaL_checkinteger` / `luaL_optinteger`: the argument as an integer (truncated), `None`
/// when absent or nil and optional.
pub(crate) fn check_integer(
    lua: &Lua,
    args: &[Value],
    narg: usize,
    optional: bool,
) -> mlua::Result<Option<i64>> {
    let v = args.get(narg - 1);
    let n = match v {
        Some(Value::Integer(i)) => Some(*i as f64),
        Some(Value::Number(n)) => Some(*n),
        Some(Value::String(s)) => std::str::from_utf8(&s.as_bytes())
            .ok()
            .and_then(|t| t.trim().parse::<f64>().ok()),
        None | Some(Value::Nil) if optional => return Ok(None),
        _ => None,
    };
    match n {
        Some(n) => Ok(Some(n as i64)),
        None => Err(arg_error(
            lua,
            narg,
            &format!("number expected, got {}", arg_type_name(v)),
        )),
    }
}
