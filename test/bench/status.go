package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// statusOptions sizes the `kubectl vault status` comparison.
type statusOptions struct {
	kubectlVault string // bin/kubectl-vault
	kubectl      string
	kubeconfig   string
	namespace    string
	selector     string
	runs         int
	skip         string // why the cluster is not usable; empty: it runs
}

const statusStartHint = "make cluster-up && test/cluster/vault.sh up"

// runStatus compares `kubectl vault status` with three sequential `kubectl exec … vault
// status -format=json` on the Vault pods of the local cluster. It never changes the cluster.
func runStatus(o statusOptions, out io.Writer) *section {
	s := &section{name: "kubectl vault"}
	metrics := []string{"status of 3 pods: wall time", "status of 3 pods: max RSS of one process"}
	skip := func(reason string) *section {
		fmt.Fprintf(out, "SKIPPED: %s\n", reason)
		for _, m := range metrics {
			s.skipped(m, reason)
		}
		return s
	}
	if o.skip != "" {
		return skip(o.skip)
	}
	pods, err := vaultPods(o)
	if err != nil {
		return skip(fmt.Sprintf("cannot list the Vault pods (%v); start them with `%s`", oneLine(err.Error()), statusStartHint))
	}
	if len(pods) < 3 {
		return skip(fmt.Sprintf("%d Vault pods in namespace %s, want 3; start them with `%s`", len(pods), o.namespace, statusStartHint))
	}
	pods = pods[:3]

	ours := func() (time.Duration, int64, error) {
		cmd := exec.Command(o.kubectlVault, "--kubeconfig", o.kubeconfig, "-n", o.namespace, "status", "--color", "never")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		err := cmd.Run()
		d := time.Since(start)
		if code := exitCode(err); code != 0 && code != 2 { // 2: degraded (sealed), still a full answer
			return 0, 0, fmt.Errorf("kubectl vault status: %v: %s", err, tail(stderr.Bytes(), 300))
		}
		for _, p := range pods {
			if !bytes.Contains(stdout.Bytes(), []byte(p)) {
				return 0, 0, fmt.Errorf("kubectl vault status printed no row for %s:\n%s", p, stdout.String())
			}
		}
		return d, maxRSS(cmd), nil
	}
	theirs := func() (time.Duration, int64, error) {
		var peak int64
		start := time.Now()
		for _, p := range pods {
			cmd := exec.Command(o.kubectl, "--kubeconfig", o.kubeconfig, "-n", o.namespace, "exec", p, "-c", "vault", "--",
				"vault", "status", "-format=json")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if code := exitCode(err); code != 0 && code != 2 { // vault status exits 2 when sealed
				return 0, 0, fmt.Errorf("kubectl exec %s -- vault status: %v: %s", p, err, tail(stderr.Bytes(), 300))
			}
			var st struct {
				Sealed *bool `json:"sealed"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &st); err != nil || st.Sealed == nil {
				return 0, 0, fmt.Errorf("kubectl exec %s -- vault status: not Vault's status JSON: %s", p, tail(stdout.Bytes(), 200))
			}
			peak = max(peak, maxRSS(cmd))
		}
		return time.Since(start), peak, nil
	}

	// One untimed run each (page cache, API server connection caches), then alternate.
	if _, _, err := ours(); err != nil {
		s.err = err
		return s
	}
	if _, _, err := theirs(); err != nil {
		s.err = err
		return s
	}
	var ourTimes, theirTimes []time.Duration
	var ourRSS, theirRSS int64
	for range o.runs {
		d, rss, err := ours()
		if err != nil {
			s.err = err
			return s
		}
		ourTimes, ourRSS = append(ourTimes, d), max(ourRSS, rss)
		d, rss, err = theirs()
		if err != nil {
			s.err = err
			return s
		}
		theirTimes, theirRSS = append(theirTimes, d), max(theirRSS, rss)
	}
	tw := newTable(out)
	fmt.Fprintf(tw, "command (pods %s)\tmedian of %d\tmin\tmax\tmax RSS\n", strings.Join(pods, ", "), o.runs)
	fmt.Fprintf(tw, "kubectl vault -n %s status\t%s\t%s\t%s\t%.1f MB\n", o.namespace, ms(median(ourTimes)), ms(slices.Min(ourTimes)), ms(slices.Max(ourTimes)), float64(ourRSS)/1024)
	fmt.Fprintf(tw, "3 × kubectl exec … vault status -format=json\t%s\t%s\t%s\t%.1f MB\n", ms(median(theirTimes)), ms(slices.Min(theirTimes)), ms(slices.Max(theirTimes)), float64(theirRSS)/1024)
	_ = tw.Flush()
	s.add(row{metric: metrics[0], ours: msf(median(ourTimes)), peer: msf(median(theirTimes)), unit: "ms", goal: 0.5})
	s.add(row{metric: metrics[1], ours: float64(ourRSS) / 1024, peer: float64(theirRSS) / 1024, unit: "MB"})
	return s
}

// vaultPods lists the names of the Vault server pods, sorted.
func vaultPods(o statusOptions) ([]string, error) {
	cmd := exec.Command(o.kubectl, "--kubeconfig", o.kubeconfig, "-n", o.namespace, "get", "pods",
		"-l", o.selector, "-o", "jsonpath={.items[*].metadata.name}", "--request-timeout", "10s")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, tail(stderr.Bytes(), 200))
	}
	pods := strings.Fields(string(raw))
	slices.Sort(pods)
	return pods, nil
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
