# bench/servers.sh -- sourced by the bench/ scripts that compare with redis-server.
# Starts Debian's redis-server and cinnabar (or a stand-in) pinned to one CPU,
# waits for PING, and kills everything it started on exit.
#
# Environment (all optional):
#   REDIS_SERVER   reference server binary        (default: redis-server on PATH)
#   REDIS_CLI      client binary                  (default: redis-cli on PATH)
#   REDIS_BENCHMARK load generator                (default: redis-benchmark on PATH)
#   REDIS_PORT     port of the reference server   (default 6390)
#   CINNABAR_PORT  port of cinnabar               (default 6391)
#   SERVER_CPUS    CPU list for both servers      (default 0)
#   CINNABAR_CMD   command that starts the B server instead of the freshly
#                  built cinnabar, word-split; the script appends
#                  `--port P --bind 127.0.0.1 --save "" --appendonly no --dir D`.
#                  E.g. CINNABAR_CMD=redis-server for a noise-floor check
#                  (redis vs redis). Setting it skips the cargo build.
#   CINNABAR_BIN   path of a prebuilt cinnabar binary (skips the cargo build)
#   SKIP_BUILD=1   do not run cargo; use $REPO/target/release/cinnabar as is
#   START_TIMEOUT  seconds to wait for PING (default 30)

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
SHARED=${SHARED:-$REPO/../shared}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
export REDIS_CLI=${REDIS_CLI:-redis-cli}
export REDIS_BENCHMARK=${REDIS_BENCHMARK:-redis-benchmark}
REDIS_PORT=${REDIS_PORT:-6390}
CINNABAR_PORT=${CINNABAR_PORT:-6391}
SERVER_CPUS=${SERVER_CPUS:-0}
START_TIMEOUT=${START_TIMEOUT:-30}

die() { echo "$(basename "$0"): $*" >&2; exit 2; }

need_tools() { # extra tools...
    local t missing=""
    for t in "$REDIS_SERVER" "$REDIS_CLI" taskset "$@"; do
        command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
    done
    [ -z "$missing" ] || die "missing:$missing (install with: apt-get install -y redis-server redis-tools util-linux)"
    [ -d "$SHARED/bench" ] || die "shared bench scripts not found in $SHARED/bench (set SHARED=/path/to/shared)"
    [ "$REDIS_PORT" != "$CINNABAR_PORT" ] || die "REDIS_PORT and CINNABAR_PORT must differ"
    local p
    for p in "$REDIS_PORT" "$CINNABAR_PORT"; do
        ping_ok "$p" && die "something already answers on port $p; refusing to benchmark/flush it (set REDIS_PORT/CINNABAR_PORT)"
    done
    return 0
}

# Sets CINNABAR_START (array) to the command that starts server B.
resolve_cinnabar() {
    if [ -n "${CINNABAR_CMD:-}" ]; then
        # shellcheck disable=SC2206  # word splitting is intended
        CINNABAR_START=($CINNABAR_CMD)
        CINNABAR_LABEL=${CINNABAR_LABEL:-"$CINNABAR_CMD(stand-in)"}
        return
    fi
    local bin=${CINNABAR_BIN:-}
    if [ -z "$bin" ]; then
        bin=${CARGO_TARGET_DIR:-$REPO/target}/release/cinnabar
        if [ "${SKIP_BUILD:-0}" != 1 ]; then
            command -v cargo >/dev/null 2>&1 || { [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"; }
            command -v cargo >/dev/null 2>&1 || die "cargo not found (set CINNABAR_BIN or SKIP_BUILD=1)"
            echo "# building cinnabar: cargo build --release -p cinnabar" >&2
            (cd "$REPO" && cargo build --release -p cinnabar) || die "cargo build failed"
        fi
    fi
    [ -x "$bin" ] || die "cinnabar binary not found at $bin"
    CINNABAR_START=("$bin")
    CINNABAR_LABEL=${CINNABAR_LABEL:-cinnabar}
}

STARTED_PIDS=()
TMP_DIRS=()
cleanup() {
    local p
    for p in "${STARTED_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${STARTED_PIDS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    STARTED_PIDS=()
    for p in "${TMP_DIRS[@]}"; do rm -rf "$p"; done
    TMP_DIRS=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ping_ok() { [ "$(timeout 2 "$REDIS_CLI" -h 127.0.0.1 -p "$1" PING 2>/dev/null)" = PONG ]; }

# start_server NAME PORT CMD...   -> sets LAST_PID. Appends the standard options.
start_server() {
    local name=$1 port=$2; shift 2
    ping_ok "$port" && die "something already answers on port $port; refusing to benchmark/flush it"
    local dir; dir=$(mktemp -d "/tmp/cinnabar-bench-$name.XXXXXX"); TMP_DIRS+=("$dir")
    echo "# starting $name on 127.0.0.1:$port (cpu $SERVER_CPUS): $* --port $port --bind 127.0.0.1 --save '' --appendonly no --dir $dir" >&2
    # taskset execs the server, so $! is the server's own pid.
    (cd "$dir" && exec taskset -c "$SERVER_CPUS" "$@" --port "$port" --bind 127.0.0.1 \
        --save "" --appendonly no --dir "$dir") >"$dir/server.log" 2>&1 &
    LAST_PID=$!
    STARTED_PIDS+=("$LAST_PID")
    local deadline=$((SECONDS + START_TIMEOUT))
    until ping_ok "$port"; do
        if ! kill -0 "$LAST_PID" 2>/dev/null; then
            echo "--- $name log ($dir/server.log):" >&2; tail -20 "$dir/server.log" >&2
            die "$name exited during start-up"
        fi
        [ $SECONDS -lt $deadline ] || { tail -20 "$dir/server.log" >&2; die "$name did not answer PING on port $port within ${START_TIMEOUT}s"; }
        sleep 0.1
    done
}

start_redis()    { start_server redis "$REDIS_PORT" "$REDIS_SERVER"; REDIS_PID=$LAST_PID; }
start_cinnabar() { start_server cinnabar "$CINNABAR_PORT" "${CINNABAR_START[@]}"; CINNABAR_PID=$LAST_PID; }

# rss PID -> resident bytes of the process.
rss() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"; }

# rss_per_unit PORT PID N < RESP -> pipes the RESP load on stdin into the server on PORT
# (redis-cli --pipe) and prints its RSS growth divided by N, measured a second after start
# and two seconds after the load (so freed pages have been returned).
rss_per_unit() {
    local before after
    sleep 1
    before=$(rss "$2")
    "$REDIS_CLI" -p "$1" --pipe >/dev/null 2>&1
    sleep 2
    after=$(rss "$2")
    awk -v a="$after" -v b="$before" -v n="$3" 'BEGIN { printf "%.1f", (a - b) / n }'
}
