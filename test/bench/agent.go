package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// agentOptions runs injector/agent/bench, which owns the agent comparison (same dev Vault, JWT auth,
// one KV v2 secret, init and sidecar modes for both tools).
type agentOptions struct {
	agentBench string // binary of ./injector/agent/bench
	agent      string // bin/vaultkube-agent
	vault      string // $VK_CACHE/bin/vault
	runs       int
	skip       string
}

// runAgent runs injector/agent/bench, passes its report through and takes its rows into the summary.
func runAgent(o agentOptions, out io.Writer) *section {
	s := &section{name: "agent"}
	if o.skip != "" {
		fmt.Fprintf(out, "SKIPPED: %s\n", o.skip)
		s.skipped("init/sidecar time and RSS vs vault agent", o.skip)
		return s
	}
	var buf bytes.Buffer
	cmd := exec.Command(o.agentBench, "-vault", o.vault, "-agent", o.agent, "-runs", strconv.Itoa(o.runs))
	cmd.Stdout = io.MultiWriter(out, &buf)
	cmd.Stderr = out
	if err := cmd.Run(); err != nil {
		s.err = fmt.Errorf("injector/agent/bench: %w", err)
	}
	rows, err := parseAgentBench(buf.String())
	if err != nil && s.err == nil {
		s.err = err
	}
	s.rows = append(s.rows, rows...)
	return s
}

var columns = regexp.MustCompile(`\s{2,}`)

// parseAgentBench reads injector/agent/bench's table: metric, vault agent, vaultkube agent, ratio,
// goal. The ratio there is vaultkube/vault agent, ours/peer as everywhere here.
func parseAgentBench(report string) ([]row, error) {
	var rows []row
	sc := bufio.NewScanner(strings.NewReader(report))
	header := true
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if header {
			header = !strings.HasPrefix(line, "metric")
			continue
		}
		f := columns.Split(line, -1)
		if len(f) != 5 {
			break
		}
		peer, unit, err1 := splitValue(f[1])
		ours, _, err2 := splitValue(f[2])
		if err1 != nil || err2 != nil {
			return rows, fmt.Errorf("injector/agent/bench row %q: cannot read its figures", line)
		}
		goal, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(f[4], "≤")), 64)
		rows = append(rows, row{metric: f[0], ours: ours, peer: peer, unit: unit, goal: goal})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("injector/agent/bench printed no table")
	}
	return rows, nil
}

func splitValue(s string) (float64, string, error) {
	num, unit, _ := strings.Cut(strings.TrimSpace(s), " ")
	v, err := strconv.ParseFloat(num, 64)
	return v, unit, err
}
