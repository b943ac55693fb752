//! `cargo xtask ci`: the checks CI runs, in order, stopping at the first failure.
//!
//! Crates and facade features are discovered from `cargo metadata`, so a new pattern crate is
//! checked as soon as it exists.

use crate::workspace::{Metadata, cargo, step};

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
            step(
                &format!("loom {krate} {test}"),
                cargo()
                    .args(["test", "--release", "-p", &krate, "--test", &test])
                    .env("RUSTFLAGS", "--cfg taskweave_loom")
                    .env("CARGO_TARGET_DIR", &loom_target)
                    .env("LOOM_MAX_PREEMPTIONS", "2"),
            )?;
        }
    }
    Ok(())
}
