#!/usr/bin/env bash
# `make tsan`: the unit tests, then the integration and interop suites against the server,
# both built with ThreadSanitizer (a debug build in .build-tsan, without jemalloc: see
# Package.swift). Fails if a test fails or if any process wrote a ThreadSanitizer report.
#   scripts/tsan.sh [pytest arguments]   (default: Tests/integration Tests/interop)
set -euo pipefail
cd "$(dirname "$0")/.."

swift=${SWIFT:-swift}
build=.build-tsan
logs="$PWD/$build/tsan-logs"
export VALKEYPER_SANITIZE=1
# halt_on_error=0: a race is reported and the process goes on, so one run shows them all;
# each process writes its reports to $logs/report.<pid>, checked at the end.
export TSAN_OPTIONS="halt_on_error=0 suppressions=$PWD/scripts/tsan-suppressions.txt log_path=$logs/report ${TSAN_OPTIONS:-}"
# Swift's backtracer installs signal handlers of its own; ThreadSanitizer's reports say enough.
export SWIFT_BACKTRACE=enable=no

report_races() {
    shopt -s nullglob
    local reports=("$logs"/report.*)
    if ((${#reports[@]})); then
        echo "tsan: ThreadSanitizer reports in ${#reports[@]} process(es):" >&2
        grep -h -A3 "^WARNING: ThreadSanitizer" "${reports[@]}" >&2 || cat "${reports[@]}" >&2
        echo "tsan: full reports in $logs" >&2
        return 1
    fi
    echo "tsan: no ThreadSanitizer reports" >&2
}

rm -rf "$logs"
mkdir -p "$logs"
"$swift" build --build-tests --sanitize=thread --build-path "$build"
status=0
"$swift" test --skip-build --sanitize=thread --build-path "$build" || status=$?
if ((status == 0)); then
    (($#)) || set -- Tests/integration Tests/interop
    VALKEYPER_BIN="$build/debug/valkeyper-server" python3 -m pytest -q "$@" || status=$?
fi
report_races || status=1
exit $status
