//! What the tasks need to know about the workspace: where it is, which crates and facade
//! features exist, and how to run a command visibly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

/// The workspace root (the parent of `xtask/`).
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// `cargo` as invoked by the user (respects `$CARGO`), run from the workspace root.
pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

/// Runs `cmd` under a step name, printing the name before and the elapsed time after.
pub(crate) fn step(name: &str, cmd: &mut Command) -> Result<(), String> {
    eprintln!("==> {name}");
    let started = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("{name}: could not start {:?}: {e}", cmd.get_program()))?;
    let secs = started.elapsed().as_secs_f64();
    if status.success() {
        eprintln!("<== {name}: ok in {secs:.1}s");
        Ok(())
    } else {
        Err(format!("step `{name}` failed after {secs:.1}s ({status})"))
    }
}

/// Runs `cmd` like [`step`], but also returns its standard output, echoed line by line as it
/// comes, for steps whose output must be checked as well as their exit status.
pub(crate) fn step_with_output(name: &str, cmd: &mut Command) -> Result<String, String> {
    use std::io::BufRead;

    eprintln!("==> {name}");
    let started = Instant::now();
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{name}: could not start {:?}: {e}", cmd.get_program()))?;
    let mut captured = String::new();
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.map_err(|e| format!("{name}: reading its output: {e}"))?;
            println!("{line}");
            captured.push_str(&line);
            captured.push('\n');
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("{name}: waiting for it: {e}"))?;
    let secs = started.elapsed().as_secs_f64();
    if status.success() {
        eprintln!("<== {name}: ok in {secs:.1}s");
        Ok(captured)
    } else {
        Err(format!("step `{name}` failed after {secs:.1}s ({status})"))
    }
}

/// The parts of `cargo metadata` the tasks use.
pub(crate) struct Metadata {
    json: Value,
}

impl Metadata {
    pub(crate) fn load() -> Result<Self, String> {
        let output = cargo()
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .output()
            .map_err(|e| format!("could not run cargo metadata: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "cargo metadata failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let json = serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("cargo metadata printed invalid JSON: {e}"))?;
        Ok(Self { json })
    }

    pub(crate) fn target_dir(&self) -> PathBuf {
        self.json["target_directory"]
            .as_str()
            .map(PathBuf::from)
            .unwrap_or_else(|| project_root().join("target"))
    }

    fn packages(&self) -> impl Iterator<Item = &Value> {
        self.json["packages"].as_array().into_iter().flatten()
    }

    fn package(&self, name: &str) -> Option<&Value> {
        self.packages().find(|p| p["name"] == name)
    }

    /// Every pattern crate: the published `taskweave-*` packages, sorted by name.
    pub(crate) fn pattern_crates(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .packages()
            .filter(|p| p["publish"].as_array().is_none_or(|to| !to.is_empty()))
            .filter_map(|p| p["name"].as_str())
            .filter(|n| n.starts_with("taskweave-"))
            .map(str::to_owned)
            .collect();
        names.sort();
        names
    }

    /// The facade's features, except `default`, sorted by name.
    pub(crate) fn facade_features(&self) -> Vec<String> {
        self.features("taskweave")
    }

    /// The features `package` declares, except `default`, sorted by name.
    pub(crate) fn features(&self, package: &str) -> Vec<String> {
        let mut features: Vec<String> = self
            .package(package)
            .and_then(|p| p["features"].as_object())
            .map(|f| f.keys().filter(|k| *k != "default").cloned().collect())
            .unwrap_or_default();
        features.sort();
        features
    }

    /// Names of the targets of `package` whose kind is `kind` (`bench`, `test`, `example`).
    pub(crate) fn targets(&self, package: &str, kind: &str) -> Vec<String> {
        self.package(package)
            .and_then(|p| p["targets"].as_array())
            .into_iter()
            .flatten()
            .filter(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == kind))
            })
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect()
    }
}
