//! Why a run could not start or finish.

use std::fmt;
use std::path::PathBuf;

/// A run that failed as a whole. (Events that fail one by one are not errors: they are
/// counted in the [`Summary`](crate::Summary).)
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A component refused its configuration or could not start.
    Setup {
        /// The component.
        component: &'static str,
        /// What it said.
        message: String,
    },
    /// The database could not be opened, closed or read back.
    Database {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The statistics actor stopped before it could answer the summary's question.
    StatsUnavailable,
    /// `--nats`: the NATS server could not be reached, refused the credentials, or the
    /// telemetry bridge could not start.
    Nats {
        /// The URL given to `--nats`.
        url: String,
        /// taskweave-nats' typed error.
        source: taskweave::nats::Error,
    },
}

impl Error {
    pub(crate) fn setup(component: &'static str, error: impl fmt::Display) -> Self {
        Self::Setup {
            component,
            message: error.to_string(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Setup { component, message } => {
                write!(f, "could not start the {component}: {message}")
            }
            Self::Database { path, source } => write!(
                f,
                "database {}: {source}; check that the path is writable (or omit --db)",
                path.display()
            ),
            Self::StatsUnavailable => f.write_str(
                "the statistics actor stopped before the summary; see the shutdown report",
            ),
            Self::Nats { url, source } => write!(
                f,
                "--nats {url}: {source}; start a server (`nats-server`) or omit --nats"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Database { source, .. } => Some(source),
            Self::Nats { source, .. } => Some(source),
            _ => None,
        }
    }
}
