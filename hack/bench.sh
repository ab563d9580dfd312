#!/usr/bin/env bash
# make bench: compare vaultkube's components with their peers in the same run and print a
# table of ratios (test/bench does the measuring; injector/agent/bench owns the agent comparison).
#
#   injector       vaultkube injector vs hashicorp/vault-k8s v1.6.2, built here from the module
#                  proxy in a throw-away wrapper module under $VK_CACHE/src/vault-k8s-bench
#   agent          vaultkube-agent vs vault agent on a dev Vault (injector/agent/bench)
#   kubectl vault  status vs 3 × kubectl exec … vault status, on the local cluster if it runs
#                  (read-only: this script never starts, stops or changes the cluster)
#   csi            the CSI provider's Mount in process against a dev Vault with JWT login: cold
#                  and warm latency, logins per pod, back-to-back mounts (no peer: vault-csi-provider
#                  is BUSL-licensed; alone: go run ./test/bench -only csi)
#   Go benchmarks  go test -bench of injector/, webhook/, injector/agent/..., csi/
#
# Environment: BENCH_REQUESTS (2000), BENCH_RUNS (5: runs of the injector, agent and status
# comparisons, summed up as their median; memory: the largest), BENCH_BENCHTIME (200x),
# BENCH_CLIENT (lean: the admission client of test/bench; net/http: Go's http.Client, as
# before 2026-12-03), BENCH_SKIP_GO_BENCH=1 to leave out the Go benchmarks, BENCH_CSI_MOUNTS
# (200: mounts per CSI latency figure).
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/lib.sh
source hack/lib.sh
# shellcheck source=test/cluster/env.sh
source test/cluster/env.sh
need_go

VAULT_K8S_VERSION=v1.6.2
REQUESTS=${BENCH_REQUESTS:-2000}
RUNS=${BENCH_RUNS:-5}
BENCHTIME=${BENCH_BENCHTIME:-200x}
started=$(date +%s)

for b in bin/vaultkube bin/kubectl-vault; do
  [ -x "$b" ] || die "$b is missing: run \`make build\` (or \`make bench\`, which builds first)"
done
# The agent's own binary when it exists (DESIGN.md: it may split from the shared binary).
if [ -d cmd/vaultkube-agent ]; then
  AGENT=bin/vaultkube-agent
else
  AGENT=bin/vaultkube
fi
[ -x "$AGENT" ] || die "$AGENT is missing: run \`make build\`"
# Likewise the webhook's own binary (cmd/vaultkube-injector), which the cluster deploys.
if [ -d cmd/vaultkube-injector ]; then
  INJECTOR=bin/vaultkube-injector
else
  INJECTOR=bin/vaultkube
fi
[ -x "$INJECTOR" ] || die "$INJECTOR is missing: run \`make build\`"

# What is measured: bin/ is shared, so say how these binaries were built (make build: static,
# CGO_ENABLED=0, -ldflags -s -w).
printf '== machine ==\n%s CPUs, load average %s (figures are noisy under load; ratios come from the same run)\n' \
  "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '\n== binaries ==\n'
for b in "$INJECTOR" "$AGENT" bin/kubectl-vault; do
  printf '%-20s %6.1f MB  %s\n' "$b" "$(awk -v s="$(stat -c %s "$b")" 'BEGIN { print s / 1048576 }')" \
    "$(go version -m "$b" | awk '$2 ~ /^(CGO_ENABLED|-ldflags)=/ { sub(/^[ \t]*build[ \t]*/, ""); printf "%s  ", $0 }')"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/vaultkube-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# build_vault_k8s: the peer injector, from the module proxy, in a wrapper module of ours
# (nothing of it enters this repository). Rebuilt only when the template or version changes.
build_vault_k8s() {
  local src=$VK_SRC/vault-k8s-bench out=$VK_BIN/vault-k8s-injector-bench stamp want
  want="$VAULT_K8S_VERSION $(sha256sum test/bench/vaultk8s/main.go.tmpl | cut -d' ' -f1) $(go env GOVERSION)"
  stamp=$src/.stamp
  if [ -x "$out" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$out"
    return 0
  fi
  log "building hashicorp/vault-k8s $VAULT_K8S_VERSION in $src (a few minutes the first time)"
  mkdir -p "$src" "$VK_BIN" || return 1
  (
    cd "$src" || exit 1
    export GOWORK=off GOFLAGS=-mod=mod
    rm -f main.go
    [ -f go.mod ] || go mod init vaultkube.local/vault-k8s-bench >/dev/null 2>&1 || exit 1
    go get "github.com/hashicorp/vault-k8s@$VAULT_K8S_VERSION" || exit 1
    cp "$OLDPWD/test/bench/vaultk8s/main.go.tmpl" main.go || exit 1
    go mod tidy || exit 1
    # Stripped like our binaries (the Makefile's -s -w), so that sizes compare.
    go build -trimpath -ldflags '-s -w' -o "$out" . || exit 1
  ) >"$work/vault-k8s-build.log" 2>&1 || {
    log "vault-k8s build failed; its log:"
    tail -20 "$work/vault-k8s-build.log" >&2
    return 1
  }
  echo "$want" >"$stamp"
  echo "$out"
}

args=(-vaultkube "$INJECTOR" -kubectl-vault bin/kubectl-vault -agent "$AGENT"
  -vault "$VK_BIN/vault" -kubectl "$VK_BIN/kubectl" -kubeconfig "$VK_KUBECONFIG"
  -requests "$REQUESTS" -runs "$RUNS" -client "${BENCH_CLIENT:-lean}"
  -csi-mounts "${BENCH_CSI_MOUNTS:-200}")

if vault_k8s=$(timed "vault-k8s $VAULT_K8S_VERSION" build_vault_k8s); then
  args+=(-vault-k8s "$vault_k8s")
else
  args+=(-vault-k8s-skip "the build from the module proxy failed (see the log above)")
fi

if [ ! -x "$VK_BIN/vault" ]; then
  args+=(-agent-skip "no Vault binary at $VK_BIN/vault: run \`make deps\`")
  args+=(-csi-skip "no Vault binary at $VK_BIN/vault: run \`make deps\`")
else
  go build -o "$work/agent-bench" ./injector/agent/bench || die "go build ./injector/agent/bench failed"
  args+=(-agent-bench "$work/agent-bench")
fi

if ! running kube-apiserver; then
  args+=(-cluster-skip "the local cluster is not running; start it with \`make cluster-up && test/cluster/vault.sh up\`")
elif [ ! -x "$VK_BIN/kubectl" ]; then
  args+=(-cluster-skip "no kubectl at $VK_BIN/kubectl: run \`make deps\`")
fi

go build -o "$work/bench" ./test/bench || die "go build ./test/bench failed"

rc=0
if [ "${BENCH_SKIP_GO_BENCH:-}" = 1 ]; then
  printf '\n== Go benchmarks ==\nSKIPPED: BENCH_SKIP_GO_BENCH=1\n'
  args+=(-go-bench "BENCH_SKIP_GO_BENCH=1")
else
  printf '\n== Go benchmarks (go test -bench . -benchmem -benchtime %s) ==\n' "$BENCHTIME"
  # injector/agent/... finds Vault at $VK_BIN/vault.
  { VAULTKUBE_VAULT_BIN=$VK_BIN/vault go test -run '^$' -bench . -benchmem -benchtime "$BENCHTIME" \
    ./injector/ ./webhook/ ./injector/agent/... ./csi/ 2>&1; echo $? >"$work/gobench.rc"; } | grep -v '^PASS$'
  if [ "$(cat "$work/gobench.rc")" != 0 ]; then
    echo "FAILED: the Go benchmarks above"
    args+=(-go-bench FAILED)
  fi
fi

"$work/bench" "${args[@]}" || rc=1
log "make bench took $(($(date +%s) - started))s"
exit $rc
