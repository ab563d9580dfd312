// Command bench compares the vaultkube agent with `vault agent` on the same work: log in to
// the same Vault dev server with JWT auth and render one KV v2 secret with vault-k8s's
// default template. It reports, per tool, the time from exec to exit in init mode
// (exit_after_auth for vault agent), the time from exec to the rendered file in sidecar
// mode, and memory (max RSS of the init run, VmRSS/VmHWM of the sidecar after it
// settled), then the ratios against the goals (RSS ≤ 1/4, time ≤ 1/2).
//
//	go build -o /tmp/vaultkube-agent ./cmd/vaultkube-agent
//	go run ./injector/agent/bench -vault ~/.cache/vaultkube/bin/vault -agent /tmp/vaultkube-agent -runs 10
//
// The Vault binary serves as the dev server and as `vault agent`. Everything listens on
// 127.0.0.1 and lives in a temporary directory that is removed at the end.
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
	"github.com/vaultkube/vaultkube/internal/jwtsign"
	"github.com/vaultkube/vaultkube/internal/vaultclient"
)

const (
	secretPath = "secret/data/bench/db"
	rootToken  = "vaultkube-bench-root"
	// The template vault-k8s writes for agent-inject-secret-db without a template.
	defaultMapTemplate = "{{ with secret \"" + secretPath + "\" }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}"
)

func main() {
	home, _ := os.UserHomeDir()
	vaultBin := flag.String("vault", filepath.Join(home, ".cache", "vaultkube", "bin", "vault"), "vault binary (dev server and vault agent)")
	agentBin := flag.String("agent", "", "vaultkube-agent (or vaultkube) binary")
	runs := flag.Int("runs", 5, "runs per tool and mode (the median is reported)")
	flag.Parse()
	if *agentBin == "" {
		fmt.Fprintln(os.Stderr, "error: -agent is required (go build -o /tmp/vaultkube-agent ./cmd/vaultkube-agent)")
		os.Exit(2)
	}
	if err := run(*vaultBin, *agentBin, *runs, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// tool is one side of the comparison: how to start it in init or sidecar mode.
type tool struct {
	name string
	cmd  func(sidecar bool, dest string) (*exec.Cmd, error)
}

type result struct {
	initTime, sidecarTime   time.Duration
	initMaxRSS, sidecarRSS  int64 // kB
	sidecarHWM, binarySize  int64 // kB, bytes
	renderedMatchesExpected bool
}

func run(vaultBin, agentBin string, runs int, out io.Writer) error {
	dir, err := os.MkdirTemp("", "vaultkube-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	addr, stop, err := startVault(vaultBin, dir)
	if err != nil {
		return err
	}
	defer stop()
	jwtPath, err := configureVault(addr, dir)
	if err != nil {
		return err
	}

	tools := []tool{
		{name: "vault agent", cmd: func(sidecar bool, dest string) (*exec.Cmd, error) {
			cfgPath := filepath.Join(dir, "vault-agent.json")
			cfg := map[string]any{
				"exit_after_auth": !sidecar,
				"vault":           map[string]any{"address": addr},
				"auto_auth": map[string]any{"method": []any{map[string]any{
					"type": "jwt", "mount_path": "auth/jwt",
					"config": map[string]any{"path": jwtPath, "role": "app", "remove_jwt_after_reading": false},
				}}},
				"template": []any{map[string]any{"destination": dest, "contents": defaultMapTemplate}},
			}
			raw, _ := json.Marshal(cfg)
			if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
				return nil, err
			}
			cmd := exec.Command(vaultBin, "agent", "-config="+cfgPath)
			cmd.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin"}
			return cmd, nil
		}},
		{name: "vaultkube agent", cmd: func(sidecar bool, dest string) (*exec.Cmd, error) {
			mode := "init"
			if sidecar {
				mode = "sidecar"
			}
			raw, _ := json.Marshal(agentconfig.Config{
				Vault: agentconfig.Vault{Address: addr},
				Auth:  agentconfig.Auth{Type: "jwt", Path: "auth/jwt", Role: "app", TokenPath: jwtPath},
				Mode:  mode,
				Templates: []agentconfig.Template{{
					Name: "db", SecretPath: secretPath, DefaultFormat: "map", Destination: dest,
				}},
			})
			cmd := exec.Command(agentBin, "agent")
			cmd.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin", agentconfig.EnvVar + "=" + string(raw)}
			return cmd, nil
		}},
	}
	bins := map[string]string{"vault agent": vaultBin, "vaultkube agent": agentBin}

	results := map[string]*result{}
	expected := ""
	for _, t := range tools {
		r := &result{renderedMatchesExpected: true}
		if fi, err := os.Stat(bins[t.name]); err == nil {
			r.binarySize = fi.Size()
		}
		var initTimes, sideTimes []time.Duration
		for i := range runs {
			dest := filepath.Join(dir, fmt.Sprintf("%s-init-%d", strings.ReplaceAll(t.name, " ", "-"), i))
			cmd, err := t.cmd(false, dest)
			if err != nil {
				return err
			}
			var logs strings.Builder
			cmd.Stdout, cmd.Stderr = &logs, &logs
			start := time.Now()
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s init run: %v\n%s", t.name, err, logs.String())
			}
			initTimes = append(initTimes, time.Since(start))
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				r.initMaxRSS = max(r.initMaxRSS, ru.Maxrss)
			}
			got, err := os.ReadFile(dest)
			if err != nil {
				return fmt.Errorf("%s init run exited 0 without %s: %v\n%s", t.name, dest, err, logs.String())
			}
			if expected == "" {
				expected = string(got)
			}
			r.renderedMatchesExpected = r.renderedMatchesExpected && expected == string(got)
		}
		for i := range runs {
			dest := filepath.Join(dir, fmt.Sprintf("%s-sidecar-%d", strings.ReplaceAll(t.name, " ", "-"), i))
			cmd, err := t.cmd(true, dest)
			if err != nil {
				return err
			}
			var logs strings.Builder
			cmd.Stdout, cmd.Stderr = &logs, &logs
			d, rss, hwm, err := sidecarRun(cmd, dest)
			if err != nil {
				return fmt.Errorf("%s sidecar run: %v\n%s", t.name, err, logs.String())
			}
			sideTimes = append(sideTimes, d)
			r.sidecarRSS, r.sidecarHWM = max(r.sidecarRSS, rss), max(r.sidecarHWM, hwm)
		}
		r.initTime, r.sidecarTime = median(initTimes), median(sideTimes)
		results[t.name] = r
	}

	va, vk := results["vault agent"], results["vaultkube agent"]
	self, _ := procMemory(os.Getpid())
	fmt.Fprintf(out, "(this program's own VmRSS: %.1f MB, a floor for the init max RSS)\n", float64(self)/1024)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "metric (median of %d runs; memory: max)\tvault agent\tvaultkube agent\tratio\tgoal\n", runs)
	row := func(name string, a, b float64, unit, goal string) {
		fmt.Fprintf(tw, "%s\t%.1f %s\t%.1f %s\t%.2f\t%s\n", name, a, unit, b, unit, b/a, goal)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	row("init: exec to exit, file rendered", ms(va.initTime), ms(vk.initTime), "ms", "≤ 0.50")
	row("sidecar: exec to rendered file", ms(va.sidecarTime), ms(vk.sidecarTime), "ms", "≤ 0.50")
	row("init: max RSS", float64(va.initMaxRSS)/1024, float64(vk.initMaxRSS)/1024, "MB", "≤ 0.25")
	row("sidecar: VmRSS after 2 s", float64(va.sidecarRSS)/1024, float64(vk.sidecarRSS)/1024, "MB", "≤ 0.25")
	row("sidecar: VmHWM after 2 s", float64(va.sidecarHWM)/1024, float64(vk.sidecarHWM)/1024, "MB", "≤ 0.25")
	row("binary size", float64(va.binarySize)/(1<<20), float64(vk.binarySize)/(1<<20), "MB", "≤ 0.125")
	if err := tw.Flush(); err != nil {
		return err
	}
	if !vk.renderedMatchesExpected || !va.renderedMatchesExpected {
		return errors.New("the two tools rendered different files")
	}
	fmt.Fprintf(out, "rendered files: identical (%d bytes)\n", len(expected))
	return nil
}

// sidecarRun starts cmd, waits for dest, lets the process settle for 2 s, reads its memory,
// and stops it with SIGTERM.
func sidecarRun(cmd *exec.Cmd, dest string) (time.Duration, int64, int64, error) {
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	deadline := start.Add(30 * time.Second)
	for {
		if fi, err := os.Stat(dest); err == nil && fi.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, 0, fmt.Errorf("no %s after 30s", dest)
		}
		time.Sleep(500 * time.Microsecond)
	}
	d := time.Since(start)
	time.Sleep(2 * time.Second)
	rss, hwm := procMemory(cmd.Process.Pid)
	return d, rss, hwm, nil
}

func procMemory(pid int) (rss, hwm int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "VmRSS:" {
			fmt.Sscan(fields[1], &rss)
		}
		if len(fields) >= 2 && fields[0] == "VmHWM:" {
			fmt.Sscan(fields[1], &hwm)
		}
	}
	return rss, hwm
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func startVault(bin, dir string) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "server", "-dev", fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", port))
	// The root token travels in the environment, never in argv.
	cmd.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin", "VAULT_DEV_ROOT_TOKEN_ID=" + rootToken}
	logf, err := os.Create(filepath.Join(dir, "vault-server.log"))
	if err != nil {
		return "", nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close() }
	addr := fmt.Sprintf("http://127.0.0.1:%d", port)
	c, err := rootClient(addr)
	if err != nil {
		stop()
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if h, err := c.Sys().HealthWithContext(ctx); err == nil && h.Initialized && !h.Sealed {
			return addr, stop, nil
		}
		select {
		case <-ctx.Done():
			stop()
			return "", nil, fmt.Errorf("vault dev server at %s not healthy after 30s", addr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func rootClient(addr string) (*api.Client, error) {
	c, err := vaultclient.New(vaultclient.Options{Address: addr})
	if err != nil {
		return nil, err
	}
	return vaultclient.WithToken(c, rootToken)
}

// configureVault writes the secret, enables JWT auth with a fresh key and role "app", and
// writes a signed JWT into dir; it returns the JWT's path.
func configureVault(addr, dir string) (string, error) {
	c, err := rootClient(addr)
	if err != nil {
		return "", err
	}
	if _, err := c.KVv2("secret").Put(context.Background(), "bench/db", map[string]any{"username": "alice", "password": "bench-s3cr3t"}); err != nil {
		return "", err
	}
	if err := c.Sys().PutPolicy("read-secrets", `path "secret/data/*" { capabilities = ["read"] }`); err != nil {
		return "", err
	}
	if err := c.Sys().EnableAuthWithOptions("jwt", &api.EnableAuthOptions{Type: "jwt"}); err != nil {
		return "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", err
	}
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if _, err := c.Logical().Write("auth/jwt/config", map[string]any{"jwt_validation_pubkeys": []string{pub}}); err != nil {
		return "", err
	}
	if _, err := c.Logical().Write("auth/jwt/role/app", map[string]any{
		"role_type": "jwt", "bound_audiences": []string{"vault"}, "user_claim": "sub",
		"token_policies": []string{"read-secrets"}, "token_ttl": "1h",
	}); err != nil {
		return "", err
	}
	jwt, err := signJWT(key)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "jwt")
	return p, os.WriteFile(p, []byte(jwt), 0o600)
}

func signJWT(key *ecdsa.PrivateKey) (string, error) {
	now := time.Now().Unix()
	return jwtsign.ES256(key, map[string]any{"sub": "system:serviceaccount:default:app", "aud": "vault", "iat": now - 5, "nbf": now - 5, "exp": now + 3600})
}
