//! A small pool of threads that runs byte jobs (sealing or opening a run of frames) and
//! hands the results back in the order the jobs were submitted.
//!
//! Frames of one message are independent under AES-GCM, so a large message is cut into
//! chunks of whole frames, the chunks are sealed or opened on several cores, and the
//! caller writes (or releases) them in order. The caller bounds the number of chunks in
//! flight, so memory stays a small fixed window whatever the message size.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// How many threads a message may use. `Auto` is the machine's available parallelism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Threads {
    /// One worker per available core (at most 8).
    #[default]
    Auto,
    /// Exactly this many workers; 1 keeps all byte work on the caller's thread.
    Fixed(NonZeroUsize),
}

/// Most workers a message gets with [`Threads::Auto`]: past this, the writer or reader
/// on the caller's thread is the bottleneck.
const AUTO_MAX: usize = 8;

impl Threads {
    /// The number of worker threads this setting asks for. The machine's parallelism is
    /// asked once per process (it reads cgroup files), and only when a message is long
    /// enough to go parallel.
    pub(crate) fn workers(self) -> usize {
        static AUTO: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        match self {
            Threads::Auto => *AUTO.get_or_init(|| {
                std::thread::available_parallelism()
                    .map_or(1, NonZeroUsize::get)
                    .min(AUTO_MAX)
            }),
            Threads::Fixed(n) => n.get(),
        }
    }

    /// Whether this setting may use worker threads at all (known without asking the OS).
    pub(crate) fn may_be_parallel(self) -> bool {
        !matches!(self, Threads::Fixed(n) if n.get() == 1)
    }
}

type Work<J, O> = dyn Fn(J) -> O + Send + Sync;

/// Worker threads that run `work` on jobs; results come back in submission order.
pub(crate) struct OrderedPool<J: Send + 'static, O: Send + 'static> {
    jobs: Option<mpsc::Sender<(u64, J)>>,
    done: mpsc::Receiver<(u64, Option<O>)>,
    handles: Vec<JoinHandle<()>>,
    submitted: u64,
    next: u64,
    parked: BTreeMap<u64, O>,
}

impl<J: Send + 'static, O: Send + 'static> OrderedPool<J, O> {
    /// Starts `workers` threads. `None` if no thread could be started (the caller then
    /// does the work itself).
    pub(crate) fn start(
        workers: usize,
        name: &str,
        work: impl Fn(J) -> O + Send + Sync + 'static,
    ) -> Option<Self> {
        let (jobs, job_rx) = mpsc::channel::<(u64, J)>();
        let (done_tx, done) = mpsc::channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let work: Arc<Work<J, O>> = Arc::new(work);
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            let work = Arc::clone(&work);
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only to take one job.
                        let next = match job_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok((index, job)) = next else { return };
                        let out =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(job)))
                                .ok();
                        if done_tx.send((index, out)).is_err() {
                            return;
                        }
                    }
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(_) => break,
            }
        }
        if handles.is_empty() {
            return None;
        }
        Some(Self {
            jobs: Some(jobs),
            done,
            handles,
            submitted: 0,
            next: 0,
            parked: BTreeMap::new(),
        })
    }

    /// Jobs submitted whose results have not been taken yet.
    pub(crate) fn in_flight(&self) -> usize {
        usize::try_from(self.submitted - self.next).unwrap_or(usize::MAX)
    }

    /// Queues a job.
    pub(crate) fn submit(&mut self, job: J) -> Result<()> {
        let jobs = self.jobs.as_ref().ok_or_else(lost)?;
        jobs.send((self.submitted, job)).map_err(|_| lost())?;
        self.submitted += 1;
        Ok(())
    }

    /// The result of the oldest job not taken yet, waiting for it if needed. `None` when
    /// nothing is in flight.
    pub(crate) fn next_result(&mut self) -> Result<Option<O>> {
        if self.next == self.submitted {
            return Ok(None);
        }
        loop {
            if let Some(out) = self.parked.remove(&self.next) {
                self.next += 1;
                return Ok(Some(out));
            }
            let (index, out) = self.done.recv().map_err(|_| lost())?;
            // A job whose work panicked has no result: the message cannot be completed.
            let out = out.ok_or_else(lost)?;
            self.parked.insert(index, out);
        }
    }
}

impl<J: Send + 'static, O: Send + 'static> Drop for OrderedPool<J, O> {
    fn drop(&mut self) {
        // Closing the job channel ends the workers once they finish the job in hand.
        self.jobs = None;
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

fn lost() -> Error {
    Error::ApiMisuse("a worker thread stopped unexpectedly".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_submission_order() {
        let mut pool = OrderedPool::start(3, "t", |n: u64| {
            // Later jobs finish first.
            std::thread::sleep(std::time::Duration::from_millis(20 - n * 2));
            n * 10
        })
        .unwrap();
        for n in 0..8 {
            pool.submit(n).unwrap();
        }
        assert_eq!(pool.in_flight(), 8);
        let got: Vec<u64> = std::iter::from_fn(|| pool.next_result().unwrap()).collect();
        assert_eq!(got, (0..8).map(|n| n * 10).collect::<Vec<_>>());
        assert_eq!(pool.in_flight(), 0);
    }

    #[test]
    fn a_panicking_job_is_an_error_not_a_hang() {
        let mut pool = OrderedPool::start(2, "t", |n: u32| {
            assert!(n != 1, "boom");
            n
        })
        .unwrap();
        for n in 0..3 {
            pool.submit(n).unwrap();
        }
        assert_eq!(pool.next_result().unwrap(), Some(0));
        assert!(pool.next_result().is_err());
    }
}
