#!/usr/bin/env bash
# Start what the test suite talks to, when it is not already running: PostgreSQL, Redis, libvirtd.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "==> starting PostgreSQL"
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
fi
# Tests connect as postgres over TCP without a password (trust on loopback, as on CI machines).
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  echo "PostgreSQL at 127.0.0.1:5432 does not accept user postgres without a password." >&2
  echo "Allow it for loopback in pg_hba.conf (host all postgres 127.0.0.1/32 trust) or set DATABASE_URL." >&2
  exit 1
fi
# The database the default settings name (tests create their own test_ database beside it).
if [ "$(psql -h 127.0.0.1 -U postgres -d postgres -Atc "select 1 from pg_database where datname = 'nuage'")" != 1 ]; then
  echo "==> creating database nuage"
  createdb -h 127.0.0.1 -U postgres nuage
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "==> starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/nuage.log
  for _ in $(seq 1 40); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.25; done
fi

scripts/libvirt-up.sh
