package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultkube/vaultkube/csi"
	"github.com/vaultkube/vaultkube/internal/jwtsign"
	"github.com/vaultkube/vaultkube/internal/vaultclient"
)

// csiOptions measures the CSI provider in process against a real Vault dev server: JWT
// login (the same auth/<mount>/login with role and jwt as Kubernetes auth) and KV v2 reads,
// with mount attributes as the Secrets Store CSI driver sends them. There is no peer:
// vault-csi-provider is BUSL-licensed, so it is neither fetched nor built here.
type csiOptions struct {
	vault  string // $VK_CACHE/bin/vault
	mounts int    // mounts per latency figure
	skip   string
	dir    string
}

// CSI bench constants: the JWT auth mount, its role, the secrets and the audience.
const (
	csiAuthMount  = "jwt-bench"
	csiRole       = "bench"
	csiAudience   = "vault"
	csiSecrets    = 10
	csiNamespace  = "bench"
	csiSA         = "app"
	csiWarmGoalMS = 5.0
	csiB2BMounts  = 200
	csiB2BPods    = 20
	csiB2BWorkers = 8
)

// csiBench is a configured Vault and what the mounts need.
type csiBench struct {
	addr     string
	vaultPID int
	key      *ecdsa.PrivateKey
}

// devVault is a running Vault dev server; root has the root token, for the set-up only.
type devVault struct {
	addr string
	pid  int
	root *api.Client
	stop func()
}

func runCSI(o csiOptions, out io.Writer) *section {
	s := &section{name: "csi"}
	fmt.Fprintln(out, "peer: none (hashicorp/vault-csi-provider is BUSL-licensed: not fetched or built); goals are absolute")
	if o.skip != "" {
		fmt.Fprintf(out, "SKIPPED: %s\n", o.skip)
		s.skipped("CSI provider mount latency and logins", o.skip)
		return s
	}
	if _, err := os.Stat(o.vault); err != nil {
		reason := fmt.Sprintf("no Vault binary at %s: run `make deps`", o.vault)
		fmt.Fprintf(out, "SKIPPED: %s\n", reason)
		s.skipped("CSI provider mount latency and logins", reason)
		return s
	}
	o.mounts = max(o.mounts, 2)
	fmt.Fprintf(out, "%d CPUs, load average %s before the run (other processes share them: figures are noisy under load)\n", runtime.NumCPU(), loadAverage())
	dir, err := os.MkdirTemp(o.dir, "csi-")
	if err != nil {
		s.err = err
		return s
	}
	defer os.RemoveAll(dir)
	v, err := startDevVault(o.vault, dir)
	if err != nil {
		s.err = fmt.Errorf("vault dev server: %w", err)
		return s
	}
	defer v.stop()
	b, err := configureCSIVault(v)
	if err != nil {
		s.err = fmt.Errorf("configure vault: %w", err)
		return s
	}
	if err := b.measure(o, s, out); err != nil {
		s.err = err
	}
	return s
}

// startDevVault starts `vault server -dev` on a free loopback port with a random root
// token, given in the environment (never in argv), and waits until it is unsealed.
func startDevVault(bin, dir string) (*devVault, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	rootToken := "root-" + hex.EncodeToString(tok)
	cmd := exec.Command(bin, "server", "-dev", fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", port))
	cmd.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin", "VAULT_DEV_ROOT_TOKEN_ID=" + rootToken}
	logf, err := os.Create(filepath.Join(dir, "vault-server.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close() }
	addr := fmt.Sprintf("http://127.0.0.1:%d", port)
	c, err := csiRootClient(addr, rootToken)
	if err != nil {
		stop()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if h, err := c.Sys().HealthWithContext(ctx); err == nil && h.Initialized && !h.Sealed {
			return &devVault{addr: addr, pid: cmd.Process.Pid, root: c, stop: stop}, nil
		}
		select {
		case <-ctx.Done():
			stop()
			log, _ := os.ReadFile(filepath.Join(dir, "vault-server.log"))
			return nil, fmt.Errorf("not healthy at %s after 30s: %s", addr, tail(log, 300))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func csiRootClient(addr, token string) (*api.Client, error) {
	c, err := vaultclient.New(vaultclient.Options{Address: addr})
	if err != nil {
		return nil, err
	}
	return vaultclient.WithToken(c, token)
}

// configureCSIVault puts the KV v2 secrets, a policy reading them, and JWT auth with a
// fresh P-256 key and a jwt role bound to the audience vault.
func configureCSIVault(v *devVault) (*csiBench, error) {
	c := v.root
	ctx := context.Background()
	for i := range csiSecrets {
		if _, err := c.KVv2("secret").Put(ctx, fmt.Sprintf("bench/s%d", i), map[string]any{
			"username": fmt.Sprintf("user-%d", i), "password": fmt.Sprintf("bench-s3cr3t-%d", i),
		}); err != nil {
			return nil, err
		}
	}
	if err := c.Sys().PutPolicy("csi-bench", `path "secret/data/bench/*" { capabilities = ["read"] }`); err != nil {
		return nil, err
	}
	if err := c.Sys().EnableAuthWithOptions(csiAuthMount, &api.EnableAuthOptions{Type: "jwt"}); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	pub, err := publicKeyPEM(key)
	if err != nil {
		return nil, err
	}
	if _, err := c.Logical().Write("auth/"+csiAuthMount+"/config", map[string]any{"jwt_validation_pubkeys": []string{pub}}); err != nil {
		return nil, err
	}
	if _, err := c.Logical().Write("auth/"+csiAuthMount+"/role/"+csiRole, map[string]any{
		"role_type": "jwt", "bound_audiences": []string{csiAudience}, "user_claim": "sub",
		"token_policies": []string{"csi-bench"}, "token_ttl": "1h",
	}); err != nil {
		return nil, err
	}
	return &csiBench{addr: v.addr, vaultPID: v.pid, key: key}, nil
}

func publicKeyPEM(key *ecdsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// signServiceAccountJWT signs an ES256 token like the projected service-account token the
// driver passes: subject the service account, audience vault, one hour.
func signServiceAccountJWT(key *ecdsa.PrivateKey, podUID string) (string, error) {
	now := time.Now().Unix()
	return jwtsign.ES256(key, map[string]any{
		"iss": "https://kubernetes.default.svc", "sub": "system:serviceaccount:" + csiNamespace + ":" + csiSA,
		"aud": []string{csiAudience}, "iat": now - 5, "nbf": now - 5, "exp": now + 3600,
		"kubernetes.io": map[string]any{"namespace": csiNamespace, "pod": map[string]string{"name": "pod-" + podUID, "uid": podUID},
			"serviceaccount": map[string]string{"name": csiSA}},
	})
}

// csiObjects is the objects parameter for n objects, one secret each.
func csiObjects(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "- objectName: s%d\n  secretPath: secret/data/bench/s%d\n  secretKey: password\n", i, i)
	}
	return b.String()
}

// csiAttributes are the mount attributes as the driver sends them: the SecretProviderClass
// parameters plus the pod's attributes and its service-account token for the audience.
func csiAttributes(addr, podUID, jwt, objects string) string {
	toks, _ := json.Marshal(map[string]any{csiAudience: map[string]any{
		"token": jwt, "expirationTimestamp": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	}})
	b, _ := json.Marshal(map[string]string{
		"roleName":                                 csiRole,
		"vaultAddress":                             addr,
		"vaultAuthMountPath":                       csiAuthMount,
		"audience":                                 csiAudience,
		"objects":                                  objects,
		"csi.storage.k8s.io/pod.name":              "pod-" + podUID,
		"csi.storage.k8s.io/pod.namespace":         csiNamespace,
		"csi.storage.k8s.io/pod.uid":               podUID,
		"csi.storage.k8s.io/serviceAccount.name":   csiSA,
		"csi.storage.k8s.io/serviceAccount.tokens": string(toks),
		"csi.storage.k8s.io/ephemeral":             "false",
		"secretProviderClass":                      "bench",
	})
	return string(b)
}

// csiPod is one pod's mount attributes for 1 and for 10 objects, its token signed.
type csiPod struct {
	uid       string
	one, many string
}

func (b *csiBench) newPod(uid string) (csiPod, error) {
	jwt, err := signServiceAccountJWT(b.key, uid)
	if err != nil {
		return csiPod{}, err
	}
	return csiPod{uid: uid, one: csiAttributes(b.addr, uid, jwt, csiObjects(1)), many: csiAttributes(b.addr, uid, jwt, csiObjects(csiSecrets))}, nil
}

// pods signs n new pods' tokens ahead of the timed mounts.
func (b *csiBench) pods(prefix string, n int) ([]csiPod, error) {
	out := make([]csiPod, n)
	for i := range out {
		p, err := b.newPod(fmt.Sprintf("%s-%04d-%s", prefix, i, randHex(4)))
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

const csiPermission = `"420"`

// mountOnce mounts and checks that every object came back.
func mountOnce(p *csi.Provider, attributes string, want int) (time.Duration, error) {
	start := time.Now()
	res, err := p.Mount(context.Background(), attributes, csiPermission)
	d := time.Since(start)
	if err != nil {
		return d, err
	}
	if len(res.Files) != want {
		return d, fmt.Errorf("mount gave %d files, want %d", len(res.Files), want)
	}
	return d, nil
}

func (b *csiBench) measure(o csiOptions, s *section, out io.Writer) error {
	m := csi.NewMetrics(nil)
	p, err := csi.NewProvider(csi.Options{Metrics: m})
	if err != nil {
		return err
	}
	// Warm the provider's HTTP connections and Vault's first-use paths (not counted).
	warmup, err := b.pods("warmup", 3)
	if err != nil {
		return err
	}
	for _, pod := range warmup {
		for range 3 {
			if _, err := mountOnce(p, pod.many, csiSecrets); err != nil {
				return fmt.Errorf("warm-up mount: %w", err)
			}
		}
	}

	tw := newTable(out)
	fmt.Fprintf(tw, "scenario\tmounts\tmedian\tp99\tlogins\tVault reads\t\n")
	type fig struct{ med, p99 time.Duration }
	figs := map[string]fig{}
	run := func(name string, attrs func(i int) string, objects int) error {
		l0, r0 := m.Logins.Value(), m.Reads.Value()
		ds := make([]time.Duration, 0, o.mounts)
		for i := range o.mounts {
			d, err := mountOnce(p, attrs(i), objects)
			if err != nil {
				return fmt.Errorf("%s: mount %d: %w", name, i, err)
			}
			ds = append(ds, d)
		}
		f := fig{median(ds), percentile(ds, 99)}
		figs[name] = f
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%.0f\t%.0f\t\n", name, len(ds), ms(f.med), ms(f.p99), m.Logins.Value()-l0, m.Reads.Value()-r0)
		return nil
	}
	for _, n := range []int{1, csiSecrets} {
		cold, err := b.pods(fmt.Sprintf("cold%d", n), o.mounts)
		if err != nil {
			return err
		}
		pick := func(pod csiPod) string {
			if n == 1 {
				return pod.one
			}
			return pod.many
		}
		if err := run(fmt.Sprintf("cold, %d object(s) (new pod: login)", n), func(i int) string { return pick(cold[i]) }, n); err != nil {
			return err
		}
		warm, err := b.newPod(fmt.Sprintf("warm%d-%s", n, randHex(4)))
		if err != nil {
			return err
		}
		if _, err := mountOnce(p, pick(warm), n); err != nil { // its login, not counted
			return fmt.Errorf("warm pod's first mount: %w", err)
		}
		if err := run(fmt.Sprintf("warm, %d object(s) (same pod: cached token)", n), func(int) string { return pick(warm) }, n); err != nil {
			return err
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	// Logins per 100 mounts of one pod, from its first mount on.
	one, err := b.newPod("logins-" + randHex(4))
	if err != nil {
		return err
	}
	l0 := m.Logins.Value()
	for i := range 100 {
		if _, err := mountOnce(p, one.many, csiSecrets); err != nil {
			return fmt.Errorf("logins: mount %d: %w", i, err)
		}
	}
	logins := m.Logins.Value() - l0
	fmt.Fprintf(out, "\nVault logins for 100 mounts of one pod (vaultkube_csi_vault_logins_total): %.0f (goal: 1 per pod per token TTL)\n", logins)

	// Back-to-back: mounts of several new pods from concurrent callers, as after a
	// Deployment's scale-up; each pod's first mount logs in, the rest reuse its token.
	b2b, err := b.pods("b2b", csiB2BPods)
	if err != nil {
		return err
	}
	l0, r0 := m.Logins.Value(), m.Reads.Value()
	ds := make([]time.Duration, csiB2BMounts)
	errs := make([]error, csiB2BMounts)
	var wg sync.WaitGroup
	work := make(chan int)
	vcpu0, scpu0 := procCPU(b.vaultPID), procCPU(os.Getpid())
	start := time.Now()
	for range csiB2BWorkers {
		wg.Go(func() {
			for i := range work {
				ds[i], errs[i] = mountOnce(p, b2b[i%csiB2BPods].many, csiSecrets)
			}
		})
	}
	for i := range csiB2BMounts {
		work <- i
	}
	close(work)
	wg.Wait()
	total := time.Since(start)
	vcpu, scpu := procCPU(b.vaultPID)-vcpu0, procCPU(os.Getpid())-scpu0
	busy := (vcpu + scpu).Seconds() / (total.Seconds() * float64(runtime.NumCPU()))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("back-to-back mounts: %w", err)
	}
	rate := float64(csiB2BMounts) / total.Seconds()
	fmt.Fprintf(out, "back-to-back: %d mounts of %d objects for %d new pods from %d goroutines: %s in all, %.0f mounts/s, median %s, p99 %s, max %s, %.0f logins, %.0f Vault reads\n",
		csiB2BMounts, csiSecrets, csiB2BPods, csiB2BWorkers, ms(total), rate, ms(median(ds)), ms(percentile(ds, 99)), ms(percentile(ds, 100)),
		m.Logins.Value()-l0, m.Reads.Value()-r0)
	fmt.Fprintf(out, "  CPU meanwhile: Vault %s, the bench (provider and callers) %s: %.0f%% of the machine's %d CPUs, load average now %s (a client-side limiter would leave the CPUs idle with nothing else running)\n",
		ms(vcpu), ms(scpu), 100*busy, runtime.NumCPU(), loadAverage())
	if warm := figs[fmt.Sprintf("warm, %d object(s) (same pod: cached token)", csiSecrets)].med; warm > 0 {
		fmt.Fprintf(out, "  one caller, warm %d-object mounts in a row: %.0f mounts/s (1 / median)\n", csiSecrets, 1/warm.Seconds())
	}

	warm10 := figs[fmt.Sprintf("warm, %d object(s) (same pod: cached token)", csiSecrets)]
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "not met"
	}
	fmt.Fprintf(out, "\ngoals: warm %d-object mount median %s (p99 %s) < %.0f ms: %s; logins per pod per token TTL %.0f ≤ 1: %s\n",
		csiSecrets, ms(warm10.med), ms(warm10.p99), csiWarmGoalMS, verdict(msf(warm10.med) < csiWarmGoalMS), logins, verdict(logins <= 1))

	limit := func(metric string, v, lim float64, unit, label string) {
		s.add(row{metric: metric, ours: v, peer: lim, peerLabel: label, unit: unit, goal: 1})
	}
	info := func(metric string, v float64, unit string) {
		s.add(row{metric: metric, ours: v, peerLabel: "-", unit: unit})
	}
	for _, n := range []int{1, csiSecrets} {
		for _, kind := range []string{"cold", "warm"} {
			f := figs[fmt.Sprintf("%s, %d object(s) (%s)", kind, n, map[string]string{"cold": "new pod: login", "warm": "same pod: cached token"}[kind])]
			if kind == "warm" && n == csiSecrets {
				limit(fmt.Sprintf("mount %s, %d objects: median (goal < 5 ms)", kind, n), msf(f.med), csiWarmGoalMS, "ms", "5 ms (limit)")
			} else {
				info(fmt.Sprintf("mount %s, %d object(s): median", kind, n), msf(f.med), "ms")
			}
			info(fmt.Sprintf("mount %s, %d object(s): p99", kind, n), msf(f.p99), "ms")
		}
	}
	limit("Vault logins per 100 mounts of one pod (goal 1)", logins, 1, "", "1 (limit)")
	info(fmt.Sprintf("back-to-back %d mounts, %d pods, %d goroutines: mounts/s", csiB2BMounts, csiB2BPods, csiB2BWorkers), rate, "")
	info("back-to-back: total", msf(total), "ms")
	info("back-to-back: p99", msf(percentile(ds, 99)), "ms")
	return nil
}
