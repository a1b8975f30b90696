//! Periodic work (Redis's serverCron): the active expire cycle, statistics sampling and
//! save points,
//! `hz` times per second.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use commands::Server;

pub async fn run(server: Arc<Server>) {
    let mut field_sweep = commands::family::hashes::FieldSweep::default();
    loop {
        let hz = server.config.get_i64("hz").clamp(1, 500) as u64;
        tokio::time::sleep(Duration::from_millis(1000 / hz)).await;
        if server.shutdown_requested.load(Ordering::SeqCst) {
            return;
        }
        // The tick takes keyspace locks a script or EXEC may hold for long: it runs on a
        // blocking thread so no runtime worker (and no connection it serves) waits on them.
        let s = server.clone();
        let mut sweep = std::mem::take(&mut field_sweep);
        field_sweep = tokio::task::spawn_blocking(move || {
            tick(&s, &mut sweep, hz);
            sweep
        })
        .await
        .unwrap_or_default();
    }
}

/// One tick of periodic work, `hz` times per second.
fn tick(server: &Server, field_sweep: &mut commands::family::hashes::FieldSweep, hz: u64) {
    // Nothing is expired while the dataset loads (the loader skips expired keys itself).
    if !commands::family::persistence::loading(server) {
        // Redis's slow cycle: at most 25 % of each tick's time reclaims expired keys.
        server
            .keyspace
            .active_expire_cycle(Duration::from_micros(250_000 / hz));
        // Hash fields with a TTL (7.4): a further 5 % of the tick, only while any exist.
        field_sweep.run(server, Duration::from_micros(50_000 / hz));
    }
    // maxmemory: applies changed parameters; goes on evicting after a run hit its limit.
    commands::maxmemory::cron(server);
    server.stats.sample_ops(server.keyspace.now_ms());
    // Replication: PING of replicas, backlog size, the write gate.
    commands::replication::cron(server);
    // The AOF: CONFIG SET appendonly/appendfsync, scheduled and automatic rewrites.
    commands::aof::cron(server);
    // Keeps INFO's used_memory_peak up to date between INFO calls.
    commands::family::info::used_memory(server);
    // Save points (`save 3600 1 ...`): a snapshot when one is reached.
    commands::family::persistence::save_if_due(server);
}
