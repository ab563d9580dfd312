#!/usr/bin/env bash
# Builds the local cluster's images as archives (no Docker daemon, no registry) and imports
# them into the node's containerd: pause, coredns, vault (Vault + a static busybox for the
# shell `vault` users expect), vaultkube (ours) and csidriver (secrets-store-csi-driver + our
# registrar). Archives are cached in $VK_CACHE/images.
# Usage: test/cluster/images.sh [pause|coredns|vault|vaultkube|csidriver ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
. hack/lib.sh
. test/cluster/env.sh
I=$VK_CACHE/images
mkdir -p "$I"
MKIMAGE=$I/mkimage
go build -o "$MKIMAGE" ./hack/mkimage

# fresh ARCHIVE SRC...: true when ARCHIVE exists and is newer than every SRC.
fresh() {
  local a=$1 s
  shift
  [ -f "$a" ] || return 1
  for s in "$@"; do [ "$s" -nt "$a" ] && return 1; done
  return 0
}

image_pause() {
  go build -ldflags "-s -w" -o "$I/pause" ./test/cluster/pause
  fresh "$I/pause.tar" "$I/pause" || "$MKIMAGE" -o "$I/pause.tar" -ref vaultkube.local/pause:dev \
    -entrypoint /pause -file "/pause=$I/pause"
}
image_coredns() {
  fresh "$I/coredns.tar" "$VK_BIN/coredns" || "$MKIMAGE" -o "$I/coredns.tar" -ref vaultkube.local/coredns:dev \
    -entrypoint /coredns -file "/coredns=$VK_BIN/coredns"
}
image_vault() {
  local bb=/bin/busybox args=() t
  [ -x "$bb" ] || die "$bb is missing: apt-get install -y busybox-static (or run 'make deps')"
  [ -x "$VK_BIN/vault" ] || die "$VK_BIN/vault is missing: run 'make deps'"
  fresh "$I/vault.tar" "$VK_BIN/vault" "$bb" test/cluster/images.sh && return 0
  for t in sh ash cat rm ls mkdir mv cp echo sleep env ps test id chmod sha256sum wc head tail \
    grep sed awk wget nc ln touch stat du df find xargs tee tr cut date hostname printf true false kill \
    base64 sha1sum md5sum od hexdump gzip tar less vi dd seq sort uniq; do
    args+=(-link "/bin/$t=busybox")
  done
  "$MKIMAGE" -o "$I/vault.tar" -ref vaultkube.local/vault:dev -entrypoint /bin/vault \
    -file "/bin/vault=$VK_BIN/vault" -file "/bin/busybox=$bb" "${args[@]}" \
    -dir /tmp=1777 -dir /vault/data=0755 -dir /vault/config=0755 -dir /vault/logs=0755 \
    -dir /home/vault=0755 -env HOME=/home/vault -env SKIP_SETCAP=true
}
# The vaultkube image: /vaultkube (the entrypoint), /vaultkube-injector (-tags nokube: the
# webhook without client-go, serving from certificate files) and /vaultkube-agent, static
# binaries only (no shell), run as 65532:65532, for each of $VK_IMAGE_PLATFORMS (default
# linux/amd64, which the e2e suite and the demo use; `make image` adds linux/arm64) in one
# OCI image index, written to $VK_IMAGE_ARCHIVE (default $I/vaultkube.tar) and named
# $VK_IMAGE_REF (default vaultkube.local/vaultkube:dev). go build gets $VK_BUILDFLAGS and
# -ldflags $VK_LDFLAGS (default -s -w; `make image` adds -trimpath and the version).
image_vaultkube() {
  local plats=${VK_IMAGE_PLATFORMS:-linux/amd64} ldflags=${VK_LDFLAGS:--s -w} bin=$I/vaultkube-bin
  local flags=() cmds=(vaultkube) files=() p os arch c
  read -ra flags <<<"${VK_BUILDFLAGS:-}"
  [ -d cmd/vaultkube-agent ] && cmds+=(vaultkube-agent)
  for p in ${plats//,/ }; do
    os=${p%%/*} arch=${p#*/}
    for c in "${cmds[@]}"; do
      GOOS=$os GOARCH=$arch go build "${flags[@]}" -ldflags "$ldflags" -o "$bin/${os}_$arch/$c" "./cmd/$c"
    done
    GOOS=$os GOARCH=$arch go build "${flags[@]}" -tags nokube -ldflags "$ldflags" \
      -o "$bin/${os}_$arch/vaultkube-injector" ./cmd/vaultkube-injector
  done
  for c in "${cmds[@]}" vaultkube-injector; do files+=(-file "/$c=$bin/{os}_{arch}/$c"); done
  mkdir -p "$(dirname "${VK_IMAGE_ARCHIVE:-$I/vaultkube.tar}")"
  "$MKIMAGE" -format oci -platforms "$plats" -o "${VK_IMAGE_ARCHIVE:-$I/vaultkube.tar}" \
    -ref "${VK_IMAGE_REF:-vaultkube.local/vaultkube:dev}" -entrypoint /vaultkube -user 65532:65532 "${files[@]}"
}

# secrets-store-csi-driver (hack/build-deps.sh csidriver) with our kubelet plugin registrar
# (test/cluster/registrar) in one image: the DaemonSet runs it twice, once per command. The
# driver's mount-utils execs `mount -t tmpfs` and `umount` (busybox), probes `umount` on a temp
# dir (needs /tmp) and looks for `systemd-run` (absent: it mounts directly).
image_csidriver() {
  local bb=/bin/busybox drv=$VK_BIN/secrets-store-csi-driver args=() t
  [ -x "$bb" ] || die "$bb is missing: apt-get install -y busybox-static (or run 'make deps')"
  [ -x "$drv" ] || die "$drv is missing: run 'make deps' (hack/build-deps.sh csidriver)"
  # Replace the registrar only when it changed, so that an unchanged image is not rebuilt.
  go build -ldflags "-s -w" -o "$I/registrar.new" ./test/cluster/registrar
  if cmp -s "$I/registrar.new" "$I/registrar"; then rm -f "$I/registrar.new"; else mv "$I/registrar.new" "$I/registrar"; fi
  fresh "$I/csidriver.tar" "$drv" "$I/registrar" "$bb" test/cluster/images.sh && return 0
  for t in mount umount sh ls cat; do args+=(-link "/bin/$t=busybox"); done
  "$MKIMAGE" -o "$I/csidriver.tar" -ref vaultkube.local/csi-driver:dev -entrypoint /secrets-store-csi-driver \
    -file "/secrets-store-csi-driver=$drv" -file "/registrar=$I/registrar" -file "/bin/busybox=$bb" "${args[@]}" \
    -dir /tmp=1777 -env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
}

# import NAME: import NAME's archive into the node's containerd, when it runs. For the vaultkube
# image index, ctr unpacks the host's platform (and imports that platform's content only),
# which is what kubelet runs.
import() {
  local sock=$VK_STATE/containerd/containerd.sock archive=$I/$1.tar
  [ "$1" = vaultkube ] && archive=${VK_IMAGE_ARCHIVE:-$archive}
  [ -S "$sock" ] || { log "containerd is not running: built $archive, not imported"; return 0; }
  ctr --address "$sock" -n k8s.io images import --snapshotter overlayfs "$archive" >/dev/null
}

ref() { case $1 in csidriver) echo vaultkube.local/csi-driver:dev ;; *) echo "vaultkube.local/$1:dev" ;; esac; }

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(pause coredns vault vaultkube csidriver)
for t in "${targets[@]}"; do
  case $t in pause|coredns|vault|vaultkube|csidriver) ;; *) die "unknown image '$t'" ;; esac
  "image_$t"
  import "$t"
  log "image $(ref "$t") ready"
done
