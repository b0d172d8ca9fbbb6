#!/usr/bin/env bash
# End-to-end throughput benchmark: `npm run bench [-- --rows N ...]`.
#
# Contract: starts the local services (idempotent; never stops them, others
# use them), compiles bench/*.ts to bench/dist/, and runs bench/dist/run.js
# with this script's arguments. Needs `npm ci` (and `npm run build` for the
# sluice contenders; without it they are reported "not built").
# Parameters and output: see the header of bench/run.ts.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/services.sh start
# Bench code has its own tsconfig so it never lands in the package's dist/.
npx --no-install tsc -p bench/tsconfig.json
exec node bench/dist/run.js "$@"
