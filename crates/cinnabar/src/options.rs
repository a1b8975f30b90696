//! Command line and config file, with redis-server's conventions: an optional config file
//! first, then `--name value...` options, which are applied after the file.

use std::path::PathBuf;

use commands::config;

pub const USAGE: &str = "Usage: cinnabar [/path/to/cinnabar.conf] [options] [-]
       cinnabar - (read config from stdin)
       cinnabar -v or --version
       cinnabar -h or --help

Options are the config file directives with a leading --, as for redis-server:
       cinnabar --port 7777
       cinnabar --port 7777 --bind 127.0.0.1 --save \"\" --appendonly no
       cinnabar /etc/cinnabar/6379.conf --loglevel verbose
       cinnabar --dir /var/lib/cinnabar --requirepass secret

Defaults: listens on 127.0.0.1:6379 (and ::1 if available), data directory '.',
keys in memory only unless persistence is configured.
";

pub enum Parsed {
    Help,
    Version,
    Run {
        file: Option<PathBuf>,
        settings: Vec<(String, String)>,
    },
}

/// Parses the arguments into (parameter, value) settings, config file first.
pub fn parse(args: &[String]) -> Result<Parsed, String> {
    match args.first().map(String::as_str) {
        Some("-h" | "--help") => return Ok(Parsed::Help),
        Some("-v" | "--version") => return Ok(Parsed::Version),
        _ => {}
    }
    let mut settings = Vec::new();
    let mut file = None;
    let mut rest = args;
    if let Some(first) = args.first() {
        if !first.starts_with("--") {
            let text = if first == "-" {
                std::io::read_to_string(std::io::stdin())
                    .map_err(|e| format!("can't read config from stdin: {e}"))?
            } else {
                file = Some(PathBuf::from(first));
                std::fs::read_to_string(first)
                    .map_err(|e| format!("can't open config file '{first}': {e}"))?
            };
            settings.extend(parse_file(&text)?);
            rest = &args[1..];
        }
    }
    let mut i = 0;
    while i < rest.len() {
        let Some(name) = rest[i].strip_prefix("--") else {
            return Err(format!(
                "unexpected argument '{}' (options start with --)",
                rest[i]
            ));
        };
        if name == "help" {
            return Ok(Parsed::Help);
        }
        if name == "version" {
            return Ok(Parsed::Version);
        }
        let mut values = Vec::new();
        i += 1;
        while i < rest.len() && !(rest[i].starts_with("--") && rest[i].len() > 2) {
            values.push(rest[i].clone());
            i += 1;
        }
        check_known(name)?;
        settings.push((name.to_string(), join_values(&values)));
    }
    Ok(Parsed::Run { file, settings })
}

fn check_known(name: &str) -> Result<(), String> {
    if config::param(name).is_none() {
        return Err(format!("unknown option '{name}'"));
    }
    Ok(())
}

/// Joins several values into one setting, quoting none (`save 3600 1 300 100`).
fn join_values(values: &[String]) -> String {
    values.join(" ")
}

/// Parses config file text: one directive per line, `#` comments, quoted values.
pub fn parse_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = config::split_line(line)
            .ok_or_else(|| format!("line {}: unbalanced quotes in '{line}'", n + 1))?;
        let Some((name, values)) = words.split_first() else {
            continue;
        };
        if config::param(name).is_none() {
            return Err(format!(
                "line {}: unknown option '{name}' in '{line}'",
                n + 1
            ));
        }
        out.push((name.to_ascii_lowercase(), join_values(values)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Vec<(String, String)> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args) {
            Ok(Parsed::Run { settings, .. }) => settings,
            _ => panic!("expected run"),
        }
    }

    #[test]
    fn redis_server_style_options() {
        assert_eq!(
            run(&["--port", "7000", "--save", "", "--appendonly", "no"]),
            vec![
                ("port".into(), "7000".into()),
                ("save".into(), "".into()),
                ("appendonly".into(), "no".into())
            ]
        );
        assert_eq!(
            run(&["--save", "3600", "1", "300", "100"]),
            vec![("save".into(), "3600 1 300 100".into())]
        );
    }

    #[test]
    fn unknown_option_is_named() {
        let args = vec!["--nosuch".to_string(), "1".to_string()];
        assert_eq!(parse(&args).err().unwrap(), "unknown option 'nosuch'");
    }

    #[test]
    fn config_file_lines() {
        let s = parse_file("# c\nport 7001\nsave \"\"\nbind 127.0.0.1 ::1\n").unwrap();
        assert_eq!(s[0], ("port".into(), "7001".into()));
        assert_eq!(s[1], ("save".into(), "".into()));
        assert_eq!(s[2], ("bind".into(), "127.0.0.1 ::1".into()));
        assert!(parse_file("bogus 1")
            .unwrap_err()
            .contains("unknown option 'bogus'"));
    }
}
