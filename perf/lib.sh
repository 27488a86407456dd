# Shared helpers for the perf/ scripts (sourced, not run).
# Servers started here are tracked by pid and stopped on exit; each gets a free port and
# its own temporary directory, so nothing collides with other servers on the machine.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VALKEYPER_BIN="${VALKEYPER_BIN:-$ROOT/.build/release/valkeyper-server}"
OUT_DIR="${OUT_DIR:-$ROOT/perf/out}"
mkdir -p "$OUT_DIR"
CLK_TCK="$(getconf CLK_TCK)"

STARTED_PIDS=()
TMP_DIRS=()

cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        kill "$pid" 2>/dev/null || true
        # Up to 5 s for a clean exit, then give up on it.
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    local d
    for d in "${TMP_DIRS[@]:-}"; do [ -n "$d" ] && rm -rf "$d"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found (${2:-install it})"; }

build_release() {
    [ "${NO_BUILD:-0}" = 1 ] && { [ -x "$VALKEYPER_BIN" ] || die "no binary at $VALKEYPER_BIN"; return; }
    log "building release (swift build -c release --product valkeyper-server)..."
    (cd "$ROOT" && swift build -c release --product valkeyper-server >&2)
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_ready() {  # port pid
    local port="$1" pid="$2"
    for _ in $(seq 200); do
        kill -0 "$pid" 2>/dev/null || die "server (pid $pid) exited during startup"
        [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.05
    done
    die "server on port $port did not answer PING"
}

# The server defaults to a worker per core, for a machine of its own. These scripts run the
# load generator on the same machine, so unless ARGS choose --threads, the server gets half
# the cores (at least one), as many shards, and the load generator the rest.
shared_machine_workers() { local n; n=$(nproc); echo $(( n / 2 > 0 ? n / 2 : 1 )); }

# start_server NAME PORT ARGS...: NAME is valkeyper or redis. Sets SERVER_PID.
start_server() {
    local name="$1" port="$2"; shift 2
    local dir; dir="$(mktemp -d "/tmp/perf-$name-XXXXXX")"
    TMP_DIRS+=("$dir")
    if [ "$name" = valkeyper ] && ! printf '%s\n' "$*" | grep -q -- '--threads'; then
        local n; n=$(shared_machine_workers)
        set -- --threads "$n" --shards "$n" "$@"
    fi
    case "$name" in
        # No save rules, as redis-server below: a BGSAVE the rules start during a load would
        # hold its snapshot copy in used_memory (and compete for CPU).
        valkeyper) "$VALKEYPER_BIN" --port "$port" --dir "$dir" --save '' "$@" >"$dir/server.log" 2>&1 & ;;
        redis) redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" "$@" \
                   >"$dir/server.log" 2>&1 & ;;
        *) die "unknown server $name" ;;
    esac
    SERVER_PID=$!
    STARTED_PIDS+=("$SERVER_PID")
    wait_ready "$port" "$SERVER_PID"
}

stop_server() {  # pid
    kill "$1" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$1" 2>/dev/null || true
}

# CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat.
cpu_seconds() {
    local stat; stat="$(cat "/proc/$1/stat")"
    # Fields after the ")" that ends the command name: state is 3rd, utime 14th, stime 15th.
    set -- ${stat##*\) }
    python3 -c "print((${12} + ${13}) / $CLK_TCK)"
}

rss_bytes() {  # pid
    awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$1/status"
}

info_field() {  # port field
    redis-cli -p "$1" info memory | tr -d '\r' | awk -F: -v f="$2" '$1 == f {print $2}'
}
