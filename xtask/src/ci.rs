//! `cargo xtask ci`: the checks CI runs, in order, stopping at the first failure.
//!
//! The whole suite runs in debug, and its unit and integration tests again in release; every
//! loom model must run at least one test. Crates, their features and the facade's are
//! discovered from `cargo metadata`, so a new pattern crate is checked as soon as it exists.

use crate::workspace::{Metadata, cargo, step, step_with_output};

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!("`ci` takes no arguments, got `{arg}`"));
    }
    let started = std::time::Instant::now();
    let meta = Metadata::load()?;

    step("fmt", cargo().args(["fmt", "--all", "--", "--check"]))?;
    step(
        "clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    step(
        "test (unit, integration, doc)",
        cargo().args(["test", "--workspace", "--all-features"]),
    )?;
    // Some defects show only with optimisations (a waker compared by identity, a race that a
    // debug build is too slow to hit), so the unit and integration tests run again in release.
    // Doctests are examples, not races: compiling each one again optimised would cost minutes
    // and find nothing the debug run did not.
    step(
        "test --release (unit, integration)",
        cargo().args([
            "test",
            "--workspace",
            "--all-features",
            "--release",
            "--lib",
            "--bins",
            "--tests",
        ]),
    )?;
    // Every other test runs with `test-util`, under which the default clock is Tokio's: the
    // time-stamp counter that users get by default is tested here, in its own crate.
    step(
        "test taskweave-clock (default features: the TSC default clock)",
        cargo().args(["test", "-p", "taskweave-clock"]),
    )?;
    loom_models(&meta)?;
    step(
        "doc",
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--all-features"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;

    // Each facade feature and each pattern crate on its own: a crate that forgot a tokio
    // feature compiles inside the workspace (features unify) but not alone.
    step(
        "check taskweave (no features)",
        cargo().args(["check", "-p", "taskweave", "--no-default-features"]),
    )?;
    for feature in meta.facade_features() {
        step(
            &format!("check taskweave --features {feature}"),
            cargo().args([
                "check",
                "-p",
                "taskweave",
                "--no-default-features",
                "--features",
                &feature,
            ]),
        )?;
    }
    for krate in meta.pattern_crates() {
        step(
            &format!("check {krate} alone"),
            cargo().args(["check", "-p", &krate]),
        )?;
        for feature in meta.features(&krate) {
            step(
                &format!("check {krate} --features {feature}"),
                cargo().args(["check", "-p", &krate, "--features", &feature]),
            )?;
        }
    }

    eprintln!(
        "ci: all steps passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs every `tests/loom_*.rs` model under `--cfg taskweave_loom`, in a target directory of its
/// own so the different `RUSTFLAGS` do not invalidate the main build.
fn loom_models(meta: &Metadata) -> Result<(), String> {
    let loom_target = meta.target_dir().join("loom");
    for krate in meta.pattern_crates() {
        for test in meta.targets(&krate, "test") {
            if !test.starts_with("loom_") {
                continue;
            }
            let name = format!("loom {krate} {test}");
            let output = step_with_output(
                &name,
                cargo()
                    .args(["test", "--release", "-p", &krate, "--test", &test])
                    .env("RUSTFLAGS", "--cfg taskweave_loom")
                    .env("CARGO_TARGET_DIR", &loom_target)
                    .env("LOOM_MAX_PREEMPTIONS", "2"),
            )?;
            // A model file whose tests are all compiled out (a cfg typo, a missing
            // `#![cfg(taskweave_loom)]` counterpart) passes while checking nothing.
            if passed_tests(&output) == 0 {
                return Err(format!("step `{name}` ran no test"));
            }
        }
    }
    Ok(())
}

/// The number of passed tests in libtest's `test result:` lines of `output`.
fn passed_tests(output: &str) -> u64 {
    output
        .lines()
        .filter_map(|line| line.strip_prefix("test result: "))
        .filter_map(|rest| rest.split("; ").next())
        .filter_map(|first| first.rsplit(' ').nth(1))
        .filter_map(|count| count.parse::<u64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::passed_tests;

    #[test]
    fn counts_passed_tests_over_every_result_line() {
        let output = "running 2 tests\n\
            test a ... ok\n\
            test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.00s\n\
            test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.10s\n";
        assert_eq!(passed_tests(output), 5);
    }

    #[test]
    fn a_run_with_no_test_counts_zero() {
        let output = "running 0 tests\n\n\
            test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n";
        assert_eq!(passed_tests(output), 0);
        assert_eq!(passed_tests(""), 0);
    }
}
