//! A probe actor shared by the integration tests: it records its lifecycle in a log.
#![allow(dead_code, unreachable_pub)]

use std::fmt;
use std::sync::{Arc, Mutex};

use taskweave_actor::{Actor, Context, ExitReason, Reply};
use tokio::sync::{mpsc, oneshot};

#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }

    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

#[derive(Debug)]
pub struct ProbeError(pub &'static str);

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ProbeError {}

pub enum Msg {
    Record(u32),
    Seen(Reply<Vec<u32>>),
    /// Parks the handler until the sender is dropped or fires.
    Block(oneshot::Receiver<()>),
    Panic(&'static str),
    Fail(&'static str),
    StopSelf,
    /// Attaches the receiver as a stream of `Record`s; answers whether that worked.
    Attach(mpsc::Receiver<u32>, Reply<bool>),
}

pub struct ProbeArgs {
    pub log: Log,
    pub fail_start: bool,
    /// Prefixed to every log entry, to tell probes sharing a log apart.
    pub tag: &'static str,
}

impl ProbeArgs {
    pub fn new(log: &Log) -> Self {
        Self {
            log: log.clone(),
            fail_start: false,
            tag: "",
        }
    }

    pub fn tagged(log: &Log, tag: &'static str) -> Self {
        Self {
            tag,
            ..Self::new(log)
        }
    }
}

pub struct Probe {
    log: Log,
    tag: &'static str,
    seen: Vec<u32>,
}

impl Probe {
    fn note(&self, entry: String) {
        self.log.push(format!("{}{entry}", self.tag));
    }
}

impl Actor for Probe {
    type Args = ProbeArgs;
    type Message = Msg;
    type Error = ProbeError;

    async fn start(args: ProbeArgs, _ctx: &mut Context<Self>) -> Result<Self, ProbeError> {
        args.log.push(format!("{}start", args.tag));
        if args.fail_start {
            return Err(ProbeError("refused to start"));
        }
        Ok(Self {
            log: args.log,
            tag: args.tag,
            seen: Vec::new(),
        })
    }

    async fn handle(&mut self, message: Msg, ctx: &mut Context<Self>) -> Result<(), ProbeError> {
        match message {
            Msg::Record(n) => {
                self.note(format!("handle {n}"));
                self.seen.push(n);
            }
            Msg::Seen(reply) => {
                let _ = reply.send(self.seen.clone());
            }
            Msg::Block(release) => {
                let _ = release.await;
            }
            Msg::Panic(message) => panic!("{message}"),
            Msg::Fail(why) => return Err(ProbeError(why)),
            Msg::StopSelf => ctx.close(),
            Msg::Attach(rx, reply) => {
                let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                    rx.recv().await.map(|n| (Msg::Record(n), rx))
                });
                ctx.attach_stream(stream);
                let _ = reply.send(true);
            }
        }
        Ok(())
    }

    async fn stop(&mut self, reason: &ExitReason, _ctx: &mut Context<Self>) {
        self.note(format!("stop {}", short(reason)));
    }
}

/// A one-word name for a reason, for compact assertions.
pub fn short(reason: &ExitReason) -> &'static str {
    match reason {
        ExitReason::Normal => "normal",
        ExitReason::Stopped => "stopped",
        ExitReason::Cancelled => "cancelled",
        ExitReason::Killed => "killed",
        ExitReason::Failed(_) => "failed",
        ExitReason::Panicked(_) => "panicked",
        ExitReason::LinkDied { .. } => "link-died",
        _ => "other",
    }
}
