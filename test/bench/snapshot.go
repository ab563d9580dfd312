package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// snapshotOptions sizes the `kubectl vault snapshot save` memory measurement.
type snapshotOptions struct {
	status   statusOptions
	initFile string // the local cluster's Vault init JSON (root token), as make demo and the e2e suite leave it
	targetMB int    // snapshot size to reach
	dir      string
}

// runSnapshot fills the in-cluster Vault until its snapshot reaches targetMB (kept across
// runs: the filler records how many blobs it wrote), then measures the peak RSS of
// `kubectl vault snapshot save`, which streams the snapshot out of the pod. It needs an
// unsealed Vault whose root token is in initFile; otherwise it says why it is skipped.
func runSnapshot(o snapshotOptions, out io.Writer) *section {
	s := &section{name: "snapshot"}
	metrics := []string{"snapshot save peak RSS (goal: flat, < 50 MB)", "snapshot save peak anonymous RSS", "snapshot size", "snapshot save wall time"}
	skip := func(reason string) *section {
		fmt.Fprintf(out, "SKIPPED: %s\n", reason)
		for _, m := range metrics {
			s.skipped(m, reason)
		}
		return s
	}
	if o.status.skip != "" {
		return skip(o.status.skip)
	}
	raw, err := os.ReadFile(o.initFile)
	if err != nil {
		return skip(fmt.Sprintf("no root token of the in-cluster Vault (%s): run `make demo` first", o.initFile))
	}
	var init struct {
		RootToken string `json:"root_token"`
	}
	if json.Unmarshal(raw, &init) != nil || init.RootToken == "" {
		return skip(fmt.Sprintf("%s holds no root_token", o.initFile))
	}
	tokenFile := filepath.Join(o.dir, "root.token")
	if err := os.WriteFile(tokenFile, []byte(init.RootToken+"\n"), 0o600); err != nil {
		s.err = err
		return s
	}
	cmd := exec.Command(o.status.kubectlVault, "--kubeconfig", o.status.kubeconfig, "-n", o.status.namespace, "status", "--vault-token-file", tokenFile)
	if err := cmd.Run(); err != nil {
		return skip(fmt.Sprintf("the in-cluster Vault is not healthy and unsealed (%v): run `make demo` first", err))
	}
	active, err := activePod(o.status)
	if err != nil {
		return skip(err.Error())
	}

	// Each blob: 700 kB of random bytes as base64 (about 530 kB once the snapshot gzips it).
	blobs := o.targetMB*1000/530 + 1
	fmt.Fprintf(out, "filling Vault through %s with %d random 700 kB blobs (kept for later runs)...\n", active, blobs)
	start := time.Now()
	script := fmt.Sprintf(`read -r VAULT_TOKEN; export VAULT_TOKEN
vault secrets list -format=json | grep -q '"secret/"' || vault secrets enable -path=secret kv-v2 >/dev/null
i=$(vault kv get -field=n secret/bench-snapshot-meta 2>/dev/null || echo 0)
while [ "$i" -lt %d ]; do
  head -c 700000 /dev/urandom | busybox base64 -w 0 > /tmp/bench-blob
  vault kv put secret/bench-snapshot/$i blob=@/tmp/bench-blob >/dev/null
  i=$((i+1))
  vault kv put secret/bench-snapshot-meta n=$i >/dev/null
done
rm -f /tmp/bench-blob`, blobs)
	fill := exec.Command(o.status.kubectl, "--kubeconfig", o.status.kubeconfig, "-n", o.status.namespace, "exec", "-i", active, "-c", "vault", "--", "/bin/sh", "-ec", script)
	fill.Stdin = strings.NewReader(init.RootToken + "\n")
	var fillErr bytes.Buffer
	fill.Stderr = &fillErr
	if err := fill.Run(); err != nil {
		s.err = fmt.Errorf("filling Vault: %v: %s", err, tail(fillErr.Bytes(), 300))
		return s
	}
	fmt.Fprintf(out, "filled in %s\n", time.Since(start).Round(time.Second))

	file := filepath.Join(o.dir, "bench.snap")
	save := exec.Command(o.status.kubectlVault, "--kubeconfig", o.status.kubeconfig, "-n", o.status.namespace,
		"snapshot", "save", file, "--vault-token-file", tokenFile)
	var saveErr bytes.Buffer
	save.Stderr = &saveErr
	start = time.Now()
	if err := save.Start(); err != nil {
		s.err = err
		return s
	}
	// Sample the process while it streams: anonymous memory (heap, stacks, buffers) is what
	// grows with the snapshot if anything does; file pages are the binary's code.
	done := make(chan error, 1)
	go func() { done <- save.Wait() }()
	var peakAnon, peakFile int64
	var samples int
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-tick.C:
			m := procMem(save.Process.Pid)
			peakAnon, peakFile = max(peakAnon, m.anon), max(peakFile, m.file)
			samples++
		}
	}
	if err != nil {
		s.err = fmt.Errorf("kubectl vault snapshot save: %v: %s", err, tail(saveErr.Bytes(), 300))
		return s
	}
	wall := time.Since(start)
	st, err := os.Stat(file)
	if err != nil {
		s.err = err
		return s
	}
	rss := maxRSS(save)
	sizeMB := float64(st.Size()) / 1e6
	tw := newTable(out)
	fmt.Fprintf(tw, "snapshot\tsize\twall time\tpeak RSS\tpeak RssAnon (heap, buffers)\tpeak RssFile (binary pages)\tsamples\n")
	fmt.Fprintf(tw, "%s\t%.0f MB\t%s\t%.1f MB\t%.1f MB\t%.1f MB\t%d\n", filepath.Base(file), sizeMB, wall.Round(10*time.Millisecond),
		float64(rss)/1024, float64(peakAnon)/1024, float64(peakFile)/1024, samples)
	_ = tw.Flush()
	if sizeMB < float64(o.targetMB) {
		fmt.Fprintf(out, "note: the snapshot is %.0f MB, below the %d MB asked for\n", sizeMB, o.targetMB)
	}
	s.add(row{metric: metrics[0], ours: float64(rss) / 1024, peer: 50, peerLabel: "50 MB (limit)", unit: "MB", goal: 1})
	s.add(row{metric: metrics[1], ours: float64(peakAnon) / 1024, peer: 50, peerLabel: "50 MB (limit)", unit: "MB", goal: 1})
	s.add(row{metric: metrics[2], ours: sizeMB, peerLabel: "-", unit: "MB"})
	s.add(row{metric: metrics[3], ours: msf(wall), peerLabel: "-", unit: "ms"})
	return s
}

// activePod names the pod labelled vault-active=true by Vault's service registration.
func activePod(o statusOptions) (string, error) {
	cmd := exec.Command(o.kubectl, "--kubeconfig", o.kubeconfig, "-n", o.namespace, "get", "pods",
		"-l", o.selector+",vault-active=true", "-o", "jsonpath={.items[*].metadata.name}")
	raw, err := cmd.Output()
	if err != nil || len(strings.Fields(string(raw))) != 1 {
		return "", fmt.Errorf("no single active Vault pod (vault-active=true) in namespace %s", o.namespace)
	}
	return strings.Fields(string(raw))[0], nil
}
