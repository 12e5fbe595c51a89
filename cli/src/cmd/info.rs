//! `sealdrop info`: everything that can be learnt about a share without downloading it.
//!
//! Existence and password requirement are public; downloads and expiry need the owner
//! token (from `--owner` or the history); name and size need the link's `#secret` (and
//! the password, if the share has one and one is given — `info` never prompts). Reading
//! the metadata does not count as a download.

use sealdrop_protocol::api::{InfoResponse, OwnerRequest};
use sealdrop_protocol::{Metadata, keys};
use serde_json::json;

use super::{Ctx, resolve, ttl_secs};
use crate::args::InfoArgs;
use crate::error::{Error, Result};
use crate::output::{Mode, format_duration, format_size, printable};
use crate::password;

pub(super) async fn run(ctx: &Ctx, args: InfoArgs) -> Result<()> {
    let history = ctx.history()?;
    let target = resolve(&args.owner.link, history.as_ref())?;
    let link = &target.link;
    let client = &ctx.client;
    let exists = client.exists(link).await?;

    let token = match &args.owner.owner {
        Some(t) => Some(t.trim().to_owned()),
        None => history
            .as_ref()
            .and_then(|h| h.find(link.base(), link.id()))
            .map(|e| e.owner_token.clone()),
    };
    let owner: Option<InfoResponse> = match token {
        Some(owner_token) => Some(
            client
                .owner_json(link, "info", &OwnerRequest { owner_token })
                .await?,
        ),
        None => None,
    };

    let key = match (target.has_secret, exists.requires_password) {
        (false, _) => None,
        (true, false) => Some(link.secret().auth_key()),
        (true, true) => password::without_prompt(&args.password)?
            .map(|p| keys::password_auth_key(&p, &link.password_salt())),
    };
    let mut ttl = owner.map(|o| ttl_secs(o.ttl));
    let mut metadata = None;
    if let Some(key) = key {
        let nonce = client.nonce(link, exists.nonce).await?;
        let (answer, _) = client
            .metadata(link, &key, &nonce, exists.requires_password)
            .await?;
        let meta = Metadata::decrypt(&link.secret().metadata_key(), &answer.metadata)
            .map_err(|_| {
                Error::integrity(
                    "the share's metadata does not decrypt: the link's #secret is wrong or the data was tampered with",
                )
            })?;
        ttl = ttl.or(Some(ttl_secs(answer.ttl)));
        metadata = Some(meta);
    }

    match ctx.out.mode {
        Mode::Quiet => Ok(()),
        Mode::Json => {
            let files = metadata.as_ref().filter(|m| m.is_archive()).map(|m| {
                m.manifest
                    .files
                    .iter()
                    .map(|f| json!({ "name": f.name, "size": f.size }))
                    .collect::<Vec<_>>()
            });
            ctx.out.json(&json!({
                "id": link.id(),
                "exists": true,
                "requires_password": exists.requires_password,
                "name": metadata.as_ref().map(|m| m.name.clone()),
                "size": metadata.as_ref().map(|m| m.size),
                "files": files,
                "downloads": owner.map(|o| o.dtotal),
                "download_limit": owner.map(|o| o.dlimit),
                "expires_in_seconds": ttl,
            }))
        }
        Mode::Human => {
            let mut text = format!("id         {}\n", link.id());
            if let Some(m) = &metadata {
                text.push_str(&format!("name       {}\n", printable(&m.name)));
                text.push_str(&format!("size       {}\n", format_size(m.size)));
                if m.is_archive() {
                    text.push_str(&format!("files      {}\n", m.manifest.files.len()));
                    for f in &m.manifest.files {
                        text.push_str(&format!(
                            "           {} ({})\n",
                            printable(&f.name),
                            format_size(f.size)
                        ));
                    }
                }
            }
            let password = if exists.requires_password {
                "yes"
            } else {
                "no"
            };
            text.push_str(&format!("password   {password}\n"));
            if let Some(o) = owner {
                text.push_str(&format!("downloads  {} of {}\n", o.dtotal, o.dlimit));
            }
            if let Some(t) = ttl {
                text.push_str(&format!("expires    in {}\n", format_duration(t)));
            }
            ctx.out.stdout(&text)
        }
    }
}
