#!/usr/bin/env bash
# The whole test suite: unit tests and integration tests against the real
# local Kafka and ClickHouse. Installs and starts them if needed (idempotent),
# builds the CLI the integration tests run, then runs vitest. Extra arguments
# go to vitest (e.g. `npm test -- test/unit`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/services.sh start
# podman, runc and debootstrap for the container image test (a no-op once installed).
bash scripts/image.sh install
# chdb (a current ClickHouse engine in-process) checks the modern-server side
# in test/unit/modern-clickhouse.test.ts. It is installed apart from the
# project: its optional per-platform packages that npm cannot resolve here
# would make `npm ci` reject the project's lockfile.
[ -d .local/chdb/node_modules/chdb ] || npm install --prefix .local/chdb --no-audit --no-fund --loglevel=error chdb@3.4.0 >/dev/null
npm run --silent build
npm run --silent typecheck
mkdir -p .local
status=0
npx vitest run --reporter=default --reporter=json --outputFile=.local/vitest.json "$@" || status=$?
# One plain summary line that any CI log reader understands.
node -e '
  const r = JSON.parse(require("fs").readFileSync(".local/vitest.json", "utf8"));
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' || true
exit $status
