package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
	"sigs.k8s.io/yaml"
)

// colorEnabled decides colour for w: always, never, or auto (a terminal, NO_COLOR unset,
// TERM not dumb).
func colorEnabled(mode string, w io.Writer) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		return false
	}
	if os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Colours of table cells.
const (
	colNone   = ""
	colRed    = "31"
	colGreen  = "32"
	colYellow = "33"
)

type cell struct {
	text  string
	color string
}

func c(text string) cell                { return cell{text: text} }
func cc(text string, color string) cell { return cell{text: text, color: color} }

// table prints aligned columns like kubectl's tables; colours do not disturb alignment.
type table struct {
	header []string
	rows   [][]cell
}

func (t *table) add(cells ...cell) { t.rows = append(t.rows, cells) }

func (t *table) print(w io.Writer, color bool) error {
	widths := make([]int, len(t.header))
	for i, h := range t.header {
		widths[i] = len(h)
	}
	for _, r := range t.rows {
		for i, cl := range r {
			if i < len(widths) && len(cl.text) > widths[i] {
				widths[i] = len(cl.text)
			}
		}
	}
	var b strings.Builder
	for i, h := range t.header {
		b.WriteString(h)
		if i < len(t.header)-1 {
			b.WriteString(strings.Repeat(" ", widths[i]-len(h)+3))
		}
	}
	b.WriteByte('\n')
	for _, r := range t.rows {
		for i, cl := range r {
			if color && cl.color != "" {
				fmt.Fprintf(&b, "\x1b[%sm%s\x1b[0m", cl.color, cl.text)
			} else {
				b.WriteString(cl.text)
			}
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-len(cl.text)+3))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// printData writes v as JSON or YAML.
func printData(w io.Writer, format string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if format == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func yesNo(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
