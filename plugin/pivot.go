package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/vaultkube/vaultkube/plugin/internal/poll"
	"github.com/vaultkube/vaultkube/plugin/pivot"
)

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

	cluster     *Cluster
	token       string
	keys        *unsealKeys
	sourceToken string
	source      *pivot.Source
	journal     pivot.Store
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
	return err
}

// Validate checks the flags, reads the source keys and token, and checks the snapshot.
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
	if o.journal, err = pivot.NewStore(o.Journal, o.cluster.Namespace, o.cluster.ConfigMaps); err != nil {
		return err
	}
	if o.keys, err = readKeysFile(o.SourceKeys, o.In, o.ErrOut); err != nil {
		return err
	}
	if o.sourceToken, err = readTokenFile("--source-token-file", o.SourceTokenFile); err != nil {
		return err
	}
	if o.SourceAddr != "" {
		if o.source, err = pivot.NewSource(o.SourceAddr, o.sourceToken, o.SourceCACert, o.SourceTLSServerName); err != nil {
			return err
		}
	}
	return o.options().Validate(context.Background())
}

func (o *PivotOptions) options() *pivot.Options {
	return &pivot.Options{In: o.In, Out: o.Out, ErrOut: o.ErrOut,
		Target: &podTarget{Workload: o.cluster.Workload, o: o, v: &vaultCLI{exec: o.cluster.Exec, g: o.g}}, Journal: o.journal,
		SourceKeys: len(o.keys.Keys), SourceThreshold: o.keys.Threshold,
		Source: o.source, SourceAddr: o.SourceAddr, SourceToken: o.sourceToken,
		Snapshot: o.Snapshot, Backup: o.Backup, DataClaim: o.DataClaim, Container: o.g.Container,
		Resume: o.Resume, DryRun: o.DryRun, Yes: o.Yes, Timeout: o.Timeout, Poll: o.Poll}
}

// Run runs the pivot.
func (o *PivotOptions) Run(ctx context.Context) error {
	if o.cluster.Workload == nil {
		return fmt.Errorf("pivot needs access to StatefulSets and PVCs, which this cluster access does not provide")
	}
	return o.options().Run(ctx)
}

// podTarget is the pivot's Target over exec into the Vault pods.
type podTarget struct {
	pivot.Workload
	o *PivotOptions
	v *vaultCLI
}

func (t *podTarget) Namespace() string { return t.o.cluster.Namespace }

func (t *podTarget) Pods(ctx context.Context) ([]corev1.Pod, error) {
	return listPods(ctx, t.o.g, t.o.cluster, nil)
}

func server(pod string, s *SealStatus) pivot.Server {
	return pivot.Server{Pod: pod, Initialized: s.Initialized, Sealed: s.Sealed, StorageType: s.StorageType, SealType: s.Type,
		Active: s.HARole() == "active"}
}

func (t *podTarget) Servers(ctx context.Context, pods []corev1.Pod) []pivot.Server {
	sts := queryPods(ctx, t.o.g, t.o.cluster, pods)
	act := activePod(sts)
	out := make([]pivot.Server, len(sts))
	for i, p := range sts {
		if p.Vault == nil {
			out[i] = pivot.Server{Pod: p.Pod, Err: p.Error}
			continue
		}
		out[i] = server(p.Pod, p.Vault)
		out[i].Active = act != nil && act.Pod == p.Pod
	}
	return out
}

func (t *podTarget) Server(ctx context.Context, pod string) (*pivot.Server, error) {
	s, err := t.v.status(ctx, pod)
	if err != nil {
		return nil, err
	}
	srv := server(pod, s)
	return &srv, nil
}

func (t *podTarget) NodeID(ctx context.Context, pod string) (string, error) {
	return readNodeID(ctx, t.o.g, t.o.cluster.Exec, pod, "node_id set in the config instead? pivot needs the file")
}

func (t *podTarget) CheckWritableTmp(ctx context.Context, pod string) error {
	return checkWritableTmp(ctx, t.o.cluster.Exec, pod, t.o.g.Container)
}

func (t *podTarget) RaftPeers(ctx context.Context, pod string) ([]string, error) {
	peers, err := t.v.raftPeers(ctx, pod, t.o.token)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(peers))
	for i, p := range peers {
		ids[i] = p.NodeID
	}
	return ids, nil
}

func (t *podTarget) StepDown(ctx context.Context, pod string) error {
	res, err := t.v.run(ctx, pod, vaultCall{Sub: []string{"operator", "step-down"}, Token: t.o.token, NoFormat: true})
	if err != nil {
		return err
	}
	if res.Code != 0 {
		return fmt.Errorf("step-down on pod %s: %s", pod, vaultError(res))
	}
	return nil
}

func (t *podTarget) RemovePeer(ctx context.Context, pod, nodeID string) error {
	res, err := t.v.run(ctx, pod, vaultCall{Sub: []string{"operator", "raft", "remove-peer"}, Args: []string{nodeID}, Token: t.o.token})
	if err != nil {
		return err
	}
	if res.Code != 0 {
		return fmt.Errorf("remove raft peer %s: %s", nodeID, vaultError(res))
	}
	return nil
}

func (t *podTarget) SaveSnapshot(ctx context.Context, file string) error {
	s := &SnapshotSaveOptions{IOStreams: t.o.IOStreams, g: t.o.g, File: file, cluster: t.o.cluster, token: t.o.token}
	return s.Run(ctx)
}

func (t *podTarget) RestoreSnapshot(ctx context.Context, file string) error {
	r := &SnapshotRestoreOptions{IOStreams: t.o.IOStreams, g: t.o.g, File: file, Force: true, Yes: true, Wait: 30 * time.Second,
		cluster: t.o.cluster, token: t.o.token, poll: t.o.Poll}
	err := r.Run(ctx)
	var ce *CodedError
	if errors.As(err, &ce) && ce.Code == ExitNotReady {
		return nil // it sealed itself, as a snapshot of another cluster makes it do
	}
	return err
}

func (t *podTarget) WritePeersJSON(ctx context.Context, pod, nodeID string) error {
	peers, err := onePeerJSON(pod, nodeID, t.o.HeadlessService, t.o.ClusterPort)
	if err != nil {
		return err
	}
	return writePeersJSON(ctx, t.o.g, t.o.cluster.Exec, pod, peers, t.o.ErrOut)
}

func (t *podTarget) DeletePod(ctx context.Context, pod string) error {
	return t.o.cluster.Deleter.DeletePod(ctx, pod)
}

func (t *podTarget) Unseal(ctx context.Context, pod string) error {
	var s *SealStatus
	err := poll.Until(ctx, t.o.Timeout, t.o.Poll, func() (bool, error) {
		var err error
		s, err = t.v.status(ctx, pod)
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("pod %s does not answer", pod)
	}
	if !s.Sealed {
		return nil
	}
	u := &unsealer{v: t.v, g: t.o.g, log: t.o.ErrOut, keys: t.o.keys.Keys, threshold: t.o.keys.Threshold, wait: t.o.Timeout, poll: t.o.Poll}
	err = u.unsealPod(ctx, pod, s)
	if errors.Is(err, ErrWrongKey) {
		return &CodedError{Code: ExitRefused, Err: fmt.Errorf("pod %s rejected the source keys: are --source-keys the keys of the snapshot's Vault?", pod)}
	}
	return err
}

func (t *podTarget) Health(ctx context.Context, token string) (*pivot.Health, error) {
	st, err := collectStatus(ctx, t.o.g, t.o.cluster, nil, token)
	if err != nil {
		return nil, err
	}
	h := &pivot.Health{Healthy: st.Healthy}
	for _, p := range st.Raft {
		if p.Voter {
			h.Voters++
		}
	}
	var b strings.Builder
	_ = printStatusTable(&b, st, false, false)
	h.Table = b.String()
	return h, nil
}
