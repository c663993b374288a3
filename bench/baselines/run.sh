#!/usr/bin/env bash
# Runs kaquan and the baselines side by side, alternating, with the same clients and duration, and
# writes one report (JSON per run, report.html, PNG charts). Not part of CI.
#
#   bench/baselines/run.sh [REPORT_DIR]      (env: DURATION=10s CONCURRENCY=64 ACCOUNTS=5000
#                                             CARDS_PER_USER=20 FLASH_USERS=100000 FLASH_STOCK=10000
#                                             ROUNDS=1)
#
# Installs PostgreSQL and Redis from Debian's packages if missing, runs them on loopback with their
# data under a temporary folder (PostgreSQL with its default durability; Redis with appendonly and
# appendfsync always, then everysec), and stops them at the end.
set -euo pipefail
cd "$(dirname "$0")"
report=$(realpath -m "${1:-../../bench-report}")
# 20 cards per user: enough that neither kaquan nor PostgreSQL claims a card during a 10 s run, so
# both do the same work per payment (the code, then the payment).
duration=${DURATION:-10s} clients=${CONCURRENCY:-64} accounts=${ACCOUNTS:-5000} cards=${CARDS_PER_USER:-20}
flash_users=${FLASH_USERS:-100000} flash_stock=${FLASH_STOCK:-10000} rounds=${ROUNDS:-1}

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v redis-server >/dev/null; then
  apt-get update -qq && apt-get install -y -qq postgresql redis-server >/dev/null
fi
pgbin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
tmp=$(mktemp -d)
chmod 755 "$tmp"
mkdir -p "$report"
go build -o "$tmp/kaquan" ../../cmd/kaquan
go build -o "$tmp/baselines" .

as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
mkdir -p "$tmp/pg" "$tmp/pgsock" && { [ "$(id -u)" != 0 ] || chown postgres "$tmp/pg" "$tmp/pgsock"; }
as_pg "$pgbin/initdb -D $tmp/pg -A trust -U postgres >/dev/null"
as_pg "$pgbin/pg_ctl -D $tmp/pg -o '-k $tmp/pgsock -c listen_addresses= -c max_connections=200' -l $tmp/pg/server.log start >/dev/null"
as_pg "$pgbin/createdb -h $tmp/pgsock -U postgres kaquan_baseline"
dsn="postgres://postgres@/kaquan_baseline?host=$tmp/pgsock"

redis_pid=
start_redis() { # $1: always or everysec
  [ -z "$redis_pid" ] || { kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true; }
  rm -rf "$tmp/redis" && mkdir -p "$tmp/redis"
  redis-server --port 6390 --bind 127.0.0.1 --dir "$tmp/redis" --appendonly yes --appendfsync "$1" --save '' --daemonize no >"$tmp/redis.log" 2>&1 &
  redis_pid=$!
  sleep 1
}
cleanup() {
  [ -z "$redis_pid" ] || kill "$redis_pid" 2>/dev/null || true
  as_pg "$pgbin/pg_ctl -D $tmp/pg stop -m fast >/dev/null" || true
  rm -rf "$tmp"
}
trap cleanup EXIT

common="--duration $duration --concurrency $clients"
for round in $(seq "$rounds"); do
  echo "== round $round: payments"
  "$tmp/kaquan" bench --data "$tmp/kq1" --scenario payments $common --accounts "$accounts" --cards-per-user "$cards" --report "$report" --no-progress-bar | tail -4
  "$tmp/baselines" --system postgres --scenario payments $common --accounts "$accounts" --cards-per-user "$cards" --dsn "$dsn" --report "$report" | tail -2
  echo "== round $round: hot-merchant"
  "$tmp/kaquan" bench --data "$tmp/kq2" --scenario hot-merchant $common --accounts "$accounts" --cards-per-user "$cards" --report "$report" --no-progress-bar | tail -4
  "$tmp/baselines" --system postgres --scenario hot-merchant $common --accounts "$accounts" --cards-per-user "$cards" --dsn "$dsn" --report "$report" | tail -2
  echo "== round $round: flash-sale ($flash_users users, stock $flash_stock)"
  "$tmp/kaquan" bench --data "$tmp/kq3" --scenario flash-sale $common --accounts "$flash_users" --flash-stock "$flash_stock" --report "$report" --no-progress-bar | tail -5
  "$tmp/baselines" --system postgres --scenario flash-sale $common --accounts "$flash_users" --flash-stock "$flash_stock" --dsn "$dsn" --report "$report" | tail -3
  for fsync in always everysec; do
    start_redis "$fsync"
    "$tmp/baselines" --system redis --label "appendfsync-$fsync" --scenario flash-sale $common --accounts "$flash_users" --flash-stock "$flash_stock" --report "$report" | tail -3
  done
  rm -rf "$tmp"/kq*
done
echo "report: $report/report.html"
