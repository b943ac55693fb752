//! Starting a pipeline: [`Flow::build`] validates the configuration, then runs the flow's plan,
//! which spawns one task per stage.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{MAX_STAGES, validate_buffer};
use crate::ctx::Ctx;
use crate::dead_letter::{DeadLetter, DeadLetters};
use crate::error::{ConfigError, PipelineError};
use crate::flow::Flow;
use crate::handle::PipelineHandle;
use crate::pipeline::Pipeline;

/// What the plan's closures need to spawn their tasks.
pub(crate) struct Build {
    pub(crate) ctx: Arc<Ctx>,
    pub(crate) runtime: tokio::runtime::Handle,
    pub(crate) dead_letters: Option<mpsc::Sender<DeadLetter>>,
}

impl<T: Send + 'static> Flow<T> {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.stages.len() > MAX_STAGES + 1 {
            return Err(ConfigError::TooManyStages);
        }
        for config in self.stages.iter().filter_map(|e| e.config.as_ref()) {
            config.validate(self.dead_letters.is_some())?;
        }
        crate::fanout::validate_hubs(&self.hubs)?;
        validate_buffer(&Arc::from("output"), self.output_buffer)?;
        if let Some(capacity) = self.source_buffer {
            validate_buffer(&Arc::from("source"), capacity)?;
        }
        if let Some(capacity) = self.dead_letters {
            validate_buffer(&Arc::from("dead letters"), capacity)?;
        }
        Ok(())
    }

    /// Validates the configuration and starts the pipeline: one task for the source and one
    /// per stage, spawned on the current Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if a stage's concurrency, buffer or timeout is out of range, a stage
    /// dead-letters without a dead-letter output, or there is no current runtime.
    pub fn build(self) -> Result<Pipeline<T>, ConfigError> {
        self.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConfigError::NoRuntime)?;
        let close = match &self.token {
            Some(token) => token.child_token(),
            None => CancellationToken::new(),
        };
        let ctx = Arc::new(Ctx {
            close,
            abort: CancellationToken::new(),
            aborted: Default::default(),
            tracker: TaskTracker::new(),
            failure: Mutex::new(None),
            dead_letters_discarded: Default::default(),
            delivered: Default::default(),
            discarded: Default::default(),
            stages: self
                .stages
                .iter()
                .map(|e| (Arc::clone(&e.stats), e.fed_by.clone()))
                .collect(),
        });
        let (dead_tx, dead_letters) = match self.dead_letters {
            Some(capacity) => {
                let (tx, rx) = mpsc::channel(capacity);
                (Some(tx), Some(DeadLetters { rx }))
            }
            None => (None, None),
        };
        let build = Build {
            ctx: Arc::clone(&ctx),
            runtime: runtime.clone(),
            dead_letters: dead_tx,
        };
        let (tx, rx) = mpsc::channel(self.output_buffer);
        (self.plan)(&build, tx);
        drop(build);
        ctx.tracker.close();
        if let Some(after) = self.deadline {
            let ctx = Arc::clone(&ctx);
            runtime.spawn(async move {
                tokio::select! {
                    () = tokio::time::sleep(after) => {
                        if !ctx.tracker.is_empty() {
                            ctx.fail(PipelineError::DeadlineExceeded(after));
                        }
                    }
                    () = ctx.tracker.wait() => {}
                }
            });
        }
        tracing::debug!(stages = self.stages.len(), "pipeline started");
        Ok(Pipeline::new(rx, PipelineHandle::new(ctx), dead_letters))
    }
}
