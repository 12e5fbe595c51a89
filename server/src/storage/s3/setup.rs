//! `sealdrop-server admin s3-setup`: prepares the bucket of `--storage s3://BUCKET[/PREFIX]`.
//!
//! 1. Creates the bucket if it does not exist (with a location constraint outside
//!    `us-east-1`).
//! 2. Puts sealdrop's lifecycle rules on it, as a backstop of the server's own sweeper:
//!    one rule per possible `<days>-` key prefix (see the [layout](super#key-convention-and-a-lifecycle-rule-as-a-backstop)),
//!    from `1-` to the longest expiry the configuration allows, each expiring objects one
//!    day after the longest life a file under it can have, and one rule that aborts
//!    incomplete multipart uploads once no upload can still be running.
//!
//! The rules are named `sealdrop-…`; rules of others on the bucket are kept, sealdrop's
//! own earlier rules replaced. Running it again changes nothing when the rules are in
//! place, so it is safe in a deployment's start-up (a compose one-shot service, a
//! Kubernetes Job). What the store kept is read back and compared: a store that refuses
//! or silently drops a rule (MinIO drops `AbortIncompleteMultipartUpload`, and cleans up
//! stale multipart uploads by itself) is reported with a sentence, not a failure, since
//! the sweeper does the work anyway.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    CreateBucketConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter,
};

use aws_sdk_s3::operation::put_bucket_lifecycle_configuration::PutBucketLifecycleConfigurationError;

use super::{Cause, DEFAULT_REGION, classify, sdk_client};

/// A failed PutBucketLifecycleConfiguration.
enum PutFailure {
    /// The rules could not be made (a bug).
    Build(anyhow::Error),
    /// The store answered with an error, or not at all.
    Sdk(Box<SdkError<PutBucketLifecycleConfigurationError>>),
}
use crate::config::S3Config;

/// The ID prefix of sealdrop's rules; rules with other IDs belong to someone else.
pub const RULE_ID_PREFIX: &str = "sealdrop-";

/// The name (after the ID prefix and the key prefix) of the rule that aborts incomplete
/// multipart uploads.
const ABORT_RULE: &str = "abort-incomplete-uploads";

/// The ID of sealdrop's rule `name` for objects under `prefix`: `sealdrop-expire-7d`, or
/// `sealdrop-files/expire-7d` under the prefix `files/`, so that deployments under
/// different prefixes of one bucket keep their own rules.
fn rule_id(prefix: &str, name: &str) -> String {
    format!("{RULE_ID_PREFIX}{prefix}{name}")
}

/// Whether the rule `id` is one of sealdrop's for objects under `prefix` (and not of a
/// deployment under a longer prefix).
fn is_ours(id: &str, prefix: &str) -> bool {
    id.strip_prefix(RULE_ID_PREFIX)
        .and_then(|rest| rest.strip_prefix(prefix))
        .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// Most rules a bucket may have (S3's limit), minus room for the abort rule and others.
const MAX_EXPIRY_RULES: u64 = 900;

/// Days after which incomplete multipart uploads are aborted when uploads have no
/// minimum rate, so no bound on their duration.
const ABORT_DAYS_UNBOUNDED: i32 = 7;

/// One lifecycle rule, as sealdrop wants it or as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    /// The rule's ID (`sealdrop-expire-7d`, `sealdrop-abort-incomplete-uploads`).
    pub id: String,
    /// The key prefix it applies to.
    pub prefix: String,
    /// What it does.
    pub action: Action,
}

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Deletes objects this many days after they were written.
    Expire {
        /// Days after creation.
        days: i32,
    },
    /// Aborts multipart uploads still incomplete this many days after they started.
    AbortIncomplete {
        /// Days after initiation.
        days: i32,
    },
}

impl Rule {
    /// Whether this is the rule that aborts incomplete multipart uploads.
    pub fn aborts(&self) -> bool {
        matches!(self.action, Action::AbortIncomplete { .. })
    }

    /// One line describing the rule.
    pub fn describe(&self) -> String {
        let plural = |n: i32| if n == 1 { "day" } else { "days" };
        match self.action {
            Action::Expire { days } => format!(
                "{}: objects under {:?} expire after {days} {}",
                self.id,
                self.prefix,
                plural(days)
            ),
            Action::AbortIncomplete { days } => format!(
                "{}: multipart uploads under {:?} still incomplete after {days} {} are aborted",
                self.id,
                self.prefix,
                plural(days)
            ),
        }
    }

    /// The rule as JSON (`--json`).
    pub fn json(&self) -> serde_json::Value {
        match self.action {
            Action::Expire { days } => serde_json::json!({
                "id": self.id, "prefix": self.prefix, "expire_days": days,
            }),
            Action::AbortIncomplete { days } => serde_json::json!({
                "id": self.id, "prefix": self.prefix, "abort_incomplete_days": days,
            }),
        }
    }

    /// The rule for the SDK.
    fn to_sdk(&self) -> anyhow::Result<LifecycleRule> {
        let builder = LifecycleRule::builder()
            .id(&self.id)
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix(&self.prefix).build());
        let builder = match self.action {
            Action::Expire { days } => {
                builder.expiration(LifecycleExpiration::builder().days(days).build())
            }
            Action::AbortIncomplete { days } => builder.abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(days)
                    .build(),
            ),
        };
        Ok(builder.build()?)
    }

    /// One of sealdrop's rules as the store keeps it: enabled, with an ID of ours and one
    /// action of ours (a rule that lost its action reads as `None`).
    fn from_sdk(rule: &LifecycleRule) -> Option<Self> {
        let id = rule.id()?;
        if !id.starts_with(RULE_ID_PREFIX) || *rule.status() != ExpirationStatus::Enabled {
            return None;
        }
        #[allow(deprecated, reason = "stores may answer with the old top-level Prefix")]
        let prefix = rule
            .filter()
            .and_then(LifecycleRuleFilter::prefix)
            .or_else(|| rule.prefix())
            .unwrap_or_default();
        let action = match (
            rule.expiration().and_then(LifecycleExpiration::days),
            rule.abort_incomplete_multipart_upload()
                .and_then(AbortIncompleteMultipartUpload::days_after_initiation),
        ) {
            (Some(days), None) => Action::Expire { days },
            (None, Some(days)) => Action::AbortIncomplete { days },
            _ => return None,
        };
        Some(Self {
            id: id.to_owned(),
            prefix: prefix.to_owned(),
            action,
        })
    }
}

/// The rules for objects under `prefix` (empty or ending in `/`) of a server whose
/// longest expiry is `max_expiry_secs` and whose longest possible upload lasts
/// `longest_upload_secs` (`None`: no bound, when the minimum upload rate is off).
///
/// A file that may live `s` seconds is stored under `<days>-` with `days = max(1, s /
/// 86400)` (rounded down), so it lives less than `days + 1` days: the rule for `<days>-`
/// expires objects after `days + 1` days, and S3 counts from the object's creation,
/// rounded up to the next midnight UTC, so the rule never deletes a file the server still
/// serves — except a reported file held for the operator longer than that, or one
/// restored with a grace period (see the README).
pub fn wanted_rules(
    prefix: &str,
    max_expiry_secs: u64,
    longest_upload_secs: Option<u64>,
) -> Result<Vec<Rule>, String> {
    let max_days = (max_expiry_secs / 86400).max(1);
    if max_days > MAX_EXPIRY_RULES {
        return Err(format!(
            "--max-expiry of {max_days} days needs more lifecycle rules than a bucket may \
             hold (one per day of expiry, at most {MAX_EXPIRY_RULES}): lower --max-expiry or \
             write the rules yourself"
        ));
    }
    let mut rules: Vec<Rule> = (1..=max_days)
        .map(|days| {
            let days = i32::try_from(days).unwrap_or(i32::MAX);
            Rule {
                id: rule_id(prefix, &format!("expire-{days}d")),
                prefix: format!("{prefix}{days}-"),
                action: Action::Expire { days: days + 1 },
            }
        })
        .collect();
    let abort_days = match longest_upload_secs {
        Some(secs) => i32::try_from(secs.div_ceil(86400) + 1).unwrap_or(i32::MAX),
        None => ABORT_DAYS_UNBOUNDED,
    };
    rules.push(Rule {
        id: rule_id(prefix, ABORT_RULE),
        prefix: prefix.to_owned(),
        action: Action::AbortIncomplete { days: abort_days },
    });
    Ok(rules)
}

/// What [`setup`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupReport {
    /// The bucket.
    pub bucket: String,
    /// The endpoint, for messages (no credentials in it).
    pub endpoint: String,
    /// The bucket did not exist and was created.
    pub created_bucket: bool,
    /// The lifecycle configuration was written (false: sealdrop's rules were in place).
    pub changed: bool,
    /// sealdrop's rules as the store keeps them after the setup.
    pub rules: Vec<Rule>,
    /// IDs of rules that are not sealdrop's, kept as they were.
    pub kept: Vec<String>,
    /// What the store refused or dropped, one sentence each.
    pub notes: Vec<String>,
}

impl SetupReport {
    /// The report as text lines.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if self.created_bucket {
            out += &format!("created bucket {:?} at {}\n", self.bucket, self.endpoint);
        } else {
            out += &format!("bucket {:?} exists at {}\n", self.bucket, self.endpoint);
        }
        let rules = match self.rules.len() {
            1 => "1 lifecycle rule".to_owned(),
            n => format!("{n} lifecycle rules"),
        };
        if self.changed {
            out += &format!("applied sealdrop's {rules}:\n");
        } else {
            out += &format!("sealdrop's {rules} are already in place:\n");
        }
        for rule in &self.rules {
            out += &format!("  {}\n", rule.describe());
        }
        if !self.kept.is_empty() {
            out += &format!(
                "kept {} other rule{} as {}: {}\n",
                self.kept.len(),
                if self.kept.len() == 1 { "" } else { "s" },
                if self.kept.len() == 1 {
                    "it was"
                } else {
                    "they were"
                },
                self.kept.join(", ")
            );
        }
        for note in &self.notes {
            out += &format!("note: {note}\n");
        }
        out
    }

    /// The report as JSON (`--json`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "bucket": self.bucket,
            "endpoint": self.endpoint,
            "created_bucket": self.created_bucket,
            "changed": self.changed,
            "rules": self.rules.iter().map(Rule::json).collect::<Vec<_>>(),
            "kept_rules": self.kept,
            "notes": self.notes,
        })
    }
}

/// Creates the bucket of `config` if it is missing and puts the `wanted` rules (from
/// [`wanted_rules`]) on it, keeping the rules of others. Fails with one sentence when the
/// store cannot be reached or refuses (credentials, permissions).
pub async fn setup(config: &S3Config, wanted: &[Rule]) -> anyhow::Result<SetupReport> {
    let (client, endpoint) = sdk_client(config).await?;
    let bucket = config.bucket.as_str();
    let fail = |step: &str, cause: Cause| {
        // No such bucket here: it vanished under us; pointing at s3-setup would be circular.
        let hint = match cause {
            Cause::NoSuchBucket => "check --storage",
            _ => cause.hint(config),
        };
        anyhow::anyhow!(
            "cannot set up S3 bucket {bucket:?} at {endpoint}: {}: {hint}",
            cause.describe(step)
        )
    };
    let created_bucket = match client.head_bucket().bucket(bucket).send().await {
        Ok(_) => false,
        Err(e) if status(&e) == Some(404) || classify(&e) == Cause::NoSuchBucket => {
            create_bucket(&client, bucket)
                .await
                .map_err(|e| fail("creating the bucket", e))?
        }
        Err(e) => return Err(fail("reading the bucket", classify(&e))),
    };
    let mut report = SetupReport {
        bucket: bucket.to_owned(),
        endpoint: endpoint.clone(),
        created_bucket,
        changed: false,
        rules: Vec::new(),
        kept: Vec::new(),
        notes: Vec::new(),
    };
    let existing = match read_rules(&client, bucket).await {
        Ok(rules) => rules,
        Err(e) if unsupported(&e) => {
            report.notes.push(NO_LIFECYCLE.to_owned());
            return Ok(report);
        }
        Err(e) => return Err(fail("reading the lifecycle rules", classify(&e))),
    };
    let prefix = config.prefix.as_str();
    let (ours, others): (Vec<&LifecycleRule>, Vec<&LifecycleRule>) = existing
        .iter()
        .partition(|r| r.id().is_some_and(|id| is_ours(id, prefix)));
    report.kept = others
        .iter()
        .map(|r| r.id().unwrap_or("(no ID)").to_owned())
        .collect();
    let mut have: Vec<Rule> = ours.iter().filter_map(|r| Rule::from_sdk(r)).collect();
    have.sort();
    let mut want = wanted.to_vec();
    want.sort();
    if have == want && ours.len() == want.len() {
        report.rules = in_order(have);
        return Ok(report);
    }
    let others: Vec<LifecycleRule> = others.into_iter().cloned().collect();
    let put = |rules: Vec<&Rule>| {
        let client = client.clone();
        let mut all = others.clone();
        let built = rules
            .into_iter()
            .try_for_each(|rule| rule.to_sdk().map(|r| all.push(r)));
        async move {
            built.map_err(PutFailure::Build)?;
            let configuration = BucketLifecycleConfiguration::builder()
                .set_rules(Some(all))
                .build()
                .map_err(|e| PutFailure::Build(e.into()))?;
            client
                .put_bucket_lifecycle_configuration()
                .bucket(bucket)
                .lifecycle_configuration(configuration)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| PutFailure::Sdk(Box::new(e)))
        }
    };
    let failed = |e: PutFailure| match e {
        PutFailure::Sdk(e) => fail("writing the lifecycle rules", classify(&e)),
        PutFailure::Build(e) => e.context("cannot build the lifecycle rules"),
    };
    match put(wanted.iter().collect()).await {
        Ok(()) => {}
        Err(PutFailure::Sdk(e)) if unsupported(&e) => {
            report.notes.push(NO_LIFECYCLE.to_owned());
            return Ok(report);
        }
        Err(PutFailure::Sdk(e)) if refused_rule(&e) => {
            // MinIO (older releases) refuses AbortIncompleteMultipartUpload as malformed.
            let without: Vec<&Rule> = wanted.iter().filter(|r| !r.aborts()).collect();
            put(without).await.map_err(failed)?;
            report.notes.push(REFUSED_ABORT.to_owned());
        }
        Err(e) => return Err(failed(e)),
    }
    report.changed = true;
    let after = read_rules(&client, bucket)
        .await
        .map_err(|e| fail("reading the lifecycle rules back", classify(&e)))?;
    let kept_now: Vec<Rule> = after
        .iter()
        .filter(|r| r.id().is_some_and(|id| is_ours(id, prefix)))
        .filter_map(Rule::from_sdk)
        .collect();
    let dropped_abort = wanted.iter().any(|r| r.aborts() && !kept_now.contains(r));
    if dropped_abort && !report.notes.iter().any(|n| n == REFUSED_ABORT) {
        report.notes.push(DROPPED_ABORT.to_owned());
    }
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|r| !r.aborts() && !kept_now.contains(r))
        .map(|r| r.id.as_str())
        .collect();
    if !missing.is_empty() {
        report.notes.push(format!(
            "the store did not keep {} of sealdrop's expiry rules as written ({}): only the \
             server's sweeper deletes expired blobs there",
            missing.len(),
            missing.join(", ")
        ));
    }
    report.rules = in_order(kept_now);
    Ok(report)
}

/// Rules in reading order: expiry rules by their days, then the abort rule.
fn in_order(mut rules: Vec<Rule>) -> Vec<Rule> {
    rules.sort_by_key(|r| match r.action {
        Action::Expire { days } => (0, days),
        Action::AbortIncomplete { days } => (1, days),
    });
    rules
}

/// Said when the store has no lifecycle rules at all.
const NO_LIFECYCLE: &str = "this store does not support bucket lifecycle rules: the server's \
    sweeper alone deletes expired blobs and aborts its abandoned multipart uploads";

/// Said when the store refused the abort rule (and took the others).
const REFUSED_ABORT: &str = "this store refused the rule that aborts incomplete multipart \
    uploads (MinIO does not support it and removes stale multipart uploads by itself after \
    24 hours); the expiry rules are applied";

/// Said when the store accepted the abort rule but did not keep it.
const DROPPED_ABORT: &str = "this store accepted but did not keep the rule that aborts \
    incomplete multipart uploads (MinIO drops it, and removes stale multipart uploads by \
    itself after 24 hours); the expiry rules are applied";

/// Creates `bucket`; `Ok(true)`, or `Ok(false)` if someone else just did.
async fn create_bucket(client: &Client, bucket: &str) -> Result<bool, Cause> {
    let region = client
        .config()
        .region()
        .map_or_else(|| DEFAULT_REGION.to_owned(), ToString::to_string);
    let mut request = client.create_bucket().bucket(bucket);
    // us-east-1 takes no location constraint (AWS refuses one).
    if region != DEFAULT_REGION {
        request = request.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region.as_str()))
                .build(),
        );
    }
    match request.send().await {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => Ok(false),
        Err(e) if e.code() == Some("BucketAlreadyExists") => Err(Cause::Other(
            "the bucket name is taken by another account".to_owned(),
        )),
        Err(e) => Err(classify(&e)),
    }
}

/// The bucket's lifecycle rules (none when it has no configuration).
async fn read_rules(
    client: &Client,
    bucket: &str,
) -> Result<
    Vec<LifecycleRule>,
    SdkError<
        aws_sdk_s3::operation::get_bucket_lifecycle_configuration::GetBucketLifecycleConfigurationError,
    >,
>{
    match client
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(out) => Ok(out.rules().to_vec()),
        Err(e) if e.code() == Some("NoSuchLifecycleConfiguration") => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The HTTP status of a failed request, if it got an answer.
fn status<E>(e: &SdkError<E>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// The store has no lifecycle API.
fn unsupported<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    e.code() == Some("NotImplemented") || status(e) == Some(501)
}

/// The store refused a rule's contents (rather than access or the API as a whole).
fn refused_rule<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    matches!(
        e.code(),
        Some("MalformedXML" | "InvalidArgument" | "InvalidRequest")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_expiry_rule_per_day_of_the_longest_expiry_and_one_abort_rule() {
        let rules = wanted_rules("", 7 * 86400, Some(163_960)).unwrap();
        assert_eq!(rules.len(), 8);
        assert_eq!(
            rules[0],
            Rule {
                id: "sealdrop-expire-1d".into(),
                prefix: "1-".into(),
                action: Action::Expire { days: 2 },
            }
        );
        assert_eq!(
            rules[6],
            Rule {
                id: "sealdrop-expire-7d".into(),
                prefix: "7-".into(),
                action: Action::Expire { days: 8 },
            }
        );
        // 1.9 days of the slowest allowed upload: aborted after 3.
        assert_eq!(
            rules[7],
            Rule {
                id: "sealdrop-abort-incomplete-uploads".into(),
                prefix: String::new(),
                action: Action::AbortIncomplete { days: 3 },
            }
        );
    }

    #[test]
    fn short_expiries_still_get_the_one_day_rule_and_prefixes_are_kept() {
        let rules = wanted_rules("files/", 3600, None).unwrap();
        let prefixes: Vec<&str> = rules.iter().map(|r| r.prefix.as_str()).collect();
        assert_eq!(prefixes, ["files/1-", "files/"]);
        let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "sealdrop-files/expire-1d",
                "sealdrop-files/abort-incomplete-uploads"
            ]
        );
        assert_eq!(
            rules[1].action,
            Action::AbortIncomplete {
                days: ABORT_DAYS_UNBOUNDED
            }
        );
        // 36 hours: files under 1- live up to 1.5 days, the 1- rule waits 2.
        assert_eq!(wanted_rules("", 36 * 3600, Some(60)).unwrap().len(), 2);
        let err = wanted_rules("", 1000 * 86400, Some(60)).unwrap_err();
        assert!(err.contains("--max-expiry"), "{err}");
    }

    #[test]
    fn each_prefix_owns_its_rules() {
        assert!(is_ours("sealdrop-expire-1d", ""));
        assert!(is_ours("sealdrop-abort-incomplete-uploads", ""));
        assert!(!is_ours("sealdrop-files/expire-1d", ""));
        assert!(is_ours("sealdrop-files/expire-1d", "files/"));
        assert!(!is_ours("sealdrop-files/more/expire-1d", "files/"));
        assert!(!is_ours("sealdrop-expire-1d", "files/"));
        assert!(!is_ours("archive", ""));
        assert!(!is_ours("sealdrop-", ""));
    }

    #[test]
    fn rules_survive_the_sdk_round_trip() {
        for rule in wanted_rules("p/", 2 * 86400, Some(1)).unwrap() {
            assert_eq!(Rule::from_sdk(&rule.to_sdk().unwrap()), Some(rule));
        }
        let foreign = LifecycleRule::builder()
            .id("archive")
            .status(ExpirationStatus::Enabled)
            .build()
            .unwrap();
        assert_eq!(Rule::from_sdk(&foreign), None);
    }

    /// The IDs of the bucket's rules, sorted.
    async fn rule_ids(client: &Client, bucket: &str) -> Vec<String> {
        let mut ids: Vec<String> = read_rules(client, bucket)
            .await
            .unwrap()
            .iter()
            .filter_map(|r| r.id().map(str::to_owned))
            .collect();
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn rules_of_others_and_of_other_prefixes_are_kept_and_ours_replaced() {
        use crate::config::S3Credentials;
        let moto = sealdrop_testkit::Moto::start();
        moto.create_bucket("shared");
        let client = moto.s3.client();
        let archive = LifecycleRule::builder()
            .id("archive")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("archive/").build())
            .expiration(LifecycleExpiration::builder().days(30).build())
            .build()
            .unwrap();
        client
            .put_bucket_lifecycle_configuration()
            .bucket("shared")
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .rules(archive)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let config = |prefix: &str| S3Config {
            bucket: "shared".into(),
            prefix: prefix.into(),
            endpoint: Some(moto.s3.endpoint.clone()),
            region: Some(moto.s3.region.clone()),
            path_style: true,
            part_size: 5 << 20,
            parts_in_flight: 1,
            timeout: std::time::Duration::from_secs(30),
            credentials: Some(S3Credentials {
                access_key_id: moto.s3.access_key.clone(),
                secret_access_key: moto.s3.secret_key.clone(),
            }),
        };
        let day = 86400;
        let root = setup(&config(""), &wanted_rules("", 7 * day, Some(60)).unwrap())
            .await
            .unwrap();
        assert!(!root.created_bucket && root.changed);
        assert_eq!(root.kept, ["archive"]);
        assert_eq!(root.rules.len(), 8);
        let files = wanted_rules("files/", 2 * day, Some(60)).unwrap();
        let report = setup(&config("files/"), &files).await.unwrap();
        assert_eq!(report.kept.len(), 9, "{:?}", report.kept);
        // A shorter expiry at the root replaces the root's rules only.
        let shorter = wanted_rules("", day, Some(60)).unwrap();
        assert!(setup(&config(""), &shorter).await.unwrap().changed);
        assert_eq!(
            rule_ids(&client, "shared").await,
            [
                "archive",
                "sealdrop-abort-incomplete-uploads",
                "sealdrop-expire-1d",
                "sealdrop-files/abort-incomplete-uploads",
                "sealdrop-files/expire-1d",
                "sealdrop-files/expire-2d",
            ]
        );
        let again = setup(&config(""), &shorter).await.unwrap();
        assert!(!again.changed);
        assert_eq!(again.rules, in_order(shorter));
        assert!(again.notes.is_empty(), "{:?}", again.notes);
    }

    #[test]
    fn the_report_reads_as_sentences() {
        let report = SetupReport {
            bucket: "sealdrop".into(),
            endpoint: "http://minio:9000".into(),
            created_bucket: true,
            changed: true,
            rules: wanted_rules("", 86400, Some(60)).unwrap(),
            kept: vec!["archive".into()],
            notes: vec![DROPPED_ABORT.into()],
        };
        assert_eq!(
            report.text(),
            format!(
                "created bucket \"sealdrop\" at http://minio:9000\n\
                 applied sealdrop's 2 lifecycle rules:\n  \
                 sealdrop-expire-1d: objects under \"1-\" expire after 2 days\n  \
                 sealdrop-abort-incomplete-uploads: multipart uploads under \"\" still \
                 incomplete after 2 days are aborted\n\
                 kept 1 other rule as it was: archive\n\
                 note: {DROPPED_ABORT}\n"
            )
        );
        assert_eq!(report.json()["rules"][0]["expire_days"], 2);
    }
}
