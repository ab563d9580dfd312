package kubeval

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is the numeric part of a generic version such as a Kubernetes server
// version: major, minor and, when given, patch. Components are unsigned 64-bit
// integers, so every version ParseGenericVersion accepts is representable.
type Version struct {
	major, minor, patch uint64
	hasPatch            bool // the text had a third numeric component
}

// ParseGenericVersion parses a version the way
// k8s.io/apimachinery/pkg/util/version.ParseGeneric does, accepting and
// rejecting the same strings:
//
//   - leading white space (space, \t, \n, \f, \r) and then a lower-case "v"
//     are skipped;
//   - next come two or more dot-separated runs of decimal digits, taken as
//     long as possible; each must fit in 64 bits, and the first must not have
//     a leading zero ("0" itself is fine, "01" is not);
//   - anything may follow ("-rc.1+abc", "+k3s1", "abc", " "), without any
//     separator, except that it must not contain a newline.
//
// Only the first three components are kept; "1.2.3.4" reads as 1.2.3.
func ParseGenericVersion(s string) (Version, error) {
	i := 0
	for i < len(s) && strings.IndexByte(" \t\n\f\r", s[i]) >= 0 {
		i++
	}
	if i < len(s) && s[i] == 'v' {
		i++
	}
	var comps []string
	for {
		start := i
		i = skipDigits(s, i)
		if i == start {
			break
		}
		comps = append(comps, s[start:i])
		if i+1 < len(s) && s[i] == '.' && isDigit(s[i+1]) {
			i++
			continue
		}
		break
	}
	if len(comps) == 0 || strings.IndexByte(s[i:], '\n') >= 0 {
		return Version{}, fmt.Errorf("could not parse %q as a version (want e.g. v1.37.2 or 1.29)", s)
	}
	if len(comps) < 2 {
		return Version{}, fmt.Errorf("version %q: need at least major.minor", s)
	}
	if len(comps[0]) > 1 && comps[0][0] == '0' {
		return Version{}, fmt.Errorf("version %q: major version %q has a leading zero", s, comps[0])
	}
	nums := make([]uint64, len(comps))
	for k, c := range comps {
		n, err := strconv.ParseUint(c, 10, 64)
		if err != nil {
			return Version{}, fmt.Errorf("version %q: component %q is out of range", s, c)
		}
		nums[k] = n
	}
	v := Version{major: nums[0], minor: nums[1]}
	if len(nums) > 2 {
		v.patch, v.hasPatch = nums[2], true
	}
	return v, nil
}

// AtLeast reports whether v is major.minor or later; the patch level does not
// matter. Negative arguments are below every version.
func (v Version) AtLeast(major, minor int) bool {
	if major < 0 || v.major != uint64(major) {
		return major < 0 || v.major > uint64(major)
	}
	return minor < 0 || v.minor >= uint64(minor)
}

// String returns the numeric version without a "v" or any trailing text:
// "1.37.2", or "1.29" when the parsed text had no patch component.
func (v Version) String() string {
	s := strconv.FormatUint(v.major, 10) + "." + strconv.FormatUint(v.minor, 10)
	if v.hasPatch {
		s += "." + strconv.FormatUint(v.patch, 10)
	}
	return s
}
