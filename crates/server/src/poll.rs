//! Busy polling (`busy-poll-us`): while requests keep arriving, one task keeps a runtime
//! worker polling for I/O instead of letting it sleep in `epoll_wait` between requests.
//!
//! A client whose request reaches a sleeping server pays for waking it (in the kernel, on
//! the client's own CPU: a cross-CPU wakeup, an exit to the hypervisor on a VM). With one
//! request in flight per connection that cost is on every request's path and bounds the
//! client's request rate. The poller yields to the runtime in a loop, so the worker polls
//! the I/O driver without blocking and a request finds the server awake. It stops after
//! `busy-poll-us` microseconds without a read and parks until the next one: an idle server
//! spends no CPU on it. `busy-poll-us 0` turns it off. On a CPU shared with busy threads
//! (a client on the same machine) its yields keep handing the CPU over; it notices and
//! stops spinning for a while, since there it would take CPU from them.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use commands::Server;

/// A spin step without any read that took this long means another thread had this CPU
/// meanwhile (the OS ran it when the poller yielded)...
const CONTENDED: Duration = Duration::from_micros(20);
/// ...and this many such steps within [`STRIKE_WINDOW`] (one can be an interrupt or the
/// hypervisor) mean the CPU is shared with busy threads: spinning would take CPU from them.
const STRIKES: u32 = 4;
const STRIKE_WINDOW: Duration = Duration::from_millis(1);
/// Then the poller does not spin for this long.
const BACK_OFF: Duration = Duration::from_millis(100);

pub async fn run(server: Arc<Server>) {
    let mut quiet_until = Instant::now();
    loop {
        if server.shutdown_requested.load(Ordering::SeqCst) {
            return;
        }
        let window = Duration::from_micros(server.config.get_i64("busy-poll-us").max(0) as u64);
        let mut seen = server.stats.net_input_bytes.load(Ordering::Relaxed);
        if !window.is_zero() && Instant::now() >= quiet_until {
            let mut last_read = Instant::now();
            let (mut strikes, mut strikes_since) = (0, Instant::now());
            loop {
                let step = Instant::now();
                tokio::task::yield_now().await;
                // A thread this core's scheduler could run instead (a client on the same
                // CPU) goes first.
                std::thread::yield_now();
                let now = server.stats.net_input_bytes.load(Ordering::Relaxed);
                if now != seen {
                    seen = now;
                    last_read = Instant::now();
                } else if step.elapsed() >= CONTENDED {
                    if strikes_since.elapsed() > STRIKE_WINDOW {
                        (strikes, strikes_since) = (0, Instant::now());
                    }
                    strikes += 1;
                    if strikes >= STRIKES {
                        // The CPU is shared with busy threads (clients on the same
                        // machine): sleeping between requests costs them less.
                        quiet_until = Instant::now() + BACK_OFF;
                        break;
                    }
                } else if last_read.elapsed() >= window
                    || server.shutdown_requested.load(Ordering::Relaxed)
                {
                    break;
                }
            }
        }
        // Park until a connection reads again (or the server stops).
        let shutdown = server.shutdown.notified();
        tokio::pin!(shutdown);
        shutdown.as_mut().enable();
        server.busy_poll.park();
        if server.shutdown_requested.load(Ordering::SeqCst) {
            return;
        }
        if server.stats.net_input_bytes.load(Ordering::SeqCst) != seen {
            // A read slipped in before the flag was up: poll again (its wake, if any, is
            // consumed by the next park's wait at once).
            server.busy_poll.activity();
            continue;
        }
        tokio::select! {
            _ = server.busy_poll.woken() => {}
            _ = &mut shutdown => return,
        }
    }
}
