# shellcheck shell=bash
# Common settings for vaultkube's scripts. Source it; it changes nothing by itself.

# Versions of the real components the local cluster runs. See ../shared/DESIGN.md for why
# Vault is v1.21.1 (the newest release that builds from the Go module proxy).
K8S_VERSION=${K8S_VERSION:-v1.37.2}
VAULT_VERSION=${VAULT_VERSION:-v1.21.1}
ETCD_VERSION=${ETCD_VERSION:-v3.6.6}
COREDNS_VERSION=${COREDNS_VERSION:-v1.13.1}
CRANE_VERSION=${CRANE_VERSION:-v0.22.1}

# Built artefacts live outside the clone so that every checkout (and CI) reuses them.
VK_CACHE=${VAULTKUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vaultkube}
VK_BIN=$VK_CACHE/bin
VK_SRC=$VK_CACHE/src

export CGO_ENABLED=0
export GOFLAGS=${GOFLAGS:--buildvcs=false}

log() { printf '%s [vaultkube] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# timed NAME CMD...: run CMD and print how long it took.
timed() {
  local name=$1 start end rc
  shift
  start=$(date +%s)
  "$@"
  rc=$?
  end=$(date +%s)
  log "$name took $((end - start))s"
  return $rc
}

need_go() {
  command -v go >/dev/null 2>&1 || die "go is not installed: install Go 1.26+ (https://go.dev/dl) and put it on PATH"
}
