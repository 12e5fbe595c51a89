//! `sealdrop exists`: whether a share is still there (exit 0) or not (exit 2).

use serde_json::json;

use super::{Ctx, resolve};
use crate::args::LinkArgs;
use crate::error::Result;
use crate::output::Mode;

pub(super) async fn run(ctx: &Ctx, args: LinkArgs) -> Result<()> {
    let history = ctx.history().ok().flatten();
    let target = resolve(&args.link, history.as_ref())?;
    let exists = ctx.client.exists(&target.link).await?;
    match ctx.out.mode {
        Mode::Quiet => Ok(()),
        Mode::Json => ctx.out.json(&json!({
            "id": target.link.id(),
            "exists": true,
            "requires_password": exists.requires_password,
        })),
        Mode::Human => ctx.out.stdout(if exists.requires_password {
            "the share exists and needs a password\n"
        } else {
            "the share exists\n"
        }),
    }
}
