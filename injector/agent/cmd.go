package agent

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

// NewCmdAgent returns `vaultkube agent` and its subcommands, wired to the process's
// standard streams.
func NewCmdAgent() *cobra.Command {
	return NewCmdAgentWithStreams(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
}

// NewCmdAgentWithStreams is NewCmdAgent with the streams given (tests capture them).
func NewCmdAgentWithStreams(streams genericiooptions.IOStreams) *cobra.Command {
	o := &RunOptions{IOStreams: streams, Tuning: DefaultTuning()}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Log in to Vault and render secrets (init or sidecar mode, from " + agentconfig.EnvVar + ")",
		Long: "Log in to Vault and render secrets into files, configured by the JSON in " + agentconfig.EnvVar + ".\n" +
			"Mode init renders once and exits; mode sidecar renders, touches the ready file, keeps the\n" +
			"token and leases renewed and re-renders on change until SIGTERM.",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return o.Run(ctx)
		},
	}
	cmd.AddCommand(newCmdProbe(streams), newCmdInstall(streams),
		newCmdExec(&ExecOptions{IOStreams: streams, Tuning: DefaultTuning(), Exit: os.Exit}))
	return cmd
}

// RunOptions runs `vaultkube agent`.
type RunOptions struct {
	genericiooptions.IOStreams
	Config *agentconfig.Config
	Tuning Tuning
}

// Complete loads the configuration from the environment unless it is already set.
func (o *RunOptions) Complete() error {
	if o.Config != nil {
		return nil
	}
	c, err := agentconfig.Load()
	if err != nil {
		return err
	}
	o.Config = c
	return nil
}

// Validate checks what the agent needs beyond agentconfig's own validation.
func (o *RunOptions) Validate() error {
	if err := o.Config.Validate(); err != nil {
		return err
	}
	_, err := buildTemplates(o.Config.Templates, o.Config.Mode == "exec")
	return err
}

// Run runs the agent until it is done (init) or ctx ends (sidecar).
func (o *RunOptions) Run(ctx context.Context) error {
	return runAgent(ctx, o.Config, o.ErrOut, o.Out, o.ErrOut, o.Tuning)
}

// ProbeOptions runs `vaultkube agent probe`.
type ProbeOptions struct {
	genericiooptions.IOStreams
	ReadyFile string
}

func newCmdProbe(streams genericiooptions.IOStreams) *cobra.Command {
	o := &ProbeOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:           "probe",
		Short:         "Exit 0 iff the first render is complete (the ready file exists): a startup probe without a shell",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(*cobra.Command, []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVar(&o.ReadyFile, "ready-file", "", "file to check (default: readyFile of "+agentconfig.EnvVar+")")
	return cmd
}

// Complete takes the ready file from the configuration unless --ready-file is given.
func (o *ProbeOptions) Complete() error {
	if o.ReadyFile != "" {
		return nil
	}
	c, err := agentconfig.Load()
	if err != nil {
		return err
	}
	o.ReadyFile = c.ReadyFile
	return nil
}

// Run checks the ready file.
func (o *ProbeOptions) Run() error {
	return probe(o.ReadyFile)
}

// InstallOptions runs `vaultkube agent install DIR`.
type InstallOptions struct {
	genericiooptions.IOStreams
	Dir string
	// Self is the executable to copy; empty means os.Executable().
	Self string
}

func newCmdInstall(streams genericiooptions.IOStreams) *cobra.Command {
	o := &InstallOptions{IOStreams: streams}
	return &cobra.Command{
		Use:           "install DIR",
		Short:         "Copy this executable to DIR/vaultkube (mode 0755), for `agent exec` in the app container",
		Args:          cobra.ExactArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			return o.Run()
		},
	}
}

// Complete resolves the directory and the executable.
func (o *InstallOptions) Complete(args []string) error {
	o.Dir = args[0]
	if o.Self != "" {
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	o.Self = self
	return nil
}

// Run copies the executable.
func (o *InstallOptions) Run() error {
	dst, err := installBinary(o.Self, o.Dir)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.Out, "installed", dst)
	return nil
}

// ExecOptions runs `vaultkube agent exec -- COMMAND [ARGS...]`.
type ExecOptions struct {
	genericiooptions.IOStreams
	Config  *agentconfig.Config
	Command []string
	Tuning  Tuning
	// Exit ends the process with the child's exit code (os.Exit; tests replace it).
	Exit func(int)
}

func newCmdExec(o *ExecOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exec -- COMMAND [ARGS...]",
		Short: "Start COMMAND with the secrets in its environment (env mode); signals forwarded, exit code passed through",
		Long: "Log in, read the secrets of " + agentconfig.EnvVar + " into memory and start COMMAND with each key K\n" +
			"of each secret as the variable PREFIX+K (upper-cased, other characters replaced by _).\n" +
			"Signals are forwarded to COMMAND and its exit code is the agent's. Nothing is written to disk.",
		Args:          cobra.MinimumNArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			code, err := o.Run()
			if err != nil {
				return err
			}
			if code != 0 {
				o.Exit(code)
			}
			return nil
		},
	}
	// Everything after COMMAND is COMMAND's, flags included.
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// Complete loads the configuration and takes the command.
func (o *ExecOptions) Complete(args []string) error {
	o.Command = args
	if o.Config != nil {
		return nil
	}
	c, err := agentconfig.Load()
	if err != nil {
		return err
	}
	o.Config = c
	return nil
}

// Validate checks the configuration and the templates for env mode.
func (o *ExecOptions) Validate() error {
	if len(o.Command) == 0 {
		return fmt.Errorf("exec needs a command: vaultkube agent exec -- COMMAND [ARGS...]")
	}
	if err := o.Config.Validate(); err != nil {
		return err
	}
	_, err := buildTemplates(o.Config.Templates, true)
	return err
}

// Run starts the command and returns its exit code.
func (o *ExecOptions) Run() (int, error) {
	return runExec(o.Config, o.Command, o.ErrOut, execIO{In: o.In, Out: o.Out, Err: o.ErrOut}, o.Tuning)
}
