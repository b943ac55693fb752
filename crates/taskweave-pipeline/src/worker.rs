//! The task that runs one stage: takes items from its buffer, keeps up to `concurrency` of them
//! in flight (in order or not), applies the error policy and hands results downstream.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::stream::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::{ErrorPolicy, StageConfig};
use crate::ctx::Ctx;
use crate::dead_letter::DeadLetter;
use crate::error::{PipelineError, StageError, TimedOut};
use crate::inflight::InFlight;
use crate::metrics::StageStats;
use crate::send::{Sent, send};
use crate::stage::{Emit, Process};

/// One finished item: its outcome, the kept input (for dead letters) and, if it was timed,
/// when it started.
pub(crate) type Done<In, Out> = (Result<Emit<Out>, StageError>, Option<In>, Option<Instant>);

/// One item in this many is timed for the latency histogram and busy time (reading the clock
/// twice per item costs more than the rest of a cheap stage's bookkeeping).
pub(crate) const TIMING_SAMPLE: u64 = 4;

pub(crate) struct StageTask<P, In, Out> {
    pub(crate) process: P,
    pub(crate) worker: Worker<In, Out>,
}

/// Everything of a stage task but its function, so that in-flight items can borrow the
/// function while the loop updates the rest.
pub(crate) struct Worker<In, Out> {
    pub(crate) config: StageConfig,
    pub(crate) input: mpsc::Receiver<In>,
    pub(crate) output: mpsc::Sender<Out>,
    pub(crate) dead_letters: Option<mpsc::Sender<DeadLetter>>,
    pub(crate) stats: Arc<StageStats>,
    pub(crate) ctx: Arc<Ctx>,
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned())
}

/// Processes one item: catches a panic, applies the timeout, times it if asked.
pub(crate) async fn call_one<P, In, Out>(
    process: &P,
    item: In,
    kept: Option<In>,
    timed: bool,
    timeout: Option<std::time::Duration>,
) -> Done<In, Out>
where
    P: Process<In, Out = Out>,
    In: Send + 'static,
    Out: Send + 'static,
{
    let started = timed.then(Instant::now);
    let work = AssertUnwindSafe(async move { process.call(item).await }).catch_unwind();
    let result = match timeout {
        None => work.await,
        // Boxed so that stages without a timeout do not carry a timer per item.
        Some(after) => match Box::pin(tokio::time::timeout(after, work)).await {
            Ok(r) => r,
            Err(_) => Ok(Err(StageError::TimedOut(TimedOut { after }).into())),
        },
    };
    let result = match result {
        Ok(Ok(emit)) => Ok(emit),
        Ok(Err(e)) => Err(match e.downcast::<StageError>() {
            Ok(stage_error) => *stage_error,
            Err(e) => StageError::Failed(e),
        }),
        Err(panic) => Err(StageError::Panicked(panic_message(&*panic))),
    };
    (result, kept, started)
}

impl<P, In, Out> StageTask<P, In, Out>
where
    P: Process<In, Out = Out>,
    In: Clone + Send + 'static,
    Out: Send + 'static,
{
    /// Runs the stage to the end of its input, or to an abort.
    pub(crate) async fn run(self) {
        let StageTask {
            process,
            worker: mut this,
        } = self;
        let process = &process;
        let keep = this.config.on_error == ErrorPolicy::DeadLetter;
        let timeout = this.config.timeout;
        let call = |item: In, timed: bool| {
            let kept = keep.then(|| item.clone());
            call_one(process, item, kept, timed, timeout)
        };
        let mut in_flight = InFlight::new(this.config.concurrency, this.config.ordered);
        let mut input_open = true;
        // One registration with the token for the stage's life, not one per item.
        let abort = this.ctx.abort.clone();
        let aborted = abort.cancelled();
        tokio::pin!(aborted);
        let mut arrivals = Vec::with_capacity(this.config.concurrency.min(64));
        tracing::debug!(stage = %this.config.name, "stage started");
        let mut seq = 0u64;
        loop {
            if this.ctx.is_aborted() {
                this.abort(in_flight.len() as u64);
                return;
            }
            if !input_open && in_flight.len() == 0 {
                break;
            }
            let room = this.config.concurrency - in_flight.len();
            // The abort comes last: the flag above catches it between items, the future when
            // the stage would otherwise wait.
            tokio::select! {
                biased;
                Some(done) = in_flight.next(), if in_flight.len() > 0 => {
                    // Still in flight (for metrics) until handed downstream.
                    if !this.finish_item(done).await {
                        this.abort(in_flight.len() as u64);
                        return;
                    }
                    StageStats::add(&this.stats.in_flight, u64::MAX); // -1, wrapping
                }
                // Takes as many items as there is room for in one go.
                taken = this.input.recv_many(&mut arrivals, room.min(64)), if input_open && room > 0 => {
                    if taken == 0 {
                        input_open = false;
                    } else {
                        StageStats::add(&this.stats.items_in, taken as u64);
                        StageStats::add(&this.stats.in_flight, taken as u64);
                        for item in arrivals.drain(..) {
                            in_flight.push(call(item, seq % TIMING_SAMPLE == 0));
                            seq += 1;
                        }
                    }
                }
                () = &mut aborted => {
                    this.abort(in_flight.len() as u64);
                    return;
                }
            }
        }
        tracing::debug!(stage = %this.config.name, "stage finished: input ended, all flushed");
    }
}

impl<In, Out> Worker<In, Out>
where
    In: Send + 'static,
    Out: Send + 'static,
{
    /// Accounts for one finished item; `false` if the stage must stop now.
    pub(crate) async fn finish_item(&mut self, (result, kept, started): Done<In, Out>) -> bool {
        let stats = &self.stats;
        if let Some(started) = started {
            stats.record(started.elapsed());
        }
        let error = match result {
            Ok(Emit::None) => {
                StageStats::add(&stats.filtered, 1);
                return true;
            }
            Ok(Emit::One(out)) => {
                StageStats::add(&stats.completed, 1);
                return self.emit(std::iter::once(out), 1).await;
            }
            Ok(Emit::Many(outs)) => {
                StageStats::add(&stats.completed, 1);
                let n = outs.len() as u64;
                return self.emit(outs.into_iter(), n).await;
            }
            Err(error) => error,
        };
        match &error {
            StageError::TimedOut(_) => StageStats::add(&stats.timed_out, 1),
            StageError::Panicked(_) => StageStats::add(&stats.panicked, 1),
            _ => {}
        }
        let stage = &self.config.name;
        match self.config.on_error {
            ErrorPolicy::Skip => {
                tracing::debug!(%stage, %error, "item skipped");
                StageStats::add(&stats.skipped, 1);
                true
            }
            ErrorPolicy::DeadLetter => {
                StageStats::add(&stats.dead_lettered, 1);
                let letter = DeadLetter {
                    stage: Arc::clone(stage),
                    error,
                    item: Box::new(kept.expect("the input is kept under DeadLetter")),
                };
                self.dead_letter(letter).await
            }
            _ => {
                tracing::warn!(%stage, %error, "item failed: stopping the pipeline");
                StageStats::add(&stats.failed, 1);
                self.ctx.fail(PipelineError::Stopped {
                    stage: Arc::clone(stage),
                    error: error.to_string(),
                });
                false
            }
        }
    }

    /// Hands `n` outputs downstream; `false` if the stage must stop (abort, or nobody left).
    async fn emit(&mut self, outs: impl Iterator<Item = Out>, n: u64) -> bool {
        let mut remaining = n;
        for out in outs {
            match send(&self.output, out, &self.ctx.abort).await {
                Sent::Yes => {
                    StageStats::add(&self.stats.items_out, 1);
                    remaining -= 1;
                }
                Sent::Aborted | Sent::Closed => {
                    // The input that produced these outputs was completed; outputs that could
                    // not be handed on are counted as dropped on the next stage's behalf.
                    tracing::debug!(stage = %self.config.name, unsent = remaining, "outputs dropped");
                    StageStats::add(&self.stats.dropped, remaining);
                    StageStats::add(&self.stats.completed, u64::MAX); // undo: not completed
                    return false;
                }
            }
        }
        true
    }

    async fn dead_letter(&mut self, letter: DeadLetter) -> bool {
        let sent = match &self.dead_letters {
            Some(tx) => send(tx, letter, &self.ctx.abort).await,
            None => Sent::Closed,
        };
        match sent {
            Sent::Yes => true,
            Sent::Closed => {
                // Validation guarantees an output; `None` means its receiver is gone.
                StageStats::add(&self.stats.dead_lettered, u64::MAX);
                StageStats::add(&self.stats.dropped, 1);
                self.ctx
                    .dead_letters_discarded
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(stage = %self.config.name, "dead letter discarded: its receiver is gone");
                self.dead_letters = None;
                true
            }
            Sent::Aborted => {
                StageStats::add(&self.stats.dead_lettered, u64::MAX);
                StageStats::add(&self.stats.dropped, 1);
                false
            }
        }
    }

    /// Stops at once: what is in flight and what waits in the buffer is counted as dropped.
    pub(crate) fn abort(&mut self, in_flight: u64) {
        self.input.close();
        let mut queued = 0u64;
        while self.input.try_recv().is_ok() {
            queued += 1;
        }
        let stats = &self.stats;
        StageStats::add(&stats.items_in, queued);
        StageStats::add(&stats.dropped, queued + in_flight);
        stats
            .in_flight
            .store(0, std::sync::atomic::Ordering::Relaxed);
        if queued + in_flight > 0 {
            tracing::warn!(stage = %self.config.name, in_flight, queued, "stage aborted: items dropped");
        }
    }
}
