#!/usr/bin/env bash
# The sluice container image, built and run with Debian's podman — no Docker
# engine, no container registry, no network inside the build.
#
#   scripts/image.sh install        install podman, runc and debootstrap if missing (apt-get)
#   scripts/image.sh base           make the local Node base image if missing
#   scripts/image.sh build          install + base + npm cache, then build the real Dockerfile;
#                                   prints the build time and the image size
#   scripts/image.sh run [podman run options] [-- sluice args]
#                                   podman run with this machine's flags (below) on the image
#   scripts/image.sh test           build, then run test/integration/container.test.ts
#
# Contract: idempotent and cached — the base image is made once (it stays in
# podman's store), the npm cache is refilled only when package-lock.json
# changes, and podman's layer cache makes a rebuild of unchanged sources take
# seconds. Everything it writes lives under .local/image (git-ignored) and in
# podman's store. Failures end with one clear message.
#
# Why each piece (measured on the project's machines, see issue 14):
# - No registry is reachable, so `node:20-bookworm-slim` cannot be pulled. The
#   local base is Debian trixie (debootstrap, minbase) with Debian's nodejs
#   (20.19), the npm release Node 20.19 bundles (as the official image does)
#   and a `node` user with uid 1000. Debian's own npm package was tried: it is
#   npm 9 and pulls ~380 packages (+27 s, +200 MB, 337 MB base instead of 200).
#   Set NODE_IMAGE=node:20-bookworm-slim to build on the registry base instead.
# - The build container cannot reach the npm registry (the host's egress needs
#   the host's own CA), so the host fills an npm cache and the build mounts it
#   with an .npmrc saying `offline=true`: the Dockerfile's own `npm ci` runs
#   unchanged. (`podman build --env` would write the variable into the image.)
# - `crun` refuses this machine's hybrid cgroups: runc it is. Raising ulimits
#   is not permitted, so builds and containers get lower ones. `--network host`
#   reaches the local Kafka and ClickHouse on 127.0.0.1.
# - podman's default OCI image format drops HEALTHCHECK: build `--format docker`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.local/image"
IMAGE="${IMAGE:-sluice:local}"
# npm as Node 20.19 bundles it (and node:20-bookworm-slim ships it), packed on
# the host from the npm registry. The tag names the recipe, so a change of it
# makes a new base instead of reusing an old one.
NPM_VERSION="10.8.2"
LOCAL_BASE="localhost/sluice-node-base:20-trixie-npm$NPM_VERSION"
NODE_IMAGE="${NODE_IMAGE:-$LOCAL_BASE}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# Global podman flags and the per-container flags every run on this machine needs.
PODMAN=(podman --runtime "${CONTAINER_RUNTIME:-runc}")
LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
RUN_FLAGS=("${LIMITS[@]}" --network host)

say() { printf 'image: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root (or sudo) to run: $*"; fi; }

install_tools() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v "${CONTAINER_RUNTIME:-runc}" >/dev/null || missing+=("${CONTAINER_RUNTIME:-runc}")
  if [ "$NODE_IMAGE" = "$LOCAL_BASE" ] && ! command -v debootstrap >/dev/null && [ ! -x /usr/sbin/debootstrap ]; then missing+=(debootstrap); fi
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    # Other jobs on the machine may hold the dpkg lock for a while: wait for it.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null \
      || die "apt-get update failed: cannot reach Debian's package archive"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
      || die "apt-get install ${missing[*]} failed"
  fi
  # Rootless podman on a kernel without native overlay needs fuse-overlayfs;
  # as root (CI here) podman's own overlay driver works and nothing is added.
  "${PODMAN[@]}" info >/dev/null 2>"$STATE/podman-info.err" \
    || die "podman does not work here: $(head -3 "$STATE/podman-info.err" | tr '\n' ' ')"
}

# Debian trixie, minbase, with Debian's nodejs, npm in /usr/local and a `node`
# user (uid/gid 1000) — laid out like node:20-bookworm-slim, the parts the
# Dockerfile uses. nodejs goes in with apt in a chroot (`debootstrap
# --include` resolves dependencies less well: with npm it left packages
# half-configured); npm is its registry tarball, which bundles its dependencies.
make_base() {
  if "${PODMAN[@]}" image exists "$LOCAL_BASE"; then return 0; fi
  command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || die "debootstrap is needed to make the local base (scripts/image.sh install)"
  local rootfs="$STATE/base-rootfs" started=$SECONDS
  say "making the local base $LOCAL_BASE (debootstrap trixie from $DEBIAN_MIRROR, nodejs, npm $NPM_VERSION)"
  (cd "$STATE" && npm pack "npm@$NPM_VERSION" --cache "$STATE/npm-cache" --loglevel=error >/dev/null) \
    || die "npm pack npm@$NPM_VERSION failed: cannot fetch npm from the registry"
  as_root rm -rf "$rootfs"
  as_root debootstrap --variant=minbase trixie "$rootfs" "$DEBIAN_MIRROR" >"$STATE/debootstrap.log" 2>&1 \
    || { tail -5 "$STATE/debootstrap.log" >&2; die "debootstrap failed (see .local/image/debootstrap.log)"; }
  # env -i: nothing of the host's environment (proxies, CA paths) leaks in.
  as_root chroot "$rootfs" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends nodejs >"$STATE/base-apt.log" 2>&1 \
    || { tail -5 "$STATE/base-apt.log" >&2; die "installing nodejs into the base failed (see .local/image/base-apt.log)"; }
  as_root mkdir -p "$rootfs/usr/local/lib/node_modules/npm" "$rootfs/usr/local/bin"
  as_root tar -xzf "$STATE/npm-$NPM_VERSION.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  as_root ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  as_root ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  as_root chroot "$rootfs" useradd --uid 1000 --user-group --create-home --shell /bin/bash node
  # What an image does not need: package caches and lists, docs, locales.
  as_root chroot "$rootfs" sh -c 'apt-get clean && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/* /var/log/*.log /etc/resolv.conf /etc/hostname'
  as_root tar -C "$rootfs" -c . | "${PODMAN[@]}" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' \
    --message "debootstrap --variant=minbase trixie + nodejs + npm $NPM_VERSION + user node (scripts/image.sh)" \
    - "$LOCAL_BASE" >"$STATE/import.log" 2>&1 || { tail -5 "$STATE/import.log" >&2; die "podman import of the base failed"; }
  as_root rm -rf "$rootfs"
  say "local base ready in $((SECONDS - started)) s: $("${PODMAN[@]}" run --rm "${RUN_FLAGS[@]}" "$LOCAL_BASE" sh -c 'echo node $(node --version), npm $(npm --version), $(id node)')"
}

# An npm cache holding every package of package-lock.json, filled on the host
# (which reaches the registry) and refilled only when the lockfile changes.
fill_npm_cache() {
  local cache="$STATE/npm-cache" stamp="$STATE/npm-cache.lock-sha" sha tmp
  sha="$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sha" ]; then return 0; fi
  say "filling the npm cache from package-lock.json"
  tmp="$(mktemp -d)"
  cp "$ROOT/package.json" "$ROOT/package-lock.json" "$tmp/"
  # --ignore-scripts: only the tarballs and metadata are wanted here; the
  # build's own `npm ci` runs the install scripts.
  (cd "$tmp" && npm ci --cache "$cache" --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) \
    || { rm -rf "$tmp"; die "npm ci on the host failed: cannot fill the npm cache"; }
  rm -rf "$tmp"
  printf 'offline=true\nfund=false\naudit=false\nupdate-notifier=false\n' >"$STATE/npmrc"
  echo "$sha" >"$stamp"
}

build() {
  install_tools
  local pull=(--pull=missing)
  if [ "$NODE_IMAGE" = "$LOCAL_BASE" ]; then make_base; pull=(--pull=never); fi
  fill_npm_cache
  say "building $IMAGE from Dockerfile on $NODE_IMAGE"
  local started=$SECONDS
  "${PODMAN[@]}" build --format docker "${pull[@]}" "${LIMITS[@]}" \
    --build-arg NODE_IMAGE="$NODE_IMAGE" \
    -v "$STATE/npm-cache:/root/.npm" -v "$STATE/npmrc:/root/.npmrc:ro" \
    -t "$IMAGE" -f "$ROOT/Dockerfile" "$ROOT" >"$STATE/build.log" 2>&1 \
    || { tail -25 "$STATE/build.log" >&2; die "podman build failed (see .local/image/build.log)"; }
  local size base
  size="$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE")"
  base="$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$NODE_IMAGE")"
  say "built $IMAGE in $((SECONDS - started)) s: $(mb "$size") ($(mb $((size - base))) on top of the $(mb "$base") base $NODE_IMAGE)"
}

run() {
  local opts=() args=()
  while [ $# -gt 0 ]; do
    if [ "$1" = "--" ]; then shift; args=("$@"); break; fi
    opts+=("$1"); shift
  done
  exec "${PODMAN[@]}" run "${RUN_FLAGS[@]}" "${opts[@]}" "$IMAGE" "${args[@]}"
}

# One build at a time per checkout: two test runs must not debootstrap into
# the same folder or refill the same npm cache at once. `flock -o`: the lock
# is held by flock itself, not inherited by podman's long-lived children.
locked() { mkdir -p "$STATE"; exec flock -o "$STATE/lock" bash "${BASH_SOURCE[0]}" "$@"; }

case "${1:-}" in
  install) locked _install ;;
  base) locked _base ;;
  build) locked _build ;;
  _install) install_tools ;;
  _base) NODE_IMAGE="$LOCAL_BASE"; install_tools; make_base ;;
  _build) build ;;
  run) shift; run "$@" ;;
  test) bash "${BASH_SOURCE[0]}" build && cd "$ROOT" && npm run --silent build && exec npx vitest run test/integration/container.test.ts ;;
  *) echo "usage: scripts/image.sh install|base|build|run [podman run options] [-- sluice args]|test" >&2; exit 2 ;;
esac
