package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// tokenScript runs the Vault CLI with a token read from stdin.
//
// An exec carries no environment and its argv is recorded by the API server's audit log, so
// neither `VAULT_TOKEN=… vault …` nor `-token` style arguments are acceptable. `vault login -`
// reads stdin but stores the token in ~/.vault-token inside the pod, where it outlives us.
// Instead this constant script (no data is ever spliced into it) reads one line from stdin
// into VAULT_TOKEN, exports it and execs the Vault CLI with the remaining arguments, passed as
// positional parameters ($0 is the binary). The token lives only in the environment of that
// one process. The image's /bin/sh (busybox ash in the official image) is all it needs.
const tokenScript = `IFS= read -r VAULT_TOKEN; [ -n "$VAULT_TOKEN" ] || { echo "` + noTokenMessage + `" >&2; exit 1; }; export VAULT_TOKEN; exec "$0" "$@"`

// noTokenMessage is what tokenScript says when its stdin was empty.
const noTokenMessage = "no token on stdin"

// vaultCall is one invocation of the Vault CLI inside a pod.
type vaultCall struct {
	Sub   []string // subcommand words: "status", "operator init", …
	Flags []string // command flags ("-key-shares=5"); -format=json and TLS flags are added
	Args  []string // positional arguments
	Token string   // sent on stdin through tokenScript when set
	// NoFormat leaves out -format=json, which some commands (operator step-down) reject.
	NoFormat bool
	Stdin    []byte // stdin for the command itself (never together with Token)
}

// vaultResult is what the Vault CLI printed and how it exited.
type vaultResult struct {
	Stdout []byte
	Stderr []byte
	Code   int // exit status; 0 on success
}

// vaultCLI runs the Vault CLI in pods through the Executor.
type vaultCLI struct {
	exec Executor
	g    *Globals
}

// argv builds the exec argv. It holds no secret: tokens and keys go on stdin.
func (v *vaultCLI) argv(c vaultCall) []string {
	cmd := []string{v.g.VaultBin}
	if c.Token != "" {
		cmd = []string{"sh", "-c", tokenScript, v.g.VaultBin}
	}
	cmd = append(cmd, c.Sub...)
	if !c.NoFormat {
		cmd = append(cmd, "-format=json")
	}
	if v.g.CACert != "" {
		cmd = append(cmd, "-ca-cert="+v.g.CACert)
	}
	if v.g.TLSServerName != "" {
		cmd = append(cmd, "-tls-server-name="+v.g.TLSServerName)
	}
	if v.g.SkipVerify {
		cmd = append(cmd, "-tls-skip-verify")
	}
	cmd = append(cmd, c.Flags...)
	cmd = append(cmd, c.Args...)
	return cmd
}

// run execs the call in pod. A non-zero exit of the Vault CLI is not an error here (status
// exits 2 when sealed and still prints JSON): it is reported in Code. err is set only when
// the exec itself failed (pod gone, container missing, no permission).
//
// The API server's exec can lose a command's stdin (kubernetes/kubernetes#112834): a call
// whose stdin did not arrive (the token script or the Vault CLI says so, before anything
// is sent to Vault) runs again, up to transferAttempts times.
func (v *vaultCLI) run(ctx context.Context, pod string, c vaultCall) (vaultResult, error) {
	for attempt := 1; ; attempt++ {
		res, err := v.runOnce(ctx, pod, c)
		if err != nil || res.Code == 0 || attempt == transferAttempts || ctx.Err() != nil || !stdinLost(c, res) {
			return res, err
		}
		pauseBeforeRetry(ctx, attempt)
	}
}

// stdinLost reports whether a failed call failed because its stdin was empty.
func stdinLost(c vaultCall, res vaultResult) bool {
	switch {
	case c.Token != "":
		return strings.Contains(string(res.Stderr), noTokenMessage)
	case len(c.Stdin) > 0:
		// what `vault write PATH -` says about empty input
		return strings.Contains(string(res.Stderr), `"-": EOF`)
	}
	return false
}

func (v *vaultCLI) runOnce(ctx context.Context, pod string, c vaultCall) (vaultResult, error) {
	var stdin io.Reader
	if c.Stdin != nil {
		stdin = bytes.NewReader(c.Stdin)
	}
	if c.Token != "" {
		stdin = strings.NewReader(c.Token + "\n")
	}
	var out, errb bytes.Buffer
	err := v.exec.Exec(ctx, pod, v.argv(c), stdin, &out, &errb)
	res := vaultResult{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	if err != nil {
		code, ok := exitStatus(err)
		if !ok {
			return res, execError(pod, v.g.Container, err, errb.Bytes())
		}
		res.Code = code
		if (code == 126 || code == 127) && c.Token != "" && strings.Contains(string(errb.Bytes()), "sh") {
			return res, fmt.Errorf("pod %s: no /bin/sh in container %s, which passes the token on stdin: %s", pod, v.g.Container, firstLine(errb.Bytes()))
		}
		if code == 126 || code == 127 {
			return res, fmt.Errorf("pod %s: %q not found or not executable in container %s (use --vault-bin): %s", pod, v.g.VaultBin, v.g.Container, firstLine(errb.Bytes()))
		}
	}
	return res, nil
}

// execError turns an exec failure into one sentence naming the pod and container.
func execError(pod, container string, err error, stderr []byte) error {
	msg := err.Error()
	if strings.Contains(msg, "container not found") || strings.Contains(msg, "is not valid for pod") {
		return fmt.Errorf("pod %s has no container %q (use --container): %w", pod, container, err)
	}
	if s := firstLine(stderr); s != "" {
		return fmt.Errorf("exec in pod %s: %w: %s", pod, err, s)
	}
	return fmt.Errorf("exec in pod %s: %w", pod, err)
}

// vaultError is the error message of a failed Vault CLI call, cleaned of Vault's framing.
func vaultError(res vaultResult) string {
	s := strings.TrimSpace(string(res.Stderr))
	if s == "" {
		s = strings.TrimSpace(string(res.Stdout))
	}
	// Vault prints "Error writing data to sys/unseal: Error making API request.\n\nURL: …\nCode: 400. Errors:\n\n* msg"
	if i := strings.LastIndex(s, "* "); i >= 0 {
		return strings.TrimSpace(s[i+2:])
	}
	return firstLine([]byte(s))
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// SealStatus is the JSON of `vault status -format=json` (seal status plus leader fields).
type SealStatus struct {
	Type               string `json:"type"`
	Initialized        bool   `json:"initialized"`
	Sealed             bool   `json:"sealed"`
	T                  int    `json:"t"`
	N                  int    `json:"n"`
	Progress           int    `json:"progress"`
	Nonce              string `json:"nonce"`
	Version            string `json:"version"`
	Migration          bool   `json:"migration"`
	ClusterName        string `json:"cluster_name,omitempty"`
	ClusterID          string `json:"cluster_id,omitempty"`
	RecoverySeal       bool   `json:"recovery_seal"`
	StorageType        string `json:"storage_type,omitempty"`
	HAEnabled          bool   `json:"ha_enabled"`
	IsSelf             bool   `json:"is_self,omitempty"`
	LeaderAddress      string `json:"leader_address,omitempty"`
	PerfStandby        bool   `json:"performance_standby,omitempty"`
	RaftCommittedIndex uint64 `json:"raft_committed_index,omitempty"`
	RaftAppliedIndex   uint64 `json:"raft_applied_index,omitempty"`
}

// HARole is active, standby, perf-standby, or "" when not applicable (sealed, no HA).
func (s *SealStatus) HARole() string {
	switch {
	case s.Sealed || !s.Initialized || !s.HAEnabled:
		return ""
	case s.IsSelf:
		return "active"
	case s.PerfStandby:
		return "perf-standby"
	default:
		return "standby"
	}
}

// status runs `vault status` in pod. Exit 2 (sealed) still prints JSON and is not an error.
func (v *vaultCLI) status(ctx context.Context, pod string) (*SealStatus, error) {
	res, err := v.run(ctx, pod, vaultCall{Sub: []string{"status"}})
	if err != nil {
		return nil, err
	}
	if res.Code != 0 && res.Code != 2 {
		return nil, fmt.Errorf("vault status in pod %s: %s", pod, vaultError(res))
	}
	var s SealStatus
	if err := json.Unmarshal(res.Stdout, &s); err != nil {
		return nil, fmt.Errorf("vault status in pod %s: unreadable answer (%v): %s", pod, err, vaultError(res))
	}
	return &s, nil
}

// RaftServer is one peer of `vault read sys/storage/raft/configuration`.
type RaftServer struct {
	NodeID   string `json:"node_id"`
	Address  string `json:"address"`
	Leader   bool   `json:"leader"`
	Voter    bool   `json:"voter"`
	Protocol string `json:"protocol_version"`
}

// raftPeers reads the raft configuration (needs a token).
func (v *vaultCLI) raftPeers(ctx context.Context, pod, token string) ([]RaftServer, error) {
	res, err := v.run(ctx, pod, vaultCall{Sub: []string{"read"}, Args: []string{"sys/storage/raft/configuration"}, Token: token})
	if err != nil {
		return nil, err
	}
	if res.Code != 0 {
		return nil, fmt.Errorf("read raft configuration in pod %s: %s", pod, vaultError(res))
	}
	var out struct {
		Data struct {
			Config struct {
				Servers []RaftServer `json:"servers"`
			} `json:"config"`
		} `json:"data"`
	}
	if err := json.Unmarshal(res.Stdout, &out); err != nil {
		return nil, fmt.Errorf("read raft configuration in pod %s: %w", pod, err)
	}
	return out.Data.Config.Servers, nil
}

// AutopilotServer is one server of the autopilot state.
type AutopilotServer struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Address     string `json:"address"`
	NodeStatus  string `json:"node_status"`
	Healthy     bool   `json:"healthy"`
	LastIndex   uint64 `json:"last_index"`
	LastTerm    uint64 `json:"last_term"`
	Status      string `json:"status"` // leader, voter, non-voter
	StableSince string `json:"stable_since"`
}

// AutopilotState is autopilot's view of the raft cluster.
type AutopilotState struct {
	Healthy          bool                       `json:"healthy"`
	FailureTolerance int                        `json:"failure_tolerance"`
	Leader           string                     `json:"leader"`
	Voters           []string                   `json:"voters"`
	Servers          map[string]AutopilotServer `json:"servers"`
}

// autopilot reads autopilot's view of the raft cluster (needs a token). The Vault CLI prints
// api.AutopilotState with Go field names ("LastIndex"), not the API's snake_case.
func (v *vaultCLI) autopilot(ctx context.Context, pod, token string) (*AutopilotState, error) {
	res, err := v.run(ctx, pod, vaultCall{Sub: []string{"operator", "raft", "autopilot", "state"}, Token: token})
	if err != nil {
		return nil, err
	}
	if res.Code != 0 {
		return nil, fmt.Errorf("read autopilot state in pod %s: %s", pod, vaultError(res))
	}
	var cli struct {
		Healthy          bool
		FailureTolerance int
		Leader           string
		Voters           []string
		Servers          map[string]struct {
			ID, Name, Address, NodeStatus, Status, StableSince string
			Healthy                                            bool
			LastIndex, LastTerm                                uint64
		}
	}
	if err := json.Unmarshal(res.Stdout, &cli); err != nil {
		return nil, fmt.Errorf("read autopilot state in pod %s: %w", pod, err)
	}
	st := &AutopilotState{Healthy: cli.Healthy, FailureTolerance: cli.FailureTolerance, Leader: cli.Leader, Voters: cli.Voters,
		Servers: map[string]AutopilotServer{}}
	for id, s := range cli.Servers {
		st.Servers[id] = AutopilotServer{ID: s.ID, Name: s.Name, Address: s.Address, NodeStatus: s.NodeStatus, Healthy: s.Healthy,
			LastIndex: s.LastIndex, LastTerm: s.LastTerm, Status: s.Status, StableSince: s.StableSince}
	}
	return st, nil
}

// unsealRequest is the body of sys/unseal. It goes to `vault write sys/unseal -` as JSON on
// stdin: the key never reaches argv (`vault operator unseal -` would take "-" itself as the
// key), and reset/migrate stay booleans (`reset=true` as an argument arrives as the string
// "true", which sys/unseal rejects: "cannot unmarshal string into ... Reset of type bool").
type unsealRequest struct {
	Key     string `json:"key,omitempty"`
	Reset   bool   `json:"reset,omitempty"`
	Migrate bool   `json:"migrate,omitempty"`
}

func (v *vaultCLI) writeUnseal(ctx context.Context, pod string, req unsealRequest) (vaultResult, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return vaultResult{}, err
	}
	return v.run(ctx, pod, vaultCall{Sub: []string{"write"}, Args: []string{"sys/unseal", "-"}, Stdin: body})
}

// unsealOnce sends one key to pod on stdin.
func (v *vaultCLI) unsealOnce(ctx context.Context, pod, key string, migrate bool) (*SealStatus, error) {
	res, err := v.writeUnseal(ctx, pod, unsealRequest{Key: key, Migrate: migrate})
	if err != nil {
		return nil, err
	}
	if res.Code != 0 {
		return nil, &unsealError{msg: vaultError(res)}
	}
	return parseDataStatus(res.Stdout, pod)
}

// unsealReset discards an unseal in progress on pod.
func (v *vaultCLI) unsealReset(ctx context.Context, pod string) (*SealStatus, error) {
	res, err := v.writeUnseal(ctx, pod, unsealRequest{Reset: true})
	if err != nil {
		return nil, err
	}
	if res.Code != 0 {
		return nil, fmt.Errorf("reset unseal on pod %s: %s", pod, vaultError(res))
	}
	return parseDataStatus(res.Stdout, pod)
}

func parseDataStatus(b []byte, pod string) (*SealStatus, error) {
	var out struct {
		Data SealStatus `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("unseal answer of pod %s unreadable: %w", pod, err)
	}
	return &out.Data, nil
}

// unsealError is Vault refusing an unseal key.
type unsealError struct{ msg string }

func (e *unsealError) Error() string { return e.msg }

// ErrWrongKey means the key is well-formed but belongs to another Vault cluster.
var ErrWrongKey = errors.New("unseal key does not belong to this Vault")

// classifyUnsealError maps Vault's answers to one sentence.
func classifyUnsealError(pod string, err error) error {
	var ue *unsealError
	if !errors.As(err, &ue) {
		return err
	}
	m := ue.msg
	switch {
	case strings.Contains(m, "message authentication failed") || strings.Contains(m, "failed to decrypt"):
		return &CodedError{Code: ExitError, Err: fmt.Errorf("pod %s rejected the unseal keys: %w (check that --keys-file is this cluster's)", pod, ErrWrongKey)}
	case strings.Contains(m, "illegal base64") || strings.Contains(m, "invalid key length") || strings.Contains(m, "'key' must be a valid hex or base64"):
		return &CodedError{Code: ExitError, Err: fmt.Errorf("pod %s: an unseal key is malformed (%s)", pod, m)}
	case strings.Contains(m, "Vault is not initialized") || strings.Contains(m, "not initialized"):
		return &CodedError{Code: ExitNotReady, Err: fmt.Errorf("pod %s is not initialised: run `kubectl vault init` first", pod)}
	}
	return fmt.Errorf("unseal pod %s: %s", pod, m)
}
