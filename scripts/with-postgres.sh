#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster, durable as a deployment's (fsync on), and
# FIELDSYNC_TEST_DATABASE_URL naming it; the cluster is stopped and deleted afterwards. For the
# benchmarks that measure both storage backends side by side:
#   bash scripts/with-postgres.sh cargo bench -p fieldsync-tests --bench dispatch_desk
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/apt-install.sh
source scripts/apt-install.sh
# shellcheck source=scripts/postgres.sh
source scripts/postgres.sh
start_postgres durable
"$@"
