//! Deciding what a result means to the breaker.

/// What a call's result means to the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The dependency worked; counts toward the window as a success.
    Success,
    /// The dependency failed; counts toward the failure rate.
    Failure,
    /// Not the dependency's fault (a 404, a validation error, a cancelled request): not recorded
    /// at all. In half-open state an ignored trial frees its slot for another trial.
    Ignored,
}

/// Classifies a call's result as a success, a failure or ignored.
///
/// Implemented for every `Fn(&Result<T, E>) -> Outcome`, so a closure is the usual classifier:
///
/// ```
/// use taskweave_breaker::{Breaker, Outcome};
///
/// #[derive(Debug)]
/// enum HttpError { NotFound, Unavailable }
///
/// let breaker = Breaker::builder()
///     .classify(|result: &Result<String, HttpError>| match result {
///         Ok(_) | Err(HttpError::NotFound) => Outcome::Success,
///         Err(HttpError::Unavailable) => Outcome::Failure,
///     })
///     .build()
///     .unwrap();
/// # drop(breaker);
/// ```
pub trait Classify<T, E> {
    /// Decides what `result` means to the breaker. Called once per completed call; keep it cheap.
    fn classify(&self, result: &Result<T, E>) -> Outcome;
}

impl<T, E, F> Classify<T, E> for F
where
    F: Fn(&Result<T, E>) -> Outcome,
{
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        self(result)
    }
}

/// The default classifier: `Ok` is a success, every `Err` is a failure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailOnErr;

impl<T, E> Classify<T, E> for FailOnErr {
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}
