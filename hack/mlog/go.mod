// A local stand-in for monis.app/mlog, whose module zip the Go module proxy refuses. It gives
// only what sigs.k8s.io/secrets-store-csi-driver v1.6.1 uses, on top of k8s.io/klog/v2.
// hack/build-deps.sh builds the driver with `replace monis.app/mlog => <this directory>`.
module monis.app/mlog

go 1.26

require k8s.io/klog/v2 v2.140.0

require github.com/go-logr/logr v1.4.1 // indirect
