//! `PoolConfig`: the builder's plain-data settings, loadable from a configuration file with the
//! `serde` feature.

use std::future::Future;
use std::time::Duration;

use crate::config::{DEFAULT_KEY_QUEUE_CAPACITY, DEFAULT_QUEUE_CAPACITY, PoolBuilder, cpus};
use crate::error::ConfigError;
use crate::fixed::FixedPool;
use crate::pool::Pool;

/// The plain-data settings of a [`PoolBuilder`]: everything but the cancellation token and the
/// runtime, which are not data. With the `serde` feature it is `Serialize`/`Deserialize`,
/// unknown fields are refused, omitted fields take the builder's defaults, and the timeout is
/// written in a human format (`"250ms"`, `"10s"`, `"2m"`):
///
/// ```toml
/// max_concurrency = 32
/// queue_capacity = 256
/// key_queue_capacity = 16
/// job_timeout = "10s"
/// fixed_workers = 4
/// ```
///
/// Deserialising only checks the shape; the values are validated by the builder, so
/// [`build`](Self::build) (or [`validate`](Self::validate), which needs no runtime) returns
/// the same typed [`ConfigError`] as [`PoolBuilder::build`].
///
/// ```
/// use std::time::Duration;
/// use taskweave_pool::{ConfigError, PoolBuilder, PoolConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ConfigError> {
/// let mut config = PoolConfig::default();
/// config.max_concurrency = 8;
/// config.job_timeout = Some(Duration::from_secs(10));
/// let pool = PoolBuilder::from_config(config.clone()).build()?;
/// assert_eq!(pool.max_concurrency(), 8);
///
/// config.queue_capacity = 0;
/// assert_eq!(config.validate(), Err(ConfigError::ZeroQueueCapacity));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[non_exhaustive]
pub struct PoolConfig {
    /// How many jobs may run at once ([`PoolBuilder::max_concurrency`]; default: the number of
    /// CPUs).
    pub max_concurrency: usize,
    /// How many accepted jobs may wait for a slot ([`PoolBuilder::queue_capacity`]; default
    /// [`DEFAULT_QUEUE_CAPACITY`]).
    pub queue_capacity: usize,
    /// How many jobs may wait behind one key ([`PoolBuilder::key_queue_capacity`]; default
    /// [`DEFAULT_KEY_QUEUE_CAPACITY`]).
    pub key_queue_capacity: usize,
    /// The per-job timeout ([`PoolBuilder::job_timeout`]; default none).
    #[cfg_attr(
        feature = "serde",
        serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")
    )]
    pub job_timeout: Option<Duration>,
    /// The number of workers of a [`FixedPool`] ([`PoolBuilder::fixed_workers`]; default
    /// `min(max_concurrency, CPUs)`).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub fixed_workers: Option<usize>,
}

impl Default for PoolConfig {
    /// The builder's defaults.
    fn default() -> Self {
        Self {
            max_concurrency: cpus(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            key_queue_capacity: DEFAULT_KEY_QUEUE_CAPACITY,
            job_timeout: None,
            fixed_workers: None,
        }
    }
}

impl PoolConfig {
    /// Checks every setting as [`PoolBuilder::build`] does, without needing a runtime.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] `build` would return for these settings (never
    /// [`ConfigError::NoRuntime`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        PoolBuilder::from_config(self.clone()).check()
    }

    /// Builds a [`Pool`] with these settings (see [`PoolBuilder::build`]); for a cancellation
    /// token or a runtime handle, go through [`PoolBuilder::from_config`].
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if a setting is zero or out of range, or if no runtime is available.
    pub fn build(self) -> Result<Pool, ConfigError> {
        PoolBuilder::from_config(self).build()
    }

    /// Builds a [`FixedPool`] running `handler` with these settings (see
    /// [`PoolBuilder::build_fixed`]).
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
        PoolBuilder::from_config(self).build_fixed(handler)
    }
}

impl PoolBuilder {
    /// A builder with the settings of `config` (and no cancellation token or runtime handle
    /// yet). Nothing is validated until [`build`](Self::build).
    pub fn from_config(config: PoolConfig) -> Self {
        let PoolConfig {
            max_concurrency,
            queue_capacity,
            key_queue_capacity,
            job_timeout,
            fixed_workers,
        } = config;
        let mut builder = PoolBuilder::new()
            .max_concurrency(max_concurrency)
            .queue_capacity(queue_capacity)
            .key_queue_capacity(key_queue_capacity);
        if let Some(timeout) = job_timeout {
            builder = builder.job_timeout(timeout);
        }
        if let Some(workers) = fixed_workers {
            builder = builder.fixed_workers(workers);
        }
        builder
    }
}

impl From<PoolConfig> for PoolBuilder {
    fn from(config: PoolConfig) -> Self {
        Self::from_config(config)
    }
}
