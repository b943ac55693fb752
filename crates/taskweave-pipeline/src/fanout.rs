//! Fan-out ([`Flow::broadcast`], [`Flow::partition`]) and fan-in ([`Flow::merge`]).
//!
//! A fan-out is one task between the upstream and its branches. Each branch is a [`Flow`] of
//! its own; the fan-out's task starts when the last of its branches is built, which is why
//! every branch must be merged back into the flow that is built.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tracing::Instrument;

use crate::build::Build;
use crate::config::MAX_BRANCHES;
use crate::ctx::Ctx;
use crate::error::ConfigError;
use crate::flow::{Entry, Flow, Plan};
use crate::metrics::{Fed, StageStats};
use crate::send::{Sent, send};

static NEXT_HUB: AtomicU64 = AtomicU64::new(0);

/// Which branch an item goes to.
enum Route<T> {
    /// Every branch gets a copy, made with this function (`T::clone`).
    All(fn(&T) -> T),
    ByKey(Box<dyn Fn(&T) -> u64 + Send>),
}

/// The fan-out's state while its branches are being built.
struct Hub<T> {
    upstream: Option<Plan<T>>,
    branches: Vec<Option<mpsc::Sender<T>>>,
    registered: usize,
    route: Option<Route<T>>,
    stats: Arc<StageStats>,
    sent: Arc<[AtomicU64]>,
    buffer: usize,
}

impl<T: Send + 'static> Flow<T> {
    fn fan_out(
        self,
        name: &str,
        branches: usize,
        route: Route<T>,
    ) -> Result<Vec<Flow<T>>, ConfigError> {
        if branches == 0 || branches > MAX_BRANCHES {
            return Err(ConfigError::Branches { value: branches });
        }
        let id = NEXT_HUB.fetch_add(1, Relaxed);
        let stats = Arc::new(StageStats::new(name.into()));
        let sent: Arc<[AtomicU64]> = (0..branches).map(|_| AtomicU64::new(0)).collect();
        let mut stages = self.stages;
        stages.push(Entry {
            stats: Arc::clone(&stats),
            config: None,
            fed_by: self.feeds,
        });
        let mut hubs = self.hubs;
        hubs.push((id, branches));
        let hub = Arc::new(Mutex::new(Hub {
            upstream: Some(self.plan),
            branches: (0..branches).map(|_| None).collect(),
            registered: 0,
            route: Some(route),
            stats,
            sent: Arc::clone(&sent),
            buffer: crate::DEFAULT_BUFFER,
        }));
        Ok((0..branches)
            .map(|i| {
                let hub = Arc::clone(&hub);
                Flow {
                    plan: Box::new(move |b: &Build, tx| register(&hub, i, b, tx)),
                    stages: stages.clone(),
                    feeds: Some(Fed::Branch(Arc::clone(&sent), i)),
                    hubs: hubs.clone(),
                    token: self.token.clone(),
                    deadline: self.deadline,
                    dead_letters: self.dead_letters,
                    output_buffer: self.output_buffer,
                    source_buffer: self.source_buffer,
                }
            })
            .collect())
    }

    /// Fan-out: every item goes, cloned, to each of `branches` branches. Merge the branches
    /// back with [`Flow::merge`] before `build()`. A branch that stops (its stages were
    /// aborted or its output dropped) no longer gets items; the others carry on.
    ///
    /// Counts: the fan-out's `items_out` counts copies, so
    /// [`Metrics::reconciles`](crate::Metrics::reconciles) does not apply to a broadcast
    /// pipeline.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Branches`] if `branches` is 0 or above [`MAX_BRANCHES`].
    pub fn broadcast(self, branches: usize) -> Result<Vec<Flow<T>>, ConfigError>
    where
        T: Clone,
    {
        self.fan_out("broadcast", branches, Route::All(T::clone))
    }

    /// Fan-out by key: each item goes to lane `hash(key) % lanes`, so all items of one key go
    /// through the same lane, in order. Merge the lanes back with [`Flow::merge`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::Branches`] if `lanes` is 0 or above [`MAX_BRANCHES`].
    pub fn partition<K, KF>(self, lanes: usize, key: KF) -> Result<Vec<Flow<T>>, ConfigError>
    where
        K: Hash,
        KF: Fn(&T) -> K + Send + 'static,
    {
        let route = Route::ByKey(Box::new(move |item: &T| {
            let mut h = DefaultHasher::new();
            key(item).hash(&mut h);
            h.finish()
        }));
        self.fan_out("partition", lanes, route)
    }

    /// Fan-in: one flow whose items are those of every flow in `flows`, as they come. The
    /// flows' settings (token, deadline, dead letters, buffers) are those of the first; set
    /// them on the merged flow. Merging no flow gives a flow that ends at once.
    pub fn merge(flows: impl IntoIterator<Item = Flow<T>>) -> Flow<T> {
        let mut flows = flows.into_iter();
        let Some(first) = flows.next() else {
            return Flow::with_plan(Box::new(|_: &Build, _| {}), Vec::new(), None);
        };
        let mut merged = first;
        let mut plans = vec![merged.plan];
        let mut feeds: Vec<Fed> = merged.feeds.take().into_iter().collect();
        for flow in flows {
            for entry in flow.stages {
                if !merged
                    .stages
                    .iter()
                    .any(|e| Arc::ptr_eq(&e.stats, &entry.stats))
                {
                    merged.stages.push(entry);
                }
            }
            merged.hubs.extend(flow.hubs);
            feeds.extend(flow.feeds);
            plans.push(flow.plan);
        }
        merged.plan = Box::new(move |b: &Build, tx| {
            for plan in plans {
                plan(b, tx.clone());
            }
        });
        merged.feeds = Some(Fed::Merged(feeds));
        merged
    }
}

/// Checks that the flow holds every branch of each fan-out it holds any branch of.
pub(crate) fn validate_hubs(hubs: &[(u64, usize)]) -> Result<(), ConfigError> {
    for &(id, branches) in hubs {
        let found = hubs.iter().filter(|(other, _)| *other == id).count();
        if found != branches {
            return Err(ConfigError::UnmergedBranches { branches, found });
        }
    }
    Ok(())
}

/// A branch being built hands over its sender; the last one starts the upstream and the
/// fan-out's task.
fn register<T: Send + 'static>(hub: &Mutex<Hub<T>>, i: usize, b: &Build, tx: mpsc::Sender<T>) {
    let (upstream, branches, route, stats, sent, buffer) = {
        let mut hub = hub.lock().unwrap_or_else(|p| p.into_inner());
        hub.branches[i] = Some(tx);
        hub.registered += 1;
        if hub.registered < hub.branches.len() {
            return;
        }
        let (Some(upstream), Some(route)) = (hub.upstream.take(), hub.route.take()) else {
            return;
        };
        let branches: Vec<_> = hub.branches.drain(..).flatten().collect();
        (
            upstream,
            branches,
            route,
            Arc::clone(&hub.stats),
            Arc::clone(&hub.sent),
            hub.buffer,
        )
    };
    let (tx, rx) = mpsc::channel(buffer);
    upstream(b, tx);
    let span = tracing::debug_span!("pipeline_fan_out", branches = branches.len());
    let task = run(rx, branches, route, stats, sent, Arc::clone(&b.ctx));
    b.ctx.tracker.spawn_on(task.instrument(span), &b.runtime);
}

/// The fan-out's task.
async fn run<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
    branches: Vec<mpsc::Sender<T>>,
    route: Route<T>,
    stats: Arc<StageStats>,
    sent: Arc<[AtomicU64]>,
    ctx: Arc<Ctx>,
) {
    let mut open: Vec<Option<mpsc::Sender<T>>> = branches.into_iter().map(Some).collect();
    let n = open.len() as u64;
    loop {
        let item = tokio::select! {
            biased;
            item = rx.recv() => item,
            () = ctx.abort.cancelled() => None,
        };
        let Some(item) = item else { break };
        StageStats::add(&stats.items_in, 1);
        let delivered = match &route {
            Route::ByKey(hash) => {
                let lane = (hash(&item) % n) as usize;
                deliver(&mut open, lane, item, &sent, &ctx).await
            }
            Route::All(copy) => broadcast(&mut open, item, *copy, &sent, &ctx).await,
        };
        if delivered > 0 {
            StageStats::add(&stats.completed, 1);
            StageStats::add(&stats.items_out, delivered);
        } else {
            StageStats::add(&stats.dropped, 1);
        }
        if ctx.is_aborted() || open.iter().all(Option::is_none) {
            break;
        }
    }
    // Stopped early: what waits in front of the fan-out is dropped, and counted.
    rx.close();
    let mut left = 0;
    while rx.try_recv().is_ok() {
        left += 1;
    }
    StageStats::add(&stats.items_in, left);
    StageStats::add(&stats.dropped, left);
}

/// Sends to one branch; 1 if delivered, 0 if that branch is gone or the pipeline aborted.
async fn deliver<T>(
    open: &mut [Option<mpsc::Sender<T>>],
    lane: usize,
    item: T,
    sent: &[AtomicU64],
    ctx: &Ctx,
) -> u64 {
    let Some(tx) = &open[lane] else { return 0 };
    match send(tx, item, &ctx.abort).await {
        Sent::Yes => {
            sent[lane].fetch_add(1, Relaxed);
            1
        }
        Sent::Closed => {
            tracing::debug!(lane, "fan-out branch gone: its items are dropped");
            open[lane] = None;
            0
        }
        Sent::Aborted => 0,
    }
}

/// Sends a copy to every open branch; how many were delivered.
async fn broadcast<T>(
    open: &mut [Option<mpsc::Sender<T>>],
    item: T,
    copy: fn(&T) -> T,
    sent: &[AtomicU64],
    ctx: &Ctx,
) -> u64 {
    let last = open.iter().rposition(Option::is_some);
    let mut delivered = 0;
    let mut item = Some(item);
    for lane in 0..open.len() {
        let copy = match (Some(lane) == last, &item) {
            (true, _) => item.take(),
            (false, Some(i)) => Some(copy(i)),
            (false, None) => None,
        };
        if let Some(copy) = copy {
            delivered += deliver(open, lane, copy, sent, ctx).await;
        }
    }
    delivered
}
