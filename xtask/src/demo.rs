//! `cargo xtask demo`: builds and runs the end-to-end demo service (`crates/taskweave-demo`).

use crate::workspace::{Metadata, cargo};

/// The unpublished crate whose binary is the demo.
const DEMO: &str = "taskweave-demo";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let meta = Metadata::load()?;
    if meta.targets(DEMO, "bin").is_empty() {
        let examples: Vec<String> = meta
            .pattern_crates()
            .iter()
            .flat_map(|k| {
                meta.targets(k, "example")
                    .into_iter()
                    .map(move |e| format!("  cargo run -p {k} --example {e}"))
            })
            .collect();
        return Err(format!(
            "the demo service is not written yet; meanwhile each crate has runnable examples:\n{}",
            examples.join("\n")
        ));
    }
    let status = cargo()
        .args(["run", "--release", "--quiet", "-p", DEMO, "--"])
        .args(args)
        .status()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the demo exited with {status}"))
    }
}
