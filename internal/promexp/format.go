package promexp

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// appendFloat appends v formatted the way Prometheus does: the shortest 'g'
// representation, with infinities and NaN spelled "+Inf", "-Inf" and "NaN".
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// appendEscaped appends s, escaping backslash and newline, and also double
// quote when quote is true. Invalid UTF-8 is replaced with U+FFFD since the
// exposition format must be valid UTF-8.
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
		i++
	}
	return b
}

// appendHelpText appends help with backslash and newline escaped.
func appendHelpText(b []byte, help string) []byte { return appendEscaped(b, help, false) }

// appendLabelValue appends v with backslash, double quote and newline escaped.
func appendLabelValue(b []byte, v string) []byte { return appendEscaped(b, v, true) }

// appendHeader appends the "# HELP" (omitted when help is empty) and
// "# TYPE" lines of a metric family.
func appendHeader(b []byte, name, help, typ string) []byte {
	if help != "" {
		b = append(b, "# HELP "...)
		b = append(b, name...)
		b = append(b, ' ')
		b = appendHelpText(b, help)
		b = append(b, '\n')
	}
	b = append(b, "# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, typ...)
	return append(b, '\n')
}

// appendSample appends one sample line. When label is empty the sample has no
// labels.
func appendSample(b []byte, name, label, labelValue string, v float64) []byte {
	b = append(b, name...)
	if label != "" {
		b = append(b, '{')
		b = append(b, label...)
		b = append(b, `="`...)
		b = appendLabelValue(b, labelValue)
		b = append(b, `"}`...)
	}
	b = append(b, ' ')
	b = appendFloat(b, v)
	return append(b, '\n')
}
