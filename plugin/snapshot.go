package plugin

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/vaultkube/vaultkube/plugin/internal/poll"
	"github.com/vaultkube/vaultkube/plugin/internal/snapfile"
)

// NewCmdSnapshot returns `kubectl vault snapshot save|restore`.
func NewCmdSnapshot(g *Globals, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Save or restore a raft snapshot through the active pod",
	}
	cmd.AddCommand(newCmdSnapshotSave(g, streams), newCmdSnapshotRestore(g, streams))
	return cmd
}

// SnapshotSaveOptions are the options of `kubectl vault snapshot save`.
type SnapshotSaveOptions struct {
	genericiooptions.IOStreams
	g *Globals

	File string

	cluster *Cluster
	token   string
}

func newCmdSnapshotSave(g *Globals, streams genericiooptions.IOStreams) *cobra.Command {
	o := &SnapshotSaveOptions{IOStreams: streams, g: g}
	return &cobra.Command{
		Use:   "save FILE|-",
		Short: "Save a raft snapshot of Vault to FILE (- for stdout)",
		Long: `Save a raft snapshot from the active pod. Vault writes it to a file on the data volume
(` + "`vault operator raft snapshot save`" + ` cannot write to stdout and fails on a standby), which is
streamed out over exec, checked against sha256sum inside the pod, and removed. FILE is created
0600 and never overwritten; FILE.sha256 is written beside it and checked by restore.
Needs a token (--vault-token-file) allowed to read sys/storage/raft/snapshot.`,
		Example: `  kubectl vault snapshot save vault.snap --vault-token-file ~/.vault-token
  kubectl vault snapshot save - --vault-token-file t | gzip > vault.snap.gz`,
		Args: cobra.ExactArgs(1),
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
}

// Complete fills the options.
func (o *SnapshotSaveOptions) Complete(_ *cobra.Command, args []string) error {
	o.File = args[0]
	var err error
	if o.token, err = o.g.requireToken("snapshot save"); err != nil {
		return err
	}
	o.cluster, err = o.g.Cluster()
	return err
}

// Validate checks the options.
func (o *SnapshotSaveOptions) Validate() error {
	if err := o.g.validate(o.IOStreams); err != nil {
		return err
	}
	if o.File == "-" {
		if f, ok := o.Out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return fmt.Errorf("refusing to write a binary snapshot to a terminal: redirect stdout or name a FILE")
		}
	} else {
		if _, err := os.Lstat(o.File); err == nil {
			return &CodedError{Code: ExitRefused, Err: fmt.Errorf("%s exists: snapshots are never overwritten, choose a new file", o.File)}
		}
	}
	return nil
}

// Run saves the snapshot.
func (o *SnapshotSaveOptions) Run(ctx context.Context) error {
	act, err := raftActivePod(ctx, o.g, o.cluster, "snapshot save")
	if err != nil {
		return err
	}
	v := &vaultCLI{exec: o.cluster.Exec, g: o.g}
	remote := remoteTemp(o.g, "snapshot")
	defer removeInPod(ctx, o.cluster.Exec, act.Pod, remote)

	fmt.Fprintf(o.ErrOut, "Taking a snapshot on active pod %s...\n", act.Pod)
	res, err := v.run(ctx, act.Pod, vaultCall{Sub: []string{"operator", "raft", "snapshot", "save"}, Args: []string{remote}, Token: o.token})
	if err != nil {
		return err
	}
	if res.Code != 0 {
		return snapshotError("save", act.Pod, vaultError(res))
	}

	var w io.Writer = o.Out
	var f *os.File
	partial := o.File + ".partial"
	if o.File != "-" {
		f, err = os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("create %s: %w", partial, err)
		}
		defer func() {
			if f != nil {
				f.Close()
				os.Remove(partial)
			}
		}()
		w = f
	}
	// An exec stream can end early without an error (kubernetes/kubernetes#124571): the
	// checksum in the pod catches it, and a file destination is streamed again.
	var sum string
	var cw *countWriter
	for attempt := 1; ; attempt++ {
		h := sha256.New()
		cw = &countWriter{w: io.MultiWriter(w, h)}
		var stderr strings.Builder
		err := o.cluster.Exec.Exec(ctx, act.Pod, []string{"cat", remote}, nil, cw, &stderr)
		if err != nil {
			err = fmt.Errorf("stream the snapshot out of pod %s: %w %s", act.Pod, err, strings.TrimSpace(stderr.String()))
		} else {
			sum = hex.EncodeToString(h.Sum(nil))
			podSum, perr := sha256InPod(ctx, o.cluster.Exec, act.Pod, remote)
			if perr != nil {
				return perr
			}
			if podSum == sum {
				break
			}
			err = fmt.Errorf("the snapshot was damaged in transit from pod %s (sha256 %s in the pod, %s here): try again", act.Pod, podSum, sum)
		}
		if f == nil || attempt == transferAttempts || ctx.Err() != nil {
			return err
		}
		fmt.Fprintf(o.ErrOut, "Warning: %v; streaming it again (attempt %d of %d).\n", err, attempt+1, transferAttempts)
		if _, serr := f.Seek(0, io.SeekStart); serr != nil {
			return serr
		}
		if terr := f.Truncate(0); terr != nil {
			return terr
		}
	}
	if f != nil {
		if err := f.Sync(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Link(partial, o.File); err != nil { // link, not rename: never overwrite
			return fmt.Errorf("save %s: %w", o.File, err)
		}
		os.Remove(partial)
		f = nil
		if err := snapfile.WriteChecksum(o.File, sum); err != nil {
			return err
		}
		fmt.Fprintf(o.ErrOut, "Snapshot of cluster %s (%d bytes, sha256 %s) saved to %s and %s.sha256.\n", dash(act.Vault.ClusterName), cw.n, sum, o.File, o.File)
		return nil
	}
	fmt.Fprintf(o.ErrOut, "Snapshot of cluster %s written to stdout: %d bytes, sha256 %s.\n", dash(act.Vault.ClusterName), cw.n, sum)
	return nil
}

// SnapshotRestoreOptions are the options of `kubectl vault snapshot restore`.
type SnapshotRestoreOptions struct {
	genericiooptions.IOStreams
	g *Globals

	File       string
	Force      bool
	Yes        bool
	NoChecksum bool
	Wait       time.Duration
	poll       time.Duration

	cluster *Cluster
	token   string
}

func newCmdSnapshotRestore(g *Globals, streams genericiooptions.IOStreams) *cobra.Command {
	o := &SnapshotRestoreOptions{IOStreams: streams, g: g}
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Restore a raft snapshot onto Vault through the active pod",
		Long: `Restore a raft snapshot onto Vault. FILE is first checked against FILE.sha256, then
streamed into the active pod's data volume and restored with
` + "`vault operator raft snapshot restore`" + `. The cluster about to be overwritten is shown and the
command asks before going on, unless --yes. A snapshot of another cluster needs --force;
Vault seals itself afterwards and must be unsealed with that cluster's keys.`,
		Example: `  kubectl vault snapshot restore vault.snap --vault-token-file ~/.vault-token
  kubectl vault snapshot restore other.snap --force --yes --vault-token-file t`,
		Args: cobra.ExactArgs(1),
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
	cmd.Flags().BoolVar(&o.Force, "force", false, "restore a snapshot of another cluster (its keys then unseal Vault)")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&o.NoChecksum, "no-checksum", false, "restore even without FILE.sha256 beside the snapshot")
	cmd.Flags().DurationVar(&o.Wait, "wait", 10*time.Second, "how long to watch the pod's seal state after the restore")
	return cmd
}

// Complete fills the options.
func (o *SnapshotRestoreOptions) Complete(_ *cobra.Command, args []string) error {
	o.File = args[0]
	var err error
	if o.token, err = o.g.requireToken("snapshot restore"); err != nil {
		return err
	}
	o.cluster, err = o.g.Cluster()
	return err
}

// Validate checks the file and its checksum before anything touches the cluster.
func (o *SnapshotRestoreOptions) Validate() error {
	if err := o.g.validate(o.IOStreams); err != nil {
		return err
	}
	return snapfile.Verify(o.File, o.NoChecksum, o.ErrOut)
}

// Run restores the snapshot.
func (o *SnapshotRestoreOptions) Run(ctx context.Context) error {
	act, err := raftActivePod(ctx, o.g, o.cluster, "snapshot restore")
	if err != nil {
		return err
	}
	v := &vaultCLI{exec: o.cluster.Exec, g: o.g}
	fi, err := os.Stat(o.File)
	if err != nil {
		return err
	}
	peers, perr := v.raftPeers(ctx, act.Pod, o.token)
	fmt.Fprintf(o.ErrOut, "About to restore %s (%d bytes, %s) onto Vault cluster %s (id %s, version %s) through active pod %s.\n",
		o.File, fi.Size(), fi.ModTime().UTC().Format(time.RFC3339), dash(act.Vault.ClusterName), dash(act.Vault.ClusterID), dash(act.Vault.Version), act.Pod)
	if perr == nil {
		ids := make([]string, 0, len(peers))
		for _, p := range peers {
			ids = append(ids, p.NodeID)
		}
		fmt.Fprintf(o.ErrOut, "Raft peers: %s.\n", strings.Join(ids, ", "))
	}
	fmt.Fprintln(o.ErrOut, "Every secret, policy and token of that cluster will be replaced by the snapshot's.")
	if !o.Yes {
		ok, err := confirm(o.In, o.ErrOut, "Restore? [y/N] ")
		if err != nil {
			return err
		}
		if !ok {
			return &CodedError{Code: ExitRefused, Err: fmt.Errorf("restore declined")}
		}
	}

	if err := checkWritableTmp(ctx, o.cluster.Exec, act.Pod, o.g.Container); err != nil {
		return err
	}
	remote := remoteTemp(o.g, "restore")
	defer removeInPod(ctx, o.cluster.Exec, act.Pod, remote)
	fmt.Fprintf(o.ErrOut, "Streaming the snapshot into pod %s...\n", act.Pod)
	if err := uploadVerified(ctx, o.cluster.Exec, act.Pod, remote, o.File, o.ErrOut); err != nil {
		return err
	}
	flags := []string{}
	if o.Force {
		flags = append(flags, "-force")
	}
	fmt.Fprintf(o.ErrOut, "Restoring on pod %s...\n", act.Pod)
	res, err := v.run(ctx, act.Pod, vaultCall{Sub: []string{"operator", "raft", "snapshot", "restore"}, Flags: flags, Args: []string{remote}, Token: o.token})
	if err != nil {
		return err
	}
	if res.Code != 0 {
		return snapshotError("restore", act.Pod, vaultError(res))
	}
	fmt.Fprintf(o.ErrOut, "Snapshot restored on pod %s.\n", act.Pod)
	if !o.Force {
		return nil
	}
	// A snapshot of another cluster brings its keyring: Vault seals itself within seconds.
	var sealed bool
	interval := o.poll
	if interval == 0 {
		interval = time.Second
	}
	_ = poll.Until(ctx, o.Wait, interval, func() (bool, error) {
		s, err := v.status(ctx, act.Pod)
		if err == nil && s.Sealed {
			sealed = true
			return true, nil
		}
		return false, nil
	})
	if sealed {
		return &CodedError{Code: ExitNotReady, Err: fmt.Errorf("pod %s sealed itself after the restore (the snapshot carries another cluster's keyring): unseal with that cluster's keys, `kubectl vault unseal --keys-file SOURCE_KEYS`", act.Pod)}
	}
	return nil
}

// tmpCheckScript succeeds when the container's temporary directory (as Vault's server process
// sees it) exists and is writable: a raft restore writes its temporary file there.
const tmpCheckScript = `d="${TMPDIR:-/tmp}"; [ -d "$d" ] && [ -w "$d" ]`

// checkWritableTmp refuses early what Vault would refuse late ("failed to create temp
// snapshot file"): the official image has no /tmp unless the chart mounts one.
func checkWritableTmp(ctx context.Context, ex Executor, pod, container string) error {
	var errb strings.Builder
	err := ex.Exec(ctx, pod, []string{"sh", "-c", tmpCheckScript}, nil, io.Discard, &errb)
	if err == nil {
		return nil
	}
	if code, ok := exitStatus(err); ok && code == 1 {
		return &CodedError{Code: ExitRefused, Err: fmt.Errorf("container %s of pod %s has no writable /tmp, which a raft restore needs: mount an emptyDir at /tmp (or set TMPDIR to a writable directory)", container, pod)}
	}
	return nil // no sh, or another failure: let Vault answer
}

// raftActivePod finds the active pod and checks that the storage is raft.
func raftActivePod(ctx context.Context, g *Globals, c *Cluster, what string) (*PodStatus, error) {
	pods, err := listPods(ctx, g, c, nil)
	if err != nil {
		return nil, err
	}
	sts := queryPods(ctx, g, c, pods)
	for _, p := range sts {
		if p.Vault != nil && p.Vault.StorageType != "" && p.Vault.StorageType != "raft" {
			return nil, &CodedError{Code: ExitRefused, Err: fmt.Errorf("%s needs integrated (raft) storage, but pod %s uses %q storage: use that storage's own backup", what, p.Pod, p.Vault.StorageType)}
		}
	}
	act := activePod(sts)
	if act == nil {
		for _, p := range sts {
			if p.Vault != nil && !p.Vault.Initialized {
				return nil, &CodedError{Code: ExitNotReady, Err: fmt.Errorf("vault is not initialised: run `kubectl vault init` first")}
			}
		}
		return nil, &CodedError{Code: ExitNotReady, Err: fmt.Errorf("%s needs an active Vault pod and there is none (sealed?): run `kubectl vault status`, then `kubectl vault unseal`", what)}
	}
	p := *act
	return &p, nil
}

// snapshotError turns Vault's snapshot errors into one sentence.
func snapshotError(op, pod, msg string) error {
	switch {
	case strings.Contains(msg, "permission denied"):
		return fmt.Errorf("snapshot %s on pod %s: permission denied: the token needs sys/storage/raft/snapshot (--vault-token-file)", op, pod)
	case strings.Contains(msg, "failed to create temp snapshot file"):
		return fmt.Errorf("snapshot %s on pod %s: Vault cannot create its temporary file: give the container a writable /tmp (an emptyDir)", op, pod)
	case strings.Contains(msg, "unable to read SHA256SUMS.sealed"):
		return fmt.Errorf("snapshot %s on pod %s failed (a standby answered?): retry once the active pod is stable", op, pod)
	case strings.Contains(msg, "could not verify hash file") || strings.Contains(msg, "snapshot-force"):
		return &CodedError{Code: ExitRefused, Err: fmt.Errorf("the snapshot belongs to another Vault cluster: restore refused (--force restores it; Vault then needs that cluster's unseal keys)")}
	}
	return fmt.Errorf("snapshot %s on pod %s: %s", op, pod, msg)
}

// remoteTemp is a fresh path on the data volume (the image may lack /tmp).
func remoteTemp(g *Globals, kind string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return path.Join(g.DataDir, ".kubectl-vault-"+kind+"-"+hex.EncodeToString(b)+".snap")
}

// transferAttempts is how often data is streamed through exec before a damaged transfer
// is an error; losses come in bursts, so the attempts are spaced by retryPause × attempt.
const transferAttempts = 5

var retryPause = 200 * time.Millisecond

// pauseBeforeRetry waits before attempt+1, or until ctx ends.
func pauseBeforeRetry(ctx context.Context, attempt int) {
	t := time.NewTimer(retryPause * time.Duration(attempt))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// uploadVerified streams a local file into the pod (see writeVerified).
func uploadVerified(ctx context.Context, ex Executor, pod, remote, file string, errOut io.Writer) error {
	open := func() (io.ReadCloser, error) { return os.Open(file) }
	return writeVerified(ctx, ex, pod, remote, filepath.Base(file), open, errOut)
}

// writeVerified streams what open gives into a new file in the pod and checks its sha256
// there. The API server's exec can lose or cut a command's stdin without an error
// (kubernetes/kubernetes#112834, #124571), so a damaged or failed transfer is streamed
// again, up to transferAttempts times; name is what the messages call the data.
func writeVerified(ctx context.Context, ex Executor, pod, remote, name string, open func() (io.ReadCloser, error), errOut io.Writer) error {
	for attempt := 1; ; attempt++ {
		err := writeOnce(ctx, ex, pod, remote, name, open)
		if err == nil || attempt == transferAttempts || ctx.Err() != nil {
			return err
		}
		fmt.Fprintf(errOut, "Warning: %v; streaming it again (attempt %d of %d).\n", err, attempt+1, transferAttempts)
		pauseBeforeRetry(ctx, attempt)
	}
}

func writeOnce(ctx context.Context, ex Executor, pod, remote, name string, open func() (io.ReadCloser, error)) error {
	r, err := open()
	if err != nil {
		return err
	}
	defer r.Close()
	h := sha256.New()
	if err := streamInPod(ctx, ex, pod, remote, io.TeeReader(r, h)); err != nil {
		return fmt.Errorf("stream %s into pod %s: %w", name, pod, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	podSum, err := sha256InPod(ctx, ex, pod, remote)
	if err != nil {
		return err
	}
	if podSum != sum {
		return fmt.Errorf("%s was damaged in transit to pod %s (sha256 %s in the pod, %s here)", name, pod, podSum, sum)
	}
	return nil
}

func removeInPod(ctx context.Context, ex Executor, pod, p string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_ = ex.Exec(ctx, pod, []string{"rm", "-f", p}, nil, io.Discard, io.Discard)
}

// sha256InPod runs sha256sum on a file inside the pod.
func sha256InPod(ctx context.Context, ex Executor, pod, p string) (string, error) {
	var out, errb strings.Builder
	if err := ex.Exec(ctx, pod, []string{"sha256sum", p}, nil, &out, &errb); err != nil {
		return "", fmt.Errorf("sha256sum in pod %s: %w %s", pod, err, strings.TrimSpace(errb.String()))
	}
	sum, _, _ := strings.Cut(strings.TrimSpace(out.String()), " ")
	if len(sum) != 64 {
		return "", fmt.Errorf("sha256sum in pod %s: unexpected output", pod)
	}
	return sum, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// confirm asks a yes/no question on in; anything but y/yes (or EOF) is no.
func confirm(in io.Reader, out io.Writer, question string) (bool, error) {
	fmt.Fprint(out, question)
	if in == nil {
		return false, nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && err != io.EOF {
		return false, err
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}
