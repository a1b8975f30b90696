#!/usr/bin/env bash
# crash-test.sh -- acknowledged writes survive SIGKILL with the append-only file.
#
# Builds cinnabar (cargo build --release -p cinnabar, unless SKIP_BUILD=1), then runs
# bench/aof_crash.py once per fsync policy: writer threads push sequence numbers while the
# server (appendonly yes, auto-rewrite at 256kb so rewrites happen too) is killed with
# SIGKILL and restarted ROUNDS times at random moments; after each restart every
# acknowledged write must be present. Prints per round and a summary per policy: missing
# acknowledged writes (must be 0 with `always`) and the worst loss window in ms.
#
# Environment: CINNABAR_BIN (default target/release/cinnabar), PORT (default 7707),
# ROUNDS (default 50), WRITERS (default 4), POLICIES (default "always everysec"), SEED.
set -u -o pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-7707}
ROUNDS=${ROUNDS:-50}
WRITERS=${WRITERS:-4}
POLICIES=${POLICIES:-"always everysec"}
BIN=${CINNABAR_BIN:-target/release/cinnabar}

die() { echo "crash-test.sh: $*" >&2; exit 1; }
command -v python3 >/dev/null || die "python3 not found"
if [ -z "${CINNABAR_BIN:-}" ] && [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -p cinnabar || die "build failed"
fi
[ -x "$BIN" ] || die "$BIN not found"

status=0
for policy in $POLICIES; do
    echo "== appendfsync $policy"
    python3 bench/aof_crash.py --bin "$BIN" --port "$PORT" --fsync "$policy" \
        --rounds "$ROUNDS" --writers "$WRITERS" ${SEED:+--seed "$SEED"} || status=1
done
exit $status
