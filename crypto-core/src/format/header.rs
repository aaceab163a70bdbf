//! Message header v1 and v2: parse and serialize.

use super::Recorder;
use crate::context::{EncryptionContext, PUBLIC_KEY_FIELD};
use crate::error::{Error, Result};
use crate::primitives::{IV_LEN, TAG_LEN};
use crate::suite::AlgorithmSuite;

/// Largest non-framed body the format allows (2^36 - 32 bytes).
pub const MAX_NON_FRAMED_LEN: u64 = (1 << 36) - 32;

/// An encrypted data key as carried in the header.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EncryptedDataKey {
    /// Key provider id (raw keyrings: the key namespace).
    pub provider_id: String,
    /// Key provider info (raw AES: key name ‖ tag bits ‖ IV length ‖ IV).
    pub provider_info: Vec<u8>,
    /// The wrapped data key.
    pub ciphertext: Vec<u8>,
}

impl EncryptedDataKey {
    /// The entry as a message header holds it: each field prefixed by its length (u16).
    ///
    /// # Errors
    /// [`Error::ApiMisuse`] when a field is longer than 65535 bytes.
    pub fn serialize(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(
            6 + self.provider_id.len() + self.provider_info.len() + self.ciphertext.len(),
        );
        self.serialize_into(&mut out)?;
        Ok(out)
    }

    fn serialize_into(&self, out: &mut Vec<u8>) -> Result<()> {
        for field in [
            self.provider_id.as_bytes(),
            &self.provider_info,
            &self.ciphertext,
        ] {
            let len = u16::try_from(field.len()).map_err(|_| {
                Error::ApiMisuse("encrypted data key field longer than 65535 bytes".into())
            })?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(field);
        }
        Ok(())
    }
}

/// Body layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContentType {
    /// One AES-GCM record (legacy; decrypt only).
    NonFramed,
    /// Frames of `frame_length` bytes.
    Framed,
}

/// Header authentication: IV (v1 only) and tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderAuth {
    /// The IV (all zero in practice; v2 has no IV field and uses zeros).
    pub iv: [u8; IV_LEN],
    /// The GCM tag over the header body.
    pub tag: [u8; TAG_LEN],
}

/// A parsed (or to-be-written) message header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHeader {
    /// The algorithm suite.
    pub suite: AlgorithmSuite,
    /// Message id: 16 bytes (v1) or 32 bytes (v2).
    pub message_id: Vec<u8>,
    /// The encryption context stored in the header.
    pub context: EncryptionContext,
    /// The encrypted data keys.
    pub edks: Vec<EncryptedDataKey>,
    /// Framed or not.
    pub content_type: ContentType,
    /// Frame length (0 for non-framed).
    pub frame_length: u32,
    /// The key commitment (v2 only).
    pub commitment: Option<[u8; 32]>,
    /// The serialized header body, exactly as read or written.
    pub body_bytes: Vec<u8>,
    /// The header authentication.
    pub auth: HeaderAuth,
}

impl MessageHeader {
    /// Format version (1 or 2).
    #[must_use]
    pub fn version(&self) -> u8 {
        self.suite.message_version()
    }

    /// Serializes the header body. Fails on fields that do not fit the format.
    ///
    /// # Errors
    /// [`Error::ApiMisuse`] / [`Error::Context`] when a field is out of range.
    pub(crate) fn serialize_body(&self) -> Result<Vec<u8>> {
        let suite = self.suite;
        let mut out = Vec::with_capacity(256);
        out.push(suite.message_version());
        if suite.message_version() == 1 {
            out.push(0x80);
        }
        out.extend_from_slice(&suite.id().to_be_bytes());
        if self.message_id.len() != suite.message_id_len() {
            return Err(Error::ApiMisuse("message id has the wrong length".into()));
        }
        out.extend_from_slice(&self.message_id);
        let aad = self.context.serialize()?;
        let aad_len = u16::try_from(aad.len())
            .map_err(|_| Error::Context("serialized context too long".into()))?;
        out.extend_from_slice(&aad_len.to_be_bytes());
        out.extend_from_slice(&aad);
        let count = u16::try_from(self.edks.len())
            .map_err(|_| Error::Policy("more than 65535 encrypted data keys".into()))?;
        if count == 0 {
            return Err(Error::ApiMisuse(
                "a message needs at least one encrypted data key".into(),
            ));
        }
        out.extend_from_slice(&count.to_be_bytes());
        for edk in &self.edks {
            edk.serialize_into(&mut out)?;
        }
        out.push(match self.content_type {
            ContentType::NonFramed => 1,
            ContentType::Framed => 2,
        });
        if suite.message_version() == 1 {
            out.extend_from_slice(&[0, 0, 0, 0]);
            out.push(12);
        }
        out.extend_from_slice(&self.frame_length.to_be_bytes());
        if suite.message_version() == 2 {
            let c = self
                .commitment
                .ok_or_else(|| Error::ApiMisuse("committing suite without commitment".into()))?;
            out.extend_from_slice(&c);
        }
        Ok(out)
    }

    /// The serialized header authentication.
    #[must_use]
    pub fn auth_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(IV_LEN + TAG_LEN);
        if self.version() == 1 {
            out.extend_from_slice(&self.auth.iv);
        }
        out.extend_from_slice(&self.auth.tag);
        out
    }
}

/// Limits applied while parsing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeaderLimits {
    pub(crate) max_edks: Option<u16>,
}

/// Reads header body and header authentication from `r`. Nothing is authenticated yet.
pub(crate) fn read_header<R: std::io::Read + ?Sized>(
    r: &mut R,
    limits: HeaderLimits,
) -> Result<MessageHeader> {
    let mut rec = Recorder::new(r);
    let version = rec.u8()?;
    match version {
        1 => {
            let ty = rec.u8()?;
            if ty != 0x80 {
                return Err(Error::Malformed(format!("unknown message type 0x{ty:02X}")));
            }
        }
        2 => {}
        // A later version of the format (small numbers that are not text).
        3..=0x0F if !b"\t\n\x0b\x0c\r".contains(&version) => {
            return Err(Error::Malformed(format!(
                "unsupported message version 0x{version:02X} (versions 1 and 2 are supported)"
            )));
        }
        _ => return Err(not_a_message(version, rec.inner)),
    }
    let suite = AlgorithmSuite::from_id(rec.u16()?)?;
    if suite.message_version() != version {
        return Err(Error::Malformed(format!(
            "suite {suite} cannot appear in a version {version} message"
        )));
    }
    let message_id = rec.take(suite.message_id_len())?.to_vec();
    let aad_len = rec.u16()?;
    let context = EncryptionContext::deserialize(rec.take(usize::from(aad_len))?)?;
    let edk_count = rec.u16()?;
    if edk_count == 0 {
        return Err(Error::Malformed(
            "message has no encrypted data keys".into(),
        ));
    }
    if let Some(max) = limits.max_edks {
        if edk_count > max {
            return Err(Error::Policy(format!(
                "message has {edk_count} encrypted data keys, more than the limit of {max}"
            )));
        }
    }
    let mut edks = Vec::with_capacity(usize::from(edk_count.min(64)));
    for _ in 0..edk_count {
        let len = rec.u16()?;
        let provider_id = String::from_utf8(rec.take(usize::from(len))?.to_vec())
            .map_err(|_| Error::Malformed("key provider id is not UTF-8".into()))?;
        let len = rec.u16()?;
        let provider_info = rec.take(usize::from(len))?.to_vec();
        let len = rec.u16()?;
        let ciphertext = rec.take(usize::from(len))?.to_vec();
        edks.push(EncryptedDataKey {
            provider_id,
            provider_info,
            ciphertext,
        });
    }
    let content_type = match rec.u8()? {
        1 => ContentType::NonFramed,
        2 => ContentType::Framed,
        t => return Err(Error::Malformed(format!("unknown content type 0x{t:02X}"))),
    };
    if version == 1 {
        if rec.take(4)? != [0, 0, 0, 0] {
            return Err(Error::Malformed("reserved header field is not zero".into()));
        }
        let iv_len = rec.u8()?;
        if usize::from(iv_len) != IV_LEN {
            return Err(Error::Malformed(format!(
                "IV length {iv_len} does not match the suite"
            )));
        }
    }
    let frame_length = rec.u32()?;
    match content_type {
        ContentType::Framed if frame_length == 0 => {
            return Err(Error::Malformed(
                "framed message with frame length 0".into(),
            ));
        }
        ContentType::NonFramed if frame_length != 0 => {
            return Err(Error::Malformed(
                "non-framed message with a frame length".into(),
            ));
        }
        _ => {}
    }
    let commitment = if version == 2 {
        let mut c = [0u8; 32];
        c.copy_from_slice(rec.take(32)?);
        Some(c)
    } else {
        None
    };
    let body_bytes = std::mem::take(&mut rec.bytes);
    let mut auth = HeaderAuth {
        iv: [0; IV_LEN],
        tag: [0; TAG_LEN],
    };
    if version == 1 {
        auth.iv.copy_from_slice(rec.take(IV_LEN)?);
    }
    auth.tag.copy_from_slice(rec.take(TAG_LEN)?);

    // The signature key rides in the context: it must be there exactly for signing suites.
    let has_key = context.contains_key(PUBLIC_KEY_FIELD);
    if suite.is_signing() && !has_key {
        return Err(Error::Malformed(format!(
            "signed suite without {PUBLIC_KEY_FIELD} in the encryption context"
        )));
    }
    if !suite.is_signing() && has_key {
        return Err(Error::Malformed(format!(
            "unsigned suite carrying {PUBLIC_KEY_FIELD} in the encryption context"
        )));
    }

    Ok(MessageHeader {
        suite,
        message_id,
        context,
        edks,
        content_type,
        frame_length,
        commitment,
        body_bytes,
        auth,
    })
}

/// How many bytes of a non-message are looked at to say what it is.
const SAMPLE_LEN: usize = 32;
/// How many characters of a text input the error quotes.
const QUOTED_CHARS: usize = 24;

/// The error for an input whose first byte, `first`, is no message version: base64 of a
/// message, text, or some other binary data. Reads at most a few more bytes (up to the end of
/// the first line) to tell.
fn not_a_message<R: std::io::Read + ?Sized>(first: u8, r: &mut R) -> Error {
    let mut sample = Vec::with_capacity(SAMPLE_LEN);
    sample.push(first);
    let mut more = [0u8; 1];
    while sample.len() < SAMPLE_LEN && !sample.ends_with(b"\n") {
        match r.read(&mut more) {
            Ok(1) => sample.push(more[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            _ => break,
        }
    }
    // 0x01 0x80 and 0x02 0x05 start with "AY" / "Ag" in base64.
    if sample.starts_with(b"AY") || sample.starts_with(b"Ag") {
        return Error::Base64Input;
    }
    // Text: UTF-8 (perhaps cut in the middle of a character at the end) without control
    // characters other than white space.
    let text = match std::str::from_utf8(&sample) {
        Ok(t) => Some(t),
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&sample[..e.valid_up_to()]).ok(),
        Err(_) => None,
    };
    if let Some(text) = text.filter(|t| {
        !t.is_empty()
            && t.chars()
                .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
    }) {
        let quoted: String = text.chars().take(QUOTED_CHARS).collect();
        // Cut here, or (most likely) more follows the sample.
        let cut =
            quoted.len() < sample.len() || (sample.len() == SAMPLE_LEN && !sample.ends_with(b"\n"));
        let cut = if cut { "..." } else { "" };
        return Error::NotAMessage(format!("text \"{}\"{cut}", quoted.escape_debug()));
    }
    let hex: Vec<String> = sample.iter().take(8).map(|b| format!("{b:02X}")).collect();
    Error::NotAMessage(format!(
        "bytes {}{}; a message starts with version 0x01 or 0x02",
        hex.join(" "),
        if sample.len() > 8 { " ..." } else { "" }
    ))
}

/// The IV of frame `seq`: 8 zero bytes ‖ seq (big-endian).
#[must_use]
pub fn frame_iv(seq: u32) -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    iv[8..].copy_from_slice(&seq.to_be_bytes());
    iv
}

const FRAME_STRING: &[u8] = b"AWSKMSEncryptionClient Frame";
const FINAL_FRAME_STRING: &[u8] = b"AWSKMSEncryptionClient Final Frame";
const SINGLE_BLOCK_STRING: &[u8] = b"AWSKMSEncryptionClient Single Block";

/// Which kind of body record an AAD is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordKind {
    Regular,
    Final,
    Single,
}

/// Body AAD: message id ‖ content string ‖ seq (4) ‖ content length (8).
pub(crate) fn body_aad(out: &mut Vec<u8>, message_id: &[u8], kind: RecordKind, seq: u32, len: u64) {
    out.clear();
    out.extend_from_slice(message_id);
    out.extend_from_slice(match kind {
        RecordKind::Regular => FRAME_STRING,
        RecordKind::Final => FINAL_FRAME_STRING,
        RecordKind::Single => SINGLE_BLOCK_STRING,
    });
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
}

/// Public form of the body AAD, for tools that inspect frames.
#[must_use]
pub fn frame_aad(message_id: &[u8], is_final: bool, seq: u32, len: u64) -> Vec<u8> {
    let mut v = Vec::new();
    body_aad(
        &mut v,
        message_id,
        if is_final {
            RecordKind::Final
        } else {
            RecordKind::Regular
        },
        seq,
        len,
    );
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_error(input: &[u8]) -> Error {
        read_header(&mut &input[..], HeaderLimits { max_edks: None }).unwrap_err()
    }

    #[test]
    fn input_that_is_no_message_says_what_it_starts_with() {
        let e = header_error(b"hello\nworld\n");
        assert!(matches!(e, Error::NotAMessage(_)), "{e}");
        assert_eq!(
            e.to_string(),
            "not an AWS Encryption SDK message (it starts with text \"hello\\n\")"
        );
        // Long text is cut (at 24 characters, or where the 32 bytes looked at end).
        let e = header_error("é".repeat(40).as_bytes()).to_string();
        assert!(
            e.ends_with(&format!("text \"{}\"...)", "é".repeat(16))),
            "{e}"
        );
        let e = header_error(format!("x{}", "é".repeat(40)).as_bytes()).to_string();
        assert!(
            e.ends_with(&format!("text \"x{}\"...)", "é".repeat(15))),
            "{e}"
        );
        let e = header_error(&[b'a'; 40]).to_string();
        assert!(
            e.ends_with(&format!("text \"{}\"...)", "a".repeat(24))),
            "{e}"
        );
        let e = header_error(b"{\"json\": true}").to_string();
        assert!(e.contains("text \"{\\\"json\\\": true}\")"), "{e}");
        // Binary data that is not a message.
        let e = header_error(&[0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 0x55]).to_string();
        assert_eq!(
            e,
            "not an AWS Encryption SDK message (it starts with bytes 1F 8B 08 00 00 00 00 00 \
             ...; a message starts with version 0x01 or 0x02)"
        );
        assert!(matches!(header_error(&[0]), Error::NotAMessage(_)));
        // Base64 of a message (v1 "AY", v2 "Ag").
        assert!(matches!(header_error(b"AYAAFH"), Error::Base64Input));
        assert!(matches!(header_error(b"AgV4"), Error::Base64Input));
        assert!(matches!(header_error(b"About"), Error::NotAMessage(_)));
    }

    #[test]
    fn a_later_format_version_keeps_a_precise_error() {
        for v in [3u8, 4, 0x0F] {
            let e = header_error(&[v, 0, 0, 0]);
            assert!(
                matches!(&e, Error::Malformed(m) if m == &format!(
                    "unsupported message version 0x{v:02X} (versions 1 and 2 are supported)"
                )),
                "{e}"
            );
        }
        // Version 1 with another type byte.
        assert!(matches!(header_error(&[1, 0x81]), Error::Malformed(_)));
    }
}
