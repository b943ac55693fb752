//! [`ResponseFuture`]: the response of a rate or concurrency limited service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower::BoxError;

use crate::concurrency::ConcurrencyPermit;

pin_project_lite::pin_project! {
    /// The response future of [`RateLimitService`](crate::RateLimitService) and
    /// [`ConcurrencyLimitService`](crate::ConcurrencyLimitService): the inner service's
    /// response (holding the concurrency slot until it is ready), or the limiter's error.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F> {
        Calling { #[pin] fut: F, permit: Option<ConcurrencyPermit> },
        Failed { error: Option<BoxError> },
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Calling { .. } => "calling",
            State::Failed { .. } => "failed",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn calling(fut: F, permit: Option<ConcurrencyPermit>) -> Self {
        Self {
            state: State::Calling { fut, permit },
        }
    }

    pub(crate) fn failed(error: impl Into<BoxError>) -> Self {
        Self {
            state: State::Failed {
                error: Some(error.into()),
            },
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Calling { fut, permit } => {
                let out = std::task::ready!(fut.poll(cx));
                // The slot is free as soon as the response is, not when the future is dropped.
                drop(permit.take());
                Poll::Ready(out.map_err(Into::into))
            }
            StateProj::Failed { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| "ResponseFuture polled after completion".into()))),
        }
    }
}
