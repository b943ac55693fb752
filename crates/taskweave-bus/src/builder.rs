//! Configuring a bus: [`BusBuilder`] and the limits it enforces.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, Weak};
use std::task::{Context, Wake, Waker};

use tokio_util::sync::CancellationToken;

use crate::Bus;
use crate::error::ConfigError;
use crate::registry::Shared;
use crate::ring::lock;

/// The default buffer of a subscription, in messages.
pub const DEFAULT_CAPACITY: usize = 1024;

/// The largest buffer a subscription may have, in messages: 1,048,576 (2^20). A subscription's
/// buffer is allocated when it subscribes, so its size is bounded; larger capacities are
/// refused with [`ConfigError::CapacityTooLarge`] or
/// [`SubscribeError::CapacityTooLarge`](crate::SubscribeError::CapacityTooLarge).
pub const MAX_CAPACITY: usize = 1 << 20;

/// The most messages the bus may retain per subject for replay: 1,048,576 (2^20). Larger
/// depths are refused with [`ConfigError::RetentionTooLarge`].
pub const MAX_RETAIN: usize = 1 << 20;

/// Builds a [`Bus`]. Every option has a default, so `Bus::builder().build()` works.
pub struct BusBuilder<T> {
    capacity: usize,
    retain: Option<usize>,
    token: Option<CancellationToken>,
    payload: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for BusBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusBuilder")
            .field("capacity", &self.capacity)
            .field("retain", &self.retain)
            .field("token", &self.token.is_some())
            .finish()
    }
}

impl<T: Clone + Send + Sync + 'static> BusBuilder<T> {
    pub(crate) fn new() -> Self {
        Self {
            capacity: DEFAULT_CAPACITY,
            retain: None,
            token: None,
            payload: PhantomData,
        }
    }

    /// The buffer of each subscription that does not choose its own
    /// ([`SubscriptionBuilder::capacity`](crate::SubscriptionBuilder::capacity)), at most
    /// [`MAX_CAPACITY`] and at least 1, checked by [`build`](Self::build). Default:
    /// [`DEFAULT_CAPACITY`] (1024).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Keep the last `depth` messages of every subject, so that subscriptions can ask for a
    /// [`replay`](crate::SubscriptionBuilder::replay); at least 1 and at most
    /// [`MAX_RETAIN`], checked by [`build`](Self::build). Off by default. Memory grows with the number of distinct subjects and with what they
    /// actually hold, not with `depth`; see [`Bus::forget_retained`].
    pub fn retain_last(mut self, depth: usize) -> Self {
        self.retain = Some(depth);
        self
    }

    /// Close the bus when `token` is cancelled: exactly what [`Bus::close`] does, graceful,
    /// never an abort.
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.token = Some(token);
        self
    }

    /// Creates the bus. Nothing is allocated in proportion to the capacity or the retention
    /// here: a subscription's buffer is allocated when it subscribes, retention as messages
    /// arrive.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroCapacity`] or [`ConfigError::CapacityTooLarge`] for a capacity of 0
    /// or above [`MAX_CAPACITY`], [`ConfigError::ZeroRetention`] or
    /// [`ConfigError::RetentionTooLarge`] for a retention of 0 or above [`MAX_RETAIN`].
    pub fn build(self) -> Result<Bus<T>, ConfigError> {
        if self.capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        if self.capacity > MAX_CAPACITY {
            return Err(ConfigError::CapacityTooLarge {
                requested: self.capacity,
                max: MAX_CAPACITY,
            });
        }
        let retain = match self.retain {
            None => 0,
            Some(0) => return Err(ConfigError::ZeroRetention),
            Some(depth) if depth > MAX_RETAIN => {
                return Err(ConfigError::RetentionTooLarge {
                    requested: depth,
                    max: MAX_RETAIN,
                });
            }
            Some(depth) => depth,
        };
        let shared = Arc::new(Shared::new(self.capacity, retain));
        if let Some(token) = self.token {
            let mut cancelled = Box::pin(token.cancelled_owned());
            let waker = Waker::from(Arc::new(CloseOnWake {
                shared: Arc::downgrade(&shared),
            }));
            if cancelled
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready()
            {
                shared.close();
            } else {
                *lock(shared.watch()) = Some(cancelled);
            }
        }
        Ok(Bus::from_shared(shared))
    }
}

/// The waker registered with the cancellation token: closes the bus when woken.
struct CloseOnWake<T> {
    shared: Weak<Shared<T>>,
}

impl<T: Send + Sync + 'static> Wake for CloseOnWake<T> {
    fn wake(self: Arc<Self>) {
        if let Some(shared) = self.shared.upgrade() {
            tracing::debug!("cancellation token cancelled; closing the bus");
            shared.close();
        }
    }
}
