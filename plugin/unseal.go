package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/vaultkube/vaultkube/plugin/internal/poll"
)

// UnsealOptions are the options of `kubectl vault unseal`.
type UnsealOptions struct {
	genericiooptions.IOStreams
	g *Globals

	Pods       []string
	KeysFile   string
	KeysSecret string
	Migrate    bool
	Reset      bool
	Wait       time.Duration
	Poll       time.Duration

	cluster *Cluster
	// keys, when set, come from the caller (init --unseal) instead of the flags.
	keys *unsealKeys
	// readPassword reads one key without echo; tests replace it.
	readPassword func() (string, error)
}

// NewCmdUnseal returns `kubectl vault unseal`.
func NewCmdUnseal(g *Globals, streams genericiooptions.IOStreams) *cobra.Command {
	o := &UnsealOptions{IOStreams: streams, g: g}
	cmd := &cobra.Command{
		Use:   "unseal [POD...]",
		Short: "Unseal the sealed Vault pods (all by default)",
		Long: `Unseal the sealed Vault pods: every sealed pod by default, initialised pods first in
ordinal order (vault-0, the raft leader after bootstrap), then pods that still have to join
the raft cluster. Keys come from --keys-file (Vault's init JSON or one key per line, - for
stdin), from --keys-secret, or from a prompt that does not echo; they are asked once and
reused for every pod, and each pod gets only as many keys as its threshold needs.

Each key is sent on the exec's stdin (vault write sys/unseal - with a JSON body), never in
its arguments.
An unseal that someone else has in progress is continued, not reset, unless --reset.
Exits 2 when a pod is still sealed afterwards.`,
		Example: `  kubectl vault unseal --keys-file vault-init.json
  kubectl vault unseal 1 2 --keys-file - < keys.txt
  kubectl vault unseal --keys-secret vault-init`,
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
	o.addFlags(cmd)
	return cmd
}

func (o *UnsealOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.KeysFile, "keys-file", "", "file with the unseal keys: Vault's init JSON or one key per line; - reads stdin")
	cmd.Flags().StringVar(&o.KeysSecret, "keys-secret", "", "Secret (in the namespace) holding "+InitSecretKey+" from `kubectl vault init --keys-secret`")
	cmd.Flags().BoolVar(&o.Migrate, "migrate", false, "unseal with seal migration (sys/unseal migrate)")
	cmd.Flags().BoolVar(&o.Reset, "reset", false, "discard an unseal in progress on each pod before sending keys")
	cmd.Flags().DurationVar(&o.Wait, "wait", 60*time.Second, "how long to wait for a pod that joins the raft cluster to report unsealed")
	cmd.Flags().DurationVar(&o.Poll, "poll-interval", time.Second, "how often to poll a joining pod's status")
	_ = cmd.Flags().MarkHidden("poll-interval")
}

// Complete fills the options.
func (o *UnsealOptions) Complete(_ *cobra.Command, args []string) error {
	o.Pods = args
	if o.readPassword == nil {
		o.readPassword = o.promptNoEcho
	}
	var err error
	o.cluster, err = o.g.Cluster()
	return err
}

// Validate checks the options.
func (o *UnsealOptions) Validate() error {
	if err := o.g.validate(o.IOStreams); err != nil {
		return err
	}
	if o.KeysFile != "" && o.KeysSecret != "" {
		return fmt.Errorf("--keys-file and --keys-secret are mutually exclusive")
	}
	return nil
}

// Run unseals the pods.
func (o *UnsealOptions) Run(ctx context.Context) error {
	// All pods are queried (the threshold and "initialised" come from the whole cluster);
	// only the named ones, if any, are unsealed.
	pods, err := listPods(ctx, o.g, o.cluster, nil)
	if err != nil {
		return err
	}
	var only map[string]bool
	if len(o.Pods) > 0 {
		named, err := listPods(ctx, o.g, o.cluster, o.Pods)
		if err != nil {
			return err
		}
		only = map[string]bool{}
		for _, p := range named {
			only[p.Name] = true
		}
	}
	sts := queryPods(ctx, o.g, o.cluster, pods)
	targets, threshold, err := unsealTargets(sts, only)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		fmt.Fprintln(o.ErrOut, "Every pod is unsealed; nothing to do.")
		return nil
	}
	keys, err := o.loadKeys(ctx, threshold)
	if err != nil {
		return err
	}
	if keys.Threshold > 0 && threshold == 0 {
		threshold = keys.Threshold
	}
	u := &unsealer{v: &vaultCLI{exec: o.cluster.Exec, g: o.g}, g: o.g, log: o.ErrOut, keys: keys.Keys, threshold: threshold,
		migrate: o.Migrate, reset: o.Reset, wait: o.Wait, poll: o.Poll}
	var stillSealed []string
	for _, t := range targets {
		if err := u.unsealPod(ctx, t.Pod, t.Vault); err != nil {
			var ce *CodedError
			if errors.As(err, &ce) && ce.Code == ExitNotReady {
				return err
			}
			if errors.Is(err, ErrWrongKey) {
				return err
			}
			fmt.Fprintf(o.ErrOut, "Warning: %v\n", err)
			stillSealed = append(stillSealed, t.Pod)
		}
	}
	if only == nil {
		for _, p := range sts {
			if p.Vault == nil {
				fmt.Fprintf(o.ErrOut, "Warning: pod %s was not unsealed: %s\n", p.Pod, p.Error)
				stillSealed = append(stillSealed, p.Pod)
			}
		}
	}
	if len(stillSealed) > 0 {
		return &CodedError{Code: ExitNotReady, Err: fmt.Errorf("%s still sealed: run `kubectl vault status` and `kubectl logs %s -c %s`", plural(stillSealed, "is", "are"), stillSealed[0], o.g.Container)}
	}
	return nil
}

// unsealTargets picks the pods to unseal in order: initialised sealed pods first (ordinal
// order), then uninitialised pods that will join the raft cluster when unsealed. threshold
// is the cluster's (0 if no pod knows it).
func unsealTargets(sts []PodStatus, only map[string]bool) ([]PodStatus, int, error) {
	var first, joiners []PodStatus
	threshold := 0
	anyInit := false
	for _, p := range sts {
		if only != nil && !only[p.Pod] {
			if p.Vault != nil && p.Vault.Initialized {
				anyInit = true
				threshold = max(threshold, p.Vault.T)
			}
			continue
		}
		if p.Vault == nil {
			if only != nil {
				return nil, 0, fmt.Errorf("pod %s: %s", p.Pod, p.Error)
			}
			continue
		}
		if p.Vault.Initialized {
			anyInit = true
			if p.Vault.T > threshold {
				threshold = p.Vault.T
			}
		}
		switch {
		case !p.Vault.Sealed:
		case p.Vault.Initialized:
			first = append(first, p)
		default:
			joiners = append(joiners, p)
		}
	}
	if !anyInit && len(joiners) > 0 {
		return nil, 0, &CodedError{Code: ExitNotReady, Err: fmt.Errorf("vault is not initialised: run `kubectl vault init --keys-out FILE` first")}
	}
	return append(first, joiners...), threshold, nil
}

// loadKeys reads the keys from the flags, the Secret or a no-echo prompt.
func (o *UnsealOptions) loadKeys(ctx context.Context, threshold int) (*unsealKeys, error) {
	switch {
	case o.keys != nil:
		return o.keys, nil
	case o.KeysFile != "":
		return readKeysFile(o.KeysFile, o.In, o.ErrOut)
	case o.KeysSecret != "":
		data, err := o.cluster.Secrets.GetSecret(ctx, o.KeysSecret)
		if err != nil {
			return nil, fmt.Errorf("read --keys-secret %s: %w", o.KeysSecret, err)
		}
		b, ok := data[InitSecretKey]
		if !ok {
			return nil, fmt.Errorf("secret %s has no %s key", o.KeysSecret, InitSecretKey)
		}
		return parseKeys(b, "secret "+o.KeysSecret)
	}
	if threshold == 0 {
		threshold = 1
	}
	var keys []string
	for i := 0; i < threshold; i++ {
		fmt.Fprintf(o.ErrOut, "Unseal key %d of %d (not echoed): ", i+1, threshold)
		k, err := o.readPassword()
		fmt.Fprintln(o.ErrOut)
		if err != nil {
			return nil, err
		}
		k = strings.TrimSpace(k)
		if !validKey(k) {
			return nil, fmt.Errorf("unseal key %d is not a base64 or hex key", i+1)
		}
		keys = append(keys, k)
	}
	return &unsealKeys{Keys: dedupe(keys), Threshold: threshold, Source: "prompt"}, nil
}

// promptNoEcho reads a key from the terminal without echo; it refuses a non-terminal stdin.
func (o *UnsealOptions) promptNoEcho() (string, error) {
	f, ok := o.In.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", fmt.Errorf("no unseal keys: pass --keys-file FILE (- for stdin) or --keys-secret NAME, or run in a terminal to be prompted")
	}
	b, err := term.ReadPassword(int(f.Fd()))
	return string(b), err
}

// unsealer sends keys to pods one at a time, stopping at the threshold.
type unsealer struct {
	v         *vaultCLI
	g         *Globals
	log       io.Writer
	keys      []string
	threshold int
	migrate   bool
	reset     bool
	wait      time.Duration
	poll      time.Duration
}

func (u *unsealer) unsealPod(ctx context.Context, pod string, st *SealStatus) error {
	if st.Progress > 0 {
		if u.reset {
			fmt.Fprintf(u.log, "%s: discarding the unseal in progress (%d/%d)\n", pod, st.Progress, st.T)
			s, err := u.v.unsealReset(ctx, pod)
			if err != nil {
				return err
			}
			st = s
		} else {
			fmt.Fprintf(u.log, "%s: continuing an unseal in progress (%d/%d); --reset discards it\n", pod, st.Progress, st.T)
		}
	}
	t := st.T
	if t == 0 {
		t = u.threshold
	}
	need := t - st.Progress
	if t > 0 && need > len(u.keys) {
		return &CodedError{Code: ExitNotReady, Err: fmt.Errorf("pod %s needs %d more unseal keys (threshold %d) but %d were given: supply at least %d keys", pod, need, t, len(u.keys), t)}
	}
	sent := 0
	joiner := !st.Initialized
	for _, key := range u.keys {
		s, err := u.v.unsealOnce(ctx, pod, key, u.migrate)
		if err != nil && joiner && sent == 0 && isNotInitialised(err) {
			// A raft joiner takes unseal keys only once its retry_join has fetched the
			// leader's challenge (it retries every 2s): keep offering the first key.
			fmt.Fprintf(u.log, "%s: waiting for it to reach the raft leader (retry_join)\n", pod)
			werr := poll.Until(ctx, u.wait, u.pollInterval(), func() (bool, error) {
				s, err = u.v.unsealOnce(ctx, pod, key, u.migrate)
				return err == nil || !isNotInitialised(err), nil
			})
			if werr != nil {
				// not a CodedError: the other pods are still tried; the run exits 2 at the end
				return fmt.Errorf("pod %s did not reach the raft leader within %s: check its retry_join and `kubectl logs %s -c %s`", pod, u.wait, pod, u.g.Container)
			}
		}
		if err != nil {
			if ue := (*unsealError)(nil); errors.As(err, &ue) && strings.Contains(ue.msg, "already been provided") {
				continue // someone else's unseal in progress used this key already
			}
			return classifyUnsealError(pod, err)
		}
		sent++
		if !s.Sealed {
			fmt.Fprintf(u.log, "%s: unsealed\n", pod)
			return nil
		}
		if s.Progress > 0 {
			fmt.Fprintf(u.log, "%s: key accepted (%d/%d)\n", pod, s.Progress, s.T)
			continue
		}
		if s.T > 0 && t == 0 {
			t = s.T
		}
		// progress 0 and still sealed after a key: either the threshold was reached and the
		// node is joining raft (it unseals a moment later), or the share count was reset.
		if sent >= t {
			return u.waitUnsealed(ctx, pod)
		}
	}
	return &CodedError{Code: ExitNotReady, Err: fmt.Errorf("pod %s is still sealed after %d keys: give at least %d distinct keys of this cluster", pod, sent, t)}
}

// waitUnsealed polls `vault status` until the pod reports unsealed (raft joiners answer the
// last key with sealed=true, progress=0 and unseal shortly after).
func (u *unsealer) waitUnsealed(ctx context.Context, pod string) error {
	fmt.Fprintf(u.log, "%s: all keys given, waiting for it to join and unseal\n", pod)
	err := poll.Until(ctx, u.wait, u.pollInterval(), func() (bool, error) {
		s, err := u.v.status(ctx, pod)
		if err != nil {
			return false, nil // the pod may restart while it joins
		}
		return !s.Sealed, nil
	})
	if err != nil {
		return fmt.Errorf("pod %s is still sealed %s after its last key: check `kubectl logs %s -c %s` (retry_join, raft TLS)", pod, u.wait, pod, u.g.Container)
	}
	fmt.Fprintf(u.log, "%s: unsealed\n", pod)
	return nil
}

func (u *unsealer) pollInterval() time.Duration {
	if u.poll == 0 {
		return time.Second
	}
	return u.poll
}

func isNotInitialised(err error) bool {
	var ue *unsealError
	return errors.As(err, &ue) && strings.Contains(ue.msg, "not initialized")
}
