//! The side-by-side benchmark harness used by every bench in this folder.
//!
//! A bench file is a plain `main` (`harness = false`) that opens a [`Suite`] and declares its
//! groups. A group is one workload run by several contenders:
//!
//! - exactly one **floor**: the raw-Tokio or hand-written way to do the same work, the yardstick
//!   every ratio is taken against;
//! - **ours**: the taskweave crate measured;
//! - **peers**: the best single-purpose crates for the pattern.
//!
//! Each contender is a closure that runs the *whole* workload once (say 1M calls) and returns how
//! long the measured part took ([`Sample`]). The harness runs every contender once to warm up,
//! then in several **rounds**; each round runs every contender once, in an order rotated from
//! round to round, so that drift on a noisy machine hits every contender alike. Within a round
//! each contender's time per operation is divided by the floor's; the report gives the **median
//! of those per-round ratios** with their min–max spread, never one absolute time.
//!
//! `cargo xtask bench` runs each bench with `TASKWEAVE_BENCH_OUT` (a JSON-lines file the report
//! is built from) and, for `--quick`, `TASKWEAVE_BENCH_QUICK=1`. Run alone, a bench prints its
//! results to stderr.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A multi-threaded runtime with `workers` worker threads and every driver enabled.
pub fn multi_thread(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime can be built")
}

/// A current-thread runtime with every driver enabled.
pub fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime can be built")
}

/// Runs `workload` on `rt` inside a spawned task (not on the `block_on` thread, whose wake-ups
/// take another path) and returns how long the task took.
pub fn time_spawned<F, Fut>(rt: &tokio::runtime::Runtime, workload: F) -> Duration
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let fut = workload();
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            fut.await;
            start.elapsed()
        })
        .await
        .expect("the benchmarked task does not panic")
    })
}

/// Runs `per_task` on `tasks` tasks spawned together (each given its index) and returns how
/// long it took until all of them finished, measured from a spawned task like [`time_spawned`].
pub fn run_tasks<F, Fut>(rt: &tokio::runtime::Runtime, tasks: u64, per_task: F) -> Duration
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let futs: Vec<Fut> = (0..tasks).map(&per_task).collect();
    time_spawned(rt, move || async move {
        let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
        for h in handles {
            h.await.expect("a bench task does not panic");
        }
    })
}

/// One run of a contender: how long its measured part took and how many operations it
/// completed. A lossless contender completes the group's count; a lossy one reports what it
/// delivered, so that its time is per *delivered* operation.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Time of the measured part of the run.
    pub elapsed: Duration,
    /// Operations completed, or `None` for the group's count.
    pub ops: Option<u64>,
}

impl From<Duration> for Sample {
    fn from(elapsed: Duration) -> Self {
        Sample { elapsed, ops: None }
    }
}

impl Sample {
    /// A run that completed `ops` operations in `elapsed`.
    pub fn delivered(elapsed: Duration, ops: u64) -> Self {
        Sample {
            elapsed,
            ops: Some(ops),
        }
    }
}

/// What a contender is to its group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The raw-Tokio or hand-written floor.
    Floor,
    /// The taskweave crate measured.
    Ours,
    /// A peer crate.
    Peer,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Floor => "floor",
            Role::Ours => "ours",
            Role::Peer => "peer",
        }
    }
}

type Run<'a> = Box<dyn FnMut() -> Sample + 'a>;

/// The contenders of one group, declared inside [`Suite::group`].
pub struct Group<'a> {
    contenders: Vec<(String, Role, Run<'a>)>,
}

impl<'a> Group<'a> {
    fn add<S: Into<Sample>>(&mut self, name: &str, role: Role, mut run: impl FnMut() -> S + 'a) {
        self.contenders
            .push((name.to_owned(), role, Box::new(move || run().into())));
    }

    /// Declares the floor: the raw-Tokio or hand-written way to do the work. Exactly one.
    pub fn floor<S: Into<Sample>>(&mut self, name: &str, run: impl FnMut() -> S + 'a) {
        self.add(name, Role::Floor, run);
    }

    /// Declares a taskweave contender.
    pub fn ours<S: Into<Sample>>(&mut self, name: &str, run: impl FnMut() -> S + 'a) {
        self.add(name, Role::Ours, run);
    }

    /// Declares a peer crate's contender.
    pub fn peer<S: Into<Sample>>(&mut self, name: &str, run: impl FnMut() -> S + 'a) {
        self.add(name, Role::Peer, run);
    }
}

/// The measured rounds of one contender.
struct Measured {
    name: String,
    role: Role,
    /// Nanoseconds per operation, one per round.
    ns_per_op: Vec<f64>,
}

/// The benches of one file: how many rounds to run, and where results go.
#[derive(Debug)]
pub struct Suite {
    quick: bool,
    rounds: usize,
    out: Option<PathBuf>,
}

impl Suite {
    /// Reads the mode from the environment `cargo xtask bench` sets: `TASKWEAVE_BENCH_QUICK=1`
    /// for fewer rounds and smaller workloads, `TASKWEAVE_BENCH_OUT` for the results file, and
    /// optionally `TASKWEAVE_BENCH_ROUNDS` and `TASKWEAVE_BENCH_ONLY` (run only the floor and
    /// the contenders whose name contains it, for profiling one contender).
    pub fn from_env() -> Suite {
        let quick = std::env::var_os("TASKWEAVE_BENCH_QUICK").is_some_and(|v| v == "1");
        let rounds = std::env::var("TASKWEAVE_BENCH_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .filter(|r| *r > 0)
            .unwrap_or(if quick { 5 } else { 21 });
        Suite {
            quick,
            rounds,
            out: std::env::var_os("TASKWEAVE_BENCH_OUT").map(PathBuf::from),
        }
    }

    /// Whether this is a `--quick` run.
    pub fn is_quick(&self) -> bool {
        self.quick
    }

    /// The operation count to use for a workload of `full` operations: a quarter in quick mode.
    pub fn scale(&self, full: u64) -> u64 {
        if self.quick { (full / 4).max(1) } else { full }
    }

    /// Measures the group `id` (`<bench file>/<workload>`) whose every run performs `ops`
    /// operations, with the contenders `declare` registers.
    ///
    /// # Panics
    ///
    /// If the group does not declare exactly one floor: that is a bug in the bench.
    pub fn group<'a>(&mut self, id: &str, ops: u64, declare: impl FnOnce(&mut Group<'a>)) {
        let mut group = Group {
            contenders: Vec::new(),
        };
        declare(&mut group);
        if let Ok(only) = std::env::var("TASKWEAVE_BENCH_ONLY") {
            group
                .contenders
                .retain(|(name, role, _)| *role == Role::Floor || name.contains(&only));
        }
        let floors = group
            .contenders
            .iter()
            .filter(|(_, role, _)| *role == Role::Floor)
            .count();
        assert_eq!(floors, 1, "{id}: a group declares exactly one floor");
        let started = Instant::now();
        let per_op = |sample: Sample| {
            sample.elapsed.as_nanos() as f64 / sample.ops.unwrap_or(ops).max(1) as f64
        };
        for (_, _, run) in &mut group.contenders {
            run();
        }
        let n = group.contenders.len();
        let mut measured: Vec<Measured> = group
            .contenders
            .iter()
            .map(|(name, role, _)| Measured {
                name: name.clone(),
                role: *role,
                ns_per_op: Vec::with_capacity(self.rounds),
            })
            .collect();
        for round in 0..self.rounds {
            for k in 0..n {
                let i = (round + k) % n;
                let sample = (group.contenders[i].2)();
                measured[i].ns_per_op.push(per_op(sample));
            }
        }
        let report = GroupReport::new(id, ops, self.rounds, &measured);
        eprintln!(
            "{}  ({} rounds in {:.1}s)",
            report.terminal(),
            self.rounds,
            started.elapsed().as_secs_f64()
        );
        self.write(&report.json());
    }

    fn write(&self, line: &str) {
        write_line(self.out.as_ref(), line);
    }
}

fn write_line(out: Option<&PathBuf>, line: &str) {
    let Some(path) = out else { return };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = written {
        eprintln!("taskweave-benches: cannot write {}: {e}", path.display());
    }
}

/// The summary of one group: per contender, the median time per operation and the median,
/// minimum and maximum of its per-round ratio to the floor.
struct GroupReport {
    id: String,
    ops: u64,
    rounds: usize,
    rows: Vec<Row>,
}

struct Row {
    name: String,
    role: Role,
    ns_per_op: f64,
    ratio: f64,
    ratio_min: f64,
    ratio_max: f64,
    /// Nanoseconds per operation, one per round, in round order.
    rounds_ns: Vec<f64>,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

impl GroupReport {
    fn new(id: &str, ops: u64, rounds: usize, measured: &[Measured]) -> Self {
        let floor = measured
            .iter()
            .find(|m| m.role == Role::Floor)
            .expect("checked: one floor");
        let rows = measured
            .iter()
            .map(|m| {
                let ratios: Vec<f64> = m
                    .ns_per_op
                    .iter()
                    .zip(&floor.ns_per_op)
                    .map(|(t, f)| t / f.max(f64::MIN_POSITIVE))
                    .collect();
                Row {
                    name: m.name.clone(),
                    role: m.role,
                    ns_per_op: median(m.ns_per_op.clone()),
                    ratio_min: ratios.iter().copied().fold(f64::INFINITY, f64::min),
                    ratio_max: ratios.iter().copied().fold(0.0, f64::max),
                    ratio: median(ratios),
                    rounds_ns: m.ns_per_op.clone(),
                }
            })
            .collect();
        GroupReport {
            id: id.to_owned(),
            ops,
            rounds,
            rows,
        }
    }

    fn terminal(&self) -> String {
        let mut out = self.id.clone();
        for r in &self.rows {
            out.push_str(&format!(
                "\n  {:<6} {:<46} {:>10.1} ns/op  {:.2}x ({:.2}–{:.2})",
                r.role.as_str(),
                r.name,
                r.ns_per_op,
                r.ratio,
                r.ratio_min,
                r.ratio_max
            ));
        }
        out
    }

    fn json(&self) -> String {
        let rows: Vec<String> = self
            .rows
            .iter()
            .map(|r| {
                let rounds: Vec<String> = r.rounds_ns.iter().map(|ns| format!("{ns:.3}")).collect();
                format!(
                    "{{\"name\":{},\"role\":\"{}\",\"ns_per_op\":{},\"ratio\":{},\"ratio_min\":{},\"ratio_max\":{},\"rounds_ns\":[{}]}}",
                    json_string(&r.name),
                    r.role.as_str(),
                    r.ns_per_op,
                    r.ratio,
                    r.ratio_min,
                    r.ratio_max,
                    rounds.join(",")
                )
            })
            .collect();
        format!(
            "{{\"group\":{},\"ops\":{},\"rounds\":{},\"contenders\":[{}]}}",
            json_string(&self.id),
            self.ops,
            self.rounds,
            rows.join(",")
        )
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Serialises [`note`] calls from the threads of one bench process.
static NOTES: Mutex<()> = Mutex::new(());

/// Records a fact about a contender that is not a time (for example "lost 41% of deliveries to
/// lag" or "p99 latency 1.2 ms"). The report prints it under the group's table; for the same
/// group and contender, the latest call wins.
pub fn note(group: &str, contender: &str, text: &str) {
    let _serial = NOTES.lock().unwrap_or_else(|e| e.into_inner());
    eprintln!("  note: {group} / {contender}: {text}");
    let out = std::env::var_os("TASKWEAVE_BENCH_OUT").map(PathBuf::from);
    write_line(
        out.as_ref(),
        &format!(
            "{{\"note\":{},\"group\":{},\"contender\":{}}}",
            json_string(text),
            json_string(group),
            json_string(contender)
        ),
    );
}

/// Times a synchronous workload.
pub fn timed(workload: impl FnOnce()) -> Duration {
    let start = Instant::now();
    workload();
    start.elapsed()
}

/// Runs `workload` in a task spawned on `rt` and returns the duration it reports: for workloads
/// that time only part of themselves (setup first, then the measured part).
pub fn spawned_timing<Fut>(rt: &tokio::runtime::Runtime, workload: Fut) -> Duration
where
    Fut: std::future::Future<Output = Duration> + Send + 'static,
{
    rt.block_on(rt.spawn(workload))
        .expect("the benchmarked task does not panic")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn ratios_are_per_round_so_drift_cancels() {
        let measured = [
            Measured {
                name: "floor".into(),
                role: Role::Floor,
                ns_per_op: vec![10.0, 20.0, 10.0],
            },
            Measured {
                name: "ours".into(),
                role: Role::Ours,
                ns_per_op: vec![12.0, 24.0, 13.0],
            },
        ];
        let report = GroupReport::new("x/y", 1, 3, &measured);
        let ours = &report.rows[1];
        assert_eq!(ours.ratio, 1.2);
        assert_eq!((ours.ratio_min, ours.ratio_max), (1.2, 1.3));
        assert!(
            report.json().contains("\"ratio\":1.2,"),
            "{}",
            report.json()
        );
    }

    #[test]
    fn every_contender_runs_once_per_round_in_rotated_order() {
        let order = std::cell::RefCell::new(Vec::new());
        let mut suite = Suite {
            quick: true,
            rounds: 3,
            out: None,
        };
        suite.group("x/y", 1, |g| {
            for (name, role) in [("a", Role::Floor), ("b", Role::Ours), ("c", Role::Peer)] {
                let order = &order;
                g.add(name, role, move || {
                    order.borrow_mut().push(name);
                    Duration::from_nanos(1)
                });
            }
        });
        let order = order.into_inner();
        // One warm-up run each, then rounds starting at a, b, c.
        assert_eq!(
            order,
            ["a", "b", "c", "a", "b", "c", "b", "c", "a", "c", "a", "b"]
        );
    }

    #[test]
    fn strings_are_escaped_for_json() {
        assert_eq!(json_string("a \"b\"\\\n"), "\"a \\\"b\\\"\\\\\\u000a\"");
    }
}
