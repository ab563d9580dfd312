// Command bench compares vaultkube's components with their peers in one run and prints a
// table of ratios (ours/peer) against the goals of the issues:
//
//   - injector: admission latency (p50/p99) and memory of `vaultkube injector` vs
//     hashicorp/vault-k8s v1.6.2's handler, both over HTTPS on 127.0.0.1 with the same
//     AdmissionReview;
//   - agent: injector/agent/bench (vaultkube agent vs `vault agent` on the same dev Vault);
//   - kubectl vault: `kubectl vault status` vs three sequential `kubectl exec … vault
//     status -format=json` on the local cluster's Vault pods (read-only);
//   - snapshot save peak memory on a snapshot of >= 200 MB of the local cluster's Vault
//     (filled once; needs the unsealed Vault that make demo leaves);
//   - csi: the CSI provider's Mount in process against a Vault dev server with JWT auth:
//     latency cold and warm, logins per pod, back-to-back mounts (no peer: vault-csi-provider
//     is BUSL-licensed; `-only csi` runs it alone).
//
// hack/bench.sh builds the binaries and runs it (`make bench`). A peer or a cluster that is
// missing gives a "SKIPPED: reason" line, never silence. It exits 1 when a comparison fails
// to run; a missed goal is reported, not an error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	home, _ := os.UserHomeDir()
	cache := filepath.Join(home, ".cache", "vaultkube")
	var (
		ao        admissionOptions
		so        statusOptions
		ag        agentOptions
		only      string
		snapshotS string
		snapMB    int
		goBench   string
		co        csiOptions
	)
	flag.StringVar(&ao.vaultkube, "vaultkube", "bin/vaultkube", "vaultkube binary (injector)")
	flag.StringVar(&ao.vaultK8s, "vault-k8s", "", "vault-k8s v1.6.2 wrapper binary (built by hack/bench.sh)")
	flag.StringVar(&ao.skipK8s, "vault-k8s-skip", "", "why the vault-k8s binary is missing")
	flag.IntVar(&ao.sequential, "requests", 2000, "sequential admission requests per injector")
	flag.IntVar(&ao.concurrent, "concurrent-requests", 2000, "admission requests per injector from concurrent clients")
	flag.IntVar(&ao.workers, "clients", 4, "concurrent clients")
	flag.IntVar(&ao.rounds, "rounds", 10, "alternating rounds of the sequential requests (as many as -requests: one request per server in turn)")
	flag.IntVar(&ao.concRounds, "concurrent-rounds", 10, "alternating rounds of the concurrent requests")
	flag.StringVar(&ao.client, "client", "lean", "admission client: lean (one goroutine and one TLS connection per client, the request written pre-serialised) or net/http (its http.Client, as before 2026-12-03: it costs more CPU per request than our injector and shares the servers' two cores)")
	flag.StringVar(&ag.agentBench, "agent-bench", "", "binary of ./injector/agent/bench")
	flag.StringVar(&ag.agent, "agent", "bin/vaultkube-agent", "vaultkube agent binary")
	flag.StringVar(&ag.vault, "vault", filepath.Join(cache, "bin", "vault"), "vault binary (dev server and vault agent)")
	flag.StringVar(&ag.skip, "agent-skip", "", "why the agent comparison cannot run")
	flag.StringVar(&so.kubectlVault, "kubectl-vault", "bin/kubectl-vault", "kubectl-vault binary")
	flag.StringVar(&so.kubectl, "kubectl", filepath.Join(cache, "bin", "kubectl"), "kubectl binary")
	flag.StringVar(&so.kubeconfig, "kubeconfig", filepath.Join(cache, "cluster", "admin.kubeconfig"), "kubeconfig of the local cluster")
	flag.StringVar(&so.namespace, "namespace", "vault", "namespace of the Vault pods")
	flag.StringVar(&so.selector, "selector", "app.kubernetes.io/name=vault,component=server", "label selector of the Vault pods")
	flag.StringVar(&so.skip, "cluster-skip", "", "why the local cluster cannot be used")
	flag.StringVar(&snapshotS, "snapshot-skip", "", "why snapshot save is not measured (empty: it runs)")
	flag.IntVar(&snapMB, "snapshot-mb", 200, "size of the snapshot for the snapshot save measurement")
	flag.StringVar(&goBench, "go-bench", "", "outcome of the Go benchmarks run before (ok, FAILED, or a skip reason) for the summary")
	flag.StringVar(&co.skip, "csi-skip", "", "why the CSI provider cannot be measured")
	flag.IntVar(&co.mounts, "csi-mounts", 200, "mounts per CSI latency figure (cold and warm, 1 and 10 objects)")
	flag.StringVar(&only, "only", "", "run one section: injector, agent, status, snapshot, csi")
	runs := flag.Int("runs", 5, "runs of the injector, agent and status comparisons (median; memory: max)")
	flag.Parse()
	if ao.client != "lean" && ao.client != "net/http" {
		fmt.Fprintf(os.Stderr, "error: -client %q: use lean or net/http\n", ao.client)
		os.Exit(2)
	}
	so.runs, ag.runs, ao.runs = *runs, *runs, *runs
	ao.rounds = max(1, min(ao.rounds, ao.sequential))
	ao.concRounds = max(1, min(ao.concRounds, ao.concurrent))
	ao.workers = max(1, min(ao.workers, ao.concurrent/ao.concRounds))

	dir, err := os.MkdirTemp("", "vaultkube-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	ao.dir = dir
	sn := snapshotOptions{status: so, initFile: filepath.Join(cache, "cluster", "vault-init.json"), targetMB: snapMB, dir: dir}
	if snapshotS != "" {
		sn.status.skip = snapshotS
	}
	co.vault, co.dir = ag.vault, dir
	sections := run(only, ao, ag, so, sn, co, os.Stdout)
	switch goBench {
	case "", "ok":
	case "FAILED":
		sections = append(sections, &section{name: "go test -bench", err: errors.New("see the Go benchmarks above")})
	default:
		s := &section{name: "go test -bench"}
		s.skipped("injector/, webhook/, injector/agent/..., csi/", goBench)
		sections = append(sections, s)
	}
	os.RemoveAll(dir)

	fmt.Println()
	fmt.Println("== summary (ratio = vaultkube/peer; lower is better) ==")
	if err := printRows(os.Stdout, sections); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
	}
	for _, s := range sections {
		if s.err != nil {
			os.Exit(1)
		}
	}
}

func run(only string, ao admissionOptions, ag agentOptions, so statusOptions, sn snapshotOptions, co csiOptions, out io.Writer) []*section {
	var sections []*section
	heading := func(name string) { fmt.Fprintf(out, "\n== %s ==\n", name) }
	if only == "" || only == "injector" {
		heading("injector admission: vaultkube injector vs hashicorp/vault-k8s v1.6.2")
		sections = append(sections, runAdmission(ao, out))
	}
	if only == "" || only == "agent" {
		heading("agent: vaultkube agent vs vault agent (injector/agent/bench)")
		sections = append(sections, runAgent(ag, out))
	}
	if only == "" || only == "status" {
		heading("kubectl vault status vs 3 × kubectl exec … vault status")
		sections = append(sections, runStatus(so, out))
	}
	if only == "" || only == "snapshot" {
		heading("kubectl vault snapshot save: peak memory")
		sections = append(sections, runSnapshot(sn, out))
	}
	if only == "" || only == "csi" {
		heading("CSI provider: Mount against a Vault dev server (JWT login, KV v2)")
		sections = append(sections, runCSI(co, out))
	}
	return sections
}
