#!/usr/bin/env bash
# Runs a command beside the services a deployment of several nodes uses: a throwaway PostgreSQL
# cluster, durable as a deployment's (fsync on), named by FIELDSYNC_TEST_DATABASE_URL, and a
# throwaway S3-speaking server, named by FIELDSYNC_TEST_BUCKET and the AWS_* variables. Both
# are stopped and deleted afterwards. For the benchmarks that measure both storage backends
# side by side and the nodes:
#   bash scripts/with-services.sh cargo bench -p fieldsync-tests --bench dispatch_desk
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/apt-install.sh
source scripts/apt-install.sh
# shellcheck source=scripts/postgres.sh
source scripts/postgres.sh
# shellcheck source=scripts/object-store.sh
source scripts/object-store.sh
start_postgres durable
start_object_store
"$@"
