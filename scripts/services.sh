#!/usr/bin/env bash
# Makes sure the real backing services the integration tests use are up:
# Redis on 127.0.0.1:6379 (and, as later issues need them, PostgreSQL and the
# Kafka-protocol broker). Starts what is down; never stops anything.
set -euo pipefail

say() { printf 'services: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
    local port=$1 name=$2
    for _ in $(seq 1 50); do
        port_open "$port" && return 0
        sleep 0.2
    done
    say "$name did not come up on 127.0.0.1:$port"
    return 1
}

if ! port_open 6379; then
    if ! command -v redis-server >/dev/null 2>&1; then
        say "installing redis-server (Debian package)"
        if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq redis-server; else sudo apt-get update -qq && sudo apt-get install -y -qq redis-server; fi
    fi
    say "starting Redis on 127.0.0.1:6379"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_port 6379 Redis
fi
say "Redis is up on 127.0.0.1:6379"
