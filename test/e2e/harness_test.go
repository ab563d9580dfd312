//go:build e2e

// Package e2e holds the end-to-end tests: they run against the real local cluster that
// test/cluster/up.sh starts (hack/e2e.sh starts it when needed) and real Vault servers.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// cluster is what the tests know about the local cluster.
type cluster struct {
	state      string // $VAULTKUBE_STATE
	bin        string // $VAULTKUBE_BIN: kubectl, vault, ...
	kubeconfig string
	config     *rest.Config
	client     kubernetes.Interface
	level      int
}

func cacheDir() string {
	if d := os.Getenv("VAULTKUBE_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "vaultkube")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "vaultkube")
}

// getCluster connects to the running local cluster; it fails (never skips) when the cluster
// is absent, because hack/e2e.sh always starts it first.
func getCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{state: os.Getenv("VAULTKUBE_STATE"), bin: os.Getenv("VAULTKUBE_BIN")}
	if c.state == "" {
		c.state = filepath.Join(cacheDir(), "cluster")
	}
	if c.bin == "" {
		c.bin = filepath.Join(cacheDir(), "bin")
	}
	c.kubeconfig = filepath.Join(c.state, "admin.kubeconfig")
	_, err := os.Stat(c.kubeconfig)
	require.NoError(t, err, "the local cluster is not running: start it with `make cluster-up` (or run `make e2e`)")
	c.config, err = clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	require.NoError(t, err)
	c.client, err = kubernetes.NewForConfig(c.config)
	require.NoError(t, err)
	lvl, _ := os.ReadFile(filepath.Join(c.state, "level"))
	fmt.Sscanf(strings.TrimSpace(string(lvl)), "%d", &c.level)
	return c
}

// requireLevel2 stops the test loudly when the cluster runs no node.
func (c *cluster) requireLevel2(t *testing.T) {
	t.Helper()
	if c.level < 2 {
		t.Skipf("SKIPPED LOUDLY: the local cluster runs at level %d (no kubelet): start it with `test/cluster/up.sh 2`", c.level)
	}
}

// namespace creates a namespace for one test and deletes it afterwards.
func (c *cluster) namespace(t *testing.T, prefix string) string {
	t.Helper()
	ns, err := c.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = c.client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

// kubectl runs the real kubectl against the cluster.
func (c *cluster) kubectl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "kubectl"), append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// freePort returns a free TCP port on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomToken(t *testing.T) string {
	b := make([]byte, 16)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return "root-" + hex.EncodeToString(b)
}

// localVault is a Vault server run as a local process on 127.0.0.1.
type localVault struct {
	addr  string
	token string // root token (dev mode) — only ever passed through the environment
	bin   string
	cmd   *exec.Cmd
}

// startDevVault starts `vault server -dev` on a free loopback port.
func (c *cluster) startDevVault(t *testing.T) *localVault {
	t.Helper()
	bin := filepath.Join(c.bin, "vault")
	_, err := os.Stat(bin)
	require.NoError(t, err, "%s is missing: run `make deps`", bin)
	port := freePort(t)
	v := &localVault{addr: fmt.Sprintf("http://127.0.0.1:%d", port), token: randomToken(t), bin: bin}
	v.cmd = exec.Command(bin, "server", "-dev", fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", port))
	// The root token travels in the environment, never in argv.
	v.cmd.Env = append(os.Environ(), "VAULT_DEV_ROOT_TOKEN_ID="+v.token, "HOME="+t.TempDir())
	logf, err := os.Create(filepath.Join(t.TempDir(), "vault.log"))
	require.NoError(t, err)
	v.cmd.Stdout, v.cmd.Stderr = logf, logf
	require.NoError(t, v.cmd.Start())
	t.Cleanup(func() { _ = v.cmd.Process.Kill(); _, _ = v.cmd.Process.Wait() })
	require.Eventually(t, func() bool {
		_, err := v.run(t, "", "status")
		return err == nil
	}, 30*time.Second, 200*time.Millisecond, "vault dev server did not start; log in %s", logf.Name())
	return v
}

// run runs the vault CLI against the server with the root token in the environment.
func (v *localVault) run(t *testing.T, stdin string, args ...string) (string, error) {
	cmd := exec.Command(v.bin, args...)
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+v.addr, "VAULT_TOKEN="+v.token, "HOME="+t.TempDir())
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("vault %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func execCommand(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }
