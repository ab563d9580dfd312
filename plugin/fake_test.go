package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(p, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err, "run go test ./plugin -update to create %s", p)
	require.Equal(t, string(want), got, "golden %s differs (go test ./plugin -update refreshes it)", p)
}

// fakeExitError is what client-go returns for a non-zero exit.
type fakeExitError struct{ code int }

func (e fakeExitError) Error() string {
	return fmt.Sprintf("command terminated with exit code %d", e.code)
}
func (e fakeExitError) ExitStatus() int { return e.code }

// fakeVault simulates one Vault server pod: seal state, keys, raft data and a filesystem.
type fakeVault struct {
	Initialized bool
	Sealed      bool
	T, N        int
	Progress    int
	Storage     string
	Seal        string
	Active      bool
	Version     string
	Cluster     string
	Keys        []string // the cluster's valid key shares
	Token       string   // the valid root token
	NodeID      string
	// Joiner answers the last key with sealed=true, progress=0 and unseals after JoinPolls
	// status calls, as a raft node joining through retry_join does.
	Joiner    bool
	JoinPolls int
	// NoChallenge is how many unseal calls a joiner refuses ("not initialized") before its
	// retry_join has fetched the leader's challenge.
	NoChallenge int
	joining     bool
	given       map[string]bool
	Files       map[string][]byte
	Data        string // the "database": what a snapshot carries
	NoSh        bool   // the image has no sh
	NoTmp       bool   // the container has no writable /tmp

	fc *fakeCluster // back pointer (its lock is held while a command runs)
}

type execCall struct {
	Pod   string
	Argv  []string
	Stdin []byte
}

// fakeCluster implements every cluster interface over fake pods.
type fakeCluster struct {
	mu      sync.Mutex
	pods    []corev1.Pod
	vaults  map[string]*fakeVault
	calls   []execCall
	secrets map[string]map[string][]byte
	deleted []string
	fwd     []string // pods forwarded to
	fwdCh   chan string

	peers    []string              // raft configuration (node ids); nil means vault-0..2
	replicas int32                 // StatefulSet replicas
	stopped  map[string]*fakeVault // vaults of scaled-down pods, with their volumes
	pvcs     map[string]bool       // existing PVCs
	cms      map[string]map[string]string
	uid      int
	// scaleDownHook runs after a scale-down (to interrupt a pivot in tests).
	afterStep func(what string) error
}

func newFakeCluster(n int, mk func(i int) *fakeVault) *fakeCluster {
	fc := &fakeCluster{vaults: map[string]*fakeVault{}, secrets: map[string]map[string][]byte{},
		replicas: int32(n), stopped: map[string]*fakeVault{}, pvcs: map[string]bool{}, cms: map[string]map[string]string{}}
	for i := 0; i < n; i++ {
		fc.pvcs[fmt.Sprintf("data-vault-%d", i)] = true
		name := fmt.Sprintf("vault-%d", i)
		fc.pods = append(fc.pods, fakePod(name))
		v := mk(i)
		if v.Files == nil {
			v.Files = map[string][]byte{}
		}
		if v.NodeID == "" {
			v.NodeID = fmt.Sprintf("node-%d", i)
		}
		v.Files["/vault/data/node-id"] = []byte(v.NodeID + "\n")
		v.fc = fc
		fc.vaults[name] = v
	}
	return fc
}

func fakePod(name string) corev1.Pod {
	tr := true
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "vault", UID: types.UID(name + "-uid-0"),
			OwnerReferences: []metav1.OwnerReference{{Kind: "StatefulSet", Name: "vault", Controller: &tr}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "vault",
			Env: []corev1.EnvVar{{Name: "VAULT_ADDR", Value: "http://127.0.0.1:8200"}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

// Test keys: base64 of 33 bytes, like Vault's Shamir shares.
func testKey(i int) string {
	b := bytes.Repeat([]byte{byte(0x40 + i)}, 33)
	return base64.StdEncoding.EncodeToString(b)
}

func testKeys(n int) []string {
	var ks []string
	for i := 0; i < n; i++ {
		ks = append(ks, testKey(i))
	}
	return ks
}

const testToken = "hvs.TESTROOTTOKEN0123456789"

// healthy3 is a 3-pod raft cluster, vault-0 active, all unsealed.
func healthy3() *fakeCluster {
	return newFakeCluster(3, func(i int) *fakeVault {
		return &fakeVault{Initialized: true, Sealed: false, T: 3, N: 5, Storage: "raft", Seal: "shamir", Active: i == 0,
			Version: "1.21.1", Cluster: "vault-cluster-test", Keys: testKeys(5), Token: testToken, Data: "cluster-A"}
	})
}

// sealed3 is the same cluster, all sealed.
func sealed3() *fakeCluster {
	fc := healthy3()
	for _, v := range fc.vaults {
		v.Sealed, v.Active = true, false
	}
	return fc
}

func (fc *fakeCluster) cluster() *Cluster {
	return &Cluster{Namespace: "vault", Exec: fc, Pods: fc, Secrets: fc, Forwarder: fc, Deleter: fc, Workload: fc, ConfigMaps: fc}
}

func (fc *fakeCluster) ListPods(context.Context) ([]corev1.Pod, error) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	// Return them shuffled, to test ordering.
	out := make([]corev1.Pod, 0, len(fc.pods))
	for i := len(fc.pods) - 1; i >= 0; i-- {
		out = append(out, fc.pods[i])
	}
	return out, nil
}

func (fc *fakeCluster) CreateSecret(_ context.Context, name string, data map[string][]byte) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if _, ok := fc.secrets[name]; ok {
		return fmt.Errorf("secret %s already exists", name)
	}
	fc.secrets[name] = data
	return nil
}

func (fc *fakeCluster) GetSecret(_ context.Context, name string) (map[string][]byte, error) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	s, ok := fc.secrets[name]
	if !ok {
		return nil, fmt.Errorf("secrets %q not found", name)
	}
	return s, nil
}

// DeletePod restarts the pod: a new UID, Vault comes back sealed, raft/peers.json is consumed.
func (fc *fakeCluster) DeletePod(_ context.Context, pod string) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.deleted = append(fc.deleted, pod)
	fc.uid++
	for i := range fc.pods {
		if fc.pods[i].Name == pod {
			fc.pods[i].UID = types.UID(fmt.Sprintf("%s-uid-%d", pod, fc.uid))
		}
	}
	if v, ok := fc.vaults[pod]; ok {
		v.Sealed, v.Active, v.Progress, v.given = true, false, 0, nil
		if b, ok := v.Files["/vault/data/raft/peers.json"]; ok {
			var peers []PeerJSON
			if err := json.Unmarshal(b, &peers); err == nil {
				fc.peers = nil
				for _, p := range peers {
					fc.peers = append(fc.peers, p.ID)
				}
			}
			delete(v.Files, "/vault/data/raft/peers.json")
		}
	}
	return nil
}

func (fc *fakeCluster) StatefulSetReplicas(context.Context, string) (int32, error) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.replicas, nil
}

// ScaleStatefulSet stops pods above the count (keeping their volumes) and starts missing
// ones: from their volume if the PVC survived, else fresh raft joiners.
func (fc *fakeCluster) ScaleStatefulSet(_ context.Context, _ string, replicas int32) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.replicas = replicas
	var keep []corev1.Pod
	for _, p := range fc.pods {
		if podOrdinal(p.Name) < int(replicas) {
			keep = append(keep, p)
			continue
		}
		fc.stopped[p.Name] = fc.vaults[p.Name]
		delete(fc.vaults, p.Name)
	}
	fc.pods = keep
	for i := len(fc.pods); i < int(replicas); i++ {
		name := fmt.Sprintf("vault-%d", i)
		pvc := "data-" + name
		v := fc.stopped[name]
		if v == nil || !fc.pvcs[pvc] {
			v = &fakeVault{Sealed: true, Storage: "raft", Seal: "shamir", Version: "1.21.1", Joiner: true, JoinPolls: 1,
				NodeID: fmt.Sprintf("node-%d-new", i), Files: map[string][]byte{}, fc: fc}
			v.Files["/vault/data/node-id"] = []byte(v.NodeID + "\n")
		}
		v.Sealed, v.Active = true, false
		fc.pvcs[pvc] = true
		fc.vaults[name] = v
		fc.pods = append(fc.pods, fakePod(name))
	}
	return nil
}

func (fc *fakeCluster) GetConfigMap(_ context.Context, name string) (map[string]string, error) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	d, ok := fc.cms[name]
	if !ok {
		return nil, fmt.Errorf("configmap %s: %w", name, fs.ErrNotExist)
	}
	return d, nil
}

func (fc *fakeCluster) PutConfigMap(_ context.Context, name string, data map[string]string) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.cms[name] = data
	return nil
}

func (fc *fakeCluster) DeleteConfigMap(_ context.Context, name string) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if _, ok := fc.cms[name]; !ok {
		return fmt.Errorf("configmap %s: %w", name, fs.ErrNotExist)
	}
	delete(fc.cms, name)
	return nil
}

func (fc *fakeCluster) PVCExists(_ context.Context, name string) (bool, error) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.pvcs[name], nil
}

func (fc *fakeCluster) DeletePVC(_ context.Context, name string) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	delete(fc.pvcs, name)
	return nil
}

func (fc *fakeCluster) Forward(ctx context.Context, pod string, _, _ int, ready func()) error {
	fc.mu.Lock()
	fc.fwd = append(fc.fwd, pod)
	ch := fc.fwdCh
	fc.mu.Unlock()
	ready()
	if ch != nil {
		ch <- pod
	}
	<-ctx.Done()
	return nil
}

func (fc *fakeCluster) argvs() [][]string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	var out [][]string
	for _, c := range fc.calls {
		out = append(out, c.Argv)
	}
	return out
}

func (fc *fakeCluster) Exec(ctx context.Context, pod string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var in []byte
	if stdin != nil {
		in, _ = io.ReadAll(stdin)
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.calls = append(fc.calls, execCall{Pod: pod, Argv: append([]string(nil), cmd...), Stdin: in})
	v, ok := fc.vaults[pod]
	if !ok {
		return fmt.Errorf("pods %q not found", pod)
	}
	// Raft joiners learn the cluster's keys (and data) from an initialised peer.
	for _, name := range []string{"vault-0", "vault-1", "vault-2"} {
		if l := fc.vaults[name]; l != nil && l.Initialized && !l.Joiner {
			for _, o := range fc.vaults {
				if o.Joiner && o.Keys == nil {
					o.Keys, o.Token, o.T, o.N, o.Cluster, o.Data = l.Keys, l.Token, l.T, l.N, l.Cluster, l.Data
				}
			}
			break
		}
	}
	return v.exec(cmd, in, stdout, stderr)
}

func (v *fakeVault) exec(cmd []string, in []byte, stdout, stderr io.Writer) error {
	switch {
	case len(cmd) >= 4 && cmd[0] == "sh" && cmd[2] == tokenScript:
		if v.NoSh {
			return fakeExitError{127}
		}
		line, rest, _ := bytes.Cut(in, []byte("\n"))
		if string(line) != v.Token || v.Sealed {
			fmt.Fprintln(stderr, "Error: permission denied")
			return fakeExitError{2}
		}
		return v.vault(cmd[4:], rest, stdout, stderr)
	case len(cmd) == 3 && cmd[0] == "sh" && cmd[2] == tmpCheckScript:
		if v.NoTmp {
			return fakeExitError{1}
		}
		return nil
	case len(cmd) == 4 && cmd[0] == "sh" && cmd[2] == `umask 077 && cat > "$0"`:
		if v.NoSh {
			return fakeExitError{127}
		}
		v.Files[cmd[3]] = in
		return nil
	case cmd[0] == "cat" && len(cmd) == 2:
		b, ok := v.Files[cmd[1]]
		if !ok {
			fmt.Fprintf(stderr, "cat: can't open '%s': No such file or directory\n", cmd[1])
			return fakeExitError{1}
		}
		_, err := stdout.Write(b)
		return err
	case cmd[0] == "sha256sum" && len(cmd) == 2:
		b, ok := v.Files[cmd[1]]
		if !ok {
			return fakeExitError{1}
		}
		s := sha256.Sum256(b)
		fmt.Fprintf(stdout, "%s  %s\n", hex.EncodeToString(s[:]), cmd[1])
		return nil
	case cmd[0] == "rm" && len(cmd) == 3:
		delete(v.Files, cmd[2])
		return nil
	case cmd[0] == "vault":
		return v.vault(cmd[1:], in, stdout, stderr)
	}
	fmt.Fprintf(stderr, "exec: %q: not found\n", cmd[0])
	return fakeExitError{127}
}

func (v *fakeVault) statusJSON() map[string]any {
	m := map[string]any{"type": v.Seal, "initialized": v.Initialized, "sealed": v.Sealed, "t": v.T, "n": v.N,
		"progress": v.Progress, "nonce": "", "version": v.Version, "migration": false, "recovery_seal": false,
		"storage_type": v.Storage, "ha_enabled": v.Storage == "raft"}
	if !v.Initialized || v.Joiner && v.Sealed {
		m["t"], m["n"] = 0, 0
	}
	if !v.Sealed {
		m["cluster_name"] = v.Cluster
		m["cluster_id"] = "11111111-2222-3333-4444-555555555555"
		m["is_self"] = v.Active
		m["leader_address"] = "http://vault-0.vault-internal:8200"
		m["raft_committed_index"] = 42
		m["raft_applied_index"] = 42
	}
	return m
}

func (v *fakeVault) vault(args []string, in []byte, stdout, stderr io.Writer) error {
	var words []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") || a == "-" {
			words = append(words, a)
		}
	}
	has := func(flag string) bool {
		for _, a := range args {
			if a == flag {
				return true
			}
		}
		return false
	}
	out := func(x any) error {
		b, _ := json.MarshalIndent(x, "", "  ")
		_, err := stdout.Write(append(b, '\n'))
		return err
	}
	fail := func(code int, msg string) error {
		fmt.Fprintln(stderr, msg)
		return fakeExitError{code}
	}
	switch strings.Join(words, " ") {
	case "status":
		if v.joining {
			v.JoinPolls--
			if v.JoinPolls <= 0 {
				v.joining, v.Sealed, v.Initialized = false, false, true
			}
		}
		if err := out(v.statusJSON()); err != nil {
			return err
		}
		if v.Sealed {
			return fakeExitError{2}
		}
		return nil
	case "write sys/unseal -":
		var req struct {
			Key     string
			Reset   bool
			Migrate bool
		}
		if err := json.Unmarshal(in, &req); err != nil {
			return fail(2, "Error writing data to sys/unseal: Error making API request.\n\nCode: 400. Errors:\n\n* failed to parse JSON input: "+err.Error())
		}
		if req.Reset {
			v.Progress, v.given = 0, nil
			return out(map[string]any{"data": v.statusJSON()})
		}
		key := req.Key
		if v.Joiner && !v.Initialized && v.NoChallenge > 0 {
			v.NoChallenge--
			return fail(2, "Error writing data to sys/unseal: Error making API request.\n\nCode: 400. Errors:\n\n* Vault is not initialized")
		}
		if !v.Initialized && !v.Joiner {
			return fail(2, "Error writing data to sys/unseal: Error making API request.\n\nCode: 400. Errors:\n\n* Vault is not initialized")
		}
		if !v.Sealed {
			return out(map[string]any{"data": v.statusJSON()})
		}
		if v.given == nil {
			v.given = map[string]bool{}
		}
		if v.given[key] {
			return fail(2, "Error writing data to sys/unseal: Error making API request.\n\nCode: 400. Errors:\n\n* given key has already been provided during this generation operation")
		}
		v.given[key] = true
		v.Progress++
		if v.Progress < v.T {
			return out(map[string]any{"data": v.statusJSON()})
		}
		// threshold reached: check the keys
		for k := range v.given {
			valid := false
			for _, vk := range v.Keys {
				if vk == k {
					valid = true
				}
			}
			if !valid {
				v.Progress, v.given = 0, nil
				return fail(2, "Error writing data to sys/unseal: Error making API request.\n\nCode: 500. Errors:\n\n* cipher: message authentication failed")
			}
		}
		v.Progress, v.given = 0, nil
		if v.Joiner {
			v.joining = true
			return out(map[string]any{"data": v.statusJSON()})
		}
		v.Sealed = false
		if v.fc != nil { // the first unsealed node of a raft cluster becomes active
			active := false
			for _, o := range v.fc.vaults {
				active = active || (o != v && o.Active && !o.Sealed)
			}
			v.Active = !active
		}
		return out(map[string]any{"data": v.statusJSON()})
	case "operator init":
		if v.Initialized {
			return fail(2, "Error initializing: Error making API request.\n\nCode: 400. Errors:\n\n* Vault is already initialized")
		}
		shares, thr := 5, 3
		for _, a := range args {
			fmt.Sscanf(a, "-key-shares=%d", &shares)
			fmt.Sscanf(a, "-key-threshold=%d", &thr)
		}
		if v.Seal != "shamir" { // auto-unseal: recovery keys, and Vault unseals itself
			rs, rt := 5, 3
			for _, a := range args {
				if strings.HasPrefix(a, "-key-") {
					return fail(2, "Error initializing: parameters secret_shares,secret_threshold not applicable to seal type "+v.Seal)
				}
				fmt.Sscanf(a, "-recovery-shares=%d", &rs)
				fmt.Sscanf(a, "-recovery-threshold=%d", &rt)
			}
			v.Initialized, v.Sealed, v.Token = true, false, testToken
			return out(map[string]any{"unseal_keys_b64": []string{}, "unseal_shares": 1, "unseal_threshold": 1,
				"recovery_keys_b64": testKeys(rs), "recovery_keys_shares": rs, "recovery_keys_threshold": rt, "root_token": v.Token})
		}
		v.Initialized, v.T, v.N, v.Keys, v.Token = true, thr, shares, testKeys(shares), testToken
		return out(map[string]any{"unseal_keys_b64": v.Keys, "unseal_keys_hex": []string{}, "unseal_shares": shares,
			"unseal_threshold": thr, "recovery_keys_b64": []string{}, "recovery_keys_hex": []string{},
			"recovery_keys_shares": 0, "recovery_keys_threshold": 0, "root_token": v.Token})
	case "read sys/storage/raft/configuration":
		if v.fc != nil && v.fc.peers != nil {
			var servers []map[string]any
			for i, id := range v.fc.peers {
				servers = append(servers, map[string]any{"node_id": id, "address": id + ".vault-internal:8201", "leader": i == 0, "voter": true})
			}
			return out(map[string]any{"data": map[string]any{"config": map[string]any{"servers": servers}}})
		}
		return out(map[string]any{"data": map[string]any{"config": map[string]any{"index": 0, "servers": []map[string]any{
			{"node_id": "vault-0", "address": "vault-0.vault-internal:8201", "leader": true, "voter": true, "protocol_version": "3"},
			{"node_id": "vault-1", "address": "vault-1.vault-internal:8201", "leader": false, "voter": true, "protocol_version": "3"},
			{"node_id": "vault-2", "address": "vault-2.vault-internal:8201", "leader": false, "voter": false, "protocol_version": "3"},
		}}}})
	case "operator step-down":
		if has("-format=json") {
			return fail(1, "flag provided but not defined: -format") // as the real CLI answers
		}
		if !v.Active {
			return fail(2, "Error stepping down: not active")
		}
		v.Active = false
		for i := 0; i < 10; i++ { // the next unsealed pod by ordinal takes over
			if o, ok := v.fc.vaults[fmt.Sprintf("vault-%d", i)]; ok && o != v && !o.Sealed {
				o.Active = true
				break
			}
		}
		return nil
	case "operator raft autopilot state":
		// As the Vault CLI prints it: Go field names.
		return out(map[string]any{"Healthy": true, "FailureTolerance": 1, "Leader": "vault-0", "Voters": []string{"vault-0", "vault-1"},
			"Servers": map[string]any{
				"vault-0": map[string]any{"ID": "vault-0", "Healthy": true, "LastIndex": 42, "Status": "leader"},
				"vault-1": map[string]any{"ID": "vault-1", "Healthy": true, "LastIndex": 42, "Status": "voter"},
				"vault-2": map[string]any{"ID": "vault-2", "Healthy": true, "LastIndex": 41, "Status": "non-voter"},
			}})
	}
	if len(words) == 4 && strings.Join(words[:3], " ") == "operator raft remove-peer" {
		var keep []string
		for _, id := range v.fc.peers {
			if id != words[3] {
				keep = append(keep, id)
			}
		}
		v.fc.peers = keep
		return nil
	}
	if len(words) == 5 && strings.Join(words[:4], " ") == "operator raft snapshot save" {
		if !v.Active {
			return fail(2, "Error taking the snapshot: incomplete snapshot, unable to read SHA256SUMS.sealed file")
		}
		v.Files[words[4]] = []byte(fmt.Sprintf("SNAPSHOT:%s:%d:%s:%s:%s", v.Cluster, v.T, strings.Join(v.Keys, ","), v.Token, v.Data) + strings.Repeat(".", 4096))
		return nil
	}
	if len(words) == 5 && strings.Join(words[:4], " ") == "operator raft snapshot restore" {
		b, ok := v.Files[words[4]]
		if !ok {
			return fail(2, "Error opening snapshot file: no such file")
		}
		parts := strings.SplitN(strings.TrimRight(string(b), "."), ":", 6)
		if len(parts) != 6 {
			return fail(2, "Error installing the snapshot: invalid snapshot")
		}
		if parts[1] != v.Cluster && !has("-force") {
			return fail(2, "Error installing the snapshot: Error making API request.\n\nCode: 400. Errors:\n\n* could not verify hash file, possibly the snapshot is using a different set of unseal keys; use the snapshot-force API to bypass this check")
		}
		v.Data = parts[5]
		if parts[1] != v.Cluster {
			fmt.Sscanf(parts[2], "%d", &v.T)
			v.Cluster, v.Sealed, v.Active, v.Keys, v.Token = parts[1], true, false, strings.Split(parts[3], ","), parts[4]
			// the snapshot's raft configuration names the source's nodes
			v.fc.peers = []string{"source-node"}
		}
		return nil
	}
	return fail(1, "fake vault: unknown command "+strings.Join(args, " "))
}

// run executes `kubectl vault ARGS` against the fake cluster.
func run(t testing.TB, fc *fakeCluster, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errb}
	root, _ := newRoot(streams, func(*Globals) (*Cluster, error) { return fc.cluster(), nil })
	root.SetArgs(append([]string{"--color=never"}, args...))
	err := root.Execute()
	if err != nil {
		fmt.Fprintln(&errb, "error:", err)
	}
	return out.String(), errb.String(), ExitCode(err)
}

// runWith executes `kubectl vault ARGS` against any Cluster.
func runWith(t testing.TB, cl *Cluster, stdin string, out, errb *strings.Builder, args ...string) (string, string, int) {
	t.Helper()
	streams := genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: out, ErrOut: errb}
	root, _ := newRoot(streams, func(*Globals) (*Cluster, error) { return cl, nil })
	root.SetArgs(append([]string{"--color=never"}, args...))
	err := root.Execute()
	if err != nil {
		fmt.Fprintln(errb, "error:", err)
	}
	return out.String(), errb.String(), ExitCode(err)
}
