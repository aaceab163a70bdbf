//! AWS KMS keyrings (feature `kms`), as the ESDK's: EDK provider id `aws-kms`, provider info =
//! the key ARN that KMS reports.
//!
//! - [`AwsKmsKeyring`]: one KMS key. Encrypt: `GenerateDataKey` when the materials have no
//!   data key yet, else `Encrypt` of the existing one (a second key of a multi-keyring).
//!   Decrypt: only EDKs whose ARN is the configured key (multi-Region keys match across
//!   Regions), with `Decrypt` naming that key, and the response checked (key id, length).
//! - [`AwsKmsDiscoveryKeyring`]: decrypt only; any `aws-kms` EDK whose ARN passes the
//!   optional [`DiscoveryFilter`] (partition and accounts), with `Decrypt` naming the EDK's
//!   key.
//!
//! The encryption context of the materials is the KMS encryption context, so KMS refuses a
//! data key moved to a message with another context.
//!
//! The keyrings take a configured [`aws_sdk_kms::Client`]: its retry and timeout settings
//! bound every call (the SDK retries throttling and transient errors, never access denied or
//! a missing key). Plaintext data keys returned by KMS pass through the SDK's own buffers,
//! which are not wiped; the copy kept here is.

use std::collections::HashMap;
use std::fmt;

use aws_sdk_kms::Client;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_kms::primitives::Blob;

use super::{BoxFuture, Keyring};
use crate::error::{Error, Result, UnwrapReport};
use crate::format::EncryptedDataKey;
use crate::materials::{DecryptionMaterials, EncryptionMaterials};
use crate::secret::DataKey;

/// The EDK provider id of KMS keyrings.
pub const PROVIDER_ID: &str = "aws-kms";

/// A parsed KMS ARN: `arn:PARTITION:kms:REGION:ACCOUNT:key/ID` or `…:alias/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsArn {
    /// `aws`, `aws-cn`, `aws-us-gov`, …
    pub partition: String,
    /// The Region.
    pub region: String,
    /// The account id.
    pub account: String,
    /// `key` or `alias`.
    pub resource_type: String,
    /// The key id (`mrk-…` for a multi-Region key) or alias name.
    pub resource_id: String,
}

impl KmsArn {
    /// Parses a KMS key or alias ARN; `None` for anything else.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.splitn(6, ':');
        let (arn, partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if arn != "arn" || service != "kms" || partition.is_empty() || region.is_empty() {
            return None;
        }
        if account.is_empty() {
            return None;
        }
        let (resource_type, resource_id) = resource.split_once('/')?;
        if !matches!(resource_type, "key" | "alias") || resource_id.is_empty() {
            return None;
        }
        Some(Self {
            partition: partition.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.to_owned(),
        })
    }

    /// Whether this is a multi-Region key.
    #[must_use]
    pub fn is_mrk(&self) -> bool {
        self.resource_type == "key" && self.resource_id.starts_with("mrk-")
    }
}

/// Whether two key identifiers name the same key: equal, or the same multi-Region key in two
/// Regions.
#[must_use]
pub fn same_key(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (KmsArn::parse(a), KmsArn::parse(b)) {
        (Some(x), Some(y)) if x.is_mrk() && y.is_mrk() => {
            x.partition == y.partition
                && x.account == y.account
                && x.resource_type == y.resource_type
                && x.resource_id == y.resource_id
        }
        _ => false,
    }
}

fn kms_context(m_context: &crate::context::EncryptionContext) -> HashMap<String, String> {
    m_context
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A KMS error as one line: the service's code and message, or the transport's failure.
fn describe<E>(e: &aws_sdk_kms::error::SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e.as_service_error() {
        Some(s) => format!(
            "{}: {}",
            s.code().unwrap_or("error"),
            s.message().unwrap_or("(no message)")
        ),
        None => DisplayErrorContext(e).to_string(),
    }
}

/// One KMS key (see the module docs).
#[derive(Clone)]
pub struct AwsKmsKeyring {
    client: Client,
    key_id: String,
    grant_tokens: Vec<String>,
}

impl fmt::Debug for AwsKmsKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKmsKeyring")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl AwsKmsKeyring {
    /// A keyring for `key_id` (a key id, key ARN, alias name or alias ARN; decrypting needs
    /// the key ARN to match the EDKs, so give an ARN where messages are decrypted).
    ///
    /// # Errors
    /// [`Error::Key`] for an empty key id.
    pub fn new(client: Client, key_id: impl Into<String>) -> Result<Self> {
        let key_id = key_id.into();
        if key_id.trim().is_empty() {
            return Err(Error::Key("an AWS KMS keyring needs a key id".into()));
        }
        Ok(Self {
            client,
            key_id,
            grant_tokens: Vec::new(),
        })
    }

    /// Adds grant tokens to every call.
    #[must_use]
    pub fn with_grant_tokens(mut self, tokens: Vec<String>) -> Self {
        self.grant_tokens = tokens;
        self
    }

    /// The configured key id.
    #[must_use]
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    fn label(&self) -> String {
        format!("aws-kms {}", self.key_id)
    }

    async fn wrap(&self, m: EncryptionMaterials) -> Result<EncryptionMaterials> {
        let context = kms_context(m.context());
        let len = m.suite().data_key_len();
        let (arn, ciphertext, m) = match m.data_key() {
            None => {
                let out = self
                    .client
                    .generate_data_key()
                    .key_id(&self.key_id)
                    .number_of_bytes(i32::try_from(len).unwrap_or(i32::MAX))
                    .set_encryption_context(Some(context))
                    .set_grant_tokens(Some(self.grant_tokens.clone()))
                    .send()
                    .await
                    .map_err(|e| {
                        Error::Key(format!(
                            "AWS KMS GenerateDataKey with {}: {}",
                            self.key_id,
                            describe(&e)
                        ))
                    })?;
                let plaintext = out.plaintext().map(Blob::as_ref).unwrap_or_default();
                if plaintext.len() != len {
                    return Err(Error::Key(format!(
                        "AWS KMS GenerateDataKey with {} returned {} bytes, not {len}",
                        self.key_id,
                        plaintext.len()
                    )));
                }
                let key = DataKey::from_slice(plaintext);
                let m = m.with_data_key(key)?;
                (
                    out.key_id().unwrap_or_default().to_owned(),
                    out.ciphertext_blob()
                        .map(|b| b.as_ref().to_vec())
                        .unwrap_or_default(),
                    m,
                )
            }
            Some(key) => {
                let out = self
                    .client
                    .encrypt()
                    .key_id(&self.key_id)
                    .plaintext(Blob::new(key.expose_secret().to_vec()))
                    .set_encryption_context(Some(context))
                    .set_grant_tokens(Some(self.grant_tokens.clone()))
                    .send()
                    .await
                    .map_err(|e| {
                        Error::Key(format!(
                            "AWS KMS Encrypt with {}: {}",
                            self.key_id,
                            describe(&e)
                        ))
                    })?;
                (
                    out.key_id().unwrap_or_default().to_owned(),
                    out.ciphertext_blob()
                        .map(|b| b.as_ref().to_vec())
                        .unwrap_or_default(),
                    m,
                )
            }
        };
        if KmsArn::parse(&arn).is_none_or(|a| a.resource_type != "key") {
            return Err(Error::Key(format!(
                "AWS KMS answered for {} with `{arn}`, which is not a key ARN",
                self.key_id
            )));
        }
        if ciphertext.is_empty() {
            return Err(Error::Key(format!(
                "AWS KMS returned no ciphertext for {}",
                self.key_id
            )));
        }
        m.with_edk(EncryptedDataKey {
            provider_id: PROVIDER_ID.to_owned(),
            provider_info: arn.into_bytes(),
            ciphertext,
        })
    }

    async fn unwrap_key(
        &self,
        m: DecryptionMaterials,
        edks: &[EncryptedDataKey],
    ) -> Result<DecryptionMaterials> {
        let pick = |arn: &str, _: &KmsArn| {
            if same_key(arn, &self.key_id) {
                Ok(self.key_id.clone())
            } else {
                Err(format!("wrapped by {arn}, another key"))
            }
        };
        unwrap_with(
            &self.client,
            &self.label(),
            &self.grant_tokens,
            m,
            edks,
            pick,
        )
        .await
    }
}

/// Tries each `aws-kms` EDK whose provider info is a key ARN that `pick` accepts (it names
/// the key id to call `Decrypt` with, or says why not), in order; the first that decrypts
/// wins. Every refusal is reported under `label`.
async fn unwrap_with(
    client: &Client,
    label: &str,
    grant_tokens: &[String],
    m: DecryptionMaterials,
    edks: &[EncryptedDataKey],
    pick: impl Fn(&str, &KmsArn) -> std::result::Result<String, String>,
) -> Result<DecryptionMaterials> {
    if m.data_key().is_some() {
        return Ok(m);
    }
    let mut report = UnwrapReport::default();
    let context = kms_context(m.context());
    for (i, edk) in edks.iter().enumerate() {
        let n = i + 1;
        if edk.provider_id != PROVIDER_ID {
            report.push(label, format!("data key #{n}: not an AWS KMS data key"));
            continue;
        }
        let parsed = std::str::from_utf8(&edk.provider_info)
            .ok()
            .and_then(|s| KmsArn::parse(s).map(|a| (s, a)));
        let Some((arn, parsed)) = parsed.filter(|(_, a)| a.resource_type == "key") else {
            report.push(
                label,
                format!("data key #{n}: provider info is not a key ARN"),
            );
            continue;
        };
        let key_id = match pick(arn, &parsed) {
            Ok(k) => k,
            Err(why) => {
                report.push(label, format!("data key #{n}: {why}"));
                continue;
            }
        };
        if !m.take_unwrap_attempt(&mut report) {
            continue;
        }
        let len = m.suite().data_key_len();
        match decrypt(
            client,
            &key_id,
            &edk.ciphertext,
            &context,
            grant_tokens,
            len,
        )
        .await
        {
            Ok(key) => return m.with_data_key(key),
            Err(why) => report.push(label, format!("data key #{n}: {why}")),
        }
    }
    if edks.is_empty() {
        report.push(label, "message has no encrypted data keys");
    }
    Err(Error::Unwrap(report))
}

/// `Decrypt` of `ciphertext` with `key_id`; checks the key KMS used and the length.
async fn decrypt(
    client: &Client,
    key_id: &str,
    ciphertext: &[u8],
    context: &HashMap<String, String>,
    grant_tokens: &[String],
    len: usize,
) -> std::result::Result<DataKey, String> {
    let out = client
        .decrypt()
        .key_id(key_id)
        .ciphertext_blob(Blob::new(ciphertext.to_vec()))
        .set_encryption_context(Some(context.clone()))
        .set_grant_tokens(Some(grant_tokens.to_vec()))
        .send()
        .await
        .map_err(|e| format!("AWS KMS Decrypt: {}", describe(&e)))?;
    let used = out.key_id().unwrap_or_default();
    if !same_key(used, key_id) {
        return Err(format!(
            "AWS KMS decrypted with {used}, not the key asked for ({key_id})"
        ));
    }
    let plaintext = out.plaintext().map(Blob::as_ref).unwrap_or_default();
    if plaintext.len() != len {
        return Err(format!(
            "AWS KMS returned {} bytes, not the suite's {len}",
            plaintext.len()
        ));
    }
    Ok(DataKey::from_slice(plaintext))
}

impl Keyring for AwsKmsKeyring {
    fn on_encrypt<'a>(
        &'a self,
        materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        Box::pin(self.wrap(materials))
    }

    fn on_decrypt<'a>(
        &'a self,
        materials: DecryptionMaterials,
        edks: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        Box::pin(self.unwrap_key(materials, edks))
    }
}

/// Which keys a discovery keyring may use: one partition and a list of accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryFilter {
    /// The partition (`aws`).
    pub partition: String,
    /// The accounts (at least one).
    pub accounts: Vec<String>,
}

/// Decrypts with whatever KMS key wrapped a data key (see the module docs).
#[derive(Clone)]
pub struct AwsKmsDiscoveryKeyring {
    client: Client,
    filter: Option<DiscoveryFilter>,
    grant_tokens: Vec<String>,
}

impl fmt::Debug for AwsKmsDiscoveryKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKmsDiscoveryKeyring")
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl AwsKmsDiscoveryKeyring {
    /// A discovery keyring, limited to `filter` when given.
    ///
    /// # Errors
    /// [`Error::Key`] for a filter without a partition or accounts.
    pub fn new(client: Client, filter: Option<DiscoveryFilter>) -> Result<Self> {
        if let Some(f) = &filter {
            if f.partition.is_empty()
                || f.accounts.is_empty()
                || f.accounts.iter().any(String::is_empty)
            {
                return Err(Error::Key(
                    "a discovery filter needs a partition and at least one account".into(),
                ));
            }
        }
        Ok(Self {
            client,
            filter,
            grant_tokens: Vec::new(),
        })
    }

    fn label(&self) -> String {
        match &self.filter {
            None => "aws-kms discovery".to_owned(),
            Some(f) => format!(
                "aws-kms discovery (partition {}, accounts {})",
                f.partition,
                f.accounts.join(",")
            ),
        }
    }

    async fn unwrap_key(
        &self,
        m: DecryptionMaterials,
        edks: &[EncryptedDataKey],
    ) -> Result<DecryptionMaterials> {
        let pick = |arn: &str, parsed: &KmsArn| match &self.filter {
            Some(f) if parsed.partition != f.partition || !f.accounts.contains(&parsed.account) => {
                Err(format!("{arn} is outside the discovery filter"))
            }
            _ => Ok(arn.to_owned()),
        };
        unwrap_with(
            &self.client,
            &self.label(),
            &self.grant_tokens,
            m,
            edks,
            pick,
        )
        .await
    }
}

impl Keyring for AwsKmsDiscoveryKeyring {
    fn on_encrypt<'a>(
        &'a self,
        _materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        Box::pin(std::future::ready(Err(Error::Key(
            "an AWS KMS discovery keyring only decrypts: name a key to encrypt with".into(),
        ))))
    }

    fn on_decrypt<'a>(
        &'a self,
        materials: DecryptionMaterials,
        edks: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        Box::pin(self.unwrap_key(materials, edks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_parse_and_multi_region_keys_match_across_regions() {
        let k = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let a = KmsArn::parse(k).expect("an ARN");
        assert_eq!(
            (a.partition.as_str(), a.region.as_str(), a.account.as_str()),
            ("aws", "us-east-1", "123456789012")
        );
        assert!(!a.is_mrk());
        for bad in [
            "",
            "alias/x",
            "1234abcd",
            "arn:aws:s3:us-east-1:1:key/x",
            "arn:aws:kms:us-east-1::key/x",
            "arn:aws:kms:us-east-1:1:key/",
            "arn:aws:kms:us-east-1:1:thing/x",
        ] {
            assert!(KmsArn::parse(bad).is_none(), "{bad}");
        }
        let east = "arn:aws:kms:us-east-1:111122223333:key/mrk-1234";
        let west = "arn:aws:kms:us-west-2:111122223333:key/mrk-1234";
        assert!(same_key(east, west));
        assert!(!same_key(
            east,
            "arn:aws:kms:us-west-2:999999999999:key/mrk-1234"
        ));
        assert!(!same_key(
            "arn:aws:kms:us-east-1:1:key/abc",
            "arn:aws:kms:us-west-2:1:key/abc"
        ));
        assert!(same_key("alias/x", "alias/x"));
    }
}
