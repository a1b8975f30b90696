//! The `cinnabar` binary: reads a redis.conf-style file and redis-server-style options,
//! then runs the server until SHUTDOWN, SIGTERM or SIGINT.

mod options;

use std::process::ExitCode;
use std::sync::Arc;

use commands::{Config, Server};

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc options: return freed pages to the system after one second instead of ten, so
/// memory given back by a large reallocation (a shard's slot vector doubling) does not linger
/// in RSS; and one arena, so the pages that values freed by eviction or deletion leave
/// partly used are shared by every thread instead of fragmenting one arena per thread
/// (bench/eviction.sh, allkeys-random at maxmemory 100mb: peak RSS 175 MB with the default
/// arenas, 110 MB with one; each thread's cache still serves most allocations lock-free).
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8] = b"narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:1000\0";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match options::parse(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cinnabar: {e}");
            eprintln!("Run 'cinnabar --help' for usage.");
            return ExitCode::from(1);
        }
    };
    let (file, settings) = match parsed {
        options::Parsed::Help => {
            print!("{}", options::USAGE);
            return ExitCode::SUCCESS;
        }
        options::Parsed::Version => {
            println!(
                "Cinnabar server v={} redis_version={} malloc=jemalloc bits=64",
                commands::CINNABAR_VERSION,
                commands::REDIS_VERSION
            );
            return ExitCode::SUCCESS;
        }
        options::Parsed::Run { file, settings } => (file, settings),
    };
    let config = Config::new(file);
    for (name, value) in &settings {
        if let Err(e) = config.set_initial(name, value) {
            eprintln!("cinnabar: {e}");
            return ExitCode::from(1);
        }
    }
    if let Err(e) = init_logging(&config) {
        eprintln!("cinnabar: {e}");
        return ExitCode::from(1);
    }
    let dir = config.get("dir").unwrap_or_else(|| ".".into());
    if let Err(e) = std::env::set_current_dir(&dir) {
        eprintln!("cinnabar: can't chdir to '{dir}': {e}");
        return ExitCode::from(1);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cinnabar: can't start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("cinnabar: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let server = Server::new(config);
    // The server listens while the dataset loads, as Redis does: until it is in, clients
    // get -LOADING for every command without the `loading` flag (PING and INFO answer).
    // With `appendonly yes` the AOF is loaded instead of the RDB file.
    commands::family::persistence::mark_loading(&server);
    let running = server::start(server.clone()).await?;
    let loader = server.clone();
    std::thread::Builder::new()
        .name("loader".into())
        .spawn(move || {
            if let Err(e) = commands::family::persistence::load_dataset(&loader) {
                tracing::error!("{e}");
                eprintln!("cinnabar: {e}");
                std::process::exit(1);
            }
        })?;
    tracing::info!(
        "Cinnabar {} (Redis {} compatible) ready to accept connections on {}",
        commands::CINNABAR_VERSION,
        commands::REDIS_VERSION,
        running
            .addrs
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    tokio::spawn(signals(server.clone()));
    running.wait().await;
    commands::aof::close(&server);
    tracing::info!("Cinnabar is now ready to exit, bye bye...");
    Ok(())
}

async fn signals(server: Arc<Server>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("could not install signal handlers");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::warn!("Received SIGTERM scheduling shutdown..."),
        _ = int.recv() => tracing::warn!("Received SIGINT scheduling shutdown..."),
    }
    if let Err(e) = commands::family::persistence::shutdown_save(&server, None) {
        tracing::warn!("{e}");
    }
    server.request_shutdown();
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    let level = match config.get("loglevel").as_deref() {
        Some("debug") => "debug",
        Some("verbose") => "info",
        Some("warning") => "warn",
        Some("nothing") => "off",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CINNABAR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let logfile = config.get("logfile").unwrap_or_default();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if logfile.is_empty() {
        builder.with_writer(std::io::stderr).init();
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&logfile)
            .map_err(|e| anyhow::anyhow!("can't open the log file '{logfile}': {e}"))?;
        builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .init();
    }
    Ok(())
}
