//! `cargo xtask bench [--quick] [NAME]`: runs the side-by-side benches of `benches/` and writes
//! the report, `docs/benchmarks.md` with one SVG chart per group in `docs/bench/`, and the
//! README's summary.
//!
//! Each bench binary measures its groups with the interleaved-rounds harness of
//! `benches/src/lib.rs` and appends one JSON line per group (and per note) to a results file;
//! this module only runs the binaries, reads those lines, checks the goals (`goals.rs`) and
//! renders the report (`report.rs`).

mod goals;
mod report;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Instant;

use serde_json::Value;

use crate::workspace::{Metadata, cargo, project_root, step};

const BENCH_PACKAGE: &str = "taskweave-benches";

/// One contender's result within a group.
pub(crate) struct Contender {
    pub(crate) name: String,
    /// `floor`, `ours` or `peer`.
    pub(crate) role: String,
    /// Median time per operation over the rounds.
    pub(crate) ns_per_op: f64,
    /// Median, minimum and maximum of the per-round ratio to the floor.
    pub(crate) ratio: f64,
    pub(crate) ratio_min: f64,
    pub(crate) ratio_max: f64,
    /// Time per operation in each round, in round order.
    pub(crate) rounds_ns: Vec<f64>,
}

impl Contender {
    pub(crate) fn is_floor(&self) -> bool {
        self.role == "floor"
    }
    pub(crate) fn is_ours(&self) -> bool {
        self.role == "ours"
    }
}

/// One measured group.
pub(crate) struct Group {
    pub(crate) ops: u64,
    pub(crate) rounds: u64,
    pub(crate) contenders: Vec<Contender>,
    pub(crate) notes: BTreeMap<String, String>,
}

impl Group {
    pub(crate) fn floor(&self) -> Option<&Contender> {
        self.contenders.iter().find(|c| c.is_floor())
    }

    pub(crate) fn contender(&self, name: &str) -> Option<&Contender> {
        self.contenders.iter().find(|c| c.name == name)
    }

    /// The median over rounds of `f(a's time, b's time)` for the same round, with its spread.
    pub(crate) fn per_round(
        a: &Contender,
        b: &Contender,
        f: impl Fn(f64, f64) -> f64,
    ) -> (f64, f64, f64) {
        let mut values: Vec<f64> = a
            .rounds_ns
            .iter()
            .zip(&b.rounds_ns)
            .map(|(x, y)| f(*x, *y))
            .collect();
        values.sort_by(f64::total_cmp);
        if values.is_empty() {
            return (f64::NAN, f64::NAN, f64::NAN);
        }
        let mid = values.len() / 2;
        let median = if values.len() % 2 == 1 {
            values[mid]
        } else {
            (values[mid - 1] + values[mid]) / 2.0
        };
        (median, values[0], values[values.len() - 1])
    }

    /// Nanoseconds `c` adds per operation over the floor: median of per-round differences.
    pub(crate) fn added_ns(&self, c: &Contender) -> Option<(f64, f64, f64)> {
        self.floor()
            .map(|floor| Group::per_round(c, floor, |x, y| x - y))
    }
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut quick = false;
    let mut only = None;
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            flag if flag.starts_with('-') => return Err(format!("unknown flag `{flag}`")),
            name if only.is_none() => only = Some(name.to_owned()),
            extra => return Err(format!("unexpected argument `{extra}`")),
        }
    }

    let meta = Metadata::load()?;
    let available = meta.targets(BENCH_PACKAGE, "bench");
    let selected: Vec<String> = match &only {
        Some(name) if available.contains(name) => vec![name.clone()],
        Some(name) => {
            return Err(format!(
                "no bench named `{name}`; there are: {}",
                available.join(", ")
            ));
        }
        None => available.clone(),
    };
    if selected.is_empty() {
        return Err("benches/ declares no [[bench]] targets yet".into());
    }

    let results = meta.target_dir().join("bench-results");
    fs::create_dir_all(&results).map_err(|e| format!("{}: {e}", results.display()))?;
    let started = Instant::now();
    for name in &selected {
        let out = results.join(format!("{name}.jsonl"));
        if out.exists() {
            fs::remove_file(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        }
        let mut cmd = cargo();
        cmd.args([
            "bench",
            "--quiet",
            "-p",
            BENCH_PACKAGE,
            "--bench",
            name,
            "--features",
            name,
        ])
        .env("TASKWEAVE_BENCH_OUT", &out);
        if quick {
            cmd.env("TASKWEAVE_BENCH_QUICK", "1");
        }
        step(&format!("bench {name}"), &mut cmd)?;
    }

    // A report covers every bench: results of the benches not run now come from the latest
    // run in this target directory, and the report says which.
    let mut groups = BTreeMap::new();
    let mut missing = Vec::new();
    let mut kept = Vec::new();
    for name in &available {
        let path = results.join(format!("{name}.jsonl"));
        if !path.exists() {
            missing.push(name.clone());
            continue;
        }
        if !selected.contains(name) {
            kept.push(name.clone());
        }
        read_results(&path, &mut groups)?;
    }
    let report = report::Report {
        groups,
        quick,
        ran: selected,
        kept,
        minutes: started.elapsed().as_secs_f64() / 60.0,
    };
    eprintln!("\n{}", report.terminal());
    if !missing.is_empty() {
        eprintln!(
            "bench: docs/benchmarks.md and README.md left as they are: this target directory has \
             no results for {}; run `cargo xtask bench` for the whole report",
            missing.join(", ")
        );
        return Ok(());
    }
    report.write(&project_root().join("docs"))?;
    report.update_readme(&project_root().join("README.md"))?;
    eprintln!(
        "bench: wrote docs/benchmarks.md, docs/bench/*.svg and README.md's summary in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Reads one bench's JSON lines: a group per line, or a note (the latest note wins).
fn read_results(path: &Path, groups: &mut BTreeMap<String, Group>) -> Result<(), String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut notes = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let bad = |what: &str| format!("{}:{}: {what}", path.display(), n + 1);
        let json: Value = serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
        let str_field = |v: &Value, key: &str| {
            v[key]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad(&format!("no `{key}`")))
        };
        if let Some(note) = json["note"].as_str() {
            notes.push((
                str_field(&json, "group")?,
                str_field(&json, "contender")?,
                note.to_owned(),
            ));
            continue;
        }
        let id = str_field(&json, "group")?;
        let num = |v: &Value, key: &str| v[key].as_f64().ok_or_else(|| bad(&format!("no `{key}`")));
        let mut contenders = Vec::new();
        for c in json["contenders"]
            .as_array()
            .ok_or_else(|| bad("no contenders"))?
        {
            contenders.push(Contender {
                name: str_field(c, "name")?,
                role: str_field(c, "role")?,
                ns_per_op: num(c, "ns_per_op")?,
                ratio: num(c, "ratio")?,
                ratio_min: num(c, "ratio_min")?,
                ratio_max: num(c, "ratio_max")?,
                rounds_ns: c["rounds_ns"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_f64).collect())
                    .unwrap_or_default(),
            });
        }
        groups.insert(
            id,
            Group {
                ops: num(&json, "ops")? as u64,
                rounds: num(&json, "rounds")? as u64,
                contenders,
                notes: BTreeMap::new(),
            },
        );
    }
    for (group, contender, note) in notes {
        if let Some(g) = groups.get_mut(&group) {
            g.notes.insert(contender, note);
        }
    }
    Ok(())
}
