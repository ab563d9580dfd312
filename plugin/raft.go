package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// NewCmdRaft returns `kubectl vault raft`.
func NewCmdRaft(g *Globals, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "raft",
		Short: "Raft storage operations",
	}
	cmd.AddCommand(newCmdRaftRecover(g, streams))
	return cmd
}

// RaftRecoverOptions are the options of `kubectl vault raft recover`.
type RaftRecoverOptions struct {
	genericiooptions.IOStreams
	g *Globals

	Pod             string
	HeadlessService string
	ClusterPort     int
	DryRun          bool
	Yes             bool
	Restart         bool

	cluster *Cluster
}

// PeerJSON is one entry of raft's peers.json.
type PeerJSON struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	NonVoter bool   `json:"non_voter"`
}

func newCmdRaftRecover(g *Globals, streams genericiooptions.IOStreams) *cobra.Command {
	o := &RaftRecoverOptions{IOStreams: streams, g: g}
	cmd := &cobra.Command{
		Use:   "recover [POD]",
		Short: "Recover lost raft quorum: make POD a one-node cluster with peers.json",
		Long: `Recover a raft cluster that lost quorum: write raft/peers.json on POD's data volume (default:
the first pod) naming only that pod, read from its node-id file. When Vault restarts it
becomes a one-node cluster; unseal it, and the other pods rejoin through retry_join (they may
need new volumes). This discards the other peers from the configuration: use it only when
quorum cannot come back. --restart deletes the pod so it reads peers.json at once.`,
		Example: `  kubectl vault raft recover --dry-run
  kubectl vault raft recover 0 --restart --yes && kubectl vault unseal 0 --keys-file init.json`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completePods(g),
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
	cmd.Flags().StringVar(&o.HeadlessService, "headless-service", "vault-internal", "headless Service that gives pods their raft address")
	cmd.Flags().IntVar(&o.ClusterPort, "cluster-port", 8201, "Vault's cluster (raft) port")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "print the peers.json and the plan, change nothing")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&o.Restart, "restart", false, "delete the pod afterwards so that Vault reads peers.json")
	return cmd
}

// Complete fills the options.
func (o *RaftRecoverOptions) Complete(_ *cobra.Command, args []string) error {
	if len(args) == 1 {
		o.Pod = args[0]
	}
	var err error
	o.cluster, err = o.g.Cluster()
	return err
}

// Validate checks the options.
func (o *RaftRecoverOptions) Validate() error {
	if err := o.g.validate(o.IOStreams); err != nil {
		return err
	}
	if o.ClusterPort < 1 || o.ClusterPort > 65535 {
		return fmt.Errorf("--cluster-port %d is not a port", o.ClusterPort)
	}
	return nil
}

// Run writes peers.json.
func (o *RaftRecoverOptions) Run(ctx context.Context) error {
	pods, err := listPods(ctx, o.g, o.cluster, nil)
	if err != nil {
		return err
	}
	target := &pods[0]
	if o.Pod != "" {
		if target, err = resolvePod(pods, o.Pod); err != nil {
			return err
		}
	}
	sts := queryPods(ctx, o.g, o.cluster, pods)
	for _, s := range sts {
		if s.Vault != nil && s.Vault.StorageType != "" && s.Vault.StorageType != "raft" {
			return &CodedError{Code: ExitRefused, Err: fmt.Errorf("raft recover needs integrated (raft) storage, but pod %s uses %q", s.Pod, s.Vault.StorageType)}
		}
	}
	if a := activePod(sts); a != nil {
		fmt.Fprintf(o.ErrOut, "Warning: pod %s is active, so the cluster has quorum: prefer `vault operator raft remove-peer` over recovery.\n", a.Pod)
	}
	nodeID, err := readNodeID(ctx, o.g, o.cluster.Exec, target.Name, "is the raft data on "+o.g.DataDir+"? use --vault-data-dir")
	if err != nil {
		return err
	}
	peers, err := onePeerJSON(target.Name, nodeID, o.HeadlessService, o.ClusterPort)
	if err != nil {
		return err
	}
	dest := peersJSONPath(o.g)
	fmt.Fprintf(o.ErrOut, "Plan: write %s in pod %s, making it a one-node raft cluster:\n", dest, target.Name)
	fmt.Fprintf(o.Out, "%s\n", peers)
	next := fmt.Sprintf("kubectl delete pod %s", target.Name)
	if o.Restart {
		next = "(the pod is deleted now)"
	}
	fmt.Fprintf(o.ErrOut, "Then: %s; `kubectl vault unseal %s`; the other pods rejoin through retry_join.\n", next, target.Name)
	if o.DryRun {
		return nil
	}
	if !o.Yes {
		ok, err := confirm(o.In, o.ErrOut, "Write peers.json? [y/N] ")
		if err != nil {
			return err
		}
		if !ok {
			return &CodedError{Code: ExitRefused, Err: fmt.Errorf("raft recover declined")}
		}
	}
	if err := writePeersJSON(ctx, o.g, o.cluster.Exec, target.Name, peers, o.ErrOut); err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "Wrote %s in pod %s.\n", dest, target.Name)
	if o.Restart {
		if err := o.cluster.Deleter.DeletePod(ctx, target.Name); err != nil {
			return fmt.Errorf("delete pod %s: %w", target.Name, err)
		}
		fmt.Fprintf(o.ErrOut, "Deleted pod %s; once it runs again: `kubectl vault unseal %s`.\n", target.Name, target.Name)
	}
	return nil
}

// readNodeID reads the raft node id of pod from the node-id file in its data directory;
// hint says what to check when the file cannot be read.
func readNodeID(ctx context.Context, g *Globals, ex Executor, pod, hint string) (string, error) {
	var out, errb strings.Builder
	f := path.Join(g.DataDir, "node-id")
	if err := ex.Exec(ctx, pod, []string{"cat", f}, nil, &out, &errb); err != nil {
		return "", fmt.Errorf("read %s in pod %s: %v %s (%s)", f, pod, err, strings.TrimSpace(errb.String()), hint)
	}
	id := strings.TrimSpace(out.String())
	if id == "" || strings.ContainsAny(id, " \n\t\"") {
		return "", fmt.Errorf("%s in pod %s holds no usable node id", f, pod)
	}
	return id, nil
}

// onePeerJSON is the peers.json of a one-node raft cluster: pod, reached through the
// headless Service on the cluster port.
func onePeerJSON(pod, nodeID, headlessService string, clusterPort int) ([]byte, error) {
	addr := pod + "." + headlessService + ":" + strconv.Itoa(clusterPort)
	return json.Marshal([]PeerJSON{{ID: nodeID, Address: addr}})
}

// peersJSONPath is where raft reads peers.json at start: raft/ in the data directory.
func peersJSONPath(g *Globals) string { return path.Join(g.DataDir, "raft", "peers.json") }

// writePeersJSON writes raft/peers.json in pod's data directory.
func writePeersJSON(ctx context.Context, g *Globals, ex Executor, pod string, peers []byte, errOut io.Writer) error {
	dest := peersJSONPath(g)
	if err := writeInPod(ctx, ex, pod, dest, peers, errOut); err != nil {
		return fmt.Errorf("write %s in pod %s: %w", dest, pod, err)
	}
	return nil
}
