package kubeval

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/version"
)

var versionCases = []string{
	"v1.37.2", "1.37.2", "1.29", "v1.30.0-rc.1+abc", "v1.28.3+k3s1", "v1.27.4-eks-2d98532", "1.26.1-gke.100",
	"v1.25", "1.2.3.4", "1.2.3.4.5", "0.1", "0.0", "0.0.0", "00.1", "01.2", "1.02", "1.2.03", "10.20.30",
	"v1", "1", "v", "", " ", "vv1.2", "V1.2", "1.2.", "1..2", ".1.2", "1.2abc", "1.2 ", " 1.2", "\t1.2",
	"\n1.2", "\r\n v1.2", "\v1.2", "1.2\n", "1.2 \n", "1.2\r", "1.2-rc\nx", "v 1.2", "1 .2", "1. 2", "1.2.x",
	"1.-2", "-1.2", "+1.2", "1.2.3-", "1.2.3+", "1,2", "１.２", "1.2\xff", "\xff1.2",
	"18446744073709551615.18446744073709551615.18446744073709551615", "18446744073709551616.1",
	"1.18446744073709551616", "1.2.18446744073709551616", "1.2.3.18446744073709551616", "9223372036854775808.1",
	"1.2" + strings.Repeat("9", 30),
}

type majorMinor struct{ major, minor int }

var atLeastCases = []majorMinor{{0, 0}, {0, 1}, {1, 0}, {1, 1}, {1, 2}, {1, 3}, {1, 25}, {1, 26}, {1, 29}, {1, 30},
	{1, 37}, {1, 38}, {2, 0}, {10, 20}, {10, 21}, {11, 0}}

// checkVersion compares ParseGenericVersion with version.ParseGeneric on s.
func checkVersion(t testing.TB, s string) {
	t.Helper()
	v, err := ParseGenericVersion(s)
	ref, rerr := version.ParseGeneric(s)
	if (err == nil) != (rerr == nil) {
		t.Fatalf("ParseGenericVersion(%q): err=%v, apimachinery err=%v", s, err, rerr)
	}
	if err != nil {
		return
	}
	if uint64(ref.Major()) != v.major || uint64(ref.Minor()) != v.minor || uint64(ref.Patch()) != v.patch {
		t.Fatalf("ParseGenericVersion(%q) = %d.%d.%d, apimachinery %d.%d.%d", s, v.major, v.minor, v.patch, ref.Major(), ref.Minor(), ref.Patch())
	}
	if refStr := ref.String(); strings.Count(refStr, ".") <= 2 && v.String() != refStr {
		t.Fatalf("ParseGenericVersion(%q).String() = %q, apimachinery %q", s, v.String(), refStr)
	}
	check := func(mm majorMinor) {
		if got, want := v.AtLeast(mm.major, mm.minor), ref.AtLeast(version.MajorMinor(uint(mm.major), uint(mm.minor))); got != want {
			t.Fatalf("ParseGenericVersion(%q).AtLeast(%d, %d) = %v, apimachinery %v", s, mm.major, mm.minor, got, want)
		}
	}
	for _, mm := range atLeastCases {
		check(mm)
	}
	// Around the version itself, when its numbers fit in an int.
	if maj, min := int(v.major), int(v.minor); maj >= 0 && min >= 0 && uint64(maj) == v.major && uint64(min) == v.minor && maj < 1<<62 && min < 1<<62 {
		for _, mm := range []majorMinor{{maj, min}, {maj, min + 1}, {maj + 1, 0}, {maj, max(min-1, 0)}, {max(maj-1, 0), min + 1}} {
			check(mm)
		}
	}
}

func TestParseGenericVersionMatchesApimachinery(t *testing.T) {
	accepted := 0
	for _, s := range versionCases {
		checkVersion(t, s)
		if _, err := ParseGenericVersion(s); err == nil {
			accepted++
		}
	}
	if accepted < 20 || accepted > len(versionCases)-20 {
		t.Fatalf("table is unbalanced: %d of %d accepted", accepted, len(versionCases))
	}
}

func TestVersionKnownValues(t *testing.T) {
	cases := []struct {
		in, str string
	}{
		{"v1.37.2", "1.37.2"},
		{"1.29", "1.29"},
		{"v1.30.0-rc.1+abc", "1.30.0"},
		{"1.2.3.4", "1.2.3"},
		{" v1.28.3+k3s1", "1.28.3"},
	}
	for _, c := range cases {
		v, err := ParseGenericVersion(c.in)
		if err != nil {
			t.Fatalf("ParseGenericVersion(%q): %v", c.in, err)
		}
		if v.String() != c.str {
			t.Errorf("ParseGenericVersion(%q).String() = %q, want %q", c.in, v.String(), c.str)
		}
	}
	v, _ := ParseGenericVersion("v1.30.0-rc.1")
	if !v.AtLeast(1, 30) || !v.AtLeast(1, 29) || !v.AtLeast(0, 99) || v.AtLeast(1, 31) || v.AtLeast(2, 0) {
		t.Errorf("AtLeast wrong for %v", v)
	}
	if !v.AtLeast(-1, 5) || !v.AtLeast(1, -1) {
		t.Errorf("negative arguments must be below every version")
	}
}

func FuzzParseGenericVersion(f *testing.F) {
	for _, s := range versionCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkVersion(t, s)
	})
}
