package plugin

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// StatusOptions are the options of `kubectl vault status`.
type StatusOptions struct {
	genericiooptions.IOStreams
	g *Globals

	Output string
	Pods   []string

	cluster *Cluster
	token   string
}

// PodStatus is one row of the status: the pod and what its Vault said.
type PodStatus struct {
	Pod    string      `json:"pod"`
	Ready  bool        `json:"ready"`
	Phase  string      `json:"phase"`
	Vault  *SealStatus `json:"vault,omitempty"`
	Error  string      `json:"error,omitempty"`
	podObj *corev1.Pod
}

// ClusterStatus is the whole answer of `kubectl vault status`.
type ClusterStatus struct {
	Pods      []PodStatus     `json:"pods"`
	Raft      []RaftServer    `json:"raftPeers,omitempty"`
	Autopilot *AutopilotState `json:"autopilot,omitempty"`
	Healthy   bool            `json:"healthy"`
	Warnings  []string        `json:"warnings,omitempty"`
}

// NewCmdStatus returns `kubectl vault status`.
func NewCmdStatus(g *Globals, streams genericiooptions.IOStreams) *cobra.Command {
	o := &StatusOptions{IOStreams: streams, g: g}
	cmd := &cobra.Command{
		Use:   "status [POD...]",
		Short: "Show the seal, HA and raft state of every Vault server pod",
		Long: `Show the seal, HA and raft state of every Vault server pod, queried in parallel.
No token is needed; with --vault-token-file the raft peers and autopilot health are shown too.
Exits 2 when Vault is degraded (a pod sealed, uninitialised, unreachable or not ready).`,
		Example: `  kubectl vault status
  kubectl vault status -o wide --vault-token-file ~/.vault-token
  kubectl vault status 0 -o json`,
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
	outputFlag(cmd, &o.Output, "table", "table", "wide", "json", "yaml")
	return cmd
}

// Complete fills the options from the command line.
func (o *StatusOptions) Complete(_ *cobra.Command, args []string) error {
	o.Pods = args
	var err error
	if o.token, err = o.g.readToken(); err != nil {
		return err
	}
	o.cluster, err = o.g.Cluster()
	return err
}

// Validate checks the options.
func (o *StatusOptions) Validate() error {
	if err := o.g.validate(o.IOStreams); err != nil {
		return err
	}
	return checkOutput(o.Output, "table", "wide", "json", "yaml")
}

// Run prints the status and returns exit 2 when degraded.
func (o *StatusOptions) Run(ctx context.Context) error {
	st, err := collectStatus(ctx, o.g, o.cluster, o.Pods, o.token)
	if err != nil {
		return err
	}
	switch o.Output {
	case "json", "yaml":
		if err := printData(o.Out, o.Output, st); err != nil {
			return err
		}
	default:
		if err := printStatusTable(o.Out, st, o.Output == "wide", colorEnabled(o.g.Color, o.Out)); err != nil {
			return err
		}
		for _, w := range st.Warnings {
			fmt.Fprintln(o.ErrOut, "Warning:", w)
		}
	}
	if !st.Healthy {
		return &CodedError{Code: ExitNotReady, Err: fmt.Errorf("vault is degraded")}
	}
	return nil
}

// listPods lists the Vault server pods in ordinal order and, when names are given, keeps only
// those (a name or an ordinal each).
func listPods(ctx context.Context, g *Globals, c *Cluster, names []string) ([]corev1.Pod, error) {
	pods, err := c.Pods.ListPods(ctx)
	if err != nil {
		return nil, fmt.Errorf("list Vault pods: %w", err)
	}
	sortPods(pods)
	if len(names) == 0 {
		if len(pods) == 0 {
			return nil, fmt.Errorf("no pods match selector %q in namespace %q: check -n and --selector", g.Selector, c.Namespace)
		}
		return pods, nil
	}
	var out []corev1.Pod
	seen := map[string]bool{}
	for _, n := range names {
		p, err := resolvePod(pods, n)
		if err != nil {
			return nil, err
		}
		if !seen[p.Name] {
			seen[p.Name] = true
			out = append(out, *p)
		}
	}
	return out, nil
}

// queryPods runs `vault status` on each pod in parallel.
func queryPods(ctx context.Context, g *Globals, c *Cluster, pods []corev1.Pod) []PodStatus {
	v := &vaultCLI{exec: c.Exec, g: g}
	out := make([]PodStatus, len(pods))
	var wg sync.WaitGroup
	for i := range pods {
		p := &pods[i]
		out[i] = PodStatus{Pod: p.Name, Ready: podReady(p), Phase: string(p.Status.Phase), podObj: p}
		if p.Status.Phase != corev1.PodRunning {
			out[i].Error = fmt.Sprintf("pod is %s", strings.ToLower(dash(string(p.Status.Phase))))
			continue
		}
		if !hasContainer(p, g.Container) {
			out[i].Error = fmt.Sprintf("no container %q (use --container)", g.Container)
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, g.ExecTimeout)
			defer cancel()
			s, err := v.status(cctx, out[i].Pod)
			if err != nil {
				out[i].Error = err.Error()
				return
			}
			out[i].Vault = s
		}(i)
	}
	wg.Wait()
	return out
}

// activePod returns the active pod of the statuses, or nil.
func activePod(sts []PodStatus) *PodStatus {
	for i := range sts {
		if s := sts[i].Vault; s != nil && s.HARole() == "active" {
			return &sts[i]
		}
	}
	// Without HA (a single node, non-HA storage) the one unsealed pod is "active".
	for i := range sts {
		if s := sts[i].Vault; s != nil && s.Initialized && !s.Sealed && !s.HAEnabled {
			return &sts[i]
		}
	}
	return nil
}

// collectStatus queries every pod and, with a token, the raft peers; then judges health.
func collectStatus(ctx context.Context, g *Globals, c *Cluster, names []string, token string) (*ClusterStatus, error) {
	pods, err := listPods(ctx, g, c, names)
	if err != nil {
		return nil, err
	}
	st := &ClusterStatus{Pods: queryPods(ctx, g, c, pods)}
	act := activePod(st.Pods)
	if token != "" && act != nil && act.Vault.StorageType == "raft" {
		v := &vaultCLI{exec: c.Exec, g: g}
		cctx, cancel := context.WithTimeout(ctx, g.ExecTimeout)
		defer cancel()
		var rerr, aerr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); st.Raft, rerr = v.raftPeers(cctx, act.Pod, token) }()
		go func() { defer wg.Done(); st.Autopilot, aerr = v.autopilot(cctx, act.Pod, token) }()
		wg.Wait()
		if rerr != nil {
			st.Warnings = append(st.Warnings, rerr.Error())
		}
		if aerr != nil {
			st.Autopilot = nil
		}
	}
	judge(st, len(names) == 0, g.Selector)
	return st, nil
}

// judge sets Healthy and the warnings, each naming the next command to run.
func judge(st *ClusterStatus, allPods bool, selector string) {
	healthy := true
	var sealed, uninit, inProgress []string
	anyInit := false
	for _, p := range st.Pods {
		switch {
		case p.Error != "":
			healthy = false
			st.Warnings = append(st.Warnings, fmt.Sprintf("pod %s: %s", p.Pod, p.Error))
			continue
		case !p.Vault.Initialized:
			uninit = append(uninit, p.Pod)
		case p.Vault.Sealed:
			sealed = append(sealed, p.Pod)
			if p.Vault.Progress > 0 {
				inProgress = append(inProgress, fmt.Sprintf("%s (%d/%d)", p.Pod, p.Vault.Progress, p.Vault.T))
			}
		}
		if p.Vault.Initialized {
			anyInit = true
		}
		if !p.Ready {
			healthy = false
		}
	}
	if len(uninit) > 0 {
		healthy = false
		if !anyInit {
			st.Warnings = append(st.Warnings, "Vault is not initialised: run `kubectl vault init --keys-out FILE`")
		} else {
			st.Warnings = append(st.Warnings, fmt.Sprintf("%s not initialised yet (not joined to the raft cluster?): unseal it with `kubectl vault unseal %s`, then check its retry_join", plural(uninit, "is", "are"), uninit[0]))
		}
	}
	if len(sealed) > 0 {
		healthy = false
		st.Warnings = append(st.Warnings, fmt.Sprintf("%s sealed: run `kubectl vault unseal`", plural(sealed, "is", "are")))
	}
	if len(inProgress) > 0 {
		st.Warnings = append(st.Warnings, fmt.Sprintf("an unseal is in progress on %s: `kubectl vault unseal` continues it, `--reset` starts over", strings.Join(inProgress, ", ")))
	}
	unsealed := 0
	for _, p := range st.Pods {
		if p.Vault != nil && p.Vault.Initialized && !p.Vault.Sealed {
			unsealed++
		}
	}
	if allPods && unsealed > 0 && activePod(st.Pods) == nil {
		healthy = false
		st.Warnings = append(st.Warnings, fmt.Sprintf("no pod is active: check the pods' logs (`kubectl logs -l %s`)", selector))
	}
	if len(st.Raft) > 0 && allPods {
		inRaft := map[string]bool{}
		for _, s := range st.Raft {
			inRaft[s.NodeID] = true
			host, _, _ := strings.Cut(s.Address, ".")
			inRaft[host] = true
			if !s.Voter {
				st.Warnings = append(st.Warnings, fmt.Sprintf("raft peer %s is not a voter yet (autopilot promotes healthy peers after a while)", s.NodeID))
			}
		}
		for _, p := range st.Pods {
			if p.Vault != nil && p.Vault.Initialized && !p.Vault.Sealed && !inRaft[p.Pod] {
				st.Warnings = append(st.Warnings, fmt.Sprintf("pod %s is unsealed but not among the raft peers", p.Pod))
			}
		}
		if len(st.Raft) > len(st.Pods) {
			st.Warnings = append(st.Warnings, fmt.Sprintf("raft has %d peers for %d pods: remove stale peers with `vault operator raft remove-peer`", len(st.Raft), len(st.Pods)))
		}
	}
	if st.Autopilot != nil && !st.Autopilot.Healthy {
		healthy = false
		st.Warnings = append(st.Warnings, fmt.Sprintf("autopilot reports the raft cluster unhealthy (failure tolerance %d)", st.Autopilot.FailureTolerance))
	}
	st.Healthy = healthy
}

func plural(pods []string, one, many string) string {
	if len(pods) == 1 {
		return "pod " + pods[0] + " " + one
	}
	return "pods " + strings.Join(pods, ", ") + " " + many
}

func printStatusTable(w interface{ Write([]byte) (int, error) }, st *ClusterStatus, wide, color bool) error {
	t := &table{header: []string{"POD", "READY", "INITIALIZED", "SEALED", "UNSEAL", "HA", "VERSION", "STORAGE"}}
	if wide {
		t.header = append(t.header, "SEAL", "CLUSTER", "COMMITTED", "APPLIED", "ERROR")
	}
	for _, p := range st.Pods {
		ready := cc(yesNo(p.Ready), colGreen)
		if !p.Ready {
			ready.color = colYellow
		}
		row := []cell{c(p.Pod), ready}
		s := p.Vault
		if s == nil {
			row = append(row, c("?"), c("?"), c("-"), cc("error", colRed), c("-"), c("-"))
			if wide {
				row = append(row, c("-"), c("-"), c("-"), c("-"), c(p.Error))
			}
			t.add(row...)
			continue
		}
		init := cc(yesNo(s.Initialized), colNone)
		if !s.Initialized {
			init.color = colYellow
		}
		sealed := cc(yesNo(s.Sealed), colGreen)
		if s.Sealed {
			sealed.color = colRed
		}
		unseal := "-"
		if s.Sealed && s.Initialized {
			unseal = strconv.Itoa(s.Progress) + "/" + strconv.Itoa(s.T)
		}
		role := cc(dash(s.HARole()), colNone)
		if role.text == "active" {
			role.color = colGreen
		}
		row = append(row, init, sealed, c(unseal), role, c(dash(s.Version)), c(dash(s.StorageType)))
		if wide {
			row = append(row, c(dash(s.Type)), c(dash(s.ClusterName)), c(idx(s.RaftCommittedIndex)), c(idx(s.RaftAppliedIndex)), c("-"))
		}
		t.add(row...)
	}
	if err := t.print(w, color); err != nil {
		return err
	}
	if len(st.Raft) == 0 {
		return nil
	}
	rt := &table{header: []string{"RAFT PEER", "ADDRESS", "VOTER", "LEADER"}}
	if st.Autopilot != nil {
		rt.header = append(rt.header, "HEALTHY", "LAST INDEX")
	}
	for _, s := range st.Raft {
		leader := c(yesNo(s.Leader))
		if s.Leader {
			leader.color = colGreen
		}
		row := []cell{c(s.NodeID), c(s.Address), c(yesNo(s.Voter)), leader}
		if st.Autopilot != nil {
			a, ok := st.Autopilot.Servers[s.NodeID]
			if ok {
				h := cc(yesNo(a.Healthy), colGreen)
				if !a.Healthy {
					h.color = colRed
				}
				row = append(row, h, c(idx(a.LastIndex)))
			} else {
				row = append(row, c("-"), c("-"))
			}
		}
		rt.add(row...)
	}
	if _, err := w.Write([]byte("\n")); err != nil {
		return err
	}
	return rt.print(w, color)
}

func idx(n uint64) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatUint(n, 10)
}
