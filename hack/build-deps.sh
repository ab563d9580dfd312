#!/usr/bin/env bash
# Builds the real upstream components the local cluster runs, from the Go module proxy, into
# $VK_BIN (default ~/.cache/vaultkube/bin). Each is skipped when its stamp says it is already
# built at the wanted version. Usage: hack/build-deps.sh [etcd|k8s|vault|coredns|crane|csidriver ...]
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
need_go
mkdir -p "$VK_BIN" "$VK_SRC"

stamp_ok() { [ -f "$VK_BIN/.$1.version" ] && [ "$(cat "$VK_BIN/.$1.version")" = "$2" ]; }
stamp() { echo "$2" > "$VK_BIN/.$1.version"; }
# The Secrets Store CSI Driver (csi.sh reads the same variable to find its CRDs).
CSI_DRIVER_VERSION=${CSI_DRIVER_VERSION:-v1.6.1}

build_etcd() {
  stamp_ok etcd "$ETCD_VERSION" && return 0
  local d=$VK_SRC/etcd
  rm -rf "$d"; mkdir -p "$d"; cd "$d"
  # go install refuses etcd (replace directives in its go.mod): build through a wrapper module.
  go mod init vaultkube.local/etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  go build -ldflags "-s -w" -o "$VK_BIN/etcd" go.etcd.io/etcd/server/v3
  cd - >/dev/null
  stamp etcd "$ETCD_VERSION"
}

build_k8s() {
  stamp_ok k8s "$K8S_VERSION" && return 0
  local d=$VK_SRC/kubernetes minor=${K8S_VERSION#v1.}
  minor=${minor%%.*}
  rm -rf "$d"; mkdir -p "$d"; cd "$d"
  go mod init vaultkube.local/kubernetes >/dev/null 2>&1
  # k8s.io/kubernetes replaces its 33 staging modules with ./staging/...; we point each at its
  # published v0.X.Y instead.
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  [ -f "$gomod" ] || die "could not download k8s.io/kubernetes@$K8S_VERSION"
  {
    echo "require k8s.io/kubernetes $K8S_VERSION"
    grep -E '=> \./staging/' "$gomod" | awk -v v="v0.${K8S_VERSION#v1.}" '{print "replace " $1 " => " $1 " " v}'
  } >> go.mod
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  go mod tidy
  local v=k8s.io/component-base/version
  local ld="-s -w -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean -X $v.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  # One go build for all binaries: they share most of their packages.
  go build -ldflags "$ld" -o "$VK_BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet \
    k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kube-proxy
  cd - >/dev/null
  stamp k8s "$K8S_VERSION"
}

build_vault() {
  stamp_ok vault "$VAULT_VERSION" && return 0
  local d=$VK_SRC/vault
  rm -rf "$d"; mkdir -p "$d"; cd "$d"
  go mod init vaultkube.local/vault >/dev/null 2>&1
  # Vault's own non-local replace directives, which a dependent module must repeat.
  cat >> go.mod <<'MOD'
replace github.com/99designs/keyring => github.com/Jeffail/keyring v1.2.3
replace github.com/ma314smith/signedxml v1.1.1 => github.com/moov-io/signedxml v1.1.1
MOD
  go get "github.com/hashicorp/vault@$VAULT_VERSION"
  go build -ldflags "-s -w" -o "$VK_BIN/vault" github.com/hashicorp/vault
  cd - >/dev/null
  stamp vault "$VAULT_VERSION"
}

build_coredns() {
  stamp_ok coredns "$COREDNS_VERSION" && return 0
  GOBIN=$VK_BIN go install -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
  stamp coredns "$COREDNS_VERSION"
}

build_crane() {
  stamp_ok crane "$CRANE_VERSION" && return 0
  GOBIN=$VK_BIN go install -ldflags "-s -w" "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"
  stamp crane "$CRANE_VERSION"
}

# secrets-store-csi-driver needs monis.app/mlog, whose module zip the proxy refuses: the wrapper
# module replaces it with our stand-in in hack/mlog (copied in), so the stamp names its content.
build_csidriver() {
  local want mlog
  mlog=$(cd hack/mlog && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)
  want="$CSI_DRIVER_VERSION mlog-$mlog"
  stamp_ok csidriver "$want" && return 0
  local d=$VK_SRC/csidriver
  rm -rf "$d"; mkdir -p "$d"; cp -r hack/mlog "$d/mlog"; cd "$d"
  go mod init vaultkube.local/csidriver >/dev/null 2>&1
  cat >> go.mod <<MOD
require sigs.k8s.io/secrets-store-csi-driver $CSI_DRIVER_VERSION
replace monis.app/mlog => ./mlog
MOD
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "sigs.k8s.io/secrets-store-csi-driver/cmd/secrets-store-csi-driver"
GO
  go mod tidy
  local v=sigs.k8s.io/secrets-store-csi-driver/pkg/version
  go build -ldflags "-s -w -X $v.BuildVersion=$CSI_DRIVER_VERSION -X $v.BuildTime=$(date -u +%Y-%m-%dT%H:%M:%SZ) -X $v.Vcs=mlog-$mlog" \
    -o "$VK_BIN/secrets-store-csi-driver" sigs.k8s.io/secrets-store-csi-driver/cmd/secrets-store-csi-driver
  cd - >/dev/null
  stamp csidriver "$want"
}

T0=$(date +%s)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(etcd crane k8s vault coredns csidriver)
for t in "${targets[@]}"; do
  case $t in
    etcd|k8s|vault|coredns|crane|csidriver) ;;
    *) die "unknown component '$t': choose from etcd k8s vault coredns crane csidriver" ;;
  esac
  log "building $t (cached in $VK_BIN)"
  timed "$t" "build_$t"
done
log "all components ready in $VK_BIN ($(($(date +%s) - T0))s in all; cold on 2 cores, 2026-12-05: etcd, crane, Kubernetes, Vault and CoreDNS 20 min; the CSI driver 80 s with an empty build cache (modules downloaded))"
