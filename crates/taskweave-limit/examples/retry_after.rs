//! A client that respects a server's `429 Too Many Requests` and its `Retry-After` header.
//!
//! The "server" is an in-process task limiting each client with a `KeyedRateLimiter` (5 per
//! second, burst 5): when a client is over its quota it answers 429 with `Retry-After` in whole
//! seconds, as HTTP does. The client sends 20 requests; on a 429 it sleeps for the server's
//! Retry-After and also lowers its own pace with a local `RateLimiter`, so it stops hammering
//! the server with requests that would be refused anyway.
//!
//! Run with `cargo run -p taskweave-limit --example retry_after`.

use std::time::Duration;

use taskweave_limit::{KeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// What the server answers, as an HTTP status and header would.
#[derive(Debug)]
enum Response {
    Ok(u32),
    TooManyRequests { retry_after_secs: u64 },
}

struct Request {
    client: &'static str,
    id: u32,
    reply: oneshot::Sender<Response>,
}

async fn server(mut requests: mpsc::Receiver<Request>) {
    let limiter = KeyedRateLimiter::new(Quota::per_second(5)).expect("a valid quota");
    while let Some(req) = requests.recv().await {
        let response = match limiter.check_key(&req.client) {
            Ok(()) => Response::Ok(req.id),
            Err(retry) => Response::TooManyRequests {
                retry_after_secs: retry.as_secs_ceil(),
            },
        };
        let _ = req.reply.send(response);
    }
    let m = limiter.metrics();
    println!(
        "server: admitted {}, answered 429 {} times",
        m.admitted, m.rejected
    );
}

async fn call(server: &mpsc::Sender<Request>, id: u32) -> Response {
    let (reply, response) = oneshot::channel();
    let req = Request {
        client: "client-a",
        id,
        reply,
    };
    server.send(req).await.expect("the server is running");
    response.await.expect("the server answers")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (tx, rx) = mpsc::channel(16);
    let server_task = tokio::spawn(server(rx));

    // The client starts optimistic (20 per second) and slows down to what the server allows.
    let mut pace = RateLimiter::new(Quota::per_second(20).with_burst(1))?;
    let start = Instant::now();
    let mut refused = 0;
    for id in 0..20 {
        loop {
            pace.acquire().await?;
            match call(&tx, id).await {
                Response::Ok(id) => {
                    println!("{:>6.2?}  request {id} ok", start.elapsed());
                    break;
                }
                Response::TooManyRequests { retry_after_secs } => {
                    refused += 1;
                    println!(
                        "{:>6.2?}  request {id}: 429, Retry-After: {retry_after_secs}",
                        start.elapsed()
                    );
                    tokio::time::sleep(Duration::from_secs(retry_after_secs)).await;
                    // Pace ourselves at the server's rate from now on.
                    pace = RateLimiter::new(Quota::per_second(5).with_burst(1))?;
                }
            }
        }
    }
    println!(
        "client: 20 requests in {:.2?}, {refused} refused",
        start.elapsed()
    );
    drop(tx);
    server_task.await?;
    Ok(())
}
