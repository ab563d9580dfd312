package plugin

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// PortForwardOptions are the options of `kubectl vault port-forward`.
type PortForwardOptions struct {
	genericiooptions.IOStreams
	g *Globals

	Target     string // active, standby or a pod
	LocalPort  int
	RemotePort int
	Interval   time.Duration

	cluster *Cluster
}

// NewCmdPortForward returns `kubectl vault port-forward`.
func NewCmdPortForward(g *Globals, streams genericiooptions.IOStreams) *cobra.Command {
	o := &PortForwardOptions{IOStreams: streams, g: g}
	cmd := &cobra.Command{
		Use:   "port-forward [active|standby|POD] [LOCAL_PORT]",
		Short: "Forward a local port to the active Vault pod and follow failovers",
		Long: `Forward 127.0.0.1:LOCAL_PORT to Vault's API port in the active pod (by default), a standby,
or a given pod, and print the export lines for the Vault CLI on stdout:

  eval "$(kubectl vault port-forward &)"   # or copy the export lines

For active and standby, the target is checked every --interval and the forward moves to the
new pod after a failover; a lost connection is re-established. A free port is chosen when
LOCAL_PORT is not given.`,
		Example: `  kubectl vault port-forward
  kubectl vault port-forward standby 18200
  kubectl vault port-forward vault-2`,
		Args: cobra.MaximumNArgs(2),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return append([]string{"active", "standby"}, podCompletions(cmd.Context(), g, nil, toComplete)...), cobra.ShellCompDirectiveNoFileComp
		},
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
	cmd.Flags().IntVar(&o.RemotePort, "remote-port", 8200, "Vault's API port in the pod")
	cmd.Flags().DurationVar(&o.Interval, "interval", 5*time.Second, "how often to check which pod is active")
	return cmd
}

// Complete fills the options.
func (o *PortForwardOptions) Complete(_ *cobra.Command, args []string) error {
	o.Target = "active"
	if len(args) > 0 {
		o.Target = args[0]
	}
	if len(args) > 1 {
		p, err := strconv.Atoi(args[1])
		if err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("LOCAL_PORT %q is not a port number", args[1])
		}
		o.LocalPort = p
	}
	var err error
	o.cluster, err = o.g.Cluster()
	return err
}

// Validate checks the options.
func (o *PortForwardOptions) Validate() error {
	if err := o.g.validate(o.IOStreams); err != nil {
		return err
	}
	if o.Interval <= 0 {
		return fmt.Errorf("--interval must be positive")
	}
	return nil
}

// pick returns the pod the target names now and the scheme of its VAULT_ADDR.
func (o *PortForwardOptions) pick(ctx context.Context) (pod, scheme string, err error) {
	pods, err := listPods(ctx, o.g, o.cluster, nil)
	if err != nil {
		return "", "", err
	}
	scheme = "http"
	schemeOf := func(name string) string {
		for i := range pods {
			if pods[i].Name == name {
				if u, err := url.Parse(containerEnv(&pods[i], o.g.Container, "VAULT_ADDR")); err == nil && u.Scheme == "https" {
					return "https"
				}
			}
		}
		return "http"
	}
	switch o.Target {
	case "active", "standby":
		sts := queryPods(ctx, o.g, o.cluster, pods)
		for _, s := range sts {
			if s.Vault == nil {
				continue
			}
			role := s.Vault.HARole()
			if role == o.Target || (o.Target == "standby" && role == "perf-standby") {
				return s.Pod, schemeOf(s.Pod), nil
			}
		}
		if a := activePod(sts); a != nil && o.Target == "active" {
			return a.Pod, schemeOf(a.Pod), nil
		}
		return "", scheme, &CodedError{Code: ExitNotReady, Err: fmt.Errorf("no %s Vault pod: run `kubectl vault status`", o.Target)}
	}
	p, err := resolvePod(pods, o.Target)
	if err != nil {
		return "", "", err
	}
	return p.Name, schemeOf(p.Name), nil
}

// Run forwards until interrupted.
func (o *PortForwardOptions) Run(ctx context.Context) error {
	pod, scheme, err := o.pick(ctx)
	if err != nil {
		return err
	}
	if o.LocalPort == 0 {
		if o.LocalPort, err = freePort(); err != nil {
			return err
		}
	}
	var printed, everReady atomic.Bool
	for ctx.Err() == nil {
		fctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		cur := pod
		go func() {
			done <- o.cluster.Forwarder.Forward(fctx, cur, o.LocalPort, o.RemotePort, func() {
				everReady.Store(true)
				if !printed.Swap(true) {
					fmt.Fprintf(o.Out, "export VAULT_ADDR=%s://127.0.0.1:%d\n", scheme, o.LocalPort)
					if scheme == "https" {
						o.printTLSExports(ctx, cur)
					}
				}
				fmt.Fprintf(o.ErrOut, "Forwarding 127.0.0.1:%d -> %s:%d (%s). Ctrl-C to stop.\n", o.LocalPort, cur, o.RemotePort, o.Target)
			})
		}()
		tick := time.NewTicker(o.Interval)
	watch:
		for {
			select {
			case <-ctx.Done():
				cancel()
				<-done
				tick.Stop()
				return nil
			case err := <-done:
				tick.Stop()
				cancel()
				if ctx.Err() != nil {
					return nil
				}
				if !everReady.Load() {
					// It never listened (port in use, no pods/portforward permission): say so.
					return fmt.Errorf("port-forward to pod %s: %w", cur, err)
				}
				fmt.Fprintf(o.ErrOut, "Lost the forward to %s: %v; reconnecting.\n", cur, err)
				select { // do not spin on a forward that fails at once
				case <-ctx.Done():
					return nil
				case <-time.After(o.Interval):
				}
				break watch
			case <-tick.C:
				if o.Target != "active" && o.Target != "standby" {
					continue
				}
				p, _, err := o.pick(ctx)
				if err != nil || p == cur {
					continue
				}
				fmt.Fprintf(o.ErrOut, "The %s pod is now %s (was %s): moving the forward.\n", o.Target, p, cur)
				cancel()
				<-done
				break watch
			}
		}
		tick.Stop()
		cancel()
		// Re-pick after a loss or failover; wait while there is no target.
		for ctx.Err() == nil {
			p, s, err := o.pick(ctx)
			if err == nil {
				pod, scheme = p, s
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(o.Interval):
			}
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// printTLSExports prints VAULT_TLS_SERVER_NAME and VAULT_CACERT for a TLS Vault: the server
// name from --vault-tls-server-name or the host of the container's VAULT_ADDR (when it is a
// name), and a local copy of the CA that the container trusts (--vault-ca-cert or the
// container's VAULT_CACERT; a CA certificate is public).
func (o *PortForwardOptions) printTLSExports(ctx context.Context, pod string) {
	pods, err := listPods(ctx, o.g, o.cluster, []string{pod})
	if err != nil {
		return
	}
	name := o.g.TLSServerName
	if name == "" {
		if u, err := url.Parse(containerEnv(&pods[0], o.g.Container, "VAULT_ADDR")); err == nil && net.ParseIP(u.Hostname()) == nil {
			name = u.Hostname()
		}
	}
	if name != "" {
		fmt.Fprintf(o.Out, "export VAULT_TLS_SERVER_NAME=%s\n", name)
	} else {
		fmt.Fprintln(o.Out, "# set VAULT_TLS_SERVER_NAME to a name in Vault's certificate (or pass --vault-tls-server-name)")
	}
	caPath := o.g.CACert
	if caPath == "" {
		caPath = containerEnv(&pods[0], o.g.Container, "VAULT_CACERT")
	}
	if caPath == "" {
		fmt.Fprintln(o.Out, "# set VAULT_CACERT to the CA that signed Vault's certificate (or pass --vault-ca-cert)")
		return
	}
	var ca, errb strings.Builder
	if err := o.cluster.Exec.Exec(ctx, pod, []string{"cat", caPath}, nil, &ca, &errb); err != nil || !strings.Contains(ca.String(), "BEGIN CERTIFICATE") {
		fmt.Fprintf(o.ErrOut, "Warning: could not read the CA %s in pod %s: %v %s\n", caPath, pod, err, strings.TrimSpace(errb.String()))
		return
	}
	f, err := os.CreateTemp("", "kubectl-vault-ca-*.pem")
	if err != nil {
		return
	}
	_, werr := f.WriteString(ca.String())
	if cerr := f.Close(); werr != nil || cerr != nil {
		return
	}
	fmt.Fprintf(o.Out, "export VAULT_CACERT=%s\n", f.Name())
}
