package pivot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vaultkube/vaultkube/plugin/internal/exitcode"
	"github.com/vaultkube/vaultkube/plugin/internal/snapfile"
)

// fakeTarget is a three-pod target that records the calls that change it. The pods and
// their Vault follow the calls: scaling removes or adds pods, a restore seals pod 0,
// unsealing unseals, a deleted pod comes back with a new UID.
type fakeTarget struct {
	replicas int32
	pods     []corev1.Pod
	sealed   map[string]bool
	active   string
	peers    []string
	pvcs     map[string]bool
	calls    []string
	failOn   string // a call (its first word) that fails once
	uid      int
}

func newFakeTarget() *fakeTarget {
	t := &fakeTarget{replicas: 3, sealed: map[string]bool{}, active: "vault-1", peers: []string{"node-0", "node-1", "node-2"},
		pvcs: map[string]bool{"data-vault-0": true, "data-vault-1": true, "data-vault-2": true}}
	t.setPods(3)
	return t
}

func (t *fakeTarget) setPods(n int) {
	for len(t.pods) > n {
		t.pods = t.pods[:len(t.pods)-1]
	}
	for i := len(t.pods); i < n; i++ {
		t.uid++
		t.pods = append(t.pods, corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("vault-%d", i), UID: types.UID(fmt.Sprint(t.uid)),
				OwnerReferences: []metav1.OwnerReference{{Kind: "StatefulSet", Name: "vault"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}})
	}
}

func (t *fakeTarget) call(format string, args ...any) error {
	c := fmt.Sprintf(format, args...)
	t.calls = append(t.calls, c)
	if t.failOn != "" && strings.HasPrefix(c, t.failOn) {
		t.failOn = ""
		return errors.New("connection lost")
	}
	return nil
}

func (t *fakeTarget) Namespace() string                          { return "vault" }
func (t *fakeTarget) Pods(context.Context) ([]corev1.Pod, error) { return slices.Clone(t.pods), nil }

func (t *fakeTarget) Servers(ctx context.Context, pods []corev1.Pod) []Server {
	out := make([]Server, len(pods))
	for i, p := range pods {
		s, _ := t.Server(ctx, p.Name)
		out[i] = *s
	}
	return out
}

func (t *fakeTarget) Server(_ context.Context, pod string) (*Server, error) {
	return &Server{Pod: pod, Initialized: true, Sealed: t.sealed[pod], StorageType: "raft", SealType: "shamir",
		Active: t.active == pod && !t.sealed[pod]}, nil
}

func (t *fakeTarget) NodeID(_ context.Context, pod string) (string, error) {
	return "node-" + strings.TrimPrefix(pod, "vault-"), nil
}
func (t *fakeTarget) CheckWritableTmp(context.Context, string) error { return nil }
func (t *fakeTarget) RaftPeers(context.Context, string) ([]string, error) {
	return slices.Clone(t.peers), nil
}

func (t *fakeTarget) StepDown(_ context.Context, pod string) error {
	if err := t.call("step-down %s", pod); err != nil {
		return err
	}
	t.active = "vault-0"
	return nil
}

func (t *fakeTarget) RemovePeer(_ context.Context, _, id string) error {
	if err := t.call("remove-peer %s", id); err != nil {
		return err
	}
	t.peers = slices.DeleteFunc(t.peers, func(p string) bool { return p == id })
	return nil
}

func (t *fakeTarget) SaveSnapshot(_ context.Context, file string) error {
	if err := t.call("save %s", filepath.Base(file)); err != nil {
		return err
	}
	return writeSnapshot(file, "target")
}

func (t *fakeTarget) RestoreSnapshot(_ context.Context, file string) error {
	if err := t.call("restore %s", filepath.Base(file)); err != nil {
		return err
	}
	t.sealed["vault-0"] = true
	return nil
}

func (t *fakeTarget) WritePeersJSON(_ context.Context, pod, id string) error {
	return t.call("peers.json %s %s", pod, id)
}

func (t *fakeTarget) DeletePod(_ context.Context, pod string) error {
	if err := t.call("delete-pod %s", pod); err != nil {
		return err
	}
	t.uid++
	t.pods[0].UID = types.UID(fmt.Sprint(t.uid))
	return nil
}

func (t *fakeTarget) Unseal(_ context.Context, pod string) error {
	if err := t.call("unseal %s", pod); err != nil {
		return err
	}
	t.sealed[pod] = false
	return nil
}

func (t *fakeTarget) Health(context.Context, string) (*Health, error) {
	healthy := len(t.pods) == int(t.replicas)
	for _, p := range t.pods {
		healthy = healthy && !t.sealed[p.Name]
	}
	return &Health{Healthy: healthy, Voters: len(t.pods), Table: "POD  STATE\n"}, nil
}

func (t *fakeTarget) StatefulSetReplicas(context.Context, string) (int32, error) {
	return t.replicas, nil
}

func (t *fakeTarget) ScaleStatefulSet(_ context.Context, name string, n int32) error {
	if err := t.call("scale %s %d", name, n); err != nil {
		return err
	}
	t.setPods(int(n))
	if n > 1 {
		for i := 1; i < int(n); i++ {
			t.sealed[fmt.Sprintf("vault-%d", i)] = true // new volumes: they join sealed
		}
	}
	return nil
}

func (t *fakeTarget) DeletePVC(_ context.Context, name string) error {
	if err := t.call("delete-pvc %s", name); err != nil {
		return err
	}
	delete(t.pvcs, name)
	return nil
}

func (t *fakeTarget) PVCExists(_ context.Context, name string) (bool, error) {
	return t.pvcs[name], nil
}

func writeSnapshot(file, data string) error {
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		return err
	}
	sum, err := snapfile.SHA256(file)
	if err != nil {
		return err
	}
	return snapfile.WriteChecksum(file, sum)
}

type fixture struct {
	dir    string
	target *fakeTarget
	out    strings.Builder
	errOut strings.Builder
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{dir: t.TempDir(), target: newFakeTarget()}
	require.NoError(t, writeSnapshot(filepath.Join(f.dir, "source.snap"), "source"))
	return f
}

func (f *fixture) options(resume bool) *Options {
	f.out.Reset()
	f.errOut.Reset()
	o := &Options{In: strings.NewReader("vault\n"), Out: &f.out, ErrOut: &f.errOut, Target: f.target,
		Journal: fileJournal(filepath.Join(f.dir, "journal.json")), SourceKeys: 3, SourceThreshold: 3,
		Snapshot: filepath.Join(f.dir, "source.snap"), Backup: filepath.Join(f.dir, "backup.snap"), DataClaim: "data",
		Container: "vault", Resume: resume, Timeout: time.Second, Poll: time.Millisecond}
	if resume {
		o.Snapshot = ""
	}
	return o
}

// The whole procedure against the Target, in order: every change the pivot makes, and none
// twice when a run is interrupted and resumed.
func TestRunCallsTheTargetInOrder(t *testing.T) {
	want := []string{
		"save backup.snap",
		"step-down vault-1",
		"remove-peer node-1", "remove-peer node-2",
		"scale vault 1",
		"delete-pvc data-vault-1", "delete-pvc data-vault-2",
		"restore source.snap",
		"peers.json vault-0 node-0", "delete-pod vault-0",
		"unseal vault-0",
		"scale vault 3",
		"unseal vault-1", "unseal vault-2",
	}
	t.Run("one run", func(t *testing.T) {
		f := newFixture(t)
		o := f.options(false)
		require.NoError(t, o.Validate(context.Background()))
		require.NoError(t, o.Run(context.Background()), f.errOut.String())
		assert.Equal(t, want, f.target.calls)
		assert.Contains(t, f.errOut.String(), "Pivot done")
		assert.Contains(t, f.errOut.String(), "POD  STATE", "the final status table is shown")
		assert.Equal(t, []string{"node-0"}, f.target.peers)
		st, err := os.Stat(filepath.Join(f.dir, "journal.json"))
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o600), st.Mode().Perm())
	})
	for i, c := range want {
		first, _, _ := strings.Cut(c, " ")
		if slices.IndexFunc(want, func(w string) bool { return strings.HasPrefix(w, first) }) != i {
			continue // each kind of call fails once, the first time
		}
		t.Run("interrupted at "+c, func(t *testing.T) {
			f := newFixture(t)
			f.target.failOn = c
			err := f.options(false).Run(context.Background())
			require.Error(t, err)
			assert.Contains(t, err.Error(), "run the same command with --resume")
			require.NoError(t, f.options(true).Run(context.Background()), f.errOut.String())
			// the failed step runs again from its start, the finished steps do not
			again := i
			if first == "delete-pod" {
				again-- // peers.json is written again before the pod restarts
			}
			assert.Equal(t, slices.Concat(want[:i], []string{c}, want[again:]), f.target.calls)
		})
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	f := newFixture(t)
	o := f.options(false)
	o.DryRun = true
	require.NoError(t, o.Run(context.Background()))
	assert.Empty(t, f.target.calls)
	assert.Contains(t, f.out.String(), "  [ ]  1. save a backup snapshot of the target to "+filepath.Join(f.dir, "backup.snap"))
	assert.Contains(t, f.out.String(), "  [ ] 12. check: every pod unsealed, one active\n")
	_, err := os.Stat(filepath.Join(f.dir, "journal.json"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "a dry run writes no journal")
}

func TestDeclinedRemovesTheJournal(t *testing.T) {
	f := newFixture(t)
	o := f.options(false)
	o.In = strings.NewReader("vault-0\n")
	err := o.Run(context.Background())
	require.Error(t, err)
	assert.Equal(t, exitcode.Refused, exitcode.Of(err))
	assert.Equal(t, []string{"save backup.snap"}, f.target.calls)
	_, err = os.Stat(filepath.Join(f.dir, "journal.json"))
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func TestValidateRefusesAnEarlierJournal(t *testing.T) {
	f := newFixture(t)
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, "journal.json"), []byte("{}"), 0o600))
	err := f.options(false).Validate(context.Background())
	assert.Equal(t, exitcode.Refused, exitcode.Of(err))
	assert.ErrorContains(t, err, "a pivot was interrupted; continue it with --resume")
}

func TestResumeRefusesAJournalOfAnotherNamespace(t *testing.T) {
	f := newFixture(t)
	j := Journal{StatefulSet: "vault", Namespace: "other", Replicas: 3, Pod0: "vault-0", Snapshot: "s.snap"}
	b, err := json.Marshal(j)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, "journal.json"), b, 0o600))
	err = f.options(true).Run(context.Background())
	assert.Equal(t, exitcode.Refused, exitcode.Of(err))
	assert.ErrorContains(t, err, "is for namespace other, not vault: pass -n other")
	assert.Empty(t, f.target.calls)
}

func TestConfigMapStore(t *testing.T) {
	cms := &memConfigMaps{}
	s, err := NewStore("configmap:vault-pivot", "vault", cms)
	require.NoError(t, err)
	assert.Equal(t, "ConfigMap vault/vault-pivot", s.String())
	_, err = s.Load(context.Background())
	assert.ErrorIs(t, err, fs.ErrNotExist)
	require.NoError(t, s.Save(context.Background(), []byte(`{"a":1}`)))
	assert.Equal(t, `{"a":1}`, cms.data["vault-pivot"][ConfigMapKey])
	b, err := s.Load(context.Background())
	require.NoError(t, err)
	assert.Equal(t, `{"a":1}`, string(b))
	require.NoError(t, s.Remove(context.Background()))
	require.NoError(t, s.Remove(context.Background()), "removing twice is no error")

	for spec, msg := range map[string]string{"configmap:": "needs a name", "": "must name a file or configmap:NAME"} {
		_, err := NewStore(spec, "vault", cms)
		assert.ErrorContains(t, err, msg, spec)
	}
	_, err = NewStore("configmap:x", "vault", nil)
	assert.ErrorContains(t, err, "cannot store ConfigMaps")
}

type memConfigMaps struct{ data map[string]map[string]string }

func (m *memConfigMaps) GetConfigMap(_ context.Context, name string) (map[string]string, error) {
	d, ok := m.data[name]
	if !ok {
		return nil, fmt.Errorf("configmap %s: %w", name, fs.ErrNotExist)
	}
	return d, nil
}

func (m *memConfigMaps) PutConfigMap(_ context.Context, name string, data map[string]string) error {
	if m.data == nil {
		m.data = map[string]map[string]string{}
	}
	m.data[name] = data
	return nil
}

func (m *memConfigMaps) DeleteConfigMap(_ context.Context, name string) error {
	if _, ok := m.data[name]; !ok {
		return fmt.Errorf("configmap %s: %w", name, fs.ErrNotExist)
	}
	delete(m.data, name)
	return nil
}
