package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// InitOptions are the options of `kubectl vault init`.
type InitOptions struct {
	genericiooptions.IOStreams
	g *Globals

	Pod               string
	KeyShares         int
	KeyThreshold      int
	PGPKeys           []string
	RootTokenPGPKey   string
	RecoveryShares    int
	RecoveryThreshold int
	RecoveryPGPKeys   []string
	KeysOut           string
	KeysSecret        string
	PrintKeys         bool
	Unseal            bool

	unseal  *UnsealOptions
	cluster *Cluster
}

// NewCmdInit returns `kubectl vault init`.
func NewCmdInit(g *Globals, streams genericiooptions.IOStreams) *cobra.Command {
	o := &InitOptions{IOStreams: streams, g: g}
	cmd := &cobra.Command{
		Use:   "init [POD]",
		Short: "Initialise Vault and keep its keys safe",
		Long: `Initialise Vault through the first pod (or POD). The unseal keys and root token go to
--keys-out FILE (Vault's init JSON, created 0600, never overwriting) and/or an opt-in Secret
(--keys-secret NAME); they are shown only with --print-keys. Every destination is checked
before init runs: an init whose keys cannot be written loses them forever.
An initialised Vault is refused (exit 3). --unseal continues into ` + "`kubectl vault unseal`" + `.

PGP keys (--pgp-keys, --root-token-pgp-key, --recovery-pgp-keys) are local files of
base64-encoded public keys, copied into the pod for init and removed afterwards.`,
		Example: `  kubectl vault init --keys-out vault-init.json --unseal
  kubectl vault init --key-shares 3 --key-threshold 2 --keys-secret vault-init
  kubectl vault init --recovery-shares 5 --recovery-threshold 3 --keys-out init.json   # auto-unseal`,
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
	f := cmd.Flags()
	f.IntVar(&o.KeyShares, "key-shares", 5, "number of unseal key shares (Shamir seal)")
	f.IntVar(&o.KeyThreshold, "key-threshold", 3, "number of shares needed to unseal (Shamir seal)")
	f.StringSliceVar(&o.PGPKeys, "pgp-keys", nil, "local files of PGP public keys to encrypt the unseal keys, one per share")
	f.StringVar(&o.RootTokenPGPKey, "root-token-pgp-key", "", "local file of a PGP public key to encrypt the root token")
	f.IntVar(&o.RecoveryShares, "recovery-shares", 0, "number of recovery key shares (auto-unseal seals)")
	f.IntVar(&o.RecoveryThreshold, "recovery-threshold", 0, "number of recovery shares needed (auto-unseal seals)")
	f.StringSliceVar(&o.RecoveryPGPKeys, "recovery-pgp-keys", nil, "local files of PGP public keys to encrypt the recovery keys")
	f.StringVar(&o.KeysOut, "keys-out", "", "write Vault's init JSON (keys and root token) to this new file, mode 0600")
	f.StringVar(&o.KeysSecret, "keys-secret", "", "also store the init JSON in this new Secret (key "+InitSecretKey+")")
	f.BoolVar(&o.PrintKeys, "print-keys", false, "print the init JSON (keys and root token) on stdout")
	f.BoolVar(&o.Unseal, "unseal", false, "unseal every pod with the new keys afterwards")
	o.unseal = &UnsealOptions{IOStreams: streams, g: g}
	f.DurationVar(&o.unseal.Wait, "wait", 60*time.Second, "with --unseal: how long to wait for joining pods to unseal")
	f.DurationVar(&o.unseal.Poll, "poll-interval", time.Second, "how often to poll a joining pod's status")
	_ = f.MarkHidden("poll-interval")
	return cmd
}

// Complete fills the options.
func (o *InitOptions) Complete(_ *cobra.Command, args []string) error {
	if len(args) == 1 {
		o.Pod = args[0]
	}
	var err error
	o.cluster, err = o.g.Cluster()
	return err
}

// Validate checks the options; it refuses an init whose keys would go nowhere.
func (o *InitOptions) Validate() error {
	if err := o.g.validate(o.IOStreams); err != nil {
		return err
	}
	if o.KeysOut == "-" {
		return fmt.Errorf("--keys-out names a file; use --print-keys to print the keys on stdout")
	}
	if o.KeysOut == "" && o.KeysSecret == "" && !o.PrintKeys {
		return &CodedError{Code: ExitRefused, Err: fmt.Errorf("init needs a place for the keys: --keys-out FILE, --keys-secret NAME or --print-keys")}
	}
	if o.KeyShares < 1 || o.KeyThreshold < 1 || o.KeyThreshold > o.KeyShares {
		return fmt.Errorf("--key-threshold (%d) must be between 1 and --key-shares (%d)", o.KeyThreshold, o.KeyShares)
	}
	if o.KeyShares > 1 && o.KeyThreshold == 1 {
		return fmt.Errorf("--key-threshold must be greater than 1 when --key-shares is %d", o.KeyShares)
	}
	if len(o.PGPKeys) > 0 && len(o.PGPKeys) != o.KeyShares {
		return fmt.Errorf("--pgp-keys names %d keys but --key-shares is %d: give one per share", len(o.PGPKeys), o.KeyShares)
	}
	if o.RecoveryThreshold > o.RecoveryShares {
		return fmt.Errorf("--recovery-threshold (%d) must not exceed --recovery-shares (%d)", o.RecoveryThreshold, o.RecoveryShares)
	}
	if len(o.RecoveryPGPKeys) > 0 && len(o.RecoveryPGPKeys) != o.RecoveryShares {
		return fmt.Errorf("--recovery-pgp-keys names %d keys but --recovery-shares is %d", len(o.RecoveryPGPKeys), o.RecoveryShares)
	}
	if o.Unseal && len(o.PGPKeys) > 0 {
		return fmt.Errorf("--unseal cannot use PGP-encrypted keys: decrypt them and run `kubectl vault unseal`")
	}
	for _, f := range append(append(append([]string{}, o.PGPKeys...), o.RecoveryPGPKeys...), o.RootTokenPGPKey) {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("PGP key file %s: %w", f, err)
		}
	}
	return nil
}

// Run initialises Vault.
func (o *InitOptions) Run(ctx context.Context) error {
	pods, err := listPods(ctx, o.g, o.cluster, nil)
	if err != nil {
		return err
	}
	sts := queryPods(ctx, o.g, o.cluster, pods)
	for _, p := range sts {
		if p.Vault != nil && p.Vault.Initialized {
			return &CodedError{Code: ExitRefused, Err: fmt.Errorf("vault is already initialised (pod %s): init refused; unseal it with `kubectl vault unseal`", p.Pod)}
		}
	}
	target := &sts[0]
	if o.Pod != "" {
		p, err := resolvePod(pods, o.Pod)
		if err != nil {
			return err
		}
		for i := range sts {
			if sts[i].Pod == p.Name {
				target = &sts[i]
			}
		}
	}
	if target.Vault == nil {
		return fmt.Errorf("pod %s: %s", target.Pod, target.Error)
	}
	shamir := target.Vault.Type == "" || target.Vault.Type == "shamir"
	if !shamir && len(o.PGPKeys) > 0 {
		return fmt.Errorf("pod %s uses the %s seal: use --recovery-pgp-keys, not --pgp-keys", target.Pod, target.Vault.Type)
	}

	// Every destination is checked, and the file created, before init runs.
	var out *os.File
	if o.KeysOut != "" {
		out, err = os.OpenFile(o.KeysOut, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				return &CodedError{Code: ExitRefused, Err: fmt.Errorf("--keys-out %s exists: it is never overwritten, choose a new file", o.KeysOut)}
			}
			return fmt.Errorf("--keys-out %s cannot be created, so init did not run: %w", o.KeysOut, err)
		}
	}
	cleanup := func() {
		if out != nil {
			out.Close()
			os.Remove(o.KeysOut)
			out = nil
		}
	}
	defer cleanup()
	if o.KeysSecret != "" {
		if chk, ok := o.cluster.Secrets.(interface {
			CanCreateSecret(context.Context, string) error
		}); ok {
			if err := chk.CanCreateSecret(ctx, o.KeysSecret); err != nil {
				return fmt.Errorf("--keys-secret %s cannot be created, so init did not run: %w", o.KeysSecret, err)
			}
		}
	}

	raw, err := o.init(ctx, target.Pod, shamir)
	if err != nil {
		return err // cleanup removes the empty --keys-out file
	}

	saved := 0
	var saveErrs []string
	if out != nil {
		_, werr := out.Write(raw)
		if werr == nil {
			werr = out.Sync()
		}
		if cerr := out.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			saveErrs = append(saveErrs, fmt.Sprintf("--keys-out %s: %v", o.KeysOut, werr))
		} else {
			saved++
			fmt.Fprintf(o.ErrOut, "Keys and root token written to %s (mode 0600).\n", o.KeysOut)
		}
		out = nil // keep the file
	}
	if o.KeysSecret != "" {
		if err := o.cluster.Secrets.CreateSecret(ctx, o.KeysSecret, map[string][]byte{InitSecretKey: raw}); err != nil {
			saveErrs = append(saveErrs, fmt.Sprintf("--keys-secret %s: %v", o.KeysSecret, err))
		} else {
			saved++
			fmt.Fprintf(o.ErrOut, "Keys and root token stored in Secret %s/%s (key %s).\n", o.cluster.Namespace, o.KeysSecret, InitSecretKey)
		}
	}
	if o.PrintKeys || saved == 0 {
		if !o.PrintKeys {
			fmt.Fprintln(o.ErrOut, "Warning: the keys could not be saved anywhere; printing them so they are not lost.")
		}
		if _, err := o.Out.Write(raw); err != nil {
			return err
		}
	}
	var ij initJSON
	if err := json.Unmarshal(raw, &ij); err != nil || ij.RootToken == "" {
		if !o.PrintKeys && saved > 0 {
			fmt.Fprintln(o.ErrOut, "Warning: Vault's init answer has an unexpected form; it was saved as is.")
		}
		return fmt.Errorf("vault init in pod %s: unexpected answer", target.Pod)
	}
	for _, e := range saveErrs {
		fmt.Fprintln(o.ErrOut, "Warning: could not save the keys to", e)
	}
	shares, threshold := o.KeyShares, o.KeyThreshold
	kind := "unseal"
	if !shamir {
		kind = "recovery"
		shares, threshold = ij.RecoveryShares, ij.RecoveryThresh
	}
	fmt.Fprintf(o.ErrOut, "Vault initialised through pod %s: %d %s key shares, threshold %d.\n", target.Pod, shares, kind, threshold)
	if len(saveErrs) > 0 {
		return fmt.Errorf("vault is initialised but %d key destinations failed (see warnings)", len(saveErrs))
	}
	if !shamir {
		fmt.Fprintf(o.ErrOut, "The %s seal unseals Vault by itself; keep the recovery keys safe.\n", target.Vault.Type)
		return nil
	}
	if !o.Unseal {
		switch {
		case o.KeysOut != "":
			fmt.Fprintf(o.ErrOut, "Next: `kubectl vault unseal --keys-file %s`\n", o.KeysOut)
		case o.KeysSecret != "":
			fmt.Fprintf(o.ErrOut, "Next: `kubectl vault unseal --keys-secret %s`\n", o.KeysSecret)
		default:
			fmt.Fprintln(o.ErrOut, "Next: `kubectl vault unseal` (it asks for the keys)")
		}
		return nil
	}
	keys, err := parseKeys(raw, "the init answer")
	if err != nil {
		return err
	}
	keys.Threshold = o.KeyThreshold
	u := o.unseal
	u.cluster, u.keys = o.cluster, keys
	return u.Run(ctx)
}

// init runs `vault operator init` in pod; PGP key files are copied into the pod first.
func (o *InitOptions) init(ctx context.Context, pod string, shamir bool) ([]byte, error) {
	v := &vaultCLI{exec: o.cluster.Exec, g: o.g}
	var flags []string
	var copied []string
	defer func() {
		for _, p := range copied {
			_ = o.cluster.Exec.Exec(context.WithoutCancel(ctx), pod, []string{"rm", "-f", p}, nil, nil, nil)
		}
	}()
	copyKeys := func(files []string, tag string) (string, error) {
		var paths []string
		for i, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return "", err
			}
			p := path.Join(o.g.DataDir, ".kubectl-vault-"+tag+"-"+strconv.Itoa(i)+".pgp")
			if err := writeInPod(ctx, o.cluster.Exec, pod, p, b, o.ErrOut); err != nil {
				return "", fmt.Errorf("copy PGP key %s into pod %s: %w", f, pod, err)
			}
			copied = append(copied, p)
			paths = append(paths, p)
		}
		return strings.Join(paths, ","), nil
	}
	if shamir {
		flags = append(flags, "-key-shares="+strconv.Itoa(o.KeyShares), "-key-threshold="+strconv.Itoa(o.KeyThreshold))
		if len(o.PGPKeys) > 0 {
			p, err := copyKeys(o.PGPKeys, "pgp")
			if err != nil {
				return nil, err
			}
			flags = append(flags, "-pgp-keys="+p)
		}
	}
	if o.RecoveryShares > 0 {
		flags = append(flags, "-recovery-shares="+strconv.Itoa(o.RecoveryShares), "-recovery-threshold="+strconv.Itoa(o.RecoveryThreshold))
	}
	if len(o.RecoveryPGPKeys) > 0 {
		p, err := copyKeys(o.RecoveryPGPKeys, "recovery-pgp")
		if err != nil {
			return nil, err
		}
		flags = append(flags, "-recovery-pgp-keys="+p)
	}
	if o.RootTokenPGPKey != "" {
		p, err := copyKeys([]string{o.RootTokenPGPKey}, "root-pgp")
		if err != nil {
			return nil, err
		}
		flags = append(flags, "-root-token-pgp-key="+p)
	}
	fmt.Fprintf(o.ErrOut, "Initialising Vault through pod %s...\n", pod)
	res, err := v.run(ctx, pod, vaultCall{Sub: []string{"operator", "init"}, Flags: flags})
	if err != nil {
		return nil, err
	}
	if res.Code != 0 {
		msg := vaultError(res)
		if strings.Contains(msg, "already initialized") {
			return nil, &CodedError{Code: ExitRefused, Err: fmt.Errorf("vault is already initialised (pod %s): init refused", pod)}
		}
		return nil, fmt.Errorf("vault operator init in pod %s: %s", pod, msg)
	}
	return res.Stdout, nil
}

// streamInPod streams r into a new file at p inside the pod (mode 0600), with a constant
// script and the path as a positional parameter: no data is spliced into a shell string.
// The stream can arrive short without an error: writeInPod checks it.
func streamInPod(ctx context.Context, ex Executor, pod, p string, r io.Reader) error {
	var stderr strings.Builder
	err := ex.Exec(ctx, pod, []string{"sh", "-c", `umask 077 && cat > "$0"`, p}, r, nil, &stderr)
	if err != nil {
		if s := strings.TrimSpace(stderr.String()); s != "" {
			return fmt.Errorf("%w: %s", err, s)
		}
	}
	return err
}

// writeInPod writes data into a new file at p inside the pod (mode 0600) and checks that
// it arrived whole (see writeVerified).
func writeInPod(ctx context.Context, ex Executor, pod, p string, data []byte, errOut io.Writer) error {
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	return writeVerified(ctx, ex, pod, p, path.Base(p), open, errOut)
}
