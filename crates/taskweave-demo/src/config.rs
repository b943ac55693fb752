//! The demo's settings and its hand-written command-line parser.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Everything a run of the pipeline depends on. [`Config::default`] is what
/// `cargo xtask demo` runs with no arguments.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// How many events the generator produces (default 200,000).
    pub events: u64,
    /// The fraction of calls to the remote service that fail outside the outage (default 0.05).
    pub fail_rate: f64,
    /// Where the SQLite database lives; `None` (the default) uses a temporary file that is
    /// deleted at the end of the run.
    pub db: Option<PathBuf>,
    /// Stop as if Ctrl-C had been pressed this long after the start (default: never).
    pub stop_after: Option<Duration>,
    /// Stop as if Ctrl-C had been pressed once the generator has produced this many events
    /// (default: never). The deterministic twin of `stop_after`, for tests.
    pub stop_after_events: Option<u64>,
    /// How long the remote service is down, starting when half of the events have been sent
    /// to it (default 1.5 s; zero for no outage).
    pub outage: Duration,
    /// How many events the worker pool validates and enriches at once (default 128).
    pub concurrency: usize,
    /// The remote service's quota: how many events per second may start their enrichment
    /// (default 50,000), with a burst of 20 ms' worth ([`Config::remote_burst`]). `None`
    /// (`--remote-rate 0`) for no limit. Enforced by a `taskweave-limit` rate limiter in front
    /// of the retry and the breaker; an event's retries ride on its one permit.
    pub remote_rate: Option<u32>,
    /// The seed of the event generator and of the remote's failures (default 42).
    pub seed: u64,
    /// Whether SIGINT/SIGTERM start the shutdown (default true; tests turn it off).
    pub signals: bool,
    /// How progress is shown (default [`ProgressMode::Auto`]).
    pub progress: ProgressMode,
    /// A NATS server to export the telemetry bus to, so that other processes can watch the
    /// run (default: none; see [`remote_watch`](crate::remote_watch)).
    pub nats: Option<String>,
}

/// How the progress subscriber shows what the pipeline is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProgressMode {
    /// A progress bar when standard error is a terminal, log lines otherwise.
    #[default]
    Auto,
    /// Always a progress bar.
    Bar,
    /// Always periodic log lines (through `tracing`).
    Log,
}

impl ProgressMode {
    /// Decides `Auto`: [`Bar`](Self::Bar) when standard error is a terminal, [`Log`](Self::Log)
    /// otherwise (CI, a pipe, a test).
    pub fn resolve(self) -> Self {
        match self {
            Self::Auto if std::io::IsTerminal::is_terminal(&std::io::stderr()) => Self::Bar,
            Self::Auto => Self::Log,
            other => other,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            events: 200_000,
            fail_rate: 0.05,
            db: None,
            stop_after: None,
            stop_after_events: None,
            outage: Duration::from_millis(1500),
            concurrency: 128,
            remote_rate: Some(Config::DEFAULT_REMOTE_RATE),
            seed: 42,
            signals: true,
            progress: ProgressMode::Auto,
            nats: None,
        }
    }
}

impl Config {
    /// The default [`remote_rate`](Self::remote_rate), in events per second.
    pub const DEFAULT_REMOTE_RATE: u32 = 50_000;
    /// The largest [`remote_rate`](Self::remote_rate) `--remote-rate` accepts.
    pub const MAX_REMOTE_RATE: u32 = 10_000_000;

    /// The burst the rate limiter allows: 20 ms' worth of `remote_rate`, at least 1; `None`
    /// without a limit.
    pub fn remote_burst(&self) -> Option<u32> {
        self.remote_rate.map(|rate| (rate / 50).max(1))
    }
}

/// What the command line asks for.
#[derive(Debug, Clone)]
pub enum Command {
    /// Run the pipeline with this configuration.
    Run(Config),
    /// Print [`USAGE`] and exit.
    Help,
}

/// The `--help` text.
pub const USAGE: &str = "\
taskweave-demo: an ingest service built from every taskweave pattern

USAGE:
    cargo xtask demo [OPTIONS]

OPTIONS:
    --events N              events to generate (default 200000)
    --fail-rate F           fraction of remote calls that fail, 0..=1 (default 0.05)
    --db PATH               keep the SQLite database at PATH (default: a temporary file)
    --stop-after SECS       stop as if Ctrl-C was pressed after SECS seconds
    --stop-after-events N   stop as if Ctrl-C was pressed after N events were generated
    --outage SECS           how long the remote is down, mid-run (default 1.5; 0 for none)
    --concurrency N         events validated and enriched at once (default 128)
    --remote-rate N         events per second sent to the remote, its quota (default 50000;
                            0 for no limit)
    --seed N                seed of the generator and of the injected failures (default 42)
    --progress MODE         auto, bar or log (default auto: a bar on a terminal)
    --nats URL              export the telemetry to this NATS server, to watch the run
                            with `nats sub '>'` (default: none)
    -h, --help              print this help
";

/// A command-line argument the demo could not use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// An option the demo does not know.
    UnknownOption(String),
    /// An option given without its value.
    MissingValue(&'static str),
    /// An option whose value does not parse or is out of range.
    InvalidValue {
        /// The option.
        option: &'static str,
        /// The value given.
        value: String,
        /// What the option accepts.
        expected: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownOption(option) => {
                write!(f, "unknown option `{option}`; see --help for the options")
            }
            Self::MissingValue(option) => write!(f, "`{option}` needs a value; see --help"),
            Self::InvalidValue {
                option,
                value,
                expected,
            } => write!(f, "`{option} {value}`: expected {expected}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Command {
    /// Parses the arguments that follow the program name.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the option that is unknown, lacks its value, or has a value
    /// out of range.
    pub fn parse<I, S>(args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut config = Config::default();
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            // Accept both `--events 10` and `--events=10`.
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) if name.starts_with("--") => {
                    (name.to_owned(), Some(value.to_owned()))
                }
                _ => (arg, None),
            };
            let mut value = |option: &'static str| {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or(ConfigError::MissingValue(option))
            };
            match name.as_str() {
                "-h" | "--help" => return Ok(Self::Help),
                "--events" => {
                    config.events = parse_count("--events", &value("--events")?, 1)?;
                }
                "--fail-rate" => {
                    let raw = value("--fail-rate")?;
                    config.fail_rate = match raw.parse::<f64>() {
                        Ok(rate) if (0.0..=1.0).contains(&rate) => rate,
                        _ => return Err(invalid("--fail-rate", raw, "a number from 0 to 1")),
                    };
                }
                "--db" => {
                    let raw = value("--db")?;
                    if raw.is_empty() {
                        return Err(invalid("--db", raw, "a file path"));
                    }
                    config.db = Some(PathBuf::from(raw));
                }
                "--stop-after" => {
                    let raw = value("--stop-after")?;
                    config.stop_after = Some(parse_seconds("--stop-after", raw, false)?);
                }
                "--stop-after-events" => {
                    let raw = value("--stop-after-events")?;
                    config.stop_after_events = Some(parse_count("--stop-after-events", &raw, 0)?);
                }
                "--outage" => {
                    config.outage = parse_seconds("--outage", value("--outage")?, true)?;
                }
                "--concurrency" => {
                    let raw = value("--concurrency")?;
                    let n = parse_count("--concurrency", &raw, 1)?;
                    config.concurrency = usize::try_from(n)
                        .ok()
                        .filter(|&n| n <= 65_536)
                        .ok_or_else(|| invalid("--concurrency", raw, "a number from 1 to 65536"))?;
                }
                "--remote-rate" => {
                    let raw = value("--remote-rate")?;
                    let n = parse_count("--remote-rate", &raw, 0)?;
                    config.remote_rate = match u32::try_from(n) {
                        Ok(0) => None,
                        Ok(n) if n <= Config::MAX_REMOTE_RATE => Some(n),
                        _ => {
                            return Err(invalid(
                                "--remote-rate",
                                raw,
                                "a number from 0 (no limit) to 10000000",
                            ));
                        }
                    };
                }
                "--seed" => config.seed = parse_count("--seed", &value("--seed")?, 0)?,
                "--progress" => {
                    let raw = value("--progress")?;
                    config.progress = match raw.as_str() {
                        "auto" => ProgressMode::Auto,
                        "bar" => ProgressMode::Bar,
                        "log" => ProgressMode::Log,
                        _ => return Err(invalid("--progress", raw, "auto, bar or log")),
                    };
                }
                "--nats" => config.nats = Some(crate::remote_watch::parse_url(&value("--nats")?)?),
                _ => return Err(ConfigError::UnknownOption(name)),
            }
        }
        Ok(Self::Run(config))
    }
}

fn invalid(option: &'static str, value: String, expected: &'static str) -> ConfigError {
    ConfigError::InvalidValue {
        option,
        value,
        expected,
    }
}

fn parse_count(option: &'static str, raw: &str, min: u64) -> Result<u64, ConfigError> {
    // Allow `200_000` and `200,000` as they are written in docs.
    let digits: String = raw.chars().filter(|c| !matches!(c, '_' | ',')).collect();
    match digits.parse::<u64>() {
        Ok(n) if n >= min => Ok(n),
        _ if min == 0 => Err(invalid(option, raw.to_owned(), "a whole number")),
        _ => Err(invalid(
            option,
            raw.to_owned(),
            "a whole number of at least 1",
        )),
    }
}

fn parse_seconds(
    option: &'static str,
    raw: String,
    zero_ok: bool,
) -> Result<Duration, ConfigError> {
    match raw.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 => {
            Ok(Duration::from_secs_f64(secs))
        }
        Ok(secs) if zero_ok && secs == 0.0 => Ok(Duration::ZERO),
        _ if zero_ok => Err(invalid(option, raw, "seconds, from 0 to 86400")),
        _ => Err(invalid(
            option,
            raw,
            "seconds, more than 0 and at most 86400",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, ConfigError> {
        match Command::parse(args.iter().copied())? {
            Command::Run(config) => Ok(config),
            Command::Help => panic!("unexpected help"),
        }
    }

    #[test]
    fn defaults_match_the_issue() {
        let config = run(&[]).unwrap();
        assert_eq!(config.events, 200_000);
        assert!((config.fail_rate - 0.05).abs() < f64::EPSILON);
        assert!(config.db.is_none());
        assert!(config.stop_after.is_none());
        assert_eq!(config.remote_rate, Some(50_000));
        assert_eq!(config.remote_burst(), Some(1_000));
        assert!(config.nats.is_none());
    }

    #[test]
    fn parses_every_option_in_both_spellings() {
        let config = run(&[
            "--events=2_000",
            "--fail-rate",
            "0.1",
            "--db",
            "out.sqlite",
            "--stop-after=2.5",
            "--stop-after-events",
            "10",
            "--outage",
            "0",
            "--concurrency=8",
            "--remote-rate",
            "20",
            "--seed",
            "7",
            "--progress",
            "log",
            "--nats=nats://127.0.0.1:4222",
        ])
        .unwrap();
        assert_eq!(config.events, 2_000);
        assert!((config.fail_rate - 0.1).abs() < f64::EPSILON);
        assert_eq!(config.db, Some(PathBuf::from("out.sqlite")));
        assert_eq!(config.stop_after, Some(Duration::from_millis(2500)));
        assert_eq!(config.stop_after_events, Some(10));
        assert_eq!(config.outage, Duration::ZERO);
        assert_eq!(config.concurrency, 8);
        assert_eq!(config.remote_rate, Some(20));
        assert_eq!(config.remote_burst(), Some(1));
        assert_eq!(config.seed, 7);
        assert_eq!(config.progress, ProgressMode::Log);
        assert_eq!(config.nats.as_deref(), Some("nats://127.0.0.1:4222"));
    }

    #[test]
    fn a_zero_remote_rate_means_no_limit() {
        let config = run(&["--remote-rate", "0"]).unwrap();
        assert_eq!((config.remote_rate, config.remote_burst()), (None, None));
        let config = run(&["--remote-rate=10_000_000"]).unwrap();
        assert_eq!(config.remote_rate, Some(Config::MAX_REMOTE_RATE));
    }

    #[test]
    fn help_wins() {
        assert!(matches!(
            Command::parse(["--events", "5", "--help"]),
            Ok(Command::Help)
        ));
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        assert_eq!(
            run(&["--bogus"]).unwrap_err(),
            ConfigError::UnknownOption("--bogus".into())
        );
        assert_eq!(
            run(&["--events"]).unwrap_err(),
            ConfigError::MissingValue("--events")
        );
        for args in [
            &["--events", "0"][..],
            &["--events", "many"],
            &["--fail-rate", "1.5"],
            &["--fail-rate", "NaN"],
            &["--stop-after", "0"],
            &["--stop-after", "-1"],
            &["--outage", "inf"],
            &["--concurrency", "0"],
            &["--remote-rate", "10000001"],
            &["--remote-rate", "-5"],
            &["--progress", "fancy"],
            &["--nats", "http://localhost"],
        ] {
            let err = run(args).unwrap_err();
            assert!(
                matches!(err, ConfigError::InvalidValue { .. }),
                "{args:?}: {err}"
            );
            assert!(err.to_string().contains("expected"), "{err}");
        }
    }
}
