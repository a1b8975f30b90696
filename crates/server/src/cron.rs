//! Periodic work (Redis's serverCron): the active expire cycle, statistics sampling and
//! save points,
//! `hz` times per second.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use commands::Server;

pub async fn run(server: Arc<Server>) {
    loop {
        let hz = server.config.get_i64("hz").clamp(1, 500) as u64;
        tokio::time::sleep(Duration::from_millis(1000 / hz)).await;
        if server.shutdown_requested.load(Ordering::SeqCst) {
            return;
        }
        // Redis's slow cycle: at most 25 % of each tick's time goes to reclaiming expired keys.
        server
            .keyspace
            .active_expire_cycle(Duration::from_micros(250_000 / hz));
        server.stats.sample_ops(server.keyspace.now_ms());
        // Keeps INFO's used_memory_peak up to date between INFO calls.
        commands::family::info::used_memory(&server);
        // Save points (`save 3600 1 ...`): a snapshot when one is reached.
        let s = server.clone();
        let _ = tokio::task::spawn_blocking(move || commands::family::persistence::save_if_due(&s))
            .await;
    }
}
