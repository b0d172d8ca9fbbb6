# Dockerfile — the sluice container image.
#
# Build stage: the same install and build commands CI runs (.ci/run,
# scripts/test.sh), then the dev dependencies are pruned. Runtime stage: only
# dist/, the production node_modules and package.json, run as the non-root
# `node` user. Configuration comes only from SLUICE_* environment variables at
# `docker run` time: the image sets none (sluice rejects unknown SLUICE_*
# variables and keeps its defaults in src/config.ts). test/unit/ops/container.test.ts
# checks this file against package.json, the CI scripts and src/config.ts;
# test/integration/container.test.ts builds it (scripts/image.sh) and runs it.

# The Node base of both stages. Without a registry, scripts/image.sh builds
# on a local Debian trixie base (Debian's nodejs, npm 10.8.2) instead.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# patches/: fixes to dependencies that npm ci's postinstall applies
# (patch-package), so they must be in place first. The folder always exists
# (patches/.gitkeep), so this COPY works with or without patches.
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build
RUN npm prune --omit=dev
# Bin links of production packages (patch-package's): nothing at run time calls them.
# Type declarations a production package lists as a dependency (protobufjs
# lists @types/node, which brings undici-types): .d.ts files only, never loaded.
RUN rm -rf node_modules/.bin node_modules/@types node_modules/undici-types

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="sluice" \
      org.opencontainers.image.description="Kafka → ClickHouse sink: partition-parallel batches, offsets committed only after the write, dead-letter topic for bad rows." \
      org.opencontainers.image.source="https://github.com/OWNER/sluice" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
WORKDIR /app
# Root-owned and read-only for the process: the sink writes nothing to disk.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
# /metrics, /healthz, /readyz (SLUICE_METRICS_PORT, default 9464).
EXPOSE 9464
# Liveness: /healthz answers 200 while the sink's loop turns. Node itself does
# the GET (no curl in slim images). Fails while start-up checks run, and always
# when SLUICE_METRICS_PORT=0 turns the server off.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.SLUICE_METRICS_PORT||9464)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1 and sluice handles SIGTERM/SIGINT itself (flush, commit, leave
# the group); `docker run --init` / compose `init: true` adds zombie reaping.
# Give `docker stop` more than SLUICE_SHUTDOWN_TIMEOUT_MS (30 s): `-t 45`.
ENTRYPOINT ["node", "dist/cli/index.js"]
CMD ["run"]
