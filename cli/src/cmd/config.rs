//! `sealdrop config`: the effective settings and where each comes from. Secrets are
//! never printed, only whether they are set.

use std::path::Path;

use clap::ValueEnum;
use serde_json::{Map, Value, json};

use super::Ctx;
use crate::args::{ConfigArgs, Global};
use crate::config::{FileState, Provenance, SETTINGS, Source};
use crate::error::Result;
use crate::output::{Mode, format_duration};

/// The secrets, which only the environment (or a flag) gives: key and variable.
const SECRETS: [(&str, &str); 4] = [
    ("token", "SEALDROP_TOKEN"),
    ("basic-auth", "SEALDROP_BASIC_AUTH"),
    ("password", "SEALDROP_PASSWORD"),
    ("owner", "SEALDROP_OWNER"),
];

/// One setting as shown.
struct Row {
    key: &'static str,
    /// For people.
    text: String,
    /// For `--json`.
    value: Value,
    source: Source,
    variable: &'static str,
    /// Only whether it is set is shown.
    secret: bool,
}

pub(super) fn run(
    ctx: &Ctx,
    global: &Global,
    args: &ConfigArgs,
    provenance: &Provenance,
) -> Result<()> {
    let u = &args.settings;
    let secs = |s: u64| format!("{} ({s} seconds)", format_duration(s));
    let path = |p: &Path| p.display().to_string();
    let flag = |b: bool| (b.to_string(), json!(b));
    let history = ctx.history_path().map(path);
    let values: [(String, Value); 11] = [
        (u.host.clone(), json!(u.host)),
        match u.expiry {
            Some(s) => (secs(s), json!(s)),
            None => ("the server's default".to_owned(), Value::Null),
        },
        match u.downloads {
            Some(n) => (n.to_string(), json!(n)),
            None => ("the server's default".to_owned(), Value::Null),
        },
        match &u.token_file {
            Some(p) => (path(p), json!(path(p))),
            None => match &provenance.unused_token_file {
                Some(p) => (
                    format!("{} (unused: SEALDROP_TOKEN is set)", path(p)),
                    json!(path(p)),
                ),
                None => ("none".to_owned(), Value::Null),
            },
        },
        {
            let name = u
                .transport
                .to_possible_value()
                .map(|v| v.get_name().to_owned())
                .unwrap_or_default();
            (name.clone(), json!(name))
        },
        flag(u.qr),
        match &history {
            Some(p) => (p.clone(), json!(p)),
            None => (
                "none (no user data directory; use --history)".to_owned(),
                Value::Null,
            ),
        },
        flag(global.no_history),
        (secs(global.max_wait), json!(global.max_wait)),
        flag(global.no_wait),
        flag(global.no_progress),
    ];
    let mut rows: Vec<Row> = SETTINGS
        .iter()
        .zip(values)
        .map(|(s, (text, value))| Row {
            key: s.key,
            text,
            value,
            source: provenance.source(s.key),
            variable: s.env,
            secret: false,
        })
        .collect();
    for (key, variable) in SECRETS {
        let set = std::env::var_os(variable).is_some();
        rows.push(Row {
            key,
            text: if set { "set (hidden)" } else { "not set" }.to_owned(),
            value: json!(set),
            source: if set { Source::Env } else { Source::Default },
            variable,
            secret: true,
        });
    }

    match ctx.out.mode {
        Mode::Quiet => Ok(()),
        Mode::Json => {
            let mut settings = Map::new();
            for row in rows {
                let mut entry = Map::new();
                entry.insert(
                    if row.secret { "set" } else { "value" }.to_owned(),
                    row.value,
                );
                let (source, extra) = match row.source {
                    Source::Flag => ("flag", None),
                    Source::Env => ("environment", Some(("variable", json!(row.variable)))),
                    Source::File(line) => ("file", Some(("line", json!(line)))),
                    Source::Default => ("default", None),
                };
                entry.insert("source".to_owned(), json!(source));
                if row.key == "token-file" && provenance.unused_token_file.is_some() {
                    entry.insert("unused".to_owned(), json!(true));
                }
                if let Some((k, v)) = extra {
                    entry.insert(k.to_owned(), v);
                }
                settings.insert(row.key.to_owned(), Value::Object(entry));
            }
            let file = match &provenance.file {
                FileState::Read(p) => json!({ "path": path(p), "read": true }),
                FileState::Absent(p) => json!({ "path": path(p), "read": false }),
                FileState::NoPlace | FileState::Disabled => Value::Null,
            };
            ctx.out
                .json(&json!({ "config_file": file, "settings": settings }))
        }
        Mode::Human => {
            let file = match &provenance.file {
                FileState::Read(p) => path(p),
                FileState::Absent(p) => format!("{} (there is none)", path(p)),
                FileState::NoPlace => {
                    "none (no user configuration directory; use --config)".to_owned()
                }
                FileState::Disabled => "none (--no-config)".to_owned(),
            };
            let mut text = format!("configuration file: {file}\n");
            let width = rows
                .iter()
                .map(|r| r.text.chars().count())
                .filter(|&n| n <= 40)
                .max()
                .unwrap_or(0);
            for row in &rows {
                let from = match row.source {
                    Source::Flag => format!("--{}", row.key),
                    Source::Env => row.variable.to_owned(),
                    Source::File(line) => format!("configuration file, line {line}"),
                    Source::Default if row.secret => String::new(),
                    Source::Default => "default".to_owned(),
                };
                let line = format!("{:<12} {:<width$}  {from}", row.key, row.text);
                text.push_str(line.trim_end());
                text.push('\n');
            }
            ctx.out.stdout(&text)
        }
    }
}
