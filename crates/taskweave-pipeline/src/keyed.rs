//! The keyed stage's task: items with the same key are processed one at a time, in arrival
//! order; items with different keys run concurrently, so a slow key holds back only its own
//! items.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;

use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::config::ErrorPolicy;
use crate::metrics::StageStats;
use crate::stage::Process;
use crate::worker::{TIMING_SAMPLE, Worker, call_one};

pub(crate) struct KeyedTask<P, KF, In, Out> {
    pub(crate) process: P,
    pub(crate) key: KF,
    pub(crate) worker: Worker<In, Out>,
}

impl<P, K, KF, In, Out> KeyedTask<P, KF, In, Out>
where
    P: Process<In, Out = Out>,
    KF: Fn(&In) -> K + Send + 'static,
    K: Hash + Eq + Clone + Send + 'static,
    In: Clone + Send + 'static,
    Out: Send + 'static,
{
    pub(crate) async fn run(self) {
        let KeyedTask {
            process,
            key: key_of,
            worker: mut this,
        } = self;
        let process = &process;
        let keep = this.config.on_error == ErrorPolicy::DeadLetter;
        let timeout = this.config.timeout;
        let call = |key: K, item: In, timed: bool| {
            let kept = keep.then(|| item.clone());
            let done = call_one(process, item, kept, timed, timeout);
            async move { (key, done.await) }
        };
        let mut in_flight = FuturesUnordered::new();
        // Items waiting for their key, per key; `ready` lists the keys with waiting items and
        // nothing in flight, oldest first; `active` the keys with an item in flight.
        let mut queues: HashMap<K, VecDeque<In>> = HashMap::new();
        let mut ready: VecDeque<K> = VecDeque::new();
        let mut active: HashSet<K> = HashSet::new();
        let mut waiting = 0usize;
        let mut input_open = true;
        let mut seq = 0u64;
        let abort = this.ctx.abort.clone();
        let aborted = abort.cancelled();
        tokio::pin!(aborted);
        tracing::debug!(stage = %this.config.name, "keyed stage started");
        loop {
            if this.ctx.is_aborted() {
                this.abort((in_flight.len() + waiting) as u64);
                return;
            }
            // Start waiting keys while there is room.
            while in_flight.len() < this.config.concurrency {
                let Some(key) = ready.pop_front() else { break };
                let Some(queue) = queues.get_mut(&key) else {
                    continue;
                };
                let Some(item) = queue.pop_front() else {
                    continue;
                };
                if queue.is_empty() {
                    queues.remove(&key);
                }
                waiting -= 1;
                active.insert(key.clone());
                in_flight.push(call(key, item, seq % TIMING_SAMPLE == 0));
                seq += 1;
            }
            if !input_open && in_flight.is_empty() {
                break;
            }
            let room = waiting < this.config.buffer;
            tokio::select! {
                biased;
                Some((key, done)) = in_flight.next(), if !in_flight.is_empty() => {
                    active.remove(&key);
                    if queues.contains_key(&key) {
                        ready.push_back(key);
                    }
                    if !this.finish_item(done).await {
                        this.abort((in_flight.len() + waiting) as u64);
                        return;
                    }
                    StageStats::add(&this.stats.in_flight, u64::MAX); // -1, wrapping
                }
                item = this.input.recv(), if input_open && room => match item {
                    Some(item) => {
                        StageStats::add(&this.stats.items_in, 1);
                        StageStats::add(&this.stats.in_flight, 1);
                        let key = key_of(&item);
                        if active.contains(&key) || queues.contains_key(&key) {
                            queues.entry(key).or_default().push_back(item);
                            waiting += 1;
                        } else if in_flight.len() < this.config.concurrency {
                            active.insert(key.clone());
                            in_flight.push(call(key, item, seq % TIMING_SAMPLE == 0));
                            seq += 1;
                        } else {
                            queues.entry(key.clone()).or_default().push_back(item);
                            ready.push_back(key);
                            waiting += 1;
                        }
                    }
                    None => input_open = false,
                },
                () = &mut aborted => {
                    this.abort((in_flight.len() + waiting) as u64);
                    return;
                }
            }
        }
        tracing::debug!(stage = %this.config.name, "keyed stage finished: input ended, all flushed");
    }
}
