#!/usr/bin/env bash
# The main job on a local default: bring up local Kafka + ClickHouse, create
# a sample topic and table, produce sample game-telemetry events, run the
# sink until it has caught up, print rows/s and a query of the landed rows.
# DEMO_EVENTS (default 500000) sets how many events.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/services.sh start
npm run --silent build
node scripts/demo.mjs
