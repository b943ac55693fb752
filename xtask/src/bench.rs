//! `cargo xtask bench [--quick] [NAME]`: runs the criterion benches of `benches/` and writes the
//! side-by-side report, `docs/benchmarks.md` with one SVG bar chart per group in `docs/bench/`.
//!
//! Conventions the benches follow (see `benches/src/lib.rs`):
//! - a group id is `<bench file>/<workload>`, e.g. `breaker/closed-1-task`;
//! - one iteration runs the whole workload and the group declares `Throughput::Elements(n)`,
//!   so the report divides the median by `n` to get a time per operation;
//! - the contender whose id starts with `baseline` is the group's baseline (raw tokio or a direct
//!   call); ours start with `taskweave`;
//! - notes that are not times (losses, achieved rates) are written with `taskweave_benches::note`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use serde_json::Value;

use crate::workspace::{Metadata, cargo, project_root, step};

const BENCH_PACKAGE: &str = "taskweave-benches";

/// Criterion settings: `--quick` finishes the suite in about three minutes on two cores.
const QUICK: &[&str] = &[
    "--warm-up-time",
    "0.3",
    "--measurement-time",
    "1",
    "--sample-size",
    "10",
    "--nresamples",
    "2000",
];
const FULL: &[&str] = &[
    "--warm-up-time",
    "1",
    "--measurement-time",
    "4",
    "--sample-size",
    "20",
    "--nresamples",
    "20000",
];

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

    let criterion_home = meta.target_dir().join("criterion");
    let notes_dir = meta.target_dir().join("bench-notes");
    let started = Instant::now();
    let run_began = SystemTime::now();
    for name in &selected {
        forget_results(&criterion_home, &notes_dir, name)?;
        step(
            &format!("bench {name}"),
            cargo()
                .args([
                    "bench",
                    "--quiet",
                    "-p",
                    BENCH_PACKAGE,
                    "--bench",
                    name,
                    "--features",
                    name,
                    "--",
                ])
                .args(if quick { QUICK } else { FULL })
                .env("CRITERION_HOME", &criterion_home)
                .env("TASKWEAVE_BENCH_NOTES", &notes_dir),
        )?;
    }

    let mut groups = collect(&criterion_home, run_began)?;
    groups.retain(|id, _| available.iter().any(|b| id.split('/').next() == Some(b)));
    attach_notes(&notes_dir, &mut groups)?;

    // A report must cover every bench: a partial run (one NAME) in a target directory that
    // holds no results for the others would otherwise erase them from the docs.
    let missing: Vec<&String> = available
        .iter()
        .filter(|b| {
            !groups
                .keys()
                .any(|id| id.split('/').next() == Some(b.as_str()))
        })
        .collect();
    let report = Report {
        groups,
        quick,
        ran: selected,
    };
    eprintln!("\n{}", report.terminal_table());
    if !missing.is_empty() {
        eprintln!(
            "bench: docs/benchmarks.md and README.md left as they are: this target directory has \
             no results for {}; run `cargo xtask bench` for the whole report",
            missing
                .iter()
                .map(|b| b.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(());
    }
    report.write(&project_root().join("docs"))?;
    report.update_readme(&project_root().join("README.md"))?;
    eprintln!(
        "bench: wrote docs/benchmarks.md, docs/bench/*.svg and README.md's table in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One contender's result within a group.
struct Contender {
    name: String,
    ns_per_op: f64,
}

impl Contender {
    fn is_baseline(&self) -> bool {
        self.name.starts_with("baseline")
    }
    fn is_ours(&self) -> bool {
        self.name.starts_with("taskweave")
    }
}

#[derive(Default)]
struct Group {
    contenders: Vec<Contender>,
    notes: Vec<String>,
    /// Whether this group was measured by this invocation (or kept from an earlier one).
    fresh: bool,
}

impl Group {
    fn baseline_ns(&self) -> Option<f64> {
        self.contenders
            .iter()
            .find(|c| c.is_baseline())
            .map(|c| c.ns_per_op)
    }
    fn ratio(&self, c: &Contender) -> Option<f64> {
        self.baseline_ns()
            .filter(|b| *b > 0.0)
            .map(|b| c.ns_per_op / b)
    }
}

/// Removes earlier results of the bench file `name`, so a renamed contender does not linger.
fn forget_results(criterion_home: &Path, notes_dir: &Path, name: &str) -> Result<(), String> {
    let prefix = format!("{name}/");
    for (dir, json) in benchmark_files(criterion_home)? {
        if json["group_id"]
            .as_str()
            .is_some_and(|g| g.starts_with(&prefix))
        {
            // `dir` is <bench>/new; remove the whole <bench> directory.
            if let Some(bench_dir) = dir.parent() {
                fs::remove_dir_all(bench_dir)
                    .map_err(|e| format!("{}: {e}", bench_dir.display()))?;
            }
        }
    }
    for (path, group, _, _) in notes(notes_dir)? {
        if group.starts_with(&prefix) {
            fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// Every `new/benchmark.json` below `root`, parsed, with the directory holding it.
fn benchmark_files(root: &Path) -> Result<Vec<(PathBuf, Value)>, String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "benchmark.json")
                && dir.file_name().is_some_and(|n| n == "new")
            {
                found.push((dir.clone(), read_json(&path)?));
            }
        }
    }
    Ok(found)
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads criterion's medians, grouped by group id.
fn collect(root: &Path, run_began: SystemTime) -> Result<BTreeMap<String, Group>, String> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for (dir, bench) in benchmark_files(root)? {
        let (Some(group_id), Some(function)) =
            (bench["group_id"].as_str(), bench["function_id"].as_str())
        else {
            continue;
        };
        let estimates_path = dir.join("estimates.json");
        let estimates = read_json(&estimates_path)?;
        let Some(median_ns) = estimates["median"]["point_estimate"].as_f64() else {
            return Err(format!("{}: no median", estimates_path.display()));
        };
        let ops = bench["throughput"]["Elements"]
            .as_f64()
            .unwrap_or(1.0)
            .max(1.0);
        let fresh = fs::metadata(&estimates_path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= run_began);
        let group = groups.entry(group_id.to_owned()).or_default();
        group.fresh |= fresh;
        group.contenders.push(Contender {
            name: function.to_owned(),
            ns_per_op: median_ns / ops,
        });
    }
    for group in groups.values_mut() {
        group.contenders.sort_by(|a, b| {
            b.is_baseline()
                .cmp(&a.is_baseline())
                .then(a.ns_per_op.total_cmp(&b.ns_per_op))
        });
    }
    Ok(groups)
}

/// Notes written by the benches: one file each, `group \t contender \t text`.
fn notes(dir: &Path) -> Result<Vec<(PathBuf, String, String, String)>, String> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(found);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut parts = text.trim_end().splitn(3, '\t');
        if let (Some(group), Some(contender), Some(note)) =
            (parts.next(), parts.next(), parts.next())
        {
            found.push((
                path.clone(),
                group.to_owned(),
                contender.to_owned(),
                note.to_owned(),
            ));
        }
    }
    found.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2)));
    Ok(found)
}

fn attach_notes(dir: &Path, groups: &mut BTreeMap<String, Group>) -> Result<(), String> {
    for (_, group, contender, note) in notes(dir)? {
        if let Some(g) = groups.get_mut(&group) {
            g.notes.push(format!("{contender}: {note}"));
        }
    }
    Ok(())
}

struct Report {
    groups: BTreeMap<String, Group>,
    quick: bool,
    ran: Vec<String>,
}

impl Report {
    fn terminal_table(&self) -> String {
        let mut out = String::new();
        for (id, group) in &self.groups {
            let _ = writeln!(out, "{id}");
            for c in &group.contenders {
                let _ = writeln!(
                    out,
                    "  {:<44} {:>12}  {}",
                    c.name,
                    format_ns(c.ns_per_op),
                    format_ratio(group.ratio(c))
                );
            }
            for note in &group.notes {
                let _ = writeln!(out, "  note: {note}");
            }
        }
        out
    }

    fn write(&self, docs: &Path) -> Result<(), String> {
        let charts = docs.join("bench");
        fs::create_dir_all(&charts).map_err(|e| format!("{}: {e}", charts.display()))?;
        let mut md = String::new();
        let _ = writeln!(md, "# Benchmarks\n");
        let _ = writeln!(
            md,
            "Generated by `cargo xtask bench{}` on {} UTC, on a machine with {} cores. This run \
             measured: {}.\n",
            if self.quick { " --quick" } else { "" },
            utc_now(),
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            self.ran.join(", "),
        );
        let _ = writeln!(
            md,
            "Each group runs one workload through every contender in the same process. Times are \
             criterion's median per operation; the ratio is to the group's baseline (raw tokio or \
             a direct call) from the same run. The machine is shared and noisy: read the ratios, \
             not the absolute times. Regenerate with `cargo xtask bench` (about 7 minutes on 2 cores \
             once built, 9 with the build) or `cargo xtask bench --quick` (about 2).\n"
        );
        for (id, group) in &self.groups {
            let _ = writeln!(md, "## {id}\n");
            if !group.fresh {
                let _ = writeln!(md, "_Kept from an earlier run._\n");
            }
            let _ = writeln!(
                md,
                "| contender | time per op | vs baseline |\n|---|---:|---:|"
            );
            for c in &group.contenders {
                let name = if c.is_ours() {
                    format!("**{}**", c.name)
                } else {
                    c.name.clone()
                };
                let _ = writeln!(
                    md,
                    "| {name} | {} | {} |",
                    format_ns(c.ns_per_op),
                    format_ratio(group.ratio(c))
                );
            }
            if !group.notes.is_empty() {
                md.push('\n');
                for note in &group.notes {
                    let _ = writeln!(md, "- {note}");
                }
            }
            let file = format!("{}.svg", slug(id));
            let svg = svg_chart(id, group);
            fs::write(charts.join(&file), svg).map_err(|e| format!("{file}: {e}"))?;
            let _ = writeln!(md, "\n![{id}](bench/{file})\n");
        }
        let path = docs.join("benchmarks.md");
        fs::write(&path, md).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The README's summary sits between these markers and is rewritten by every run.
const README_START: &str = "<!-- bench-summary:start -->";
const README_END: &str = "<!-- bench-summary:end -->";

impl Report {
    /// One row per taskweave contender: its ratio to the baseline, and the peers' ratios.
    fn summary_table(&self) -> String {
        let mut md = String::from(
            "| workload | taskweave contender | vs baseline | peers vs baseline |\n|---|---|---:|---|\n",
        );
        for (id, group) in &self.groups {
            let peers: Vec<String> = group
                .contenders
                .iter()
                .filter(|c| !c.is_ours() && !c.is_baseline())
                .map(|c| format!("{} {}", c.name, format_ratio(group.ratio(c))))
                .collect();
            for ours in group.contenders.iter().filter(|c| c.is_ours()) {
                let _ = writeln!(
                    md,
                    "| {id} | {} | {} | {} |",
                    ours.name.trim_start_matches("taskweave: "),
                    format_ratio(group.ratio(ours)),
                    if peers.is_empty() {
                        "-".to_owned()
                    } else {
                        peers.join(", ")
                    }
                );
            }
        }
        md
    }

    fn update_readme(&self, path: &Path) -> Result<(), String> {
        let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let (Some(start), Some(end)) = (text.find(README_START), text.find(README_END)) else {
            return Err(format!(
                "{} has no {README_START} ... {README_END} markers",
                path.display()
            ));
        };
        let updated = format!(
            "{}{README_START}\n{}{}",
            &text[..start],
            self.summary_table(),
            &text[end..]
        );
        fs::write(path, updated).map_err(|e| format!("{}: {e}", path.display()))
    }
}

fn format_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.1} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{:.2} ms", ns / 1_000_000.0)
    }
}

fn format_ratio(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x"))
}

fn slug(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A horizontal bar chart of time per operation: grey baseline, orange taskweave, blue peers.
fn svg_chart(id: &str, group: &Group) -> String {
    const LABEL: f64 = 300.0;
    const BARS: f64 = 330.0;
    const ROW: f64 = 26.0;
    let width = LABEL + BARS + 150.0;
    let height = 40.0 + ROW * group.contenders.len() as f64 + 10.0;
    let longest = group
        .contenders
        .iter()
        .map(|c| c.ns_per_op)
        .fold(f64::MIN_POSITIVE, f64::max);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"13\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"22\" font-weight=\"bold\">{} (time per op, lower is better)</text>\n",
        escape_xml(id)
    );
    for (i, c) in group.contenders.iter().enumerate() {
        let y = 36.0 + ROW * i as f64;
        let w = (c.ns_per_op / longest * BARS).max(1.0);
        let fill = if c.is_baseline() {
            "#9e9e9e"
        } else if c.is_ours() {
            "#f28e2b"
        } else {
            "#4e79a7"
        };
        let _ = writeln!(
            svg,
            "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"end\">{}</text>\n\
             <rect x=\"{LABEL}\" y=\"{y:.0}\" width=\"{w:.1}\" height=\"{:.0}\" fill=\"{fill}\"/>\n\
             <text x=\"{:.1}\" y=\"{:.0}\">{} ({})</text>",
            LABEL - 8.0,
            y + 15.0,
            escape_xml(&c.name),
            ROW - 6.0,
            LABEL + w + 6.0,
            y + 15.0,
            escape_xml(&format_ns(c.ns_per_op)),
            format_ratio(group.ratio(c)),
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The current UTC time as `YYYY-MM-DD HH:MM`, without a date crate.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3_600,
        rem % 3_600 / 60
    )
}
