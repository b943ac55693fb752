//! The pool builder: limits, timeout, cancellation and the choice of mode.

use std::future::Future;
use std::num::NonZeroUsize;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::error::ConfigError;
use crate::fixed::FixedPool;
use crate::pool::Pool;

/// The default queue capacity: deep enough to smooth bursts, small enough that a stalled pool
/// pushes back on its callers within a fraction of a second of work.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// The default number of jobs that may wait behind one key of a [`KeyedPool`](crate::KeyedPool).
pub const DEFAULT_KEY_QUEUE_CAPACITY: usize = 64;

/// The largest `max_concurrency`, `queue_capacity` or `key_queue_capacity` accepted: what a
/// Tokio semaphore can count. Nothing is allocated up front in proportion to these settings;
/// the bound only keeps the counts representable.
pub const MAX_CAPACITY: usize = Semaphore::MAX_PERMITS;

/// The most workers a [`FixedPool`] may have ([`PoolBuilder::fixed_workers`]). Each is a task whose state is allocated when the
/// pool is built, so an absurd count would exhaust memory (or overflow) instead of erring.
pub const MAX_FIXED_WORKERS: usize = 4096;

/// Configures a [`Pool`] (any jobs) or a [`FixedPool`] (one handler, fixed workers).
///
/// | setting | default |
/// |---|---|
/// | [`max_concurrency`](Self::max_concurrency) | the number of CPUs |
/// | [`queue_capacity`](Self::queue_capacity) | [`DEFAULT_QUEUE_CAPACITY`] (1024) |
/// | [`key_queue_capacity`](Self::key_queue_capacity) | [`DEFAULT_KEY_QUEUE_CAPACITY`] (64) |
/// | [`job_timeout`](Self::job_timeout) | none |
/// | [`cancellation_token`](Self::cancellation_token) | none |
/// | [`fixed_workers`](Self::fixed_workers) | `min(max_concurrency, CPUs)` |
/// | [`runtime`](Self::runtime) | the runtime `build` is called in |
///
/// The plain-data settings can also come from a [`PoolConfig`](crate::PoolConfig) (with the
/// `serde` feature, from a configuration file): [`PoolBuilder::from_config`].
#[derive(Debug, Clone)]
pub struct PoolBuilder {
    max_concurrency: usize,
    queue_capacity: usize,
    key_queue_capacity: usize,
    job_timeout: Option<Duration>,
    token: Option<CancellationToken>,
    fixed_workers: Option<usize>,
    runtime: Option<Handle>,
}

impl Default for PoolBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// The validated settings shared by both kinds of pool.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) max_concurrency: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) key_queue_capacity: usize,
    pub(crate) job_timeout: Option<Duration>,
    pub(crate) token: Option<CancellationToken>,
    pub(crate) runtime: Handle,
}

/// Checks a concurrency limit, for the builder and for `set_max_concurrency`.
pub(crate) fn check_concurrency(limit: usize) -> Result<usize, ConfigError> {
    if limit == 0 {
        return Err(ConfigError::ZeroConcurrency);
    }
    if limit > MAX_CAPACITY {
        return Err(ConfigError::ConcurrencyTooLarge {
            requested: limit,
            max: MAX_CAPACITY,
        });
    }
    Ok(limit)
}

pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

impl PoolBuilder {
    /// A builder with the defaults listed above.
    pub fn new() -> Self {
        Self {
            max_concurrency: cpus(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            key_queue_capacity: DEFAULT_KEY_QUEUE_CAPACITY,
            job_timeout: None,
            token: None,
            fixed_workers: None,
            runtime: None,
        }
    }

    /// How many jobs may run at once (at least 1, at most [`MAX_CAPACITY`]; changeable later
    /// with [`Pool::set_max_concurrency`]).
    pub fn max_concurrency(mut self, limit: usize) -> Self {
        self.max_concurrency = limit;
        self
    }

    /// How many accepted jobs may wait for a free slot (at least 1, at most
    /// [`MAX_CAPACITY`]). When the queue is full, `submit` waits and `try_submit` hands the job
    /// back.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// How many jobs may wait behind one key of a [`KeyedPool`](crate::KeyedPool) (at least 1,
    /// at most [`MAX_CAPACITY`]). A key's jobs wait there while an earlier job of the key is
    /// queued or running; they take no room in the shared queue, so one busy key does not
    /// crowd out the others. When a key's place is full, `submit` waits and `try_submit` hands
    /// the job back. Ignored by [`build_fixed`](Self::build_fixed).
    pub fn key_queue_capacity(mut self, capacity: usize) -> Self {
        self.key_queue_capacity = capacity;
        self
    }

    /// Drops any job still running after `timeout`; its handle resolves to
    /// [`JobError::TimedOut`](crate::JobError::TimedOut). A blocking closure cannot be dropped:
    /// its handle resolves at the timeout, and it keeps its concurrency slot until it returns.
    /// Needs a runtime with the time driver.
    pub fn job_timeout(mut self, timeout: Duration) -> Self {
        self.job_timeout = Some(timeout);
        self
    }

    /// When `token` is cancelled the pool does exactly what [`Pool::close`] does: it stops
    /// accepting jobs, and the jobs already queued or running still run to completion (their
    /// handles resolve as usual). It is never an abort: for a bounded stop call
    /// [`Pool::shutdown`] (or [`Pool::abort`] for the hard stop) as well. A token cancelled
    /// before `build` closes the pool at once.
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.token = Some(token);
        self
    }

    /// The number of worker tasks of a [`FixedPool`] (at least 1, at most
    /// [`MAX_FIXED_WORKERS`], and at most `max_concurrency`); each runs its share of
    /// `max_concurrency` jobs concurrently. Ignored by [`build`](Self::build).
    pub fn fixed_workers(mut self, workers: usize) -> Self {
        self.fixed_workers = Some(workers);
        self
    }

    /// The runtime the pool spawns its workers on, so that jobs can be submitted from outside
    /// it (for example with `try_submit` from a plain thread).
    pub fn runtime(mut self, handle: Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// Checks every setting (everything but the runtime), as `build` does.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        check_concurrency(self.max_concurrency)?;
        if self.queue_capacity == 0 {
            return Err(ConfigError::ZeroQueueCapacity);
        }
        if self.queue_capacity > MAX_CAPACITY {
            return Err(ConfigError::QueueTooLarge {
                requested: self.queue_capacity,
                max: MAX_CAPACITY,
            });
        }
        if self.key_queue_capacity == 0 {
            return Err(ConfigError::ZeroKeyQueueCapacity);
        }
        if self.key_queue_capacity > MAX_CAPACITY {
            return Err(ConfigError::KeyQueueTooLarge {
                requested: self.key_queue_capacity,
                max: MAX_CAPACITY,
            });
        }
        if self.job_timeout == Some(Duration::ZERO) {
            return Err(ConfigError::ZeroTimeout);
        }
        if let Some(workers) = self.fixed_workers {
            if workers == 0 {
                return Err(ConfigError::ZeroWorkers);
            }
            if workers > MAX_FIXED_WORKERS {
                return Err(ConfigError::TooManyWorkers {
                    requested: workers,
                    max: MAX_FIXED_WORKERS,
                });
            }
            if workers > self.max_concurrency {
                return Err(ConfigError::WorkersExceedConcurrency {
                    workers,
                    max_concurrency: self.max_concurrency,
                });
            }
        }
        Ok(())
    }

    fn validate(self) -> Result<(Config, Option<usize>), ConfigError> {
        self.check()?;
        let runtime = match self.runtime {
            Some(handle) => handle,
            None => Handle::try_current().map_err(|_| ConfigError::NoRuntime)?,
        };
        let config = Config {
            max_concurrency: self.max_concurrency,
            queue_capacity: self.queue_capacity,
            key_queue_capacity: self.key_queue_capacity,
            job_timeout: self.job_timeout,
            token: self.token,
            runtime,
        };
        Ok((config, self.fixed_workers))
    }

    /// Builds a pool that runs any `Send` future (default mode).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if a setting is zero or out of range, or if no runtime is available.
    pub fn build(self) -> Result<Pool, ConfigError> {
        let (config, _) = self.validate()?;
        Ok(Pool::from_config(config))
    }

    /// Builds the fast path for homogeneous jobs: a fixed set of worker tasks, fed by one
    /// queue, that run `handler(input)` for every input (see [`FixedPool`]).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if a setting is zero or out of range, if there are more workers than
    /// `max_concurrency`, or if no runtime is available.
    pub fn build_fixed<I, O, H, Fut>(self, handler: H) -> Result<FixedPool<I, O>, ConfigError>
    where
        I: Send + 'static,
        O: Send + 'static,
        H: Fn(I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = O> + Send + 'static,
    {
        let (config, workers) = self.validate()?;
        let workers = workers.unwrap_or_else(|| config.max_concurrency.min(cpus()));
        Ok(FixedPool::start(config, workers, handler))
    }
}
