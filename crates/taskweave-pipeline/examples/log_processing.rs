//! A log-processing pipeline with a dead-letter file.
//!
//! Raw lines → `parse` (malformed lines go to the dead letters) → `enrich` (an async lookup,
//! 8 at a time, with a per-line timeout; a slow lookup is dead-lettered too) → `warnings`
//! (keeps WARN and ERROR) → a summary. Every dead letter is written, with its stage and error,
//! to `dead-letters.log` in a fresh temporary directory, and the counts are reconciled at the
//! end: lines in = lines out + filtered + dead-lettered.
//!
//! Run it with `cargo run -p taskweave-pipeline --example log_processing`.

use std::collections::BTreeMap;
use std::time::Duration;

use taskweave_pipeline::{ErrorPolicy, Flow, StageConfig};
use tokio::io::AsyncWriteExt;

#[derive(Debug, Clone)]
struct Entry {
    level: String,
    service: String,
    message: String,
}

#[derive(Debug, Clone)]
struct Enriched {
    entry: Entry,
    team: &'static str,
}

#[derive(Debug)]
struct Malformed(String);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed line: {}", self.0)
    }
}

impl std::error::Error for Malformed {}

fn parse(line: String) -> Result<Entry, Malformed> {
    let mut parts = line.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(level @ ("INFO" | "WARN" | "ERROR")), Some(service), Some(message)) => Ok(Entry {
            level: level.to_owned(),
            service: service.to_owned(),
            message: message.to_owned(),
        }),
        _ => Err(Malformed(line)),
    }
}

/// Looks up the owning team; the `search` service's directory is slow.
async fn owner(service: &str) -> &'static str {
    let (delay, team) = match service {
        "api" => (1, "platform"),
        "billing" => (2, "payments"),
        _ => (500, "unknown"),
    };
    tokio::time::sleep(Duration::from_millis(delay)).await;
    team
}

fn lines() -> Vec<String> {
    let services = ["api", "billing", "api", "search"];
    let levels = ["INFO", "WARN", "INFO", "ERROR", "INFO"];
    (0..200)
        .map(|i| {
            if i % 37 == 5 {
                format!("garbage #{i}")
            } else {
                format!("{} {} request {i} handled", levels[i % 5], services[i % 4])
            }
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("taskweave-logs-{}", std::process::id()));
    tokio::fs::create_dir_all(&dir).await?;
    let dead_path = dir.join("dead-letters.log");

    let mut pipeline = Flow::from_iter(lines())
        .map(
            StageConfig::new("parse").on_error(ErrorPolicy::DeadLetter),
            |line: String| async move { parse(line) },
        )
        .map(
            StageConfig::new("enrich")
                .concurrency(8)
                .timeout(Duration::from_millis(100))
                .on_error(ErrorPolicy::DeadLetter),
            |entry: Entry| async move {
                let team = owner(&entry.service).await;
                Ok::<_, std::convert::Infallible>(Enriched { entry, team })
            },
        )
        .filter_map("warnings", |e: Enriched| async move {
            Ok::<_, std::convert::Infallible>((e.entry.level != "INFO").then_some(e))
        })
        .dead_letters(64)
        .build()?;

    // The dead letters go to a file while the pipeline runs.
    let mut dead_letters = pipeline.dead_letters().expect("configured above");
    let writer = tokio::spawn({
        let path = dead_path.clone();
        async move {
            let mut file = tokio::fs::File::create(&path).await?;
            let mut written = 0u64;
            while let Some(letter) = dead_letters.recv().await {
                let stage = letter.stage().to_owned();
                let error = letter.error().to_string();
                let item = match letter.into_item::<String>() {
                    Ok((line, _)) => line,
                    Err(letter) => match letter.into_item::<Entry>() {
                        Ok((entry, _)) => {
                            format!("{} {} {}", entry.level, entry.service, entry.message)
                        }
                        Err(letter) => format!("{letter:?}"),
                    },
                };
                file.write_all(format!("[{stage}] {error}: {item}\n").as_bytes())
                    .await?;
                written += 1;
            }
            file.flush().await?;
            Ok::<_, std::io::Error>(written)
        }
    });

    let handle = pipeline.handle();
    let mut per_team: BTreeMap<(&str, String), u64> = BTreeMap::new();
    pipeline
        .run(|e| *per_team.entry((e.team, e.entry.level)).or_default() += 1)
        .await?;
    let written = writer.await??;

    for ((team, level), n) in &per_team {
        println!("{team:>10} {level:<5} {n}");
    }
    let m = handle.metrics();
    for s in &m.stages {
        println!(
            "stage {:<9} in {:>3} out {:>3} filtered {:>3} dead-lettered {:>3} p99 {:?}",
            s.name, s.items_in, s.items_out, s.filtered, s.dead_lettered, s.p99
        );
    }
    println!(
        "{written} dead letters in {}, starting with:",
        dead_path.display()
    );
    let file = tokio::fs::read_to_string(&dead_path).await?;
    for line in file.lines().take(3) {
        println!("  {line}");
    }
    assert!(m.reconciles(), "every line is accounted for");
    let dead_lettered: u64 = m.stages.iter().map(|s| s.dead_lettered).sum();
    assert_eq!(written, dead_lettered);
    tokio::fs::remove_dir_all(&dir).await?;
    Ok(())
}
