package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vaultkube/vaultkube/plugin/internal/snapfile"
	"github.com/vaultkube/vaultkube/plugin/pivot"
)

// pivotFixture is a source Vault's snapshot and keys, and a healthy 3-pod target.
type pivotFixture struct {
	dir, snap, keys, token, journal string
	target                          *fakeCluster
	srcKeys                         []string
}

func newPivotFixture(t *testing.T) *pivotFixture {
	t.Helper()
	f := &pivotFixture{dir: t.TempDir()}
	src := newFakeCluster(1, func(int) *fakeVault {
		return &fakeVault{Initialized: true, T: 3, N: 5, Storage: "raft", Seal: "shamir", Active: true, Version: "1.21.1",
			Cluster: "source", Keys: testKeys(5)[2:], Token: "hvs.SOURCE", Data: "source-data"}
	})
	f.srcKeys = src.vaults["vault-0"].Keys
	f.srcKeys = append(f.srcKeys, testKey(7), testKey(8))
	src.vaults["vault-0"].Keys = f.srcKeys
	f.snap = filepath.Join(f.dir, "source.snap")
	srcTok := filepath.Join(f.dir, "src.token")
	require.NoError(t, os.WriteFile(srcTok, []byte("hvs.SOURCE\n"), 0o600))
	_, errOut, code := run(t, src, "", "snapshot", "save", f.snap, "--vault-token-file", srcTok)
	require.Equal(t, 0, code, errOut)
	f.keys = filepath.Join(f.dir, "source-init.json")
	require.NoError(t, os.WriteFile(f.keys, []byte(initJSONFor(f.srcKeys)), 0o600))
	f.token = writeTokenFile(t)
	f.journal = filepath.Join(f.dir, "journal.json")
	f.target = healthy3()
	f.target.peers = []string{"node-0", "node-1", "node-2"}
	return f
}

func (f *pivotFixture) args(extra ...string) []string {
	return append([]string{"pivot", "--snapshot", f.snap, "--source-keys", f.keys, "--vault-token-file", f.token,
		"--journal", f.journal, "--backup", filepath.Join(f.dir, "backup.snap"), "--poll-interval", "5ms", "--timeout", "2s"}, extra...)
}

func TestPivotDryRun(t *testing.T) {
	f := newPivotFixture(t)
	out, errOut, code := run(t, f.target, "", f.args("--dry-run")...)
	require.Equal(t, 0, code, errOut)
	golden(t, "pivot-plan.txt", strings.ReplaceAll(out, f.dir, "DIR"))
	assert.Contains(t, errOut, "Preflight: StatefulSet vault/vault, 3 replicas, raft storage, Shamir seal, pod vault-0 node id node-0, raft peers 3.")
	assert.Contains(t, errOut, "5 source keys, source threshold 3.")
	assert.Contains(t, errOut, "Dry run: nothing was changed.")
	_, err := os.Stat(f.journal)
	assert.True(t, os.IsNotExist(err))
	for _, a := range f.target.argvs() {
		assert.NotContains(t, a, "restore")
		assert.NotContains(t, a, "remove-peer")
	}
}

func TestPivot(t *testing.T) {
	f := newPivotFixture(t)
	f.target.vaults["vault-0"].Active = false // vault-1 is active: pivot makes vault-0 active first
	f.target.vaults["vault-1"].Active = true
	out, errOut, code := run(t, f.target, "vault\n", f.args()...)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "Plan:")
	assert.Contains(t, errOut, "Type the StatefulSet's name (vault) to go on:")
	assert.Contains(t, errOut, "Asking active pod vault-1 to step down")
	assert.Contains(t, errOut, "Removed raft peer node-1.")
	assert.Contains(t, errOut, "Deleted PVC data-vault-2.")
	assert.Contains(t, errOut, "Pivot done")

	// Every pod serves the source's data, unsealed with the source keys, one active.
	active := 0
	for p, v := range f.target.vaults {
		assert.Equal(t, "source-data", v.Data, p)
		assert.Equal(t, "source", v.Cluster, p)
		assert.False(t, v.Sealed, p)
		if v.Active {
			active++
		}
	}
	assert.Equal(t, 1, active)
	assert.Len(t, f.target.pods, 3)
	assert.Equal(t, []string{"node-0"}, f.target.peers, "peers.json made vault-0 a one-node cluster before the others rejoined")
	assert.Equal(t, []string{"vault-0"}, f.target.deleted)

	// The backup of the target was taken first, with its checksum.
	b, err := os.ReadFile(filepath.Join(f.dir, "backup.snap"))
	require.NoError(t, err)
	assert.Contains(t, string(b), "vault-cluster-test")
	_, err = os.Stat(filepath.Join(f.dir, "backup.snap.sha256"))
	require.NoError(t, err)

	// The journal lists every step.
	var j pivot.Journal
	jb, err := os.ReadFile(f.journal)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(jb, &j))
	assert.Len(t, j.Done, 12)
	fi, _ := os.Stat(f.journal)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// No key or token in any argv or output.
	secrets := append(append([]string{}, f.srcKeys...), "hvs.SOURCE", testToken)
	for _, a := range f.target.argvs() {
		for _, s := range secrets {
			require.NotContains(t, strings.Join(a, " "), s)
		}
	}
	for _, s := range secrets {
		assert.NotContains(t, out+errOut, s)
	}

	// A second pivot refuses while the journal is there.
	_, errOut, code = run(t, f.target, "", f.args("--yes")...)
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, "a pivot was interrupted; continue it with --resume")
}

func TestPivotDeclined(t *testing.T) {
	f := newPivotFixture(t)
	_, errOut, code := run(t, f.target, "no\n", f.args()...)
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, "pivot declined: nothing was changed")
	assert.Equal(t, "cluster-A", f.target.vaults["vault-0"].Data)
	assert.Len(t, f.target.pods, 3)
	_, err := os.Stat(f.journal)
	assert.True(t, os.IsNotExist(err))
}

func TestPivotResumesAfterInterruption(t *testing.T) {
	f := newPivotFixture(t)
	// The pivot dies after scaling down: a failure to delete PVCs (API server gone).
	f.target.pvcs["data-vault-1"] = true
	failing := &failingWorkload{fakeCluster: f.target}
	cl := f.target.cluster()
	cl.Workload = failing
	var out1, err1 strings.Builder
	_, errOut, code := runWith(t, cl, "", &out1, &err1, f.args("--yes")...)
	require.Equal(t, 1, code)
	assert.Contains(t, errOut, "pivot step 6 (delete-pvcs) failed: delete PVC data-vault-1: connection refused; fix the cause and run the same command with --resume")
	assert.Len(t, f.target.pods, 1)

	_, errOut, code = run(t, f.target, "", "pivot", "--resume", "--source-keys", f.keys, "--vault-token-file", f.token,
		"--journal", f.journal, "--poll-interval", "5ms", "--timeout", "2s")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "Resuming the pivot of StatefulSet vault")
	assert.NotContains(t, errOut, "Step 1/12", "finished steps are not run again")
	assert.Contains(t, errOut, "Step 6/12")
	for p, v := range f.target.vaults {
		assert.Equal(t, "source-data", v.Data, p)
		assert.False(t, v.Sealed, p)
	}
}

func TestPivotPreflightRefusals(t *testing.T) {
	f := newPivotFixture(t)
	f.target.vaults["vault-2"].Sealed = true
	_, errOut, code := run(t, f.target, "", f.args("--dry-run")...)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "pod vault-2 is sealed or uninitialised: pivot needs the target unsealed")

	f = newPivotFixture(t)
	for _, v := range f.target.vaults {
		v.Seal = "awskms"
	}
	_, errOut, code = run(t, f.target, "", f.args("--dry-run")...)
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, `pivot supports the Shamir seal only, but pod vault-0 uses "awskms"`)

	f = newPivotFixture(t)
	_, errOut, code = run(t, f.target, "", append(f.args("--dry-run"), "--data-claim", "vault-data")...)
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, "PVC vault-data-vault-0 not found: is --data-claim (vault-data) the name of the StatefulSet's volumeClaimTemplate?")

	f = newPivotFixture(t)
	f.target.vaults["vault-0"].NoTmp = true
	_, errOut, code = run(t, f.target, "", f.args("--dry-run")...)
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, "has no writable /tmp, which a raft restore needs")

	f = newPivotFixture(t)
	require.NoError(t, os.WriteFile(f.snap+".sha256", []byte(strings.Repeat("0", 64)+"  source.snap\n"), 0o600))
	_, errOut, code = run(t, f.target, "", f.args("--dry-run")...)
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, "does not match")

	f = newPivotFixture(t)
	_, errOut, code = run(t, f.target, "", "pivot", "--snapshot", f.snap, "--vault-token-file", f.token)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "pivot needs --source-keys FILE")

	f = newPivotFixture(t)
	_, errOut, code = run(t, f.target, "", "pivot", "--resume", "--source-keys", f.keys, "--vault-token-file", f.token, "--journal", f.journal)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "nothing to resume")

	// a bad --source-token-file is named as such, before anything runs
	f = newPivotFixture(t)
	empty := filepath.Join(f.dir, "empty.token")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	out, errOut, code := run(t, f.target, "", f.args("--dry-run", "--source-token-file", empty)...)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "--source-token-file "+empty+" is empty")
	assert.Empty(t, out, "no plan")
}

func TestPivotWrongSourceKeys(t *testing.T) {
	f := newPivotFixture(t)
	require.NoError(t, os.WriteFile(f.keys, []byte(strings.Join(testKeys(3), "\n")), 0o600))
	_, errOut, code := run(t, f.target, "", f.args("--yes")...)
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, "pod vault-0 rejected the source keys: are --source-keys the keys of the snapshot's Vault?")
}

type failingWorkload struct{ *fakeCluster }

func (f *failingWorkload) DeletePVC(_ context.Context, name string) error {
	return fmt.Errorf("connection refused")
}

func TestPivotSourceAddrChecksTheSource(t *testing.T) {
	status := `{"type":"shamir","initialized":true,"sealed":false,"t":4,"n":6,"version":"1.21.1","cluster_name":"src","storage_type":"raft"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Vault-Token") != "hvs.SOURCE" && r.URL.Path != "/v1/sys/seal-status" {
			http.Error(w, `{"errors":["permission denied"]}`, http.StatusForbidden)
			return
		}
		switch r.URL.Path {
		case "/v1/sys/seal-status":
			fmt.Fprint(w, status)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	f := newPivotFixture(t)
	srcTok := filepath.Join(f.dir, "src.token")
	args := []string{"pivot", "--source-addr", srv.URL, "--source-token-file", srcTok, "--snapshot", filepath.Join(f.dir, "new.snap"),
		"--source-keys", f.keys, "--vault-token-file", f.token, "--journal", f.journal, "--dry-run"}

	// 5 keys, threshold 4: fine; the plan starts with the source snapshot.
	out, errOut, code := run(t, f.target, "", args...)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "Source: Vault 1.21.1 at "+srv.URL+" (cluster src), 6 key shares, threshold 4; 5 source keys given")
	assert.Contains(t, out, " 1. take a snapshot of the source Vault at "+srv.URL)

	// Threshold 6 > 5 keys: refused before anything.
	status = strings.Replace(status, `"t":4`, `"t":6`, 1)
	_, errOut, code = run(t, f.target, "", args...)
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, "--source-keys holds 5 keys but the source's threshold is 6: pivot refused")

	status = strings.Replace(status, `"sealed":false`, `"sealed":true`, 1)
	_, errOut, code = run(t, f.target, "", args...)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "is sealed or uninitialised: unseal it first")

	_, errOut, code = run(t, f.target, "", "pivot", "--source-addr", srv.URL, "--source-keys", f.keys, "--vault-token-file", f.token)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "--source-addr needs --source-token-file")
}

func TestPivotResumeChecksTheJournal(t *testing.T) {
	f := newPivotFixture(t)
	require.NoError(t, os.WriteFile(f.journal, []byte(`{"statefulSet":"vault","namespace":"elsewhere","replicas":3,"pod0":"vault-0","snapshot":"`+f.snap+`"}`), 0o600))
	_, errOut, code := run(t, f.target, "", "pivot", "--resume", "--source-keys", f.keys, "--vault-token-file", f.token, "--journal", f.journal)
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, "is for namespace elsewhere, not vault: pass -n elsewhere")

	require.NoError(t, os.WriteFile(f.journal, []byte(`{not json`), 0o600))
	_, errOut, code = run(t, f.target, "", "pivot", "--resume", "--source-keys", f.keys, "--vault-token-file", f.token, "--journal", f.journal)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "is damaged")
}

func TestPivotJournalInConfigMap(t *testing.T) {
	f := newPivotFixture(t)
	cl := f.target.cluster()
	cl.Workload = &failingWorkload{fakeCluster: f.target}
	base := []string{"pivot", "--snapshot", f.snap, "--source-keys", f.keys, "--vault-token-file", f.token,
		"--journal", "configmap:vault-pivot", "--backup", filepath.Join(f.dir, "backup.snap"), "--poll-interval", "5ms", "--timeout", "2s", "--yes"}
	var out1, err1 strings.Builder
	_, errOut, code := runWith(t, cl, "", &out1, &err1, base...)
	require.Equal(t, 1, code, errOut)
	var j pivot.Journal
	require.NoError(t, json.Unmarshal([]byte(f.target.cms["vault-pivot"][pivot.ConfigMapKey]), &j))
	assert.Equal(t, []string{"backup", "confirm", "leader", "remove-peers", "scale-down"}, j.Done)
	assert.NotContains(t, f.target.cms["vault-pivot"][pivot.ConfigMapKey], testToken)

	// A new run refuses while the journal is there; --resume finishes it.
	_, errOut, code = run(t, f.target, "", base...)
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, "journal ConfigMap vault/vault-pivot exists")
	_, errOut, code = run(t, f.target, "", append(base, "--resume")...)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "Resuming the pivot of StatefulSet vault from ConfigMap vault/vault-pivot (5 steps done).")
	for p, v := range f.target.vaults {
		assert.Equal(t, "source-data", v.Data, p)
	}
}

// interruptedPivot runs a pivot that dies at step 6 (delete-pvcs) and returns the resume
// arguments.
func interruptedPivot(t *testing.T, f *pivotFixture) []string {
	t.Helper()
	failing := &failingWorkload{fakeCluster: f.target}
	cl := f.target.cluster()
	cl.Workload = failing
	var out1, err1 strings.Builder
	_, errOut, code := runWith(t, cl, "", &out1, &err1, f.args("--yes")...)
	require.Equal(t, 1, code, errOut)
	require.Contains(t, errOut, "pivot step 6 (delete-pvcs) failed")
	return []string{"pivot", "--resume", "--source-keys", f.keys, "--vault-token-file", f.token,
		"--journal", f.journal, "--poll-interval", "5ms", "--timeout", "2s"}
}

func editJournal(t *testing.T, f *pivotFixture, edit func(*pivot.Journal)) {
	t.Helper()
	var j pivot.Journal
	b, err := os.ReadFile(f.journal)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &j))
	edit(&j)
	b, err = json.Marshal(&j)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(f.journal, b, 0o600))
}

// Issue 18 item 3: --resume does not trust its journal.
func TestPivotResumeDoesNotTrustTheJournal(t *testing.T) {
	t.Run("PVC names come from the StatefulSet", func(t *testing.T) {
		f := newPivotFixture(t)
		resume := interruptedPivot(t, f)
		f.target.pvcs["data-postgres-0"] = true
		editJournal(t, f, func(j *pivot.Journal) { j.PVCs = []string{"data-postgres-0"} })
		_, errOut, code := run(t, f.target, "", resume...)
		assert.Equal(t, 3, code, errOut)
		assert.Contains(t, errOut, "it lists PVCs data-postgres-0 to delete, but StatefulSet vault's claims (--data-claim data) are data-vault-1, data-vault-2: resume refused")
		assert.True(t, f.target.pvcs["data-postgres-0"], "another workload's PVC stays")
	})
	t.Run("the journal's StatefulSet must own the pods", func(t *testing.T) {
		f := newPivotFixture(t)
		resume := interruptedPivot(t, f)
		editJournal(t, f, func(j *pivot.Journal) { j.Pod0 = "postgres-0" })
		_, errOut, code := run(t, f.target, "", resume...)
		assert.Equal(t, 3, code, errOut)
		assert.Contains(t, errOut, "pod 0 postgres-0 is not vault-0: resume refused")
	})
	t.Run("the snapshot must match the journal's sha256", func(t *testing.T) {
		f := newPivotFixture(t)
		resume := interruptedPivot(t, f)
		// another snapshot in its place, with a matching FILE.sha256
		require.NoError(t, os.WriteFile(f.snap, []byte("another vault's snapshot"), 0o600))
		require.NoError(t, os.Remove(f.snap+".sha256"))
		sum, err := snapfile.SHA256(f.snap)
		require.NoError(t, err)
		require.NoError(t, snapfile.WriteChecksum(f.snap, sum))
		_, errOut, code := run(t, f.target, "", resume...)
		assert.Equal(t, 3, code, errOut)
		assert.Contains(t, errOut, "does not match the journal's sha256")
		for _, a := range f.target.argvs() {
			assert.NotContains(t, strings.Join(a, " "), "snapshot restore", "nothing restored")
		}
	})
	t.Run("a sealed pod 0 is no proof of a restore", func(t *testing.T) {
		f := newPivotFixture(t)
		resume := interruptedPivot(t, f)
		f.target.vaults["vault-0"].Sealed = true // it restarted, with the target's data
		_, errOut, code := run(t, f.target, "", resume...)
		assert.Equal(t, 2, code, errOut)
		assert.Contains(t, errOut, "vault-0 is sealed but the journal records no restore")
		assert.NotContains(t, errOut, "restore already happened")
		assert.Equal(t, "cluster-A", f.target.vaults["vault-0"].Data, "the target's data stays")
	})
}
