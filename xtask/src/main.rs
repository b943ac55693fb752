//! Project automation, run as `cargo xtask <task>`.
//!
//! - `cargo xtask ci`: every check CI runs (fmt, clippy, tests, loom models, docs, feature checks).
//! - `cargo xtask bench [--quick] [PATTERN]`: the side-by-side benchmarks, written to
//!   `docs/benchmarks.md` and `docs/bench/*.svg`.
//! - `cargo xtask demo [ARGS]`: the end-to-end demo service.
//!
//! One module per task; `workspace` knows the layout they share.

mod bench;
mod ci;
mod demo;
mod workspace;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  ci                      fmt, clippy, tests, loom models, docs and feature checks (what CI runs)
  bench [--quick] [NAME]  run the benchmarks (all, or one file of benches/) and write docs/benchmarks.md
  demo [ARGS]             run the demo service; ARGS go to the demo (try `cargo xtask demo --help`)";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    let result = match task.as_deref() {
        Some("ci") => ci::run(&rest),
        Some("bench") => bench::run(&rest),
        Some("demo") => demo::run(&rest),
        Some("help" | "--help" | "-h") => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(format!("unknown task\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
