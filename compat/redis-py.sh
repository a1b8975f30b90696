#!/usr/bin/env bash
# compat/redis-py.sh [--only-cinnabar] [TEST_FILE ...]
# SUITE=messaging compat/redis-py.sh        FILES="tests/test_pubsub.py ..." compat/redis-py.sh
#
# Runs redis-py's own test suite (from its PyPI source distribution) against a fresh
# Debian redis-server and a fresh cinnabar on the same machine, and prints both pass counts
# and the share of the tests redis-server passes that cinnabar passes too, per command family.
#
# Test files, first match wins: the arguments; else FILES (space-separated); else SUITE:
#   commands   (default) tests/test_commands.py tests/test_asyncio/test_commands.py
#   messaging  pub/sub, scripting, functions, pipelines and transactions, sync and asyncio:
#              test_pubsub, test_scripting, test_function, test_pipeline and their
#              tests/test_asyncio/ twins (test_function has none)
# The report gives, per test file, how many tests redis-server and cinnabar pass and the
# share of redis-server's passes that cinnabar passes too.
#
# --only-cinnabar: run the suite against cinnabar alone (no redis-server) and print its
# passed/failed/skipped counts and every failing test with its reason. For suites whose
# reference needs a module Debian's redis-server lacks, e.g. RedisJSON:
#   MOD_URL=1 compat/redis-py.sh --only-cinnabar tests/test_json.py tests/test_asyncio/test_json.py
# redis-py 8 speaks RESP3 by default but turns replies back into RESP2 shapes, which hides
# RESP3 reply-shape differences; PYTEST_ARGS=--protocol=3 checks the raw RESP3 shapes,
# PYTEST_ARGS=--protocol=2 the RESP2 wire.
#
# Ports: redis-server on 6390, cinnabar on 6380 (nothing else may listen there meanwhile;
# override with REDIS_PORT / CINNABAR_PORT).
# Environment (optional):
#   REDIS_PY_VERSION  pin the redis-py version (default: the newest on PyPI)
#   WORK              cache directory for the sdist and the virtualenv (default /tmp/cinnabar-redis-py)
#   CINNABAR_BIN      prebuilt cinnabar binary (default: cargo build --release)
#   PYTEST_ARGS       extra pytest arguments (e.g. "-k hset")
#   MOD_URL=1         also pass --redis-mod-url pointing at the server under test (JSON tests)
#   RESULTS           where the logs and JUnit XML go (default: $WORK), so that two runs can
#                     share one cached virtualenv
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
WORK=${WORK:-/tmp/cinnabar-redis-py}
REDIS_PORT=${REDIS_PORT:-6390}
CINNABAR_PORT=${CINNABAR_PORT:-6380}
ONLY_CINNABAR=0
if [ "${1:-}" = --only-cinnabar ]; then ONLY_CINNABAR=1; shift; fi
FILES_ENV=${FILES:-}
FILES=("$@")
if [ ${#FILES[@]} -eq 0 ] && [ -n "$FILES_ENV" ]; then read -r -a FILES <<<"$FILES_ENV"; fi
if [ ${#FILES[@]} -eq 0 ]; then
    case "${SUITE:-commands}" in
    commands) FILES=(tests/test_commands.py tests/test_asyncio/test_commands.py) ;;
    messaging) FILES=(tests/test_pubsub.py tests/test_asyncio/test_pubsub.py
        tests/test_scripting.py tests/test_asyncio/test_scripting.py tests/test_function.py
        tests/test_pipeline.py tests/test_asyncio/test_pipeline.py) ;;
    *) echo "redis-py.sh: unknown SUITE '$SUITE' (commands, messaging)" >&2; exit 2 ;;
    esac
fi

die() { echo "redis-py.sh: $*" >&2; exit 2; }
command -v redis-cli >/dev/null || die "redis-cli not found (apt-get install -y redis-tools)"
[ $ONLY_CINNABAR = 1 ] || command -v redis-server >/dev/null || die "redis-server not found (apt-get install -y redis-server redis-tools)"
command -v python3 >/dev/null || die "python3 not found"
PORTS=($CINNABAR_PORT); [ $ONLY_CINNABAR = 1 ] || PORTS+=($REDIS_PORT)
for p in "${PORTS[@]}"; do
    if redis-cli -p "$p" PING >/dev/null 2>&1; then die "something already listens on port $p"; fi
done

mkdir -p "$WORK"
RESULTS=${RESULTS:-$WORK}
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
cd "$WORK"
if [ ! -d src ]; then
    spec=redis${REDIS_PY_VERSION:+==$REDIS_PY_VERSION}
    rm -rf dl && mkdir dl
    pip download --no-binary :all: --no-deps "$spec" -d dl >/dev/null
    tar xzf dl/redis-*.tar.gz
    mv redis-*/ src
fi
if [ ! -x venv/bin/python ]; then
    python3 -m venv venv
    venv/bin/pip install -q --upgrade pip >/dev/null
    venv/bin/pip install -q "pytest<9" "pytest-asyncio" pytest-timeout pytest-cov coverage packaging ujson numpy >/dev/null
    venv/bin/pip install -q ./src >/dev/null
fi
echo "# redis-py $(venv/bin/python -c 'import redis; print(redis.__version__)') tests: ${FILES[*]}" >&2

if [ -n "${CINNABAR_BIN:-}" ]; then
    BIN=$CINNABAR_BIN
else
    (cd "$REPO" && cargo build --release -q -p cinnabar)
    BIN=$REPO/target/release/cinnabar
fi

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_ping() { for _ in $(seq 1 100); do redis-cli -p "$1" PING >/dev/null 2>&1 && return 0; sleep 0.1; done; die "server on $1 did not start"; }

run_suite() { # label port
    local url=redis://127.0.0.1:$2 extra=()
    [ "${MOD_URL:-0}" = 1 ] && extra+=(--redis-mod-url="$url")
    (cd src && timeout 1500 ../venv/bin/python -m pytest "${FILES[@]}" --redis-url="$url" "${extra[@]}" \
        -p no:cacheprovider -q -o addopts="" --timeout=60 --junitxml="$RESULTS/$1.xml" ${PYTEST_ARGS:-} \
        >"$RESULTS/$1.log" 2>&1) || true
    tail -1 "$RESULTS/$1.log" >&2
}

dir=$(mktemp -d)
if [ $ONLY_CINNABAR = 0 ]; then
    redis-server --port $REDIS_PORT --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" >/dev/null 2>&1 &
    PIDS+=($!)
    wait_ping $REDIS_PORT
    run_suite redis $REDIS_PORT
    redis-cli -p $REDIS_PORT shutdown nosave >/dev/null 2>&1 || true
fi

"$BIN" --port $CINNABAR_PORT --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --loglevel warning >"$RESULTS/cinnabar-server.log" 2>&1 &
PIDS+=($!)
wait_ping $CINNABAR_PORT
CMDS=$(redis-cli -p $CINNABAR_PORT COMMAND LIST | tr 'A-Z' 'a-z' | tr '\n' ' ')
run_suite cinnabar $CINNABAR_PORT
redis-cli -p $CINNABAR_PORT shutdown nosave >/dev/null 2>&1 || true

if [ $ONLY_CINNABAR = 1 ]; then
    python3 "$HERE/redis_py_report.py" --single "$RESULTS/cinnabar.xml"
else
    CINNABAR_COMMANDS="$CMDS" python3 "$HERE/redis_py_report.py" "$RESULTS/redis.xml" "$RESULTS/cinnabar.xml"
fi
