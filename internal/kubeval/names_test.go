package kubeval

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

var nameCases = []string{
	"", "a", "A", "0", "-", ".", "..", "...", "_", "a-b", "a--b", "-a", "a-", "a.b", "a..b", ".a", "a.",
	"my-name", "123-abc", "abc-123", "MyName", "my_name", "my name", " a", "a ", "a\n", "\na", "ä",
	"a.b.c", "a.-b", "a-.b", "example.com", "www.example.com", "x.y-z.0", "1.2.3.4", "*.example.com",
	"a/b", "a:b", "a@b", "ab\x00", "\xff", "a\xffb",
	strings.Repeat("a", 62), strings.Repeat("a", 63), strings.Repeat("a", 64),
	strings.Repeat("a", 63) + ".b", strings.Repeat("a", 64) + ".b", strings.Repeat("b", 100) + "." + strings.Repeat("c", 100),
	strings.Repeat("a", 253), strings.Repeat("a", 254), strings.Repeat("a.", 126) + "a", strings.Repeat("a.", 126) + "ab",
	strings.Repeat("a.", 127) + "a", strings.Repeat("-", 64), strings.Repeat("A", 64), strings.Repeat("a.", 40) + ".a",
}

var envVarCases = []string{
	"", "A", "a", "_", "-", ".", "..", "...", "..a", ".a", "a..", "a.b", "a..b", "A_B", "MY_ENV.NAME",
	"my.env-name", "MyEnvName1", "1A", "9", "_1", "-1", ".1", "A1", "a b", " A", "A ", "A\n", "A=B", "A$",
	"ä", "\xff", "A\x00", "a/b", "a:b", "A-B-C", "___", "---", strings.Repeat("A", 1000), "..." + "A",
}

func checkNameFunc(t testing.TB, name string, mine func(string) []string, ref func(string) []string, v string) {
	t.Helper()
	got, want := mine(v), ref(v)
	if (len(got) == 0) != (len(want) == 0) {
		t.Fatalf("%s(%q) = %q, apimachinery %q", name, v, got, want)
	}
	if len(got) == 0 && got != nil {
		t.Fatalf("%s(%q) returned an empty non-nil slice", name, v)
	}
	for _, msg := range got {
		if strings.TrimSpace(msg) == "" {
			t.Fatalf("%s(%q) returned an empty message", name, v)
		}
	}
}

func TestIsDNS1123LabelMatchesApimachinery(t *testing.T) {
	for _, v := range append(append([]string{}, nameCases...), envVarCases...) {
		checkNameFunc(t, "IsDNS1123Label", IsDNS1123Label, validation.IsDNS1123Label, v)
	}
}

func TestIsDNS1123SubdomainMatchesApimachinery(t *testing.T) {
	for _, v := range append(append([]string{}, nameCases...), envVarCases...) {
		checkNameFunc(t, "IsDNS1123Subdomain", IsDNS1123Subdomain, validation.IsDNS1123Subdomain, v)
	}
}

func TestIsEnvVarNameMatchesApimachinery(t *testing.T) {
	for _, v := range append(append([]string{}, envVarCases...), nameCases...) {
		checkNameFunc(t, "IsEnvVarName", IsEnvVarName, validation.IsEnvVarName, v)
	}
}

func TestNameMessages(t *testing.T) {
	cases := []struct {
		fn   func(string) []string
		v    string
		want []string // substrings, one per expected message
	}{
		{IsDNS1123Label, "my-name", nil},
		{IsDNS1123Label, "a.b", []string{"must not contain dots"}},
		{IsDNS1123Label, "My_Name", []string{"DNS-1123 label"}},
		{IsDNS1123Label, strings.Repeat("a", 64), []string{"no more than 63"}},
		{IsDNS1123Label, strings.Repeat("A", 64), []string{"no more than 63", "DNS-1123 label"}},
		{IsDNS1123Subdomain, "example.com", nil},
		{IsDNS1123Subdomain, "example..com", []string{"DNS-1123 subdomain"}},
		{IsDNS1123Subdomain, strings.Repeat("a", 254), []string{"no more than 253"}},
		{IsEnvVarName, "MY_VAR", nil},
		{IsEnvVarName, "1VAR", []string{"must not start with a digit"}},
		{IsEnvVarName, ".", []string{"must not be '.'"}},
		{IsEnvVarName, "..", []string{"must not be '..'"}},
		{IsEnvVarName, "..a", []string{"must not start with '..'"}},
		{IsEnvVarName, "..=", []string{"environment variable name", "must not start with '..'"}},
	}
	for _, c := range cases {
		got := c.fn(c.v)
		if len(got) != len(c.want) {
			t.Errorf("%q: got %q, want %d messages", c.v, got, len(c.want))
			continue
		}
		for i := range got {
			if !strings.Contains(got[i], c.want[i]) {
				t.Errorf("%q: message %q does not mention %q", c.v, got[i], c.want[i])
			}
		}
	}
}

func FuzzIsDNS1123Label(f *testing.F) {
	for _, v := range nameCases {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		checkNameFunc(t, "IsDNS1123Label", IsDNS1123Label, validation.IsDNS1123Label, v)
	})
}

func FuzzIsDNS1123Subdomain(f *testing.F) {
	for _, v := range nameCases {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		checkNameFunc(t, "IsDNS1123Subdomain", IsDNS1123Subdomain, validation.IsDNS1123Subdomain, v)
	})
}

func FuzzIsEnvVarName(f *testing.F) {
	for _, v := range envVarCases {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		checkNameFunc(t, "IsEnvVarName", IsEnvVarName, validation.IsEnvVarName, v)
	})
}
