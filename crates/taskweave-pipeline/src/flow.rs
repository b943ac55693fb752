//! [`Flow`]: the typed description of a pipeline, from its source through its stages; nothing
//! runs until [`Flow::build`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::build::Build;
use crate::config::StageConfig;
use crate::error::BoxError;
use crate::keyed::KeyedTask;
use crate::metrics::{Fed, StageStats};
use crate::source::Source;
use crate::stage::{FilterMapFn, FlatMapFn, MapFn, Process, Stage, StageFn};
use crate::worker::{StageTask, Worker};

/// Spawns the tasks of everything up to here, which send their output into the given sender.
pub(crate) type Plan<T> = Box<dyn FnOnce(&Build, mpsc::Sender<T>) + Send>;

/// One entry of a flow's list of stages (the source and fan-outs included): its counters, its
/// configuration (none for the source and fan-outs) and what feeds its buffer.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) stats: Arc<StageStats>,
    pub(crate) config: Option<StageConfig>,
    pub(crate) fed_by: Option<Fed>,
}

/// A pipeline under construction: a source and the stages after it, each with its own task,
/// concurrency, buffer, timeout and [`ErrorPolicy`](crate::ErrorPolicy). `T` is the type of
/// the items the last stage emits.
///
/// Stage closures take the item by value and return a `Result`; an `Err` goes to the stage's
/// error policy. Items must be `Clone` so that a stage under
/// [`ErrorPolicy::DeadLetter`](crate::ErrorPolicy::DeadLetter) can hand back the input it
/// failed on; they are cloned only under that policy.
#[must_use = "a flow does nothing until `build()`"]
pub struct Flow<T> {
    pub(crate) plan: Plan<T>,
    pub(crate) stages: Vec<Entry>,
    /// What feeds the next stage added.
    pub(crate) feeds: Option<Fed>,
    /// The fan-outs this flow is a branch of: (id, branches).
    pub(crate) hubs: Vec<(u64, usize)>,
    pub(crate) token: Option<CancellationToken>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) dead_letters: Option<usize>,
    pub(crate) output_buffer: usize,
    pub(crate) source_buffer: Option<usize>,
}

impl<T> std::fmt::Debug for Flow<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow")
            .field(
                "stages",
                &self
                    .stages
                    .iter()
                    .map(|e| &e.stats.name)
                    .collect::<Vec<_>>(),
            )
            .field("deadline", &self.deadline)
            .field("dead_letters", &self.dead_letters)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Flow<T> {
    /// A flow with this plan and stage list, and default settings.
    pub(crate) fn with_plan(plan: Plan<T>, stages: Vec<Entry>, feeds: Option<Fed>) -> Self {
        Self {
            plan,
            stages,
            feeds,
            hubs: Vec::new(),
            token: None,
            deadline: None,
            dead_letters: None,
            output_buffer: crate::DEFAULT_BUFFER,
            source_buffer: None,
        }
    }

    fn from_source(source: Source<T>) -> Self {
        let stats = Arc::new(StageStats::new("source".into()));
        let entry = Entry {
            stats: Arc::clone(&stats),
            config: None,
            fed_by: None,
        };
        let feeds = Some(Fed::Stage(Arc::clone(&stats)));
        let plan: Plan<T> = Box::new(move |b: &Build, tx| {
            let ctx = Arc::clone(&b.ctx);
            let task = source.run(tx, stats, ctx);
            b.ctx.tracker.spawn_on(
                task.instrument(tracing::debug_span!("pipeline_source")),
                &b.runtime,
            );
        });
        Self::with_plan(plan, vec![entry], feeds)
    }

    /// A flow whose items come from `stream`. Closing the pipeline stops taking items from it.
    pub fn from_stream<S>(stream: S) -> Self
    where
        S: Stream<Item = T> + Send + 'static,
    {
        Self::from_source(Source::Stream(stream.boxed()))
    }

    /// A flow whose items come from `iter`. Closing the pipeline stops taking items from it.
    #[allow(
        clippy::should_implement_trait,
        reason = "named like `from_stream`; `FromIterator` cannot carry the Send bounds"
    )]
    pub fn from_iter<I>(iter: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        Self::from_stream(futures_util::stream::iter(iter))
    }

    /// A flow whose items come from a channel. Closing the pipeline closes the channel — its
    /// senders get their items back in the send error — and what it already holds still goes
    /// through the pipeline.
    pub fn from_receiver(rx: mpsc::Receiver<T>) -> Self {
        Self::from_source(Source::Receiver(rx))
    }

    /// Graceful stop by token: when `token` is cancelled, the pipeline does what
    /// [`PipelineHandle::close`](crate::PipelineHandle::close) does.
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.token = Some(token);
        self
    }

    /// An overall deadline, counted from `build()`: when it passes, the pipeline is aborted
    /// (what it still holds is counted as dropped) and
    /// [`PipelineHandle::finished`](crate::PipelineHandle::finished) returns
    /// [`PipelineError::DeadlineExceeded`](crate::PipelineError::DeadlineExceeded).
    pub fn deadline(mut self, after: Duration) -> Self {
        self.deadline = Some(after);
        self
    }

    /// Gives the pipeline a dead-letter output holding up to `capacity` letters, needed by any
    /// stage under [`ErrorPolicy::DeadLetter`](crate::ErrorPolicy::DeadLetter); take it with
    /// [`Pipeline::dead_letters`](crate::Pipeline::dead_letters).
    pub fn dead_letters(mut self, capacity: usize) -> Self {
        self.dead_letters = Some(capacity);
        self
    }

    /// Capacity of the buffer between the last stage and the pipeline's output (default
    /// [`DEFAULT_BUFFER`](crate::DEFAULT_BUFFER)).
    pub fn output_buffer(mut self, capacity: usize) -> Self {
        self.output_buffer = capacity;
        self
    }

    /// Capacity of the buffer between the source and the first stage (default: the first
    /// stage's buffer).
    pub fn source_buffer(mut self, capacity: usize) -> Self {
        self.source_buffer = Some(capacity);
        self
    }

    fn then<P>(self, config: StageConfig, process: P) -> Flow<P::Out>
    where
        P: Process<T>,
        T: Clone,
    {
        self.then_with(config, move |worker| StageTask { process, worker }.run())
    }

    /// Adds a stage whose task `run` makes from its [`Worker`].
    fn then_with<U, R, Fut>(self, config: StageConfig, run: R) -> Flow<U>
    where
        U: Send + 'static,
        R: FnOnce(Worker<T, U>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Self {
            plan,
            mut stages,
            feeds,
            hubs,
            token,
            deadline,
            dead_letters,
            output_buffer,
            source_buffer,
        } = self;
        let first = stages.len() == 1 && stages[0].config.is_none();
        let buffer = match (first, source_buffer) {
            (true, Some(capacity)) => capacity,
            _ => config.buffer,
        };
        let stats = Arc::new(StageStats::new(Arc::clone(&config.name)));
        stages.push(Entry {
            stats: Arc::clone(&stats),
            config: Some(config.clone()),
            fed_by: feeds,
        });
        Flow {
            feeds: Some(Fed::Stage(Arc::clone(&stats))),
            plan: Box::new(move |b: &Build, output| {
                let (tx, input) = mpsc::channel(buffer);
                plan(b, tx);
                let span = tracing::debug_span!("pipeline_stage", stage = %config.name);
                let worker = Worker {
                    config,
                    input,
                    output,
                    dead_letters: b.dead_letters.clone(),
                    stats,
                    ctx: Arc::clone(&b.ctx),
                };
                b.ctx
                    .tracker
                    .spawn_on(run(worker).instrument(span), &b.runtime);
            }),
            stages,
            hubs,
            token,
            deadline,
            dead_letters,
            output_buffer,
            source_buffer,
        }
    }

    /// Adds a stage that turns each item into one output.
    pub fn map<U, E, F, Fut>(self, stage: impl Into<StageConfig>, f: F) -> Flow<U>
    where
        T: Clone,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<U, E>> + Send,
        U: Send + 'static,
        E: Into<BoxError>,
    {
        self.then(stage.into(), MapFn(f))
    }

    /// Adds a stage that turns each item into one output or none (`Ok(None)`: counted as
    /// `filtered`).
    pub fn filter_map<U, E, F, Fut>(self, stage: impl Into<StageConfig>, f: F) -> Flow<U>
    where
        T: Clone,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<U>, E>> + Send,
        U: Send + 'static,
        E: Into<BoxError>,
    {
        self.then(stage.into(), FilterMapFn(f))
    }

    /// Adds a stage that turns each item into any number of outputs, emitted in their order
    /// (an empty result is counted as `filtered`).
    pub fn flat_map<I, E, F, Fut>(self, stage: impl Into<StageConfig>, f: F) -> Flow<I::Item>
    where
        T: Clone,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<I, E>> + Send,
        I: IntoIterator,
        I::Item: Send + 'static,
        E: Into<BoxError>,
    {
        self.then(stage.into(), FlatMapFn(f))
    }

    /// Adds a stage that looks at each item and passes it on unchanged.
    pub fn inspect<F>(self, stage: impl Into<StageConfig>, f: F) -> Flow<T>
    where
        T: Clone,
        F: Fn(&T) + Send + Sync + 'static,
    {
        self.map(stage, move |item: T| {
            f(&item);
            std::future::ready(Ok::<_, std::convert::Infallible>(item))
        })
    }

    /// Adds a keyed stage: items with the same `key` are processed one at a time, in arrival
    /// order; items with different keys run concurrently, up to the stage's concurrency, and
    /// are emitted as they finish. A slow key holds back only its own items, until the items
    /// waiting for their key fill the stage's buffer (its second bound, after the channel in
    /// front of it), when intake pauses. In its metrics, items waiting for their key count as
    /// in flight.
    pub fn map_keyed<K, KF, U, E, F, Fut>(
        self,
        stage: impl Into<StageConfig>,
        key: KF,
        f: F,
    ) -> Flow<U>
    where
        T: Clone,
        K: std::hash::Hash + Eq + Clone + Send + 'static,
        KF: Fn(&T) -> K + Send + 'static,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<U, E>> + Send,
        U: Send + 'static,
        E: Into<BoxError>,
    {
        let process = MapFn(f);
        self.then_with(stage.into(), move |worker| {
            KeyedTask {
                process,
                key,
                worker,
            }
            .run()
        })
    }

    /// Adds a stage written as a type implementing [`Stage`].
    pub fn stage<S>(self, stage: impl Into<StageConfig>, s: S) -> Flow<S::Output>
    where
        T: Clone,
        S: Stage<T>,
    {
        self.then(stage.into(), StageFn(s))
    }
}
