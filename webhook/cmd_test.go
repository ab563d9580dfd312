package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/vaultkube/vaultkube/injector"
)

// writeCert writes a CA-signed serving certificate for 127.0.0.1/localhost into dir.
func writeCert(t *testing.T, ca *keyPair, dir string) *keyPair {
	t.Helper()
	kp, err := newServingCert(ca, []string{"localhost"}, time.Now(), time.Hour)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tls.crt"), kp.CertPEM, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tls.key"), kp.KeyPEM, 0o600))
	return kp
}

func TestFlagsHaveEnvTwins(t *testing.T) {
	cmd := NewCmdInjector()
	n := 0
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		n++
		assert.Contains(t, f.Usage, "(env "+EnvName(f.Name)+")", f.Name)
	})
	assert.Greater(t, n, 25)
	// every flag the annotation table names exists
	for _, row := range append(append([]injector.Annotation{}, injector.Annotations...), injector.Extensions...) {
		if row.Flag != "" {
			assert.NotNil(t, cmd.Flags().Lookup(strings.TrimPrefix(row.Flag, "--")), "table row %s names flag %s", row.Key, row.Flag)
		}
	}
}

func TestEnvTwinsFillUnsetFlags(t *testing.T) {
	t.Setenv("VAULTKUBE_AGENT_IMAGE", "mirror.example.com/vaultkube:1.0")
	t.Setenv("VAULTKUBE_VAULT_ADDRESS", "https://vault.env:8200")
	t.Setenv("VAULTKUBE_NATIVE_SIDECAR", "false")
	t.Setenv("VAULTKUBE_RUN_AS_USER", "1234")
	t.Setenv("VAULTKUBE_SKIP_NAMESPACES", "a,b")
	t.Setenv("VAULTKUBE_AGENT_LIMITS_MEM", "")
	o := NewInjectorOptions()
	fs := pflag.NewFlagSet("injector", pflag.ContinueOnError)
	o.AddFlags(fs)
	require.NoError(t, fs.Parse([]string{"--vault-address", "https://vault.flag:8200"}))
	require.NoError(t, o.Complete(fs))
	assert.Equal(t, "mirror.example.com/vaultkube:1.0", o.Injector.AgentImage)
	assert.Equal(t, "https://vault.flag:8200", o.Injector.VaultAddress, "the flag wins over the environment")
	assert.Equal(t, injector.NativeFalse, o.Injector.NativeSidecar)
	assert.Equal(t, int64(1234), o.Injector.RunAsUser)
	assert.Equal(t, []string{"a", "b"}, o.Injector.SkipNamespaces)
	assert.Equal(t, "", o.Injector.LimitsMem, "an empty twin clears a default")
	require.NoError(t, o.Validate())

	t.Setenv("VAULTKUBE_RUN_AS_GROUP", "many")
	o = NewInjectorOptions()
	fs = pflag.NewFlagSet("injector", pflag.ContinueOnError)
	o.AddFlags(fs)
	require.NoError(t, fs.Parse(nil))
	err := o.Complete(fs)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "VAULTKUBE_RUN_AS_GROUP")
}

func TestCappedProcs(t *testing.T) {
	for _, tc := range []struct {
		limit   int
		env     string
		current int
		want    int
		change  bool
	}{
		{limit: 1, current: 8, want: 1, change: true},
		{limit: 4, current: 8, want: 4, change: true},
		{limit: 1, current: 1, want: 1},               // a CPU limit of one already
		{limit: 4, current: 2, want: 2},               // a cap, not a raise: the runtime keeps following the CPU limit
		{limit: 0, current: 8, want: 8},               // no cap
		{limit: 1, env: "6", current: 6, want: 6},     // the environment variable wins
		{limit: 1, env: "bogus", current: 8, want: 8}, // the runtime ignored it; so do we
	} {
		got, change := cappedProcs(tc.limit, tc.env, tc.current)
		assert.Equal(t, tc.want, got, "%+v", tc)
		assert.Equal(t, tc.change, change, "%+v", tc)
	}
	assert.Equal(t, 1, NewInjectorOptions().MaxProcs)
}

func TestValidate(t *testing.T) {
	o := NewInjectorOptions()
	o.TLSCertFile = "x"
	assert.ErrorContains(t, o.Validate(), "go together")
	o = NewInjectorOptions()
	assert.ErrorContains(t, o.Validate(), "--vault-address")
	o.Injector.VaultAddress = "https://v:8200"
	o.Injector.NativeSidecar = "sometimes"
	assert.ErrorContains(t, o.Validate(), "native sidecar")
	o = NewInjectorOptions()
	o.Injector.VaultAddress = "https://v:8200"
	o.MaxProcs = -1
	assert.ErrorContains(t, o.Validate(), "--max-procs")
	o = NewInjectorOptions()
	o.Injector.VaultAddress = "https://v:8200"
	assert.Equal(t, 50, o.GCPercent)
	o.GCPercent = -1
	assert.ErrorContains(t, o.Validate(), "--gc-percent must be between 0 (Go's default) and 10000, got -1")
}

// startServer runs the injector with cert files on a loopback port, as
// `vaultkube injector --listen 127.0.0.1:0 --tls-cert-file F --tls-key-file F --vault-address URL`.
func startServer(t *testing.T, dir string, extra ...string) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	o := NewInjectorOptions()
	fs := pflag.NewFlagSet("injector", pflag.ContinueOnError)
	o.AddFlags(fs)
	require.NoError(t, fs.Parse(append([]string{
		"--listen", ln.Addr().String(),
		"--tls-cert-file", filepath.Join(dir, "tls.crt"), "--tls-key-file", filepath.Join(dir, "tls.key"),
		"--vault-address", "https://vault.vault.svc:8200",
	}, extra...)))
	o.log = slog.New(slog.DiscardHandler)
	o.ShutdownDelay = 0
	require.NoError(t, o.Complete(fs))
	require.NoError(t, o.Validate())
	o.listener = ln
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	return ln.Addr().String(), func() {
		cancel()
		require.NoError(t, <-done)
	}
}

func TestServerTLSAndReload(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	dir := t.TempDir()
	ca, err := newCA("test CA", time.Now(), time.Hour)
	require.NoError(t, err)
	first := writeCert(t, ca, dir)
	free, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	metricsAddr := free.Addr().String()
	require.NoError(t, free.Close())
	addr, stop := startServer(t, dir, "--metrics-listen", metricsAddr)
	defer stop()

	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	serial := func() string {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
		require.NoError(t, err)
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	assert.Equal(t, first.Cert.SerialNumber.String(), serial())

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	resp, err := client.Post("https://"+addr+"/mutate", "application/json",
		bytes.NewReader(reviewBody(t, "app", admissionv1.Create, podJSON(t, annotated))))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var review admissionv1.AdmissionReview
	require.NoError(t, json.Unmarshal(body, &review))
	assert.True(t, review.Response.Allowed)
	assert.NotEmpty(t, review.Response.Patch)

	// cert-manager rotates the files: new handshakes get the new certificate.
	second := writeCert(t, ca, dir)
	future := time.Now().Add(time.Minute)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "tls.crt"), future, future))
	assert.Eventually(t, func() bool { return serial() == second.Cert.SerialNumber.String() }, 5*time.Second, 100*time.Millisecond)

	// a broken key keeps the previous certificate
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tls.key"), []byte("garbage"), 0o600))
	time.Sleep(1100 * time.Millisecond)
	assert.Equal(t, second.Cert.SerialNumber.String(), serial())

	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := client.Get("https://" + addr + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		resp, err = http.Get("http://" + metricsAddr + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "plain "+path)
	}
}

func TestServerRefusesBadCertFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tls.crt"), []byte("x"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tls.key"), []byte("y"), 0o600))
	o := NewInjectorOptions()
	o.TLSCertFile, o.TLSKeyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	o.Injector.VaultAddress = "https://v:8200"
	o.log = slog.New(slog.DiscardHandler)
	o.ShutdownDelay = 0
	err := o.Run(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "TLS certificate")
}

// TestEveryFlagTakesItsEnvTwin sets the environment twin of each flag in turn and checks
// that the flag takes its value when not given on the command line.
func TestEveryFlagTakesItsEnvTwin(t *testing.T) {
	probe := pflag.NewFlagSet("injector", pflag.ContinueOnError)
	NewInjectorOptions().AddFlags(probe)
	n := 0
	probe.VisitAll(func(f *pflag.Flag) {
		var v string
		switch f.Value.Type() {
		case "bool":
			v = strconv.FormatBool(f.DefValue != "true")
		case "int", "int32", "int64", "uint", "uint32", "uint64":
			v = "7"
		case "float64":
			v = "0.5"
		case "duration":
			v = "7s"
		case "stringSlice":
			v = "a,b"
		case "string":
			v = "env-value"
		default:
			t.Errorf("flag --%s: add a test value for type %s", f.Name, f.Value.Type())
			return
		}
		n++
		t.Run(f.Name, func(t *testing.T) {
			t.Setenv(EnvName(f.Name), v)
			o := NewInjectorOptions()
			fs := pflag.NewFlagSet("injector", pflag.ContinueOnError)
			o.AddFlags(fs)
			require.NoError(t, fs.Parse(nil))
			require.NoError(t, o.Complete(fs))
			want := v
			if f.Value.Type() == "stringSlice" {
				want = "[a,b]"
			}
			assert.Equal(t, want, fs.Lookup(f.Name).Value.String())
		})
	})
	assert.Greater(t, n, 25)
}
