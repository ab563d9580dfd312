package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// row is one line of the summary: our figure, the peer's, and the goal for ours/peer.
// A row with skip set has no peer figure (and our figure only when ours is set) and says why.
type row struct {
	metric     string
	ours, peer float64
	unit       string
	goal       float64 // ours/peer must be at most this; 0: informative only
	skip       string
	oursLabel  string // when set, printed instead of ours (non-numeric)
	peerLabel  string
	worst      bool // over several runs the largest figure counts (memory), not the median
}

func (r row) ratio() float64 {
	if r.peer == 0 {
		return 0
	}
	return r.ours / r.peer
}

// verdict says whether ours/peer meets the goal.
func (r row) verdict() string {
	switch {
	case r.skip != "":
		return ""
	case r.goal == 0 || r.peer == 0:
		return "-"
	case r.ratio() <= r.goal:
		return "met"
	default:
		return "MISSED"
	}
}

func formatValue(v float64, unit string) string {
	switch {
	case unit == "":
		return fmt.Sprintf("%.0f", v)
	case v >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	case v >= 10:
		return fmt.Sprintf("%.1f %s", v, unit)
	default:
		return fmt.Sprintf("%.2f %s", v, unit)
	}
}

func formatGoal(g float64) string {
	if g == 0 {
		return "-"
	}
	return fmt.Sprintf("≤ %.3g", g)
}

// section collects the rows of one comparison and prints them as it goes.
type section struct {
	name string
	rows []row
	err  error
}

func (s *section) add(r row) { s.rows = append(s.rows, r) }

func (s *section) skipped(metric, reason string) {
	s.rows = append(s.rows, row{metric: metric, skip: reason})
}

// printRows writes rows as an aligned table with a header.
func printRows(w io.Writer, sections []*section) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "section\tmetric\tvaultkube\tpeer\tours/peer\tgoal\tgoal met\t")
	for _, s := range sections {
		if s.err != nil {
			fmt.Fprintf(tw, "%s\t\t\t\t\t\t\tFAILED: %s\n", s.name, oneLine(s.err.Error()))
		}
		for _, r := range s.rows {
			if r.skip != "" {
				ours := "-"
				if r.ours != 0 {
					ours = formatValue(r.ours, r.unit)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t\tSKIPPED: %s\n", s.name, r.metric, ours, r.skip)
				continue
			}
			ours, peer := formatValue(r.ours, r.unit), formatValue(r.peer, r.unit)
			if r.oursLabel != "" {
				ours = r.oursLabel
			}
			if r.peerLabel != "" {
				peer = r.peerLabel
			}
			ratio := "-"
			if r.peer != 0 {
				ratio = fmt.Sprintf("%.3f", r.ratio())
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", s.name, r.metric, ours, peer, ratio, formatGoal(r.goal), r.verdict())
		}
	}
	return tw.Flush()
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}
