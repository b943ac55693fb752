//! The [`Stage`] trait for stages written as structs, and the adapters that turn closures into
//! the one shape the stage task runs.

use std::future::Future;

use crate::error::BoxError;

/// A stage written as a type: one async method, called once per item, possibly on several
/// items at once (up to the stage's concurrency), so it takes `&self`.
///
/// ```
/// use taskweave_pipeline::Stage;
///
/// struct Enrich { region: String }
///
/// impl Stage<u32> for Enrich {
///     type Output = String;
///     type Error = std::convert::Infallible;
///     async fn process(&self, id: u32) -> Result<String, Self::Error> {
///         Ok(format!("{}:{id}", self.region))
///     }
/// }
/// ```
pub trait Stage<In>: Send + Sync + 'static {
    /// What the stage emits per input.
    type Output: Send + 'static;
    /// Its error; it goes to the stage's [`ErrorPolicy`](crate::ErrorPolicy).
    type Error: Into<BoxError>;
    /// Processes one item.
    fn process(&self, item: In) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send;
}

/// What one input became.
pub(crate) enum Emit<T> {
    None,
    One(T),
    Many(Vec<T>),
}

/// The shape every stage is run in: one input, zero or more outputs, or an error.
pub(crate) trait Process<In>: Send + Sync + 'static {
    type Out: Send + 'static;
    fn call(&self, item: In) -> impl Future<Output = Result<Emit<Self::Out>, BoxError>> + Send;
}

pub(crate) struct MapFn<F>(pub(crate) F);
pub(crate) struct FilterMapFn<F>(pub(crate) F);
pub(crate) struct FlatMapFn<F>(pub(crate) F);
pub(crate) struct StageFn<S>(pub(crate) S);

impl<In, U, E, F, Fut> Process<In> for MapFn<F>
where
    In: Send,
    F: Fn(In) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<U, E>> + Send,
    U: Send + 'static,
    E: Into<BoxError>,
{
    type Out = U;
    async fn call(&self, item: In) -> Result<Emit<U>, BoxError> {
        (self.0)(item).await.map(Emit::One).map_err(Into::into)
    }
}

impl<In, U, E, F, Fut> Process<In> for FilterMapFn<F>
where
    In: Send,
    F: Fn(In) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<U>, E>> + Send,
    U: Send + 'static,
    E: Into<BoxError>,
{
    type Out = U;
    async fn call(&self, item: In) -> Result<Emit<U>, BoxError> {
        match (self.0)(item).await {
            Ok(Some(u)) => Ok(Emit::One(u)),
            Ok(None) => Ok(Emit::None),
            Err(e) => Err(e.into()),
        }
    }
}

impl<In, I, E, F, Fut> Process<In> for FlatMapFn<F>
where
    In: Send,
    F: Fn(In) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<I, E>> + Send,
    I: IntoIterator,
    I::Item: Send + 'static,
    E: Into<BoxError>,
{
    type Out = I::Item;
    async fn call(&self, item: In) -> Result<Emit<I::Item>, BoxError> {
        let many: Vec<_> = (self.0)(item)
            .await
            .map_err(Into::into)?
            .into_iter()
            .collect();
        Ok(if many.is_empty() {
            Emit::None
        } else {
            Emit::Many(many)
        })
    }
}

impl<In, S> Process<In> for StageFn<S>
where
    S: Stage<In>,
    In: Send,
{
    type Out = S::Output;
    fn call(&self, item: In) -> impl Future<Output = Result<Emit<S::Output>, BoxError>> + Send {
        let fut = self.0.process(item);
        async move { fut.await.map(Emit::One).map_err(Into::into) }
    }
}
