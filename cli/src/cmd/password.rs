//! `sealdrop password`: set or change a share's password, as its owner.
//!
//! The new auth key is PBKDF2 of the password salted with the full link, so the link's
//! `#secret` part is needed; the content keys do not change.

use sealdrop_protocol::api::PasswordRequest;
use sealdrop_protocol::keys;
use serde_json::json;

use super::{Ctx, owner_token, resolve};
use crate::args::PasswordCommandArgs;
use crate::error::{Error, Result};
use crate::output::Mode;

pub(super) async fn run(ctx: &Ctx, args: PasswordCommandArgs) -> Result<()> {
    let history = ctx.history()?;
    let target = resolve(&args.owner.link, history.as_ref())?;
    if !target.has_secret {
        return Err(Error::usage(
            "setting a password needs the full link with its #secret part",
        ));
    }
    let owner_token = owner_token(&args.owner, &target, history.as_ref())?;
    let link = &target.link;
    let password = crate::password::require(&args.password, "setting a password needs one", true)?;
    let request = PasswordRequest {
        owner_token,
        auth: keys::password_auth_key(&password, &link.password_salt()).to_base64url(),
    };
    ctx.client.owner(link, "password", &request).await?;
    if let Some(warning) = crate::strength::weakness(&password) {
        ctx.out.warn(&warning);
    }
    match ctx.out.mode {
        Mode::Quiet => Ok(()),
        Mode::Json => ctx.out.json(&json!({ "id": link.id(), "password": true })),
        Mode::Human => ctx
            .out
            .stdout(&format!("the share {} now needs the password\n", link.id())),
    }
}
