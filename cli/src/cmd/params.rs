//! `sealdrop params`: change a share's download limit, as its owner.

use sealdrop_protocol::api::ParamsRequest;
use serde_json::json;

use super::{Ctx, check_downloads, owner_token, resolve};
use crate::args::ParamsArgs;
use crate::error::Result;
use crate::output::Mode;

pub(super) async fn run(ctx: &Ctx, args: ParamsArgs) -> Result<()> {
    let history = ctx.history()?;
    let target = resolve(&args.owner.link, history.as_ref())?;
    let owner_token = owner_token(&args.owner, &target, history.as_ref())?;
    let link = &target.link;
    let config = ctx.client.config(link.base()).await?;
    check_downloads(config.as_ref(), args.downloads)?;
    let request = ParamsRequest {
        owner_token,
        dlimit: Some(args.downloads),
    };
    ctx.client.owner(link, "params", &request).await?;
    match ctx.out.mode {
        Mode::Quiet => Ok(()),
        Mode::Json => ctx
            .out
            .json(&json!({ "id": link.id(), "downloads": args.downloads })),
        Mode::Human => ctx.out.stdout(&format!(
            "the share {} now allows {} download{} in total\n",
            link.id(),
            args.downloads,
            if args.downloads == 1 { "" } else { "s" }
        )),
    }
}
