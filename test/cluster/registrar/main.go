// Command registrar registers a CSI driver with kubelet through kubelet's plugin-registration
// API, as node-driver-registrar does (its image is not available here). It serves
// pluginregistration.v1 on <registration dir>/<driver>-reg.sock; kubelet's plugin watcher finds
// the socket, calls GetInfo, connects to the driver's endpoint and answers with
// NotifyRegistrationStatus. A failed registration ends the process with status 1 so that its
// pod restarts and kubelet tries again.
//
//	registrar --csi-address /csi/csi.sock \
//	  --kubelet-registration-path /var/lib/kubelet/plugins/csi-secrets-store/csi.sock \
//	  --registration-dir /registration
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/grpc"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// registrar answers kubelet's plugin-registration calls for one CSI driver.
type registrar struct {
	registerapi.UnimplementedRegistrationServer
	driver   string   // the CSI driver's name
	endpoint string   // the driver's socket as kubelet sees it
	versions []string // the CSI versions the driver supports
	// failed receives kubelet's error when it refuses the registration.
	failed chan error
}

func newRegistrar(driver, endpoint string) *registrar {
	return &registrar{driver: driver, endpoint: endpoint, versions: []string{"1.0.0"}, failed: make(chan error, 1)}
}

// GetInfo tells kubelet what the plugin is and where the driver listens.
func (r *registrar) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	log.Printf("kubelet asked for plugin info: type %s, name %s, endpoint %s", registerapi.CSIPlugin, r.driver, r.endpoint)
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              r.driver,
		Endpoint:          r.endpoint,
		SupportedVersions: r.versions,
	}, nil
}

// NotifyRegistrationStatus logs kubelet's verdict; a refusal is passed on to main, which exits.
func (r *registrar) NotifyRegistrationStatus(_ context.Context, st *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if st.PluginRegistered {
		log.Printf("kubelet registered CSI driver %s", r.driver)
	} else {
		err := fmt.Errorf("kubelet refused to register CSI driver %s: %s", r.driver, st.Error)
		log.Print(err)
		select {
		case r.failed <- err:
		default:
		}
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

// listen removes a stale socket at path and listens on a new one.
func listen(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket: %w", err)
	}
	return net.Listen("unix", path)
}

// serve registers r on a new gRPC server listening on path. The caller stops the server.
func serve(r *registrar, path string) (*grpc.Server, error) {
	l, err := listen(path)
	if err != nil {
		return nil, err
	}
	s := grpc.NewServer()
	registerapi.RegisterRegistrationServer(s, r)
	go func() {
		if err := s.Serve(l); err != nil {
			log.Printf("registration server stopped: %v", err)
		}
	}()
	return s, nil
}

// waitForSocket polls until something accepts connections on the unix socket path.
func waitForSocket(ctx context.Context, path string) error {
	logged := false
	for {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			return c.Close()
		}
		if !logged {
			log.Printf("waiting for the CSI driver at %s: %v", path, err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func main() {
	driver := flag.String("driver-name", "secrets-store.csi.k8s.io", "the CSI driver's name")
	csiAddress := flag.String("csi-address", "", "the driver's socket inside this container; when set, registration waits until it accepts connections")
	endpoint := flag.String("kubelet-registration-path", "/var/lib/kubelet/plugins/csi-secrets-store/csi.sock",
		"the driver's socket as kubelet sees it (a path on the node)")
	regDir := flag.String("registration-dir", "/registration",
		"kubelet's plugin registration directory (<kubelet root>/plugins_registry on the node) inside this container")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *csiAddress != "" {
		if err := waitForSocket(ctx, *csiAddress); err != nil {
			log.Printf("stopped before the driver was up: %v", err)
			return
		}
	}
	r := newRegistrar(*driver, *endpoint)
	sock := filepath.Join(*regDir, *driver+"-reg.sock")
	s, err := serve(r, sock)
	if err != nil {
		log.Fatalf("serve registration socket %s: %v", sock, err)
	}
	log.Printf("serving plugin registration for %s on %s (driver endpoint %s)", *driver, sock, *endpoint)
	code := 0
	select {
	case <-ctx.Done():
		log.Print("terminating")
	case err := <-r.failed:
		log.Printf("exiting: %v", err)
		code = 1
	}
	s.GracefulStop()
	// Removing the socket tells kubelet's plugin watcher that the plugin is gone.
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Printf("remove %s: %v", sock, err)
	}
	os.Exit(code)
}
