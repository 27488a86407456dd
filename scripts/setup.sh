#!/usr/bin/env bash
# Installs what building and testing ValKeyper needs, skipping what is already there.
#   scripts/setup.sh          build dependencies (jemalloc, Lua 5.1 and its cjson and bit libraries for scripting, OpenSSL's libcrypto for SHA1)
#   scripts/setup.sh --test   also the test peers: redis-server, redis-cli, redis-benchmark, redis-py, pytest
set -euo pipefail

packages=(libjemalloc-dev liblua5.1-0-dev lua-cjson-dev lua-bitop-dev libssl-dev)
if [[ "${1:-}" == "--test" ]]; then
    packages+=(redis-server redis-tools)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    sudo_cmd=""
    [[ $(id -u) -eq 0 ]] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ "${1:-}" == "--test" ]]; then
    python3 -c 'import redis, pytest' 2>/dev/null || {
        echo "setup: installing redis-py and pytest" >&2
        python3 -m pip install -q redis pytest
    }
    # rdbtools parses our dumps in the RDB interop tests.
    command -v rdb >/dev/null 2>&1 || {
        echo "setup: installing rdbtools" >&2
        python3 -m pip install -q rdbtools
    }
fi
