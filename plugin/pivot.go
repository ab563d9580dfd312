package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Workload changes the StatefulSet and its volumes; only pivot needs it.
type Workload interface {
	StatefulSetReplicas(ctx context.Context, name string) (int32, error)
	ScaleStatefulSet(ctx context.Context, name string, replicas int32) error
	DeletePVC(ctx context.Context, name string) error
	PVCExists(ctx context.Context, name string) (bool, error)
}

// PivotOptions are the options of `kubectl vault pivot`.
type PivotOptions struct {
	genericiooptions.IOStreams
	g *Globals

	Snapshot            string
	SourceKeys          string
	SourceTokenFile     string
	SourceAddr          string
	SourceCACert        string
	SourceTLSServerName string
	Backup              string
	Journal             string
	DataClaim           string
	HeadlessService     string
	ClusterPort         int
	DryRun              bool
	Resume              bool
	Yes                 bool
	Timeout             time.Duration
	Poll                time.Duration

	cluster *Cluster
	token   string
	keys    *unsealKeys
	j       *pivotJournal
	v       *vaultCLI
	journal journalStore
}

// pivotJournal records a pivot run so that an interrupted one resumes where it stopped.
type pivotJournal struct {
	StatefulSet    string   `json:"statefulSet"`
	Namespace      string   `json:"namespace"`
	Replicas       int32    `json:"replicas"`
	Pod0           string   `json:"pod0"`
	NodeID         string   `json:"nodeID"`
	Snapshot       string   `json:"snapshot"`
	SourceAddr     string   `json:"sourceAddr,omitempty"`
	SnapshotSHA256 string   `json:"snapshotSHA256"`
	Backup         string   `json:"backup"`
	Peers          []string `json:"peersToRemove"`
	PVCs           []string `json:"pvcsToDelete"`
	// RestoreSent is set just before the snapshot goes to pod 0: only then may a sealed
	// pod 0 on resume be the restore's doing (a restarted pod is sealed too).
	RestoreSent bool      `json:"restoreSent,omitempty"`
	Done        []string  `json:"done"`
	Started     time.Time `json:"started"`
	Updated     time.Time `json:"updated"`
}

func (j *pivotJournal) done(step string) bool {
	for _, d := range j.Done {
		if d == step {
			return true
		}
	}
	return false
}

type pivotStep struct {
	name string
	what string
	run  func(ctx context.Context) error
}

// NewCmdPivot returns `kubectl vault pivot`.
func NewCmdPivot(g *Globals, streams genericiooptions.IOStreams) *cobra.Command {
	o := &PivotOptions{IOStreams: streams, g: g}
	cmd := &cobra.Command{
		Use:   "pivot (--snapshot FILE | --source-addr URL --source-token-file F) --source-keys FILE",
		Short: "Move another Vault's data onto the in-cluster Vault (raft snapshot, keys of the source)",
		Long: `Pivot the in-cluster Vault StatefulSet onto the data of another (source) Vault: afterwards
every pod serves the source's data and is unsealed with the source's keys.

Preflight checks raft storage, the Shamir seal, replicas, PVC names, the node-id file, the
snapshot's checksum and the source keys; the plan is printed (--dry-run stops there). Then:
a backup snapshot of the target, a typed confirmation (the StatefulSet's name) unless --yes,
and each step with progress: make pod 0 active, remove the other raft peers while quorum
holds, scale to one replica, delete the other pods' PVCs, restore the snapshot with -force
(Vault seals itself), write peers.json with pod 0's node id and restart it (a running Vault
keeps the target's cached seal configuration, so the source keys only work after a restart),
unseal with the source keys, scale back, unseal the new pods. A journal (--journal, a local
file) records each finished step (a local file, or configmap:NAME to resume from another machine): after an
interruption, --resume continues where it stopped. A resumed run does not trust the journal
alone: its StatefulSet must own the Vault pods, the PVCs to delete are computed again from
the StatefulSet, the snapshot must still match the checksum the journal took at the start,
and a sealed pod 0 counts as restored only if the journal says the snapshot was sent.
Needs --vault-token-file: a token of the target Vault (step-down, remove-peer, snapshots).
With --source-addr the source's seal configuration is checked against the keys and its
snapshot is taken over its API (token in a header) into --snapshot (default
source-<time>.snap) as the first step.`,
		Example: `  kubectl vault pivot --snapshot source.snap --source-keys source-init.json --vault-token-file target.token --dry-run
  kubectl vault pivot --snapshot source.snap --source-keys source-init.json --vault-token-file target.token
  kubectl vault pivot --resume --source-keys source-init.json --vault-token-file target.token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Snapshot, "snapshot", "", "raft snapshot of the source Vault (with FILE.sha256 beside it)")
	f.StringVar(&o.SourceKeys, "source-keys", "", "unseal keys of the source Vault: its init JSON or one key per line")
	f.StringVar(&o.SourceTokenFile, "source-token-file", "", "a token of the source Vault: for --source-addr, and to check the raft peers at the end")
	f.StringVar(&o.SourceAddr, "source-addr", "", "address of the source Vault (from here): take the snapshot from it into --snapshot")
	f.StringVar(&o.SourceCACert, "source-ca-cert", "", "local CA certificate file for --source-addr")
	f.StringVar(&o.SourceTLSServerName, "source-tls-server-name", "", "TLS server name for --source-addr")
	f.StringVar(&o.Backup, "backup", "", "where to save the backup snapshot of the target (default <statefulset>-backup-<time>.snap)")
	f.StringVar(&o.Journal, "journal", "vault-pivot-journal.json", "journal of the run (for --resume): a local file, or configmap:NAME in the namespace")
	f.StringVar(&o.DataClaim, "data-claim", "data", "name of the StatefulSet's volumeClaimTemplate holding /vault/data")
	f.StringVar(&o.HeadlessService, "headless-service", "vault-internal", "headless Service that gives pods their raft address")
	f.IntVar(&o.ClusterPort, "cluster-port", 8201, "Vault's cluster (raft) port")
	f.BoolVar(&o.DryRun, "dry-run", false, "run the preflight and print the plan, change nothing")
	f.BoolVar(&o.Resume, "resume", false, "continue an interrupted pivot from its journal")
	f.BoolVarP(&o.Yes, "yes", "y", false, "do not ask for the typed confirmation")
	f.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "how long to wait for each pod or seal change")
	f.DurationVar(&o.Poll, "poll-interval", 2*time.Second, "how often to poll pods and Vault")
	_ = f.MarkHidden("poll-interval")
	return cmd
}

// Complete fills the options.
func (o *PivotOptions) Complete(_ *cobra.Command, _ []string) error {
	var err error
	if o.token, err = o.g.requireToken("pivot"); err != nil {
		return err
	}
	o.cluster, err = o.g.Cluster()
	if err != nil {
		return err
	}
	o.v = &vaultCLI{exec: o.cluster.Exec, g: o.g}
	return nil
}

// Validate checks the flags, the source keys and the snapshot's checksum.
func (o *PivotOptions) Validate() error {
	if err := o.g.validate(o.IOStreams); err != nil {
		return err
	}
	if o.SourceKeys == "" {
		return fmt.Errorf("pivot needs --source-keys FILE: the unseal keys of the source Vault")
	}
	if !o.Resume && o.Snapshot == "" && o.SourceAddr == "" {
		return fmt.Errorf("pivot needs --snapshot FILE (a raft snapshot of the source Vault) or --source-addr URL with --source-token-file")
	}
	if o.SourceAddr != "" && o.SourceTokenFile == "" {
		return fmt.Errorf("--source-addr needs --source-token-file (a token allowed to read sys/storage/raft/snapshot)")
	}
	if o.SourceAddr != "" && o.Snapshot == "" && !o.Resume {
		o.Snapshot = "source-" + time.Now().UTC().Format("20060102T150405Z") + ".snap"
	}
	var err error
	if o.journal, err = newJournalStore(o.Journal, o.cluster); err != nil {
		return err
	}
	if o.keys, err = readKeysFile(o.SourceKeys, o.In, o.ErrOut); err != nil {
		return err
	}
	if o.Resume {
		return nil
	}
	if _, err := o.journal.Load(context.Background()); err == nil {
		return &CodedError{Code: ExitRefused, Err: fmt.Errorf("journal %s exists: a pivot was interrupted; continue it with --resume, or remove the journal", o.journal)}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("journal %s: %w", o.journal, err)
	}
	if o.SourceAddr != "" {
		if _, err := os.Lstat(o.Snapshot); err == nil {
			return &CodedError{Code: ExitRefused, Err: fmt.Errorf("%s exists: with --source-addr, --snapshot names a new file", o.Snapshot)}
		}
		return nil
	}
	return verifySnapshotFile(o.Snapshot, false, o.ErrOut)
}

func (o *PivotOptions) source() (*sourceVault, error) {
	g := *o.g
	g.TokenFile = o.SourceTokenFile
	token, err := g.requireToken("--source-addr")
	if err != nil {
		return nil, err
	}
	return newSourceVault(o.SourceAddr, token, o.SourceCACert, o.SourceTLSServerName)
}

// Run runs the preflight, the plan and the steps.
func (o *PivotOptions) Run(ctx context.Context) error {
	if o.cluster.Workload == nil {
		return fmt.Errorf("pivot needs access to StatefulSets and PVCs, which this cluster access does not provide")
	}
	if o.Resume {
		j, err := readJournal(ctx, o.journal)
		if err != nil {
			return err
		}
		o.j = j
		if j.Namespace != o.cluster.Namespace {
			return &CodedError{Code: ExitRefused, Err: fmt.Errorf("journal %s is for namespace %s, not %s: pass -n %s", o.journal, j.Namespace, o.cluster.Namespace, j.Namespace)}
		}
		if o.Snapshot != "" && o.Snapshot != j.Snapshot {
			return &CodedError{Code: ExitRefused, Err: fmt.Errorf("journal %s is for snapshot %s, not %s", o.journal, j.Snapshot, o.Snapshot)}
		}
		if err := o.checkResumedTarget(ctx); err != nil {
			return err
		}
		fmt.Fprintf(o.ErrOut, "Resuming the pivot of StatefulSet %s from %s (%d steps done).\n", j.StatefulSet, o.journal, len(j.Done))
	} else {
		j, err := o.preflight(ctx)
		if err != nil {
			return err
		}
		o.j = j
	}
	steps := o.steps()
	fmt.Fprintln(o.Out, "Plan:")
	for i, s := range steps {
		mark := " "
		if o.j.done(s.name) {
			mark = "x"
		}
		fmt.Fprintf(o.Out, "  [%s] %2d. %s\n", mark, i+1, s.what)
	}
	if o.DryRun {
		fmt.Fprintln(o.ErrOut, "Dry run: nothing was changed.")
		return nil
	}
	if !o.Resume {
		if err := o.writeJournal(ctx); err != nil {
			return fmt.Errorf("journal %s cannot be written, so the pivot did not start: %w", o.journal, err)
		}
	}
	for i, s := range steps {
		if o.j.done(s.name) {
			continue
		}
		fmt.Fprintf(o.ErrOut, "Step %d/%d: %s\n", i+1, len(steps), s.what)
		if err := s.run(ctx); err != nil {
			var ce *CodedError
			if errors.As(err, &ce) && ce.Code == ExitRefused {
				return err
			}
			return fmt.Errorf("pivot step %d (%s) failed: %w; fix the cause and run the same command with --resume", i+1, s.name, err)
		}
		o.j.Done = append(o.j.Done, s.name)
		if err := o.writeJournal(ctx); err != nil {
			return fmt.Errorf("journal %s: %w", o.journal, err)
		}
	}
	fmt.Fprintf(o.ErrOut, "Pivot done: every pod serves the source's data and unseals with the source keys. The journal %s can be removed.\n", o.journal)
	return nil
}

// dataClaims are the PVCs of the StatefulSet's pods 1..replicas-1 (pod 0 keeps its data).
func dataClaims(claim, sts string, replicas int32) []string {
	var pvcs []string
	for i := 1; i < int(replicas); i++ {
		pvcs = append(pvcs, fmt.Sprintf("%s-%s-%d", claim, sts, i))
	}
	return pvcs
}

// checkResumedTarget holds a journal to the cluster before a resumed run changes anything:
// its StatefulSet must exist and own the Vault pods, pod 0 must be that StatefulSet's, and
// the PVCs to delete are computed again from the StatefulSet, never taken from the journal.
func (o *PivotOptions) checkResumedTarget(ctx context.Context) error {
	j := o.j
	refuse := func(format string, args ...any) error {
		return &CodedError{Code: ExitRefused, Err: fmt.Errorf("journal %s: "+format+": resume refused", append([]any{o.journal}, args...)...)}
	}
	if _, err := o.cluster.Workload.StatefulSetReplicas(ctx, j.StatefulSet); err != nil {
		return refuse("StatefulSet %s: %v", j.StatefulSet, err)
	}
	if pods, err := listPods(ctx, o.g, o.cluster, nil); err == nil && len(pods) > 0 {
		if name := statefulSetName(pods); name != j.StatefulSet {
			return refuse("it is for StatefulSet %s, but the Vault pods belong to %q", j.StatefulSet, name)
		}
	}
	if j.Pod0 != j.StatefulSet+"-0" {
		return refuse("pod 0 %s is not %s-0", j.Pod0, j.StatefulSet)
	}
	if j.Replicas < 1 {
		return refuse("%d replicas", j.Replicas)
	}
	pvcs := dataClaims(o.DataClaim, j.StatefulSet, j.Replicas)
	if !slices.Equal(pvcs, j.PVCs) {
		return refuse("it lists PVCs %s to delete, but StatefulSet %s's claims (--data-claim %s) are %s",
			dash(strings.Join(j.PVCs, ", ")), j.StatefulSet, o.DataClaim, dash(strings.Join(pvcs, ", ")))
	}
	j.PVCs = pvcs
	return nil
}

// preflight checks the target and builds the journal of a new run.
func (o *PivotOptions) preflight(ctx context.Context) (*pivotJournal, error) {
	pods, err := listPods(ctx, o.g, o.cluster, nil)
	if err != nil {
		return nil, err
	}
	sts := queryPods(ctx, o.g, o.cluster, pods)
	name := statefulSetName(pods)
	if name == "" {
		return nil, &CodedError{Code: ExitRefused, Err: fmt.Errorf("the Vault pods are not owned by a StatefulSet: pivot refused")}
	}
	replicas, err := o.cluster.Workload.StatefulSetReplicas(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read StatefulSet %s: %w", name, err)
	}
	for _, p := range sts {
		switch {
		case p.Vault == nil:
			return nil, &CodedError{Code: ExitNotReady, Err: fmt.Errorf("pod %s: %s: pivot needs every pod answering", p.Pod, p.Error)}
		case p.Vault.StorageType != "raft":
			return nil, &CodedError{Code: ExitRefused, Err: fmt.Errorf("pivot needs integrated (raft) storage, but pod %s uses %q", p.Pod, p.Vault.StorageType)}
		case p.Vault.Type != "shamir":
			return nil, &CodedError{Code: ExitRefused, Err: fmt.Errorf("pivot supports the Shamir seal only, but pod %s uses %q", p.Pod, p.Vault.Type)}
		case !p.Vault.Initialized || p.Vault.Sealed:
			return nil, &CodedError{Code: ExitNotReady, Err: fmt.Errorf("pod %s is sealed or uninitialised: pivot needs the target unsealed (`kubectl vault unseal`) for its backup", p.Pod)}
		}
	}
	if int(replicas) != len(pods) {
		return nil, &CodedError{Code: ExitNotReady, Err: fmt.Errorf("StatefulSet %s wants %d replicas but %d pods run: wait until it settles", name, replicas, len(pods))}
	}
	if activePod(sts) == nil {
		return nil, &CodedError{Code: ExitNotReady, Err: fmt.Errorf("no active pod: pivot needs a healthy target")}
	}
	pod0 := name + "-0"
	if _, err := resolvePod(pods, pod0); err != nil {
		return nil, err
	}
	nodeID, err := o.nodeID(ctx, pod0)
	if err != nil {
		return nil, err
	}
	if err := checkWritableTmp(ctx, o.cluster.Exec, pod0, o.g.Container); err != nil {
		return nil, err
	}
	peers, err := o.v.raftPeers(ctx, activePod(sts).Pod, o.token)
	if err != nil {
		return nil, err
	}
	j := &pivotJournal{StatefulSet: name, Namespace: o.cluster.Namespace, Replicas: replicas, Pod0: pod0, NodeID: nodeID,
		Snapshot: o.Snapshot, SourceAddr: o.SourceAddr, Backup: o.Backup, Started: time.Now().UTC()}
	if j.Backup == "" {
		j.Backup = fmt.Sprintf("%s-backup-%s.snap", name, time.Now().UTC().Format("20060102T150405Z"))
	}
	if o.SourceAddr != "" {
		if err := o.checkSource(ctx); err != nil {
			return nil, err
		}
	} else if j.SnapshotSHA256, err = sha256File(o.Snapshot); err != nil {
		return nil, err
	}
	for _, p := range peers {
		if p.NodeID != nodeID {
			j.Peers = append(j.Peers, p.NodeID)
		}
	}
	j.PVCs = dataClaims(o.DataClaim, name, replicas)
	for _, pvc := range append([]string{fmt.Sprintf("%s-%s-0", o.DataClaim, name)}, j.PVCs...) {
		ok, err := o.cluster.Workload.PVCExists(ctx, pvc)
		if err != nil {
			return nil, fmt.Errorf("read PVC %s: %w", pvc, err)
		}
		if !ok {
			return nil, &CodedError{Code: ExitRefused, Err: fmt.Errorf("PVC %s not found: is --data-claim (%s) the name of the StatefulSet's volumeClaimTemplate?", pvc, o.DataClaim)}
		}
	}
	src := "unknown (plain key list)"
	if o.keys.Threshold > 0 {
		src = strconv.Itoa(o.keys.Threshold)
	}
	fmt.Fprintf(o.ErrOut, "Preflight: StatefulSet %s/%s, %d replicas, raft storage, Shamir seal, pod %s node id %s, raft peers %d.\n",
		o.cluster.Namespace, name, replicas, pod0, nodeID, len(peers))
	if o.SourceAddr == "" {
		fmt.Fprintf(o.ErrOut, "Source: snapshot %s (sha256 %s), %d source keys, source threshold %s.\n", o.Snapshot, j.SnapshotSHA256[:12], len(o.keys.Keys), src)
	}
	return j, nil
}

// checkSource checks the source Vault's seal against the source keys before anything starts.
func (o *PivotOptions) checkSource(ctx context.Context) error {
	sv, err := o.source()
	if err != nil {
		return err
	}
	st, err := sv.sealStatus(ctx)
	if err != nil {
		return err
	}
	switch {
	case !st.Initialized || st.Sealed:
		return &CodedError{Code: ExitNotReady, Err: fmt.Errorf("the source Vault at %s is sealed or uninitialised: unseal it first", o.SourceAddr)}
	case st.StorageType != "" && st.StorageType != "raft":
		return &CodedError{Code: ExitRefused, Err: fmt.Errorf("the source Vault at %s uses %q storage: pivot needs a raft snapshot", o.SourceAddr, st.StorageType)}
	case st.Type != "shamir":
		return &CodedError{Code: ExitRefused, Err: fmt.Errorf("the source Vault at %s uses the %s seal: pivot moves Shamir-sealed data only", o.SourceAddr, st.Type)}
	case len(o.keys.Keys) < st.T:
		return &CodedError{Code: ExitRefused, Err: fmt.Errorf("--source-keys holds %d keys but the source's threshold is %d: pivot refused", len(o.keys.Keys), st.T)}
	}
	fmt.Fprintf(o.ErrOut, "Source: Vault %s at %s (cluster %s), %d key shares, threshold %d; %d source keys given; snapshot into %s.\n",
		st.Version, o.SourceAddr, dash(st.ClusterName), st.N, st.T, len(o.keys.Keys), o.Snapshot)
	return nil
}

func (o *PivotOptions) stepSourceSnapshot(ctx context.Context) error {
	if _, err := os.Stat(o.j.Snapshot); err == nil {
		if err := verifySnapshotFile(o.j.Snapshot, false, o.ErrOut); err != nil {
			return err
		}
		sum, err := sha256File(o.j.Snapshot)
		if err != nil {
			return err
		}
		if o.j.SnapshotSHA256 != "" && o.j.SnapshotSHA256 != sum {
			return &CodedError{Code: ExitRefused, Err: fmt.Errorf("snapshot %s (sha256 %s) is not the one the journal recorded (sha256 %s)", o.j.Snapshot, sum, o.j.SnapshotSHA256)}
		}
		o.j.SnapshotSHA256 = sum
		fmt.Fprintf(o.ErrOut, "Snapshot %s exists already and matches its checksum.\n", o.j.Snapshot)
		return nil
	}
	sv, err := o.source()
	if err != nil {
		return err
	}
	sum, err := sv.snapshot(ctx, o.j.Snapshot)
	if err != nil {
		return err
	}
	o.j.SnapshotSHA256 = sum
	fmt.Fprintf(o.ErrOut, "Source snapshot saved to %s (sha256 %s).\n", o.j.Snapshot, sum)
	return nil
}

func (o *PivotOptions) nodeID(ctx context.Context, pod string) (string, error) {
	var out, errb strings.Builder
	f := path.Join(o.g.DataDir, "node-id")
	if err := o.cluster.Exec.Exec(ctx, pod, []string{"cat", f}, nil, &out, &errb); err != nil {
		return "", fmt.Errorf("read %s in pod %s: %v %s (node_id set in the config instead? pivot needs the file)", f, pod, err, strings.TrimSpace(errb.String()))
	}
	id := strings.TrimSpace(out.String())
	if id == "" || strings.ContainsAny(id, " \n\t\"") {
		return "", fmt.Errorf("%s in pod %s holds no usable node id", f, pod)
	}
	return id, nil
}

func (o *PivotOptions) steps() []pivotStep {
	j := o.j
	others := make([]string, 0, j.Replicas)
	for i := 1; i < int(j.Replicas); i++ {
		others = append(others, fmt.Sprintf("%s-%d", j.StatefulSet, i))
	}
	var steps []pivotStep
	if j.SourceAddr != "" {
		steps = append(steps, pivotStep{"source-snapshot", fmt.Sprintf("take a snapshot of the source Vault at %s into %s", j.SourceAddr, j.Snapshot), o.stepSourceSnapshot})
	}
	return append(steps, []pivotStep{
		{"backup", fmt.Sprintf("save a backup snapshot of the target to %s", j.Backup), o.stepBackup},
		{"confirm", fmt.Sprintf("confirm by typing the StatefulSet's name (%s)", j.StatefulSet), o.stepConfirm},
		{"leader", fmt.Sprintf("make %s the active pod", j.Pod0), o.stepLeader},
		{"remove-peers", fmt.Sprintf("remove raft peers %s while quorum holds", dash(strings.Join(j.Peers, ", "))), o.stepRemovePeers},
		{"scale-down", fmt.Sprintf("scale StatefulSet %s to 1 replica and wait for %s to go", j.StatefulSet, dash(strings.Join(others, ", "))), o.stepScaleDown},
		{"delete-pvcs", fmt.Sprintf("delete PVCs %s (the pods rejoin with new volumes)", dash(strings.Join(j.PVCs, ", "))), o.stepDeletePVCs},
		{"restore", fmt.Sprintf("restore %s on %s with -force", j.Snapshot, j.Pod0), o.stepRestore},
		{"peers-json", fmt.Sprintf("write raft/peers.json (node id %s) on %s and restart it (it reloads the source's seal configuration)", j.NodeID, j.Pod0), o.stepPeersJSON},
		{"unseal-source", fmt.Sprintf("unseal %s with the source keys and wait until it is active", j.Pod0), o.stepUnsealPod0Active},
		{"scale-up", fmt.Sprintf("scale StatefulSet %s back to %d replicas", j.StatefulSet, j.Replicas), o.stepScaleUp},
		{"unseal-all", fmt.Sprintf("unseal %s with the source keys", dash(strings.Join(others, ", "))), o.stepUnsealAll},
		{"verify", "check: every pod unsealed, one active" + map[bool]string{true: ", all raft voters", false: ""}[o.SourceTokenFile != ""], o.stepVerify},
	}...)
}

func (o *PivotOptions) stepBackup(ctx context.Context) error {
	if _, err := os.Stat(o.j.Backup); err == nil {
		if _, err := os.Stat(o.j.Backup + ".sha256"); err == nil {
			fmt.Fprintf(o.ErrOut, "Backup %s exists already.\n", o.j.Backup)
			return nil
		}
		return fmt.Errorf("%s exists without its .sha256: move it away", o.j.Backup)
	}
	s := &SnapshotSaveOptions{IOStreams: o.IOStreams, g: o.g, File: o.j.Backup, cluster: o.cluster, token: o.token}
	return s.Run(ctx)
}

func (o *PivotOptions) stepConfirm(context.Context) error {
	if o.Yes {
		return nil
	}
	fmt.Fprintf(o.ErrOut, "This replaces ALL data of the Vault in StatefulSet %s/%s with the snapshot's; the backup is %s.\n", o.j.Namespace, o.j.StatefulSet, o.j.Backup)
	fmt.Fprintf(o.ErrOut, "Type the StatefulSet's name (%s) to go on: ", o.j.StatefulSet)
	line, err := readLine(o.In)
	if err != nil {
		return err
	}
	if line != o.j.StatefulSet {
		// Declining leaves nothing changed: the journal goes away.
		_ = o.journal.Remove(context.Background())
		return &CodedError{Code: ExitRefused, Err: fmt.Errorf("pivot declined: nothing was changed (the backup %s stays)", o.j.Backup)}
	}
	return nil
}

func (o *PivotOptions) stepLeader(ctx context.Context) error {
	// Vault cannot hand leadership to a chosen node: step the active pod down until pod 0
	// wins an election (each try picks a new leader among the standbys).
	for attempt := 0; attempt < 20; attempt++ {
		s, err := o.v.status(ctx, o.j.Pod0)
		if err != nil {
			return err
		}
		if s.HARole() == "active" {
			return nil
		}
		pods, err := listPods(ctx, o.g, o.cluster, nil)
		if err != nil {
			return err
		}
		act := activePod(queryPods(ctx, o.g, o.cluster, pods))
		if act == nil {
			return &CodedError{Code: ExitNotReady, Err: fmt.Errorf("no active pod to step down")}
		}
		fmt.Fprintf(o.ErrOut, "Asking active pod %s to step down...\n", act.Pod)
		res, err := o.v.run(ctx, act.Pod, vaultCall{Sub: []string{"operator", "step-down"}, Token: o.token, NoFormat: true})
		if err != nil {
			return err
		}
		if res.Code != 0 {
			return fmt.Errorf("step-down on pod %s: %s", act.Pod, vaultError(res))
		}
		_ = waitFor(ctx, 15*time.Second, o.Poll, func() (bool, error) {
			pods, err := listPods(ctx, o.g, o.cluster, nil)
			if err != nil {
				return false, nil
			}
			return activePod(queryPods(ctx, o.g, o.cluster, pods)) != nil, nil
		})
	}
	return fmt.Errorf("%s did not become active after several step-downs", o.j.Pod0)
}

func (o *PivotOptions) stepRemovePeers(ctx context.Context) error {
	current, err := o.v.raftPeers(ctx, o.j.Pod0, o.token)
	if err != nil {
		return err
	}
	present := map[string]bool{}
	for _, p := range current {
		present[p.NodeID] = true
	}
	for _, id := range o.j.Peers {
		if !present[id] {
			continue
		}
		res, err := o.v.run(ctx, o.j.Pod0, vaultCall{Sub: []string{"operator", "raft", "remove-peer"}, Args: []string{id}, Token: o.token})
		if err != nil {
			return err
		}
		if res.Code != 0 {
			return fmt.Errorf("remove raft peer %s: %s", id, vaultError(res))
		}
		fmt.Fprintf(o.ErrOut, "Removed raft peer %s.\n", id)
	}
	return nil
}

func (o *PivotOptions) stepScaleDown(ctx context.Context) error {
	if err := o.cluster.Workload.ScaleStatefulSet(ctx, o.j.StatefulSet, 1); err != nil {
		return fmt.Errorf("scale StatefulSet %s to 1: %w", o.j.StatefulSet, err)
	}
	return o.waitPods(ctx, "only "+o.j.Pod0+" to remain", func(pods []corev1.Pod) bool {
		return len(pods) == 1 && pods[0].Name == o.j.Pod0
	})
}

func (o *PivotOptions) stepDeletePVCs(ctx context.Context) error {
	for _, pvc := range o.j.PVCs {
		if err := o.cluster.Workload.DeletePVC(ctx, pvc); err != nil {
			return fmt.Errorf("delete PVC %s: %w", pvc, err)
		}
		fmt.Fprintf(o.ErrOut, "Deleted PVC %s.\n", pvc)
	}
	return nil
}

func (o *PivotOptions) stepRestore(ctx context.Context) error {
	if err := verifySnapshotFile(o.j.Snapshot, false, o.ErrOut); err != nil {
		return err
	}
	// The FILE.sha256 beside the snapshot can be replaced with it: the journal's checksum,
	// taken when the pivot started, is the one that counts.
	sum, err := sha256File(o.j.Snapshot)
	if err != nil {
		return err
	}
	if o.j.SnapshotSHA256 == "" {
		return &CodedError{Code: ExitRefused, Err: fmt.Errorf("journal %s records no checksum of %s: restore refused", o.journal, o.j.Snapshot)}
	}
	if sum != o.j.SnapshotSHA256 {
		return &CodedError{Code: ExitRefused, Err: fmt.Errorf("snapshot %s (sha256 %s) does not match the journal's sha256 %s: it changed since the pivot started; restore refused", o.j.Snapshot, sum, o.j.SnapshotSHA256)}
	}
	if s, err := o.v.status(ctx, o.j.Pod0); err == nil && s.Sealed {
		// A restore of another cluster's snapshot seals the pod, but so does a restart: a
		// sealed pod 0 proves nothing unless the snapshot was sent before the interruption
		// (and then the source keys tell in the next steps).
		if !o.j.RestoreSent {
			return &CodedError{Code: ExitNotReady, Err: fmt.Errorf("%s is sealed but the journal records no restore: it restarted with the target's data; unseal it with the target's keys (`kubectl vault unseal %s`) and run the same command with --resume", o.j.Pod0, o.j.Pod0)}
		}
		fmt.Fprintf(o.ErrOut, "%s is sealed after the restore was sent: going on with the source keys.\n", o.j.Pod0)
		return nil
	}
	o.j.RestoreSent = true
	if err := o.writeJournal(ctx); err != nil {
		return fmt.Errorf("journal %s: %w", o.journal, err)
	}
	r := &SnapshotRestoreOptions{IOStreams: o.IOStreams, g: o.g, File: o.j.Snapshot, Force: true, Yes: true, Wait: 30 * time.Second,
		cluster: o.cluster, token: o.token, poll: o.Poll}
	err = r.Run(ctx)
	var ce *CodedError
	if errors.As(err, &ce) && ce.Code == ExitNotReady {
		return nil // it sealed itself, as a snapshot of another cluster makes it do
	}
	return err
}

func (o *PivotOptions) unsealer() *unsealer {
	return &unsealer{v: o.v, g: o.g, log: o.ErrOut, keys: o.keys.Keys, threshold: o.keys.Threshold, wait: o.Timeout, poll: o.Poll}
}

func (o *PivotOptions) unsealOne(ctx context.Context, pod string) error {
	var s *SealStatus
	err := waitFor(ctx, o.Timeout, o.Poll, func() (bool, error) {
		var err error
		s, err = o.v.status(ctx, pod)
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("pod %s does not answer", pod)
	}
	if !s.Sealed {
		return nil
	}
	err = o.unsealer().unsealPod(ctx, pod, s)
	if errors.Is(err, ErrWrongKey) {
		return &CodedError{Code: ExitRefused, Err: fmt.Errorf("pod %s rejected the source keys: are --source-keys the keys of the snapshot's Vault?", pod)}
	}
	return err
}

func (o *PivotOptions) stepPeersJSON(ctx context.Context) error {
	pods, err := listPods(ctx, o.g, o.cluster, []string{o.j.Pod0})
	if err != nil {
		return err
	}
	uid := pods[0].UID
	addr := o.j.Pod0 + "." + o.HeadlessService + ":" + strconv.Itoa(o.ClusterPort)
	peers, _ := json.Marshal([]PeerJSON{{ID: o.j.NodeID, Address: addr}})
	dest := path.Join(o.g.DataDir, "raft", "peers.json")
	if err := writeInPod(ctx, o.cluster.Exec, o.j.Pod0, dest, peers, o.ErrOut); err != nil {
		return fmt.Errorf("write %s in pod %s: %w", dest, o.j.Pod0, err)
	}
	if err := o.cluster.Deleter.DeletePod(ctx, o.j.Pod0); err != nil {
		return fmt.Errorf("delete pod %s: %w", o.j.Pod0, err)
	}
	return o.waitPods(ctx, o.j.Pod0+" to come back", func(pods []corev1.Pod) bool {
		for _, p := range pods {
			if p.Name == o.j.Pod0 && p.UID != uid && p.Status.Phase == corev1.PodRunning {
				return true
			}
		}
		return false
	})
}

func (o *PivotOptions) stepUnsealPod0Active(ctx context.Context) error {
	if err := o.unsealOne(ctx, o.j.Pod0); err != nil {
		return err
	}
	err := waitFor(ctx, o.Timeout, o.Poll, func() (bool, error) {
		s, err := o.v.status(ctx, o.j.Pod0)
		return err == nil && s.HARole() == "active", nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s is unsealed but not active after %s: check `kubectl logs %s -c %s`", o.j.Pod0, o.Timeout, o.j.Pod0, o.g.Container)
	}
	return err
}

func (o *PivotOptions) stepScaleUp(ctx context.Context) error {
	if err := o.cluster.Workload.ScaleStatefulSet(ctx, o.j.StatefulSet, o.j.Replicas); err != nil {
		return fmt.Errorf("scale StatefulSet %s to %d: %w", o.j.StatefulSet, o.j.Replicas, err)
	}
	return o.waitPods(ctx, fmt.Sprintf("%d pods to run", o.j.Replicas), func(pods []corev1.Pod) bool {
		running := 0
		for _, p := range pods {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == int(o.j.Replicas)
	})
}

func (o *PivotOptions) stepUnsealAll(ctx context.Context) error {
	for i := 1; i < int(o.j.Replicas); i++ {
		pod := fmt.Sprintf("%s-%d", o.j.StatefulSet, i)
		if err := o.unsealOne(ctx, pod); err != nil {
			return err
		}
	}
	return nil
}

func (o *PivotOptions) stepVerify(ctx context.Context) error {
	token := ""
	if o.SourceTokenFile != "" {
		g := *o.g
		g.TokenFile = o.SourceTokenFile
		t, err := g.readToken()
		if err != nil {
			return err
		}
		token = t
	}
	var st *ClusterStatus
	err := waitFor(ctx, o.Timeout, o.Poll, func() (bool, error) {
		var err error
		st, err = collectStatus(ctx, o.g, o.cluster, nil, token)
		if err != nil {
			return false, err
		}
		if !st.Healthy {
			return false, nil
		}
		if token == "" {
			return true, nil
		}
		voters := 0
		for _, p := range st.Raft {
			if p.Voter {
				voters++
			}
		}
		return voters == int(o.j.Replicas), nil
	})
	if st != nil {
		_ = printStatusTable(o.ErrOut, st, false, false)
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return &CodedError{Code: ExitNotReady, Err: fmt.Errorf("vault is not healthy %s after the pivot: run `kubectl vault status`", o.Timeout)}
		}
		return err
	}
	return nil
}

// waitPods polls the pods until cond holds.
func (o *PivotOptions) waitPods(ctx context.Context, what string, cond func([]corev1.Pod) bool) error {
	fmt.Fprintf(o.ErrOut, "Waiting for %s...\n", what)
	err := waitFor(ctx, o.Timeout, o.Poll, func() (bool, error) {
		pods, err := o.cluster.Pods.ListPods(ctx)
		if err != nil {
			return false, nil
		}
		sortPods(pods)
		return cond(pods), nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %s waiting for %s", o.Timeout, what)
	}
	return err
}

func (o *PivotOptions) writeJournal(ctx context.Context) error {
	o.j.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(o.j, "", "  ")
	if err != nil {
		return err
	}
	return o.journal.Save(context.WithoutCancel(ctx), append(b, '\n'))
}

func readJournal(ctx context.Context, js journalStore) (*pivotJournal, error) {
	b, err := js.Load(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no journal %s: nothing to resume", js)
	}
	if err != nil {
		return nil, err
	}
	var j pivotJournal
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("journal %s is damaged: %w", js, err)
	}
	if j.StatefulSet == "" || j.Pod0 == "" || j.Snapshot == "" {
		return nil, fmt.Errorf("journal %s is incomplete", js)
	}
	return &j, nil
}

func readLine(in interface{ Read([]byte) (int, error) }) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if buf[0] == '\n' {
				break
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			break
		}
	}
	return strings.TrimSpace(b.String()), nil
}
