//! `sealdrop history`: the shares uploaded from here that still exist, asked of their
//! servers with the owner token; shares the servers no longer know are forgotten.

use sealdrop_protocol::api::{InfoResponse, OwnerRequest};
use sealdrop_protocol::link::ShareLink;
use serde_json::json;

use super::{Ctx, ttl_secs};
use crate::args::HistoryArgs;
use crate::error::{Error, Kind, Result};
use crate::history::History;
use crate::output::{Mode, format_duration, printable};

/// One listed share.
struct Row {
    id: String,
    name: String,
    size: u64,
    link: String,
    /// `None` when its server could not be asked.
    live: Option<InfoResponse>,
}

pub(super) async fn run(ctx: &Ctx, args: HistoryArgs) -> Result<()> {
    if args.clear {
        if let Some(path) = ctx.history_path() {
            History::clear(path)?;
        }
        return match ctx.out.mode {
            Mode::Quiet => Ok(()),
            Mode::Json => ctx.out.json(&json!({ "cleared": true })),
            Mode::Human => ctx.out.stdout("the history is empty now\n"),
        };
    }
    let Some(mut history) = ctx.history()? else {
        return Err(Error::local(
            "there is no user data directory for a history; set SEALDROP_HISTORY",
        ));
    };
    let mut rows = Vec::new();
    let mut gone = Vec::new();
    for entry in history.entries() {
        let Ok(link) = ShareLink::parse(&entry.link) else {
            gone.push((entry.server.clone(), entry.id.clone()));
            continue;
        };
        let request = OwnerRequest {
            owner_token: entry.owner_token.clone(),
        };
        let live = match ctx
            .client
            .owner_json::<InfoResponse, _>(&link, "info", &request)
            .await
        {
            Ok(info) => Some(info),
            Err(e) if e.kind() == Kind::NotFound => {
                gone.push((entry.server.clone(), entry.id.clone()));
                continue;
            }
            Err(e) => {
                ctx.out
                    .warn(&format!("cannot check the share {}: {e}", entry.id));
                None
            }
        };
        rows.push(Row {
            id: entry.id.clone(),
            name: entry.name.clone(),
            size: entry.size,
            link: entry.link.clone(),
            live,
        });
    }
    for (server, id) in &gone {
        history.remove(server, id);
    }
    if let Err(e) = history.save() {
        ctx.out.warn(&e.to_string());
    }

    match ctx.out.mode {
        Mode::Quiet => Ok(()),
        Mode::Json => {
            let shares: Vec<_> = rows
                .iter()
                .map(|r| {
                    json!({
                        "id": r.id,
                        "name": r.name,
                        "size": r.size,
                        "link": r.link,
                        "reachable": r.live.is_some(),
                        "expires_in_seconds": r.live.map(|l| ttl_secs(l.ttl)),
                        "downloads": r.live.map(|l| l.dtotal),
                        "download_limit": r.live.map(|l| l.dlimit),
                        "downloads_left": r.live.map(|l| l.dlimit.saturating_sub(l.dtotal)),
                    })
                })
                .collect();
            ctx.out.json(&json!({ "shares": shares }))
        }
        Mode::Human => {
            if rows.is_empty() {
                return ctx
                    .out
                    .stdout("no shares uploaded from here are still available\n");
            }
            let cells: Vec<[String; 5]> = rows
                .iter()
                .map(|r| {
                    let (expires, left) = match r.live {
                        Some(l) => (
                            format_duration(ttl_secs(l.ttl)),
                            l.dlimit.saturating_sub(l.dtotal).to_string(),
                        ),
                        None => ("?".to_owned(), "?".to_owned()),
                    };
                    [
                        r.id.clone(),
                        printable(&r.name),
                        expires,
                        left,
                        r.link.clone(),
                    ]
                })
                .collect();
            let header = [
                "ID".to_owned(),
                "NAME".to_owned(),
                "EXPIRES IN".to_owned(),
                "DOWNLOADS LEFT".to_owned(),
                "LINK".to_owned(),
            ];
            let mut widths = [0usize; 5];
            for row in std::iter::once(&header).chain(cells.iter()) {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let mut text = String::new();
            for row in std::iter::once(&header).chain(cells.iter()) {
                let mut line = String::new();
                for (i, (&w, cell)) in widths.iter().zip(row).enumerate() {
                    if i + 1 == row.len() {
                        line.push_str(cell);
                    } else {
                        line.push_str(&format!("{cell:<w$}  "));
                    }
                }
                text.push_str(line.trim_end());
                text.push('\n');
            }
            ctx.out.stdout(&text)
        }
    }
}
