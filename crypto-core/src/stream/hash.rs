//! The running hash of a signed message. SHA-384 is slower than AES-GCM, so once a message
//! is large the hash moves to a helper thread and runs alongside the encryption; small
//! messages never pay for a thread.

use crate::error::{Error, Result};
use crate::primitives::MessageHasher;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Hash inline until this many bytes, then on a helper thread.
const BACKGROUND_AFTER: u64 = 1 << 20;
/// Bytes handed to the helper thread at a time.
const BATCH: usize = 256 << 10;
/// Batches in flight.
const DEPTH: usize = 4;

enum Msg {
    Start(MessageHasher),
    Data(Vec<u8>),
}

enum State {
    Inline(MessageHasher),
    Background {
        batch: Vec<u8>,
        tx: mpsc::SyncSender<Msg>,
        spent: mpsc::Receiver<Vec<u8>>,
        handle: JoinHandle<Option<MessageHasher>>,
    },
    Failed,
}

/// A message hash that may run on a helper thread. The bytes it sees are the serialized
/// message (ciphertext), never plaintext.
pub(crate) struct SignatureHash {
    state: State,
    hashed: u64,
}

impl SignatureHash {
    pub(crate) fn new(hasher: MessageHasher) -> Self {
        Self {
            state: State::Inline(hasher),
            hashed: 0,
        }
    }

    pub(crate) fn update(&mut self, mut data: &[u8]) {
        match &mut self.state {
            State::Inline(h) => {
                h.update(data);
                self.hashed = self.hashed.saturating_add(data.len() as u64);
                if self.hashed >= BACKGROUND_AFTER {
                    self.go_background();
                }
            }
            State::Background {
                batch, tx, spent, ..
            } => {
                while !data.is_empty() {
                    let n = (BATCH - batch.len()).min(data.len());
                    batch.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    if batch.len() == BATCH {
                        let next = spent
                            .try_recv()
                            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
                        let full = std::mem::replace(batch, next);
                        if tx.send(Msg::Data(full)).is_err() {
                            // The helper thread is gone (it panicked): finish() reports it.
                            self.state = State::Failed;
                            return;
                        }
                    }
                }
            }
            State::Failed => {}
        }
    }

    /// Moves the hash to a helper thread; stays inline if no thread can be started.
    fn go_background(&mut self) {
        let (tx, rx) = mpsc::sync_channel::<Msg>(DEPTH);
        let (spent_tx, spent) = mpsc::sync_channel::<Vec<u8>>(DEPTH + 1);
        let worker = move || {
            let mut hasher = None;
            while let Ok(msg) = rx.recv() {
                match msg {
                    Msg::Start(h) => hasher = Some(h),
                    Msg::Data(mut batch) => {
                        if let Some(h) = hasher.as_mut() {
                            h.update(&batch);
                        }
                        batch.clear();
                        let _ = spent_tx.try_send(batch);
                    }
                }
            }
            hasher
        };
        let Ok(handle) = std::thread::Builder::new()
            .name("coffer-sig-hash".into())
            .spawn(worker)
        else {
            return;
        };
        let State::Inline(h) = std::mem::replace(&mut self.state, State::Failed) else {
            return;
        };
        if tx.send(Msg::Start(h)).is_err() {
            return; // state stays Failed; finish() reports it
        }
        self.state = State::Background {
            batch: Vec::with_capacity(BATCH),
            tx,
            spent,
            handle,
        };
    }

    /// The hash over everything given to [`SignatureHash::update`].
    pub(crate) fn finish(self) -> Result<MessageHasher> {
        let lost = || Error::ApiMisuse("the signature hash thread stopped unexpectedly".into());
        match self.state {
            State::Inline(h) => Ok(h),
            State::Background {
                batch, tx, handle, ..
            } => {
                if !batch.is_empty() {
                    tx.send(Msg::Data(batch)).map_err(|_| lost())?;
                }
                drop(tx);
                handle.join().ok().flatten().ok_or_else(lost)
            }
            State::Failed => Err(lost()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::SignatureAlgorithm;

    fn digest_of(h: MessageHasher) -> Vec<u8> {
        h.finish_for_tests()
    }

    #[test]
    fn same_hash_inline_and_in_background() {
        let data: Vec<u8> = (0..3_000_000u32)
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect();
        let mut plain = MessageHasher::new(SignatureAlgorithm::EcdsaP384Sha384);
        plain.update(&data);
        for piece in [1usize, 4093, 65536, BATCH + 3, data.len()] {
            let mut h = SignatureHash::new(MessageHasher::new(SignatureAlgorithm::EcdsaP384Sha384));
            for chunk in data.chunks(piece) {
                h.update(chunk);
            }
            let got = h.finish().unwrap();
            assert_eq!(
                digest_of(got),
                digest_of(plain.clone_for_tests()),
                "piece {piece}"
            );
        }
        let small = SignatureHash::new(MessageHasher::new(SignatureAlgorithm::EcdsaP256Sha256));
        assert!(matches!(small.state, State::Inline(_)));
        assert!(small.finish().is_ok());
    }
}
