//! `sealdrop upload`: check the server's limits, encrypt while streaming, set the password,
//! record the share, print the link.

use std::sync::Arc;

use sealdrop_protocol::api::{OwnerRequest, PasswordRequest, WsUploadRequest};
use sealdrop_protocol::link::{ShareLink, canonical_base};
use sealdrop_protocol::{Secret, auth, ece, keys};
use serde_json::json;

use super::{Ctx, check_downloads, check_expiry};
use crate::args::UploadArgs;
use crate::credentials::Given;
use crate::desktop;
use crate::error::{Error, Kind, Result};
use crate::history::Entry;
use crate::output::{
    Mode, format_duration_words, format_size, format_time, now_unix, printable, qr_code,
};
use crate::password;
use crate::source::Inputs;
use crate::strength;

/// Send's defaults, for servers that do not publish `/config`.
const FALLBACK_EXPIRY: u64 = 86400;
const FALLBACK_DOWNLOADS: u32 = 1;

pub(super) async fn run(ctx: &Ctx, args: UploadArgs) -> Result<()> {
    let base = canonical_base(&args.settings.host).map_err(|_| {
        Error::usage(format!(
            "--host {} is not a server address like https://send.example.com",
            printable(&args.settings.host)
        ))
    })?;
    let client = &ctx.client;
    let given = Given::from_args(&args)?;
    let config = client.config(&base).await?;
    let auth_mode = config.as_ref().map(|c| c.upload_auth);
    let credentials = given.choose(auth_mode)?;
    let expiry = args
        .settings
        .expiry
        .or(config.as_ref().map(|c| c.defaults.EXPIRE_SECONDS))
        .unwrap_or(FALLBACK_EXPIRY);
    let downloads = args
        .settings
        .downloads
        .or(config.as_ref().map(|c| c.defaults.DOWNLOADS))
        .unwrap_or(FALLBACK_DOWNLOADS);
    check_expiry(config.as_ref(), expiry)?;
    check_downloads(config.as_ref(), downloads)?;
    let password = if args.generate_password {
        let generated = strength::generate()?;
        // Printed once, whatever the output mode: it exists nowhere else.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr().lock(),
            "sealdrop: the share's password (shown once): {}",
            generated.as_str()
        );
        Some(generated)
    } else if password::requested(&args.password) {
        Some(password::require(
            &args.password,
            "--password needs a password",
            true,
        )?)
    } else {
        None
    };

    let inputs = Inputs::collect(args.files, ctx.out).await?;
    let size = inputs.size();
    if let Some(c) = &config
        && size > c.limits.MAX_FILE_SIZE
    {
        let what = if inputs.count() == 1 {
            "the file is"
        } else {
            "the files are"
        };
        return Err(Error::usage(format!(
            "{what} {}, more than this server accepts: at most {}",
            exact_size(size),
            exact_size(c.limits.MAX_FILE_SIZE),
        )));
    }
    let encrypted_len = ece::encrypted_size(size)
        .ok_or_else(|| Error::usage("the input is too large to encrypt"))?;
    let metadata = inputs.metadata(args.name.as_deref())?;
    let files = inputs.count();

    let secret = Secret::generate().map_err(|e| Error::local(e.to_string()))?;
    let request = WsUploadRequest {
        file_metadata: metadata.encrypt(&secret.metadata_key()),
        authorization: auth::format_header(&secret.auth_key().to_base64url()),
        bearer: None,
        time_limit: Some(expiry),
        dlimit: Some(downloads),
    };
    let progress = ctx.out.progress(size, "Uploading");
    let bar = progress.clone();
    let encrypt_secret = secret.clone();
    // Called again, reading the inputs from the start, if a rate-limited server refuses
    // an attempt before accepting its data.
    let inputs = Arc::new(inputs);
    let answer = client
        .upload(
            &base,
            args.settings.transport,
            &request,
            encrypted_len,
            credentials.as_ref(),
            &progress,
            move || inputs.encrypt(encrypt_secret.clone(), bar.clone()),
        )
        .await;
    progress.finish_and_clear();
    let answer = answer.map_err(|e| match e.kind() {
        Kind::Auth => Given::refused(auth_mode, credentials.as_ref(), &base),
        _ => e,
    })?;
    let expires_at = now_unix().saturating_add(expiry);
    let link = ShareLink::from_download_url(&answer.url, secret)
        .map_err(|_| Error::network(format!("{base} answered the upload with an unusable link")))?;

    if let Some(password) = &password {
        let request = PasswordRequest {
            owner_token: answer.owner_token.clone(),
            auth: keys::password_auth_key(password, &link.password_salt()).to_base64url(),
        };
        if let Err(e) = client.owner(&link, "password", &request).await {
            // An unprotected share must not outlive a failed password.
            let delete = OwnerRequest {
                owner_token: answer.owner_token.clone(),
            };
            let _ = client.owner(&link, "delete", &delete).await;
            return Err(Error::new(
                e.kind(),
                format!("setting the password failed, so the upload was deleted: {e}"),
            ));
        }
    }

    // Said once the share exists, so a failed upload's error stays its one sentence.
    if !args.generate_password
        && let Some(warning) = password.as_deref().and_then(|p| strength::weakness(p))
    {
        ctx.out.warn(&warning);
    }

    let label = share_label(&metadata);
    match ctx.history_for_recording() {
        Ok(Some(mut history)) => {
            history.add(Entry {
                id: link.id().to_owned(),
                server: link.base().to_owned(),
                link: link.to_link().to_string(),
                owner_token: answer.owner_token.clone(),
                name: label.clone(),
                size,
                uploaded_at: now_unix(),
                expires_at,
                downloads,
            });
            if let Err(e) = history.save() {
                ctx.out
                    .warn(&format!("the share is not in the history: {e}"));
            }
        }
        Ok(None) => {}
        Err(e) => ctx
            .out
            .warn(&format!("the share is not in the history: {e}")),
    }

    let full_link = link.to_link();
    match ctx.out.mode {
        Mode::Json => ctx.out.json(&json!({
            "link": full_link.as_str(),
            "id": link.id(),
            "owner_token": answer.owner_token,
            "name": metadata.name,
            "size": size,
            "files": files,
            "expires_at": format_time(expires_at),
            "expiry_seconds": expiry,
            "downloads": downloads,
            "password": password.is_some(),
        }))?,
        Mode::Quiet => ctx.out.stdout(&format!("{}\n", full_link.as_str()))?,
        Mode::Human => {
            let what = if metadata.is_archive() {
                format!(
                    "{}: {files} files, {}",
                    printable(&label),
                    format_size(size)
                )
            } else {
                format!("{}, {}", printable(&label), format_size(size))
            };
            let plural = if downloads == 1 { "" } else { "s" };
            let mut text = format!(
                "{}\n  {what}\n  expires after {downloads} download{plural} or in {} ({})\n",
                full_link.as_str(),
                format_duration_words(expiry),
                format_time(expires_at),
            );
            if password.is_some() {
                text.push_str("  password protected\n");
            }
            if let Some(c) = &config {
                text.push_str(&format!("  {}\n", limits_line(&c.limits)));
            }
            ctx.out.stdout(&text)?;
        }
    }
    if args.settings.qr
        && let Some(code) = qr_code(full_link.as_str())
    {
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), "{code}");
    }
    if args.copy
        && let Err(note) = desktop::copy(full_link.as_str(), expiry)
    {
        ctx.out.note(&note);
    }
    if args.open
        && let Err(note) = desktop::open(full_link.as_str().as_ref(), "the link")
    {
        ctx.out.note(&note);
    }
    Ok(())
}

/// `1 byte`, `999 bytes`, or `1.6 MB (1572864 bytes)` from 1 KB up.
fn exact_size(bytes: u64) -> String {
    if bytes == 1 {
        "1 byte".to_owned()
    } else if bytes < 1000 {
        format!("{bytes} bytes")
    } else {
        format!("{} ({bytes} bytes)", format_size(bytes))
    }
}

/// What the uploader calls the share in the history and in messages: the file name, for
/// an archive the directory all its files share (`photos/`) or the first file and a count.
fn share_label(meta: &sealdrop_protocol::Metadata) -> String {
    if !meta.is_archive() {
        return meta.name.clone();
    }
    let files = &meta.manifest.files;
    let top = |name: &str| name.split_once('/').map(|(dir, _)| dir.to_owned());
    let first = files.first().map(|f| f.name.as_str()).unwrap_or_default();
    if let Some(dir) = top(first)
        && files
            .iter()
            .all(|f| top(&f.name).as_deref() == Some(dir.as_str()))
    {
        return format!("{dir}/");
    }
    format!("{first} and {} more", files.len().saturating_sub(1))
}

/// The server's limits as the web page shows them before a file is chosen:
/// `server limits: up to 2.5 GB · 64 files · kept up to 7 days`.
fn limits_line(limits: &sealdrop_protocol::api::Limits) -> String {
    let files = limits.MAX_FILES_PER_ARCHIVE;
    format!(
        "server limits: up to {} · {files} file{} · kept up to {}",
        format_size(limits.MAX_FILE_SIZE),
        if files == 1 { "" } else { "s" },
        format_duration_words(limits.MAX_EXPIRE_SECONDS),
    )
}
