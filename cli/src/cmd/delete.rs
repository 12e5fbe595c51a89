//! `sealdrop delete`: delete a share now, as its owner.

use sealdrop_protocol::api::OwnerRequest;
use serde_json::json;

use super::{Ctx, owner_token, resolve};
use crate::args::OwnerArgs;
use crate::error::Result;
use crate::output::Mode;

pub(super) async fn run(ctx: &Ctx, args: OwnerArgs) -> Result<()> {
    let mut history = ctx.history()?;
    let target = resolve(&args.link, history.as_ref())?;
    let owner_token = owner_token(&args, &target, history.as_ref())?;
    let link = &target.link;
    let result = ctx
        .client
        .owner(link, "delete", &OwnerRequest { owner_token })
        .await;
    // Gone either way: forget it, then report.
    let gone = result
        .as_ref()
        .map_or_else(|e| e.kind() == crate::error::Kind::NotFound, |_| true);
    if gone && let Some(h) = history.as_mut() {
        h.remove(link.base(), link.id());
        if let Err(e) = h.save() {
            ctx.out.warn(&e.to_string());
        }
    }
    result?;
    match ctx.out.mode {
        Mode::Quiet => Ok(()),
        Mode::Json => ctx.out.json(&json!({ "id": link.id(), "deleted": true })),
        Mode::Human => ctx
            .out
            .stdout(&format!("deleted the share {}\n", link.id())),
    }
}
