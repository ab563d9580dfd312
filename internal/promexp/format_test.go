package promexp

import (
	"math"
	"testing"
)

func TestAppendFloat(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "-0"},
		{1, "1"},
		{-1, "-1"},
		{0.5, "0.5"},
		{0.005, "0.005"},
		{2.5e-10, "2.5e-10"},
		{123456, "123456"},
		{1e6, "1e+06"},
		{1e21, "1e+21"},
		{1.0 / 3, "0.3333333333333333"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{math.SmallestNonzeroFloat64, "5e-324"},
		{math.Inf(1), "+Inf"},
		{math.Inf(-1), "-Inf"},
		{math.NaN(), "NaN"},
	}
	for _, tt := range tests {
		if got := string(appendFloat(nil, tt.in)); got != tt.want {
			t.Errorf("appendFloat(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEscaping(t *testing.T) {
	tests := []struct {
		in, help, label string
	}{
		{"", "", ""},
		{"plain text", "plain text", "plain text"},
		{`back\slash`, `back\\slash`, `back\\slash`},
		{"new\nline", `new\nline`, `new\nline`},
		{`"quoted"`, `"quoted"`, `\"quoted\"`},
		{"\\\"\n", `\\"\n`, `\\\"\n`},
		{"tab\tand\rcr", "tab\tand\rcr", "tab\tand\rcr"},
		{"ünïcödé ✓", "ünïcödé ✓", "ünïcödé ✓"},
		{"bad\xffutf8", "bad\uFFFDutf8", "bad\uFFFDutf8"},
		{`\n`, `\\n`, `\\n`},
	}
	for _, tt := range tests {
		if got := string(appendHelpText(nil, tt.in)); got != tt.help {
			t.Errorf("help escaping of %q = %q, want %q", tt.in, got, tt.help)
		}
		if got := string(appendLabelValue(nil, tt.in)); got != tt.label {
			t.Errorf("label value escaping of %q = %q, want %q", tt.in, got, tt.label)
		}
	}
}

func TestAppendHeaderAndSample(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"header", appendHeader(nil, "m", "a \\ b\nc", "counter"), "# HELP m a \\\\ b\\nc\n# TYPE m counter\n"},
		{"header without help", appendHeader(nil, "m", "", "gauge"), "# TYPE m gauge\n"},
		{"sample", appendSample(nil, "m", "", "", 1.5), "m 1.5\n"},
		{"labelled sample", appendSample(nil, "m", "code", "a\"b", math.Inf(1)), "m{code=\"a\\\"b\"} +Inf\n"},
	}
	for _, tt := range tests {
		if string(tt.got) != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestValidNames(t *testing.T) {
	tests := []struct {
		in           string
		metric, labl bool
	}{
		{"", false, false},
		{"a", true, true},
		{"_", true, true},
		{"__name__", true, false},
		{"_x", true, true},
		{"abc_DEF_123", true, true},
		{"a:b", true, false},
		{":a", true, false},
		{"1a", false, false},
		{"a-b", false, false},
		{"a b", false, false},
		{"a.b", false, false},
		{"é", false, false},
	}
	for _, tt := range tests {
		if got := validMetricName(tt.in); got != tt.metric {
			t.Errorf("validMetricName(%q) = %v, want %v", tt.in, got, tt.metric)
		}
		if got := validLabelName(tt.in); got != tt.labl {
			t.Errorf("validLabelName(%q) = %v, want %v", tt.in, got, tt.labl)
		}
	}
}
