#!/usr/bin/env bash
# One of the focused benchmarks: `bash bench/exec.sh backlog|replicas|formats|micro|micro-typed|micro-formats|headers [args]`.
#
# Contract: compiles bench/*.ts to bench/dist/ and runs bench/dist/<name>.js
# with the remaining arguments. backlog and replicas need Kafka and
# ClickHouse, so for them the local services are started first (idempotent;
# never stopped, others use them); micro, micro-typed and headers need no services. All
# measure the built package, so they need `npm run build` first.
# Parameters and output: see the header of bench/<name>.ts.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

name="${1:-}"
case "$name" in
  backlog|replicas) shift; bash scripts/services.sh start ;;
  formats) shift; bash scripts/services.sh start; bash scripts/services.sh start registry ;;
  micro|micro-typed|micro-formats|headers) shift ;;
  *) echo "usage: bash bench/exec.sh backlog|replicas|formats|micro|micro-typed|micro-formats|headers [args]" >&2; exit 2 ;;
esac
npx --no-install tsc -p bench/tsconfig.json
# --expose-gc: micro collects garbage between timed runs so one run's
# garbage is not billed to the next; harmless for the others.
exec node --expose-gc "bench/dist/$name.js" "$@"
