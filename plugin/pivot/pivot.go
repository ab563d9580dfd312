// Package pivot moves another Vault's data onto the in-cluster Vault StatefulSet: a raft
// snapshot of the source is restored on pod 0, which is unsealed with the source's keys after
// a raft recovery, and the other pods rejoin with new volumes. Each step is recorded in a
// journal so that an interrupted run resumes where it stopped.
//
// The procedure works on a Target (the pods, their Vault servers and the StatefulSet); the
// `kubectl vault pivot` command provides it over exec into the pods.
package pivot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/vaultkube/vaultkube/plugin/internal/exitcode"
	"github.com/vaultkube/vaultkube/plugin/internal/poll"
	"github.com/vaultkube/vaultkube/plugin/internal/snapfile"
)

// Workload changes the StatefulSet and its volumes.
type Workload interface {
	StatefulSetReplicas(ctx context.Context, name string) (int32, error)
	ScaleStatefulSet(ctx context.Context, name string, replicas int32) error
	DeletePVC(ctx context.Context, name string) error
	PVCExists(ctx context.Context, name string) (bool, error)
}

// Server is what one pod's Vault answered to a status query.
type Server struct {
	Pod string
	// Err says why the pod's Vault did not answer; the other fields are then empty.
	Err         string
	Initialized bool
	Sealed      bool
	StorageType string
	SealType    string
	// Active is the pod that serves requests: the HA leader, or the one unsealed node
	// without HA.
	Active bool
}

// Health is the state of the whole target after the pivot.
type Health struct {
	Healthy bool
	Voters  int    // raft voters, when a token allowed reading them
	Table   string // the status table, for the log
}

// Target is the in-cluster Vault the pivot works on. Calls that need the target's token
// (raft peers, step-down, remove-peer, snapshots) have it bound in.
type Target interface {
	Namespace() string
	// Pods lists the Vault server pods sorted by ordinal; it fails when there is none.
	Pods(ctx context.Context) ([]corev1.Pod, error)
	// Servers queries the Vault server of each pod (in parallel).
	Servers(ctx context.Context, pods []corev1.Pod) []Server
	// Server queries the Vault server of one pod.
	Server(ctx context.Context, pod string) (*Server, error)
	// NodeID reads the raft node id of a pod from its data directory.
	NodeID(ctx context.Context, pod string) (string, error)
	// CheckWritableTmp fails unless the pod can hold a snapshot in its temporary directory.
	CheckWritableTmp(ctx context.Context, pod string) error
	// RaftPeers lists the node ids of the raft configuration, asked on pod.
	RaftPeers(ctx context.Context, pod string) ([]string, error)
	StepDown(ctx context.Context, pod string) error
	RemovePeer(ctx context.Context, pod, nodeID string) error
	// SaveSnapshot saves a snapshot of the target into a new local file (with FILE.sha256).
	SaveSnapshot(ctx context.Context, file string) error
	// RestoreSnapshot restores a local snapshot with -force; a pod that seals itself
	// afterwards (a snapshot of another cluster) is no error.
	RestoreSnapshot(ctx context.Context, file string) error
	// WritePeersJSON writes raft/peers.json on pod: a one-node cluster of nodeID.
	WritePeersJSON(ctx context.Context, pod, nodeID string) error
	DeletePod(ctx context.Context, pod string) error
	// Unseal waits until pod answers and unseals it with the source keys if it is sealed.
	Unseal(ctx context.Context, pod string) error
	// Health judges the whole target; token (of the source Vault) may be empty.
	Health(ctx context.Context, token string) (*Health, error)
	Workload
}

// Options are the inputs of a pivot; the command fills them from its flags.
type Options struct {
	In          io.Reader
	Out, ErrOut io.Writer

	Target  Target
	Journal Store
	// SourceKeys is the number of source unseal keys given, SourceThreshold the threshold
	// their file records (0 for a plain key list). The keys stay with the Target.
	SourceKeys      int
	SourceThreshold int
	// Source reaches the source Vault over its API; nil without --source-addr.
	Source      *Source
	SourceAddr  string
	SourceToken string // for the final check of the raft voters; may be empty

	Snapshot       string
	Backup         string
	DataClaim      string
	Container      string
	Resume, DryRun bool
	Yes            bool
	Timeout, Poll  time.Duration
	journal        *Journal
}

// Journal records a pivot run so that an interrupted one resumes where it stopped.
type Journal struct {
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

func (j *Journal) done(step string) bool { return slices.Contains(j.Done, step) }

type step struct {
	name string
	what string
	run  func(ctx context.Context) error
}

// Validate checks what can be checked before the cluster is touched: no journal of an
// earlier run for a new run, and the snapshot against its checksum file.
func (o *Options) Validate(ctx context.Context) error {
	if o.Resume {
		return nil
	}
	if _, err := o.Journal.Load(ctx); err == nil {
		return exitcode.Refusedf("journal %s exists: a pivot was interrupted; continue it with --resume, or remove the journal", o.Journal)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("journal %s: %w", o.Journal, err)
	}
	if o.Source != nil {
		if _, err := os.Lstat(o.Snapshot); err == nil {
			return exitcode.Refusedf("%s exists: with --source-addr, --snapshot names a new file", o.Snapshot)
		}
		return nil
	}
	return snapfile.Verify(o.Snapshot, false, o.ErrOut)
}

// Run runs the preflight, prints the plan and runs the steps not done yet.
func (o *Options) Run(ctx context.Context) error {
	if o.Resume {
		j, err := readJournal(ctx, o.Journal)
		if err != nil {
			return err
		}
		o.journal = j
		if ns := o.Target.Namespace(); j.Namespace != ns {
			return exitcode.Refusedf("journal %s is for namespace %s, not %s: pass -n %s", o.Journal, j.Namespace, ns, j.Namespace)
		}
		if o.Snapshot != "" && o.Snapshot != j.Snapshot {
			return exitcode.Refusedf("journal %s is for snapshot %s, not %s", o.Journal, j.Snapshot, o.Snapshot)
		}
		if err := o.checkResumedTarget(ctx); err != nil {
			return err
		}
		fmt.Fprintf(o.ErrOut, "Resuming the pivot of StatefulSet %s from %s (%d steps done).\n", j.StatefulSet, o.Journal, len(j.Done))
	} else {
		j, err := o.preflight(ctx)
		if err != nil {
			return err
		}
		o.journal = j
	}
	steps := o.steps()
	fmt.Fprintln(o.Out, "Plan:")
	for i, s := range steps {
		mark := " "
		if o.journal.done(s.name) {
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
			return fmt.Errorf("journal %s cannot be written, so the pivot did not start: %w", o.Journal, err)
		}
	}
	for i, s := range steps {
		if o.journal.done(s.name) {
			continue
		}
		fmt.Fprintf(o.ErrOut, "Step %d/%d: %s\n", i+1, len(steps), s.what)
		if err := s.run(ctx); err != nil {
			if exitcode.Is(err, exitcode.Refused) {
				return err
			}
			return fmt.Errorf("pivot step %d (%s) failed: %w; fix the cause and run the same command with --resume", i+1, s.name, err)
		}
		o.journal.Done = append(o.journal.Done, s.name)
		if err := o.writeJournal(ctx); err != nil {
			return fmt.Errorf("journal %s: %w", o.Journal, err)
		}
	}
	fmt.Fprintf(o.ErrOut, "Pivot done: every pod serves the source's data and unseals with the source keys. The journal %s can be removed.\n", o.Journal)
	return nil
}

// list joins names for a message, or "-" when there is none.
func list(names []string) string {
	if len(names) == 0 {
		return "-"
	}
	return strings.Join(names, ", ")
}

// dataClaims are the PVCs of the StatefulSet's pods 1..replicas-1 (pod 0 keeps its data).
func dataClaims(claim, sts string, replicas int32) []string {
	var pvcs []string
	for i := 1; i < int(replicas); i++ {
		pvcs = append(pvcs, fmt.Sprintf("%s-%s-%d", claim, sts, i))
	}
	return pvcs
}

// StatefulSetName returns the name of the StatefulSet owning the pods, or "" when none.
func StatefulSetName(pods []corev1.Pod) string {
	for _, p := range pods {
		for _, ref := range p.OwnerReferences {
			if ref.Kind == "StatefulSet" {
				return ref.Name
			}
		}
	}
	return ""
}

func active(servers []Server) *Server {
	for i := range servers {
		if servers[i].Active {
			return &servers[i]
		}
	}
	return nil
}

// checkResumedTarget holds a journal to the cluster before a resumed run changes anything:
// its StatefulSet must exist and own the Vault pods, pod 0 must be that StatefulSet's, and
// the PVCs to delete are computed again from the StatefulSet, never taken from the journal.
func (o *Options) checkResumedTarget(ctx context.Context) error {
	j := o.journal
	refuse := func(format string, args ...any) error {
		return exitcode.Refusedf("journal %s: "+format+": resume refused", append([]any{o.Journal}, args...)...)
	}
	if _, err := o.Target.StatefulSetReplicas(ctx, j.StatefulSet); err != nil {
		return refuse("StatefulSet %s: %v", j.StatefulSet, err)
	}
	if pods, err := o.Target.Pods(ctx); err == nil && len(pods) > 0 {
		if name := StatefulSetName(pods); name != j.StatefulSet {
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
			list(j.PVCs), j.StatefulSet, o.DataClaim, list(pvcs))
	}
	j.PVCs = pvcs
	return nil
}

// preflight checks the target and builds the journal of a new run.
func (o *Options) preflight(ctx context.Context) (*Journal, error) {
	pods, err := o.Target.Pods(ctx)
	if err != nil {
		return nil, err
	}
	servers := o.Target.Servers(ctx, pods)
	name := StatefulSetName(pods)
	if name == "" {
		return nil, exitcode.Refusedf("the Vault pods are not owned by a StatefulSet: pivot refused")
	}
	replicas, err := o.Target.StatefulSetReplicas(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read StatefulSet %s: %w", name, err)
	}
	for _, s := range servers {
		switch {
		case s.Err != "":
			return nil, exitcode.NotReadyf("pod %s: %s: pivot needs every pod answering", s.Pod, s.Err)
		case s.StorageType != "raft":
			return nil, exitcode.Refusedf("pivot needs integrated (raft) storage, but pod %s uses %q", s.Pod, s.StorageType)
		case s.SealType != "shamir":
			return nil, exitcode.Refusedf("pivot supports the Shamir seal only, but pod %s uses %q", s.Pod, s.SealType)
		case !s.Initialized || s.Sealed:
			return nil, exitcode.NotReadyf("pod %s is sealed or uninitialised: pivot needs the target unsealed (`kubectl vault unseal`) for its backup", s.Pod)
		}
	}
	if int(replicas) != len(pods) {
		return nil, exitcode.NotReadyf("StatefulSet %s wants %d replicas but %d pods run: wait until it settles", name, replicas, len(pods))
	}
	act := active(servers)
	if act == nil {
		return nil, exitcode.NotReadyf("no active pod: pivot needs a healthy target")
	}
	pod0 := name + "-0"
	if !slices.ContainsFunc(pods, func(p corev1.Pod) bool { return p.Name == pod0 }) {
		return nil, fmt.Errorf("pod %s is not among the Vault pods (%s)", pod0, list(podNames(pods)))
	}
	nodeID, err := o.Target.NodeID(ctx, pod0)
	if err != nil {
		return nil, err
	}
	if err := o.Target.CheckWritableTmp(ctx, pod0); err != nil {
		return nil, err
	}
	peers, err := o.Target.RaftPeers(ctx, act.Pod)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	j := &Journal{StatefulSet: name, Namespace: o.Target.Namespace(), Replicas: replicas, Pod0: pod0, NodeID: nodeID,
		Snapshot: o.Snapshot, SourceAddr: o.SourceAddr, Backup: o.Backup, Started: now}
	if j.Backup == "" {
		j.Backup = fmt.Sprintf("%s-backup-%s.snap", name, now.Format("20060102T150405Z"))
	}
	if o.Source != nil {
		if err := o.checkSource(ctx); err != nil {
			return nil, err
		}
	} else if j.SnapshotSHA256, err = snapfile.SHA256(o.Snapshot); err != nil {
		return nil, err
	}
	for _, id := range peers {
		if id != nodeID {
			j.Peers = append(j.Peers, id)
		}
	}
	j.PVCs = dataClaims(o.DataClaim, name, replicas)
	for _, pvc := range append([]string{fmt.Sprintf("%s-%s-0", o.DataClaim, name)}, j.PVCs...) {
		ok, err := o.Target.PVCExists(ctx, pvc)
		if err != nil {
			return nil, fmt.Errorf("read PVC %s: %w", pvc, err)
		}
		if !ok {
			return nil, exitcode.Refusedf("PVC %s not found: is --data-claim (%s) the name of the StatefulSet's volumeClaimTemplate?", pvc, o.DataClaim)
		}
	}
	threshold := "unknown (plain key list)"
	if o.SourceThreshold > 0 {
		threshold = strconv.Itoa(o.SourceThreshold)
	}
	fmt.Fprintf(o.ErrOut, "Preflight: StatefulSet %s/%s, %d replicas, raft storage, Shamir seal, pod %s node id %s, raft peers %d.\n",
		j.Namespace, name, replicas, pod0, nodeID, len(peers))
	if o.Source == nil {
		fmt.Fprintf(o.ErrOut, "Source: snapshot %s (sha256 %s), %d source keys, source threshold %s.\n", o.Snapshot, j.SnapshotSHA256[:12], o.SourceKeys, threshold)
	}
	return j, nil
}

func podNames(pods []corev1.Pod) []string {
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	return names
}

// checkSource checks the source Vault's seal against the source keys before anything starts.
func (o *Options) checkSource(ctx context.Context) error {
	st, err := o.Source.sealStatus(ctx)
	if err != nil {
		return err
	}
	switch {
	case !st.Initialized || st.Sealed:
		return exitcode.NotReadyf("the source Vault at %s is sealed or uninitialised: unseal it first", o.SourceAddr)
	case st.StorageType != "" && st.StorageType != "raft":
		return exitcode.Refusedf("the source Vault at %s uses %q storage: pivot needs a raft snapshot", o.SourceAddr, st.StorageType)
	case st.Type != "shamir":
		return exitcode.Refusedf("the source Vault at %s uses the %s seal: pivot moves Shamir-sealed data only", o.SourceAddr, st.Type)
	case o.SourceKeys < st.T:
		return exitcode.Refusedf("--source-keys holds %d keys but the source's threshold is %d: pivot refused", o.SourceKeys, st.T)
	}
	cluster := st.ClusterName
	if cluster == "" {
		cluster = "-"
	}
	fmt.Fprintf(o.ErrOut, "Source: Vault %s at %s (cluster %s), %d key shares, threshold %d; %d source keys given; snapshot into %s.\n",
		st.Version, o.SourceAddr, cluster, st.N, st.T, o.SourceKeys, o.Snapshot)
	return nil
}

func (o *Options) steps() []step {
	j := o.journal
	others := make([]string, 0, j.Replicas)
	for i := 1; i < int(j.Replicas); i++ {
		others = append(others, fmt.Sprintf("%s-%d", j.StatefulSet, i))
	}
	var steps []step
	if j.SourceAddr != "" {
		steps = append(steps, step{"source-snapshot", fmt.Sprintf("take a snapshot of the source Vault at %s into %s", j.SourceAddr, j.Snapshot), o.stepSourceSnapshot})
	}
	verify := "check: every pod unsealed, one active"
	if o.SourceToken != "" {
		verify += ", all raft voters"
	}
	return append(steps, []step{
		{"backup", fmt.Sprintf("save a backup snapshot of the target to %s", j.Backup), o.stepBackup},
		{"confirm", fmt.Sprintf("confirm by typing the StatefulSet's name (%s)", j.StatefulSet), o.stepConfirm},
		{"leader", fmt.Sprintf("make %s the active pod", j.Pod0), o.stepLeader},
		{"remove-peers", fmt.Sprintf("remove raft peers %s while quorum holds", list(j.Peers)), o.stepRemovePeers},
		{"scale-down", fmt.Sprintf("scale StatefulSet %s to 1 replica and wait for %s to go", j.StatefulSet, list(others)), o.stepScaleDown},
		{"delete-pvcs", fmt.Sprintf("delete PVCs %s (the pods rejoin with new volumes)", list(j.PVCs)), o.stepDeletePVCs},
		{"restore", fmt.Sprintf("restore %s on %s with -force", j.Snapshot, j.Pod0), o.stepRestore},
		{"peers-json", fmt.Sprintf("write raft/peers.json (node id %s) on %s and restart it (it reloads the source's seal configuration)", j.NodeID, j.Pod0), o.stepPeersJSON},
		{"unseal-source", fmt.Sprintf("unseal %s with the source keys and wait until it is active", j.Pod0), o.stepUnsealPod0Active},
		{"scale-up", fmt.Sprintf("scale StatefulSet %s back to %d replicas", j.StatefulSet, j.Replicas), o.stepScaleUp},
		{"unseal-all", fmt.Sprintf("unseal %s with the source keys", list(others)), o.stepUnsealAll},
		{"verify", verify, o.stepVerify},
	}...)
}

func (o *Options) stepSourceSnapshot(ctx context.Context) error {
	j := o.journal
	if _, err := os.Stat(j.Snapshot); err == nil {
		if err := snapfile.Verify(j.Snapshot, false, o.ErrOut); err != nil {
			return err
		}
		sum, err := snapfile.SHA256(j.Snapshot)
		if err != nil {
			return err
		}
		if j.SnapshotSHA256 != "" && j.SnapshotSHA256 != sum {
			return exitcode.Refusedf("snapshot %s (sha256 %s) is not the one the journal recorded (sha256 %s)", j.Snapshot, sum, j.SnapshotSHA256)
		}
		j.SnapshotSHA256 = sum
		fmt.Fprintf(o.ErrOut, "Snapshot %s exists already and matches its checksum.\n", j.Snapshot)
		return nil
	}
	if o.Source == nil {
		return fmt.Errorf("snapshot %s is missing and --source-addr is not given to take it again", j.Snapshot)
	}
	sum, err := o.Source.snapshot(ctx, j.Snapshot)
	if err != nil {
		return err
	}
	j.SnapshotSHA256 = sum
	fmt.Fprintf(o.ErrOut, "Source snapshot saved to %s (sha256 %s).\n", j.Snapshot, sum)
	return nil
}

func (o *Options) stepBackup(ctx context.Context) error {
	b := o.journal.Backup
	if _, err := os.Stat(b); err == nil {
		if _, err := os.Stat(b + ".sha256"); err == nil {
			fmt.Fprintf(o.ErrOut, "Backup %s exists already.\n", b)
			return nil
		}
		return fmt.Errorf("%s exists without its .sha256: move it away", b)
	}
	return o.Target.SaveSnapshot(ctx, b)
}

func (o *Options) stepConfirm(context.Context) error {
	if o.Yes {
		return nil
	}
	j := o.journal
	fmt.Fprintf(o.ErrOut, "This replaces ALL data of the Vault in StatefulSet %s/%s with the snapshot's; the backup is %s.\n", j.Namespace, j.StatefulSet, j.Backup)
	fmt.Fprintf(o.ErrOut, "Type the StatefulSet's name (%s) to go on: ", j.StatefulSet)
	if readLine(o.In) != j.StatefulSet {
		// Declining leaves nothing changed: the journal goes away.
		_ = o.Journal.Remove(context.Background())
		return exitcode.Refusedf("pivot declined: nothing was changed (the backup %s stays)", j.Backup)
	}
	return nil
}

func (o *Options) stepLeader(ctx context.Context) error {
	pod0 := o.journal.Pod0
	// Vault cannot hand leadership to a chosen node: step the active pod down until pod 0
	// wins an election (each try picks a new leader among the standbys).
	for attempt := 0; attempt < 20; attempt++ {
		s, err := o.Target.Server(ctx, pod0)
		if err != nil {
			return err
		}
		if s.Active {
			return nil
		}
		act, err := o.activeServer(ctx)
		if err != nil {
			return err
		}
		if act == nil {
			return exitcode.NotReadyf("no active pod to step down")
		}
		fmt.Fprintf(o.ErrOut, "Asking active pod %s to step down...\n", act.Pod)
		if err := o.Target.StepDown(ctx, act.Pod); err != nil {
			return err
		}
		_ = poll.Until(ctx, 15*time.Second, o.Poll, func() (bool, error) {
			act, err := o.activeServer(ctx)
			return err == nil && act != nil, nil
		})
	}
	return fmt.Errorf("%s did not become active after several step-downs", pod0)
}

func (o *Options) activeServer(ctx context.Context) (*Server, error) {
	pods, err := o.Target.Pods(ctx)
	if err != nil {
		return nil, err
	}
	return active(o.Target.Servers(ctx, pods)), nil
}

func (o *Options) stepRemovePeers(ctx context.Context) error {
	current, err := o.Target.RaftPeers(ctx, o.journal.Pod0)
	if err != nil {
		return err
	}
	for _, id := range o.journal.Peers {
		if !slices.Contains(current, id) {
			continue
		}
		if err := o.Target.RemovePeer(ctx, o.journal.Pod0, id); err != nil {
			return err
		}
		fmt.Fprintf(o.ErrOut, "Removed raft peer %s.\n", id)
	}
	return nil
}

func (o *Options) stepScaleDown(ctx context.Context) error {
	j := o.journal
	if err := o.Target.ScaleStatefulSet(ctx, j.StatefulSet, 1); err != nil {
		return fmt.Errorf("scale StatefulSet %s to 1: %w", j.StatefulSet, err)
	}
	return o.waitPods(ctx, "only "+j.Pod0+" to remain", func(pods []corev1.Pod) bool {
		return len(pods) == 1 && pods[0].Name == j.Pod0
	})
}

func (o *Options) stepDeletePVCs(ctx context.Context) error {
	for _, pvc := range o.journal.PVCs {
		if err := o.Target.DeletePVC(ctx, pvc); err != nil {
			return fmt.Errorf("delete PVC %s: %w", pvc, err)
		}
		fmt.Fprintf(o.ErrOut, "Deleted PVC %s.\n", pvc)
	}
	return nil
}

func (o *Options) stepRestore(ctx context.Context) error {
	j := o.journal
	if err := snapfile.Verify(j.Snapshot, false, o.ErrOut); err != nil {
		return err
	}
	// The FILE.sha256 beside the snapshot can be replaced with it: the journal's checksum,
	// taken when the pivot started, is the one that counts.
	sum, err := snapfile.SHA256(j.Snapshot)
	if err != nil {
		return err
	}
	if j.SnapshotSHA256 == "" {
		return exitcode.Refusedf("journal %s records no checksum of %s: restore refused", o.Journal, j.Snapshot)
	}
	if sum != j.SnapshotSHA256 {
		return exitcode.Refusedf("snapshot %s (sha256 %s) does not match the journal's sha256 %s: it changed since the pivot started; restore refused", j.Snapshot, sum, j.SnapshotSHA256)
	}
	if s, err := o.Target.Server(ctx, j.Pod0); err == nil && s.Sealed {
		// A restore of another cluster's snapshot seals the pod, but so does a restart: a
		// sealed pod 0 proves nothing unless the snapshot was sent before the interruption
		// (and then the source keys tell in the next steps).
		if !j.RestoreSent {
			return exitcode.NotReadyf("%s is sealed but the journal records no restore: it restarted with the target's data; unseal it with the target's keys (`kubectl vault unseal %s`) and run the same command with --resume", j.Pod0, j.Pod0)
		}
		fmt.Fprintf(o.ErrOut, "%s is sealed after the restore was sent: going on with the source keys.\n", j.Pod0)
		return nil
	}
	j.RestoreSent = true
	if err := o.writeJournal(ctx); err != nil {
		return fmt.Errorf("journal %s: %w", o.Journal, err)
	}
	return o.Target.RestoreSnapshot(ctx, j.Snapshot)
}

func (o *Options) stepPeersJSON(ctx context.Context) error {
	j := o.journal
	pods, err := o.Target.Pods(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(pods, func(p corev1.Pod) bool { return p.Name == j.Pod0 })
	if i < 0 {
		return fmt.Errorf("pod %s is not among the Vault pods (%s)", j.Pod0, list(podNames(pods)))
	}
	uid := pods[i].UID
	if err := o.Target.WritePeersJSON(ctx, j.Pod0, j.NodeID); err != nil {
		return err
	}
	if err := o.Target.DeletePod(ctx, j.Pod0); err != nil {
		return fmt.Errorf("delete pod %s: %w", j.Pod0, err)
	}
	return o.waitPods(ctx, j.Pod0+" to come back", func(pods []corev1.Pod) bool {
		for _, p := range pods {
			if p.Name == j.Pod0 && p.UID != uid && p.Status.Phase == corev1.PodRunning {
				return true
			}
		}
		return false
	})
}

func (o *Options) stepUnsealPod0Active(ctx context.Context) error {
	pod0 := o.journal.Pod0
	if err := o.Target.Unseal(ctx, pod0); err != nil {
		return err
	}
	err := poll.Until(ctx, o.Timeout, o.Poll, func() (bool, error) {
		s, err := o.Target.Server(ctx, pod0)
		return err == nil && s.Active, nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s is unsealed but not active after %s: check `kubectl logs %s -c %s`", pod0, o.Timeout, pod0, o.Container)
	}
	return err
}

func (o *Options) stepScaleUp(ctx context.Context) error {
	j := o.journal
	if err := o.Target.ScaleStatefulSet(ctx, j.StatefulSet, j.Replicas); err != nil {
		return fmt.Errorf("scale StatefulSet %s to %d: %w", j.StatefulSet, j.Replicas, err)
	}
	return o.waitPods(ctx, fmt.Sprintf("%d pods to run", j.Replicas), func(pods []corev1.Pod) bool {
		running := 0
		for _, p := range pods {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == int(j.Replicas)
	})
}

func (o *Options) stepUnsealAll(ctx context.Context) error {
	for i := 1; i < int(o.journal.Replicas); i++ {
		if err := o.Target.Unseal(ctx, fmt.Sprintf("%s-%d", o.journal.StatefulSet, i)); err != nil {
			return err
		}
	}
	return nil
}

func (o *Options) stepVerify(ctx context.Context) error {
	var h *Health
	err := poll.Until(ctx, o.Timeout, o.Poll, func() (bool, error) {
		var err error
		if h, err = o.Target.Health(ctx, o.SourceToken); err != nil {
			return false, err
		}
		return h.Healthy && (o.SourceToken == "" || h.Voters == int(o.journal.Replicas)), nil
	})
	if h != nil {
		fmt.Fprint(o.ErrOut, h.Table)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return exitcode.NotReadyf("vault is not healthy %s after the pivot: run `kubectl vault status`", o.Timeout)
	}
	return err
}

// waitPods polls the pods until cond holds.
func (o *Options) waitPods(ctx context.Context, what string, cond func([]corev1.Pod) bool) error {
	fmt.Fprintf(o.ErrOut, "Waiting for %s...\n", what)
	err := poll.Until(ctx, o.Timeout, o.Poll, func() (bool, error) {
		pods, err := o.Target.Pods(ctx)
		return err == nil && cond(pods), nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %s waiting for %s", o.Timeout, what)
	}
	return err
}

func (o *Options) writeJournal(ctx context.Context) error {
	o.journal.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(o.journal, "", "  ")
	if err != nil {
		return err
	}
	return o.Journal.Save(context.WithoutCancel(ctx), append(b, '\n'))
}

func readJournal(ctx context.Context, s Store) (*Journal, error) {
	b, err := s.Load(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no journal %s: nothing to resume", s)
	}
	if err != nil {
		return nil, err
	}
	var j Journal
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("journal %s is damaged: %w", s, err)
	}
	if j.StatefulSet == "" || j.Pod0 == "" || j.Snapshot == "" {
		return nil, fmt.Errorf("journal %s is incomplete", s)
	}
	return &j, nil
}

// readLine reads one line byte by byte (nothing after it is consumed) and trims it.
func readLine(in io.Reader) string {
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
	return strings.TrimSpace(b.String())
}
