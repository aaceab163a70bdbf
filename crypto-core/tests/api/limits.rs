//! What a message can make decryption cost is bounded whatever it says: the memory (frame
//! length), the key work (data keys parsed and tried) and the size of the error.

use super::common::*;
use coffer_core::cmm::DefaultCmm;
use coffer_core::keyring::{BoxFuture, Keyring, MultiKeyring, RawRsaKeyring, RsaPadding};
use coffer_core::materials::{DecryptionMaterials, EncryptionMaterials};
use coffer_core::{
    DecryptConfig, Decryptor, EncryptConfig, EncryptedDataKey, EncryptionContext, Error, Release,
};
use std::cell::Cell;
use std::io::Read;
use std::rc::Rc;
use std::sync::Arc;

const MIB: u64 = 1 << 20;

/// A message header followed by `junk` zero bytes, counting the bytes read from it.
struct HeaderThenJunk {
    header: Vec<u8>,
    at: usize,
    junk: u64,
    pulled: Rc<Cell<u64>>,
}

impl Read for HeaderThenJunk {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = if self.at < self.header.len() {
            let n = buf.len().min(self.header.len() - self.at);
            buf[..n].copy_from_slice(&self.header[self.at..self.at + n]);
            self.at += n;
            n
        } else {
            let n = buf
                .len()
                .min(usize::try_from(self.junk).unwrap_or(usize::MAX));
            buf[..n].fill(0);
            self.junk -= n as u64;
            n
        };
        self.pulled.set(self.pulled.get() + n as u64);
        Ok(n)
    }
}

/// The header of `msg` (body and authentication), as a decryptor reads it.
fn header_of(msg: &[u8]) -> Vec<u8> {
    let mut rest = msg;
    coffer_core::inspect(&mut rest).unwrap();
    msg[..msg.len() - rest.len()].to_vec()
}

/// Header, key, body: the whole decryption of `input`, as `coffer decrypt` does it.
fn decrypt_stream(
    cmm: &DefaultCmm,
    cfg: DecryptConfig,
    mut input: impl Read,
) -> Result<Vec<u8>, Error> {
    let parsed = Decryptor::new(cfg).read_header(&mut input)?;
    let ready = block(parsed.obtain_materials(cmm, None))?;
    let mut out = Vec::new();
    ready
        .into_reader(input, Release::PerFrame)
        .read_to_end(&mut out)?;
    Ok(out)
}

fn framed(cmm: &Arc<DefaultCmm>, frame: u32, pt: &[u8]) -> Vec<u8> {
    let cfg = EncryptConfig::default().with_frame_length(frame).unwrap();
    block(coffer_core::encrypt(
        cmm.clone(),
        &cfg,
        &EncryptionContext::new(),
        pt,
    ))
    .unwrap()
}

#[test]
fn a_header_naming_4_gib_frames_is_refused_before_any_of_the_body_is_read() {
    let cmm = cmm(aes_keyring("k", 32));
    // An honest header (its tag verifies under the key) naming frames of 4 GiB - 1 bytes,
    // then the start of frame 1 (its sequence number and IV) and 64 MiB of junk.
    let mut header = header_of(&framed(&cmm, u32::MAX, b"hi"));
    let header_len = header.len() as u64;
    header.extend_from_slice(&1u32.to_be_bytes());
    header.extend_from_slice(&coffer_core::format::frame_iv(1));
    let pulled = Rc::new(Cell::new(0));
    let input = HeaderThenJunk {
        header,
        at: 0,
        junk: 64 * MIB,
        pulled: pulled.clone(),
    };
    let e = decrypt_stream(&cmm, DecryptConfig::default(), input).unwrap_err();
    assert_eq!(
        pulled.get(),
        header_len,
        "only the header is read before the refusal"
    );
    assert!(
        matches!(&e, Error::Policy(what) if what.contains("4294967295 bytes")
            && what.contains("16777216 bytes (16 MiB)")),
        "{e}"
    );
}

#[test]
fn frames_up_to_the_limit_decrypt_and_the_limit_can_be_raised() {
    let cmm = cmm(aes_keyring("k", 32));
    let pt = b"a short message in one final frame";
    let limit = coffer_core::DEFAULT_MAX_FRAME_LENGTH;
    assert_eq!(limit, 16 << 20);
    let at_limit = framed(&cmm, limit, pt);
    let over = framed(&cmm, limit + 1, pt);
    let huge = framed(&cmm, u32::MAX, pt);
    let dflt = DecryptConfig::default();
    assert_eq!(
        decrypt_stream(&cmm, dflt.clone(), &at_limit[..]).unwrap(),
        pt
    );
    for msg in [&over, &huge] {
        let e = decrypt_stream(&cmm, dflt.clone(), &msg[..]).unwrap_err();
        assert!(matches!(e, Error::Policy(_)), "{e}");
        // The one-shot API refuses it the same way.
        let e = block(coffer_core::decrypt(cmm.as_ref(), &dflt, None, msg)).unwrap_err();
        assert!(matches!(e, Error::Policy(_)), "{e}");
    }
    let any = DecryptConfig::default().with_max_frame_length(u32::MAX);
    assert_eq!(decrypt_stream(&cmm, any.clone(), &huge[..]).unwrap(), pt);
    assert_eq!(decrypt_stream(&cmm, any, &over[..]).unwrap(), pt);
    // Inspecting reads no frame: it takes any frame length.
    assert_eq!(
        coffer_core::inspect(&mut &huge[..]).unwrap().frame_length,
        u32::MAX
    );
    // A lower limit refuses what the default takes.
    let small = DecryptConfig::default().with_max_frame_length(4095);
    let msg = framed(&cmm, 4096, pt);
    assert!(matches!(
        decrypt_stream(&cmm, small, &msg[..]),
        Err(Error::Policy(_))
    ));
}

/// A keyring that adds `n` data keys addressed to the raw RSA key `test-ns/victim` that no
/// key opens (what a hostile message holds).
#[derive(Debug)]
struct Decoys(usize);

impl Keyring for Decoys {
    fn on_encrypt<'a>(
        &'a self,
        materials: EncryptionMaterials,
    ) -> BoxFuture<'a, coffer_core::Result<EncryptionMaterials>> {
        let mut m = Ok(materials);
        for i in 0..self.0 {
            m = m.and_then(|m| {
                m.with_edk(EncryptedDataKey {
                    provider_id: "test-ns".into(),
                    provider_info: b"victim".to_vec(),
                    ciphertext: vec![u8::try_from(i % 251).unwrap(); 256],
                })
            });
        }
        Box::pin(std::future::ready(m))
    }

    fn on_decrypt<'a>(
        &'a self,
        _: DecryptionMaterials,
        _: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, coffer_core::Result<DecryptionMaterials>> {
        unreachable!("only encrypts")
    }
}

fn rsa(private: bool) -> Arc<dyn Keyring> {
    let (public, private) = if private {
        (
            None,
            Some(&include_bytes!("../data/rsa-2048-private.pem")[..]),
        )
    } else {
        (
            Some(&include_bytes!("../data/rsa-2048-public.pem")[..]),
            None,
        )
    };
    Arc::new(
        RawRsaKeyring::new("test-ns", "victim", RsaPadding::OaepSha256, public, private).unwrap(),
    )
}

/// A message whose data key is wrapped by a raw AES key (data key #1), then `decoys` data keys
/// for the RSA key that do not open, then the real RSA data key, last.
fn message_with_decoys(decoys: usize) -> Vec<u8> {
    let ring = MultiKeyring::new(
        Some(aes_keyring("other", 32)),
        vec![Arc::new(Decoys(decoys)), rsa(false)],
    )
    .unwrap();
    let cmm = cmm(Arc::new(ring));
    let cfg = EncryptConfig::default().with_max_encrypted_data_keys(None);
    block(coffer_core::encrypt(
        cmm,
        &cfg,
        &EncryptionContext::new(),
        b"the real one is last",
    ))
    .unwrap()
}

/// How many RSA decryptions the report says were made.
fn rsa_tries(e: &Error) -> usize {
    let Error::Unwrap(report) = e else {
        panic!("not a key error: {e}");
    };
    report
        .attempts
        .iter()
        .filter(|a| a.reason.contains("RSA decryption failed"))
        .count()
}

#[test]
fn many_data_keys_for_one_key_cost_a_bounded_number_of_tries_and_a_short_error() {
    let msg = message_with_decoys(200);
    let victim = cmm(rsa(true));
    // 202 data keys: parsed (under the default of 256), but only 32 RSA decryptions are made.
    let e = block(coffer_core::decrypt(
        victim.as_ref(),
        &DecryptConfig::default(),
        None,
        &msg,
    ))
    .unwrap_err();
    assert_eq!(rsa_tries(&e), 32, "{e}");
    let text = e.to_string();
    assert!(text.len() < 1500, "{} bytes: {text}", text.len());
    assert!(
        text.contains("169 more data keys for these keys not tried: at most 32 unwrap attempts"),
        "{text}"
    );
    assert!(text.contains("... and "), "{text}");
    // Asked for, all of them are tried, and the last one opens.
    let all = DecryptConfig::default().with_max_unwrap_attempts(None);
    let out = block(coffer_core::decrypt(victim.as_ref(), &all, None, &msg)).unwrap();
    assert_eq!(out.plaintext, b"the real one is last");
}

#[test]
fn more_data_keys_than_the_default_are_refused_while_parsing_unless_allowed() {
    let msg = message_with_decoys(300);
    let victim = cmm(rsa(true));
    let e = Decryptor::new(DecryptConfig::default())
        .read_header(&mut &msg[..])
        .unwrap_err();
    assert!(
        matches!(&e, Error::Policy(what) if what.contains("302 encrypted data keys, more than the limit of 256")),
        "{e}"
    );
    let allowed = DecryptConfig::default()
        .with_max_encrypted_data_keys(Some(302))
        .with_max_unwrap_attempts(Some(301));
    let out = block(coffer_core::decrypt(victim.as_ref(), &allowed, None, &msg)).unwrap();
    assert_eq!(out.plaintext, b"the real one is last");
    // One attempt fewer, and the last data key is not tried.
    let short = allowed.with_max_unwrap_attempts(Some(300));
    let e = block(coffer_core::decrypt(victim.as_ref(), &short, None, &msg)).unwrap_err();
    assert_eq!(rsa_tries(&e), 300);
    assert!(
        e.to_string()
            .contains("1 more data key for these keys not tried"),
        "{e}"
    );
}

#[test]
fn keyrings_of_a_multi_keyring_share_one_budget() {
    let msg = message_with_decoys(40);
    // Two keyrings that both hold the RSA key: 32 tries in all, not 32 each.
    let two = MultiKeyring::new(None, vec![rsa(true), rsa(true)]).unwrap();
    let e = block(coffer_core::decrypt(
        cmm(Arc::new(two)).as_ref(),
        &DecryptConfig::default(),
        None,
        &msg,
    ))
    .unwrap_err();
    assert_eq!(rsa_tries(&e), 32, "{e}");
}
