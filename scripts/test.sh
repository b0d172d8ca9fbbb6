#!/usr/bin/env bash
# The whole test suite: unit tests and integration tests against the real
# local Kafka and ClickHouse. Installs and starts them if needed (idempotent),
# builds the CLI the integration tests run, then runs vitest. Extra arguments
# go to vitest (e.g. `npm test -- test/unit`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/services.sh start
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
