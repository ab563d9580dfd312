package injector

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	jsonpatch5 "github.com/evanphx/json-patch/v5"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

func checkBool(v string) error {
	_, err := parseBool(v)
	return err
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "t", "1", "yes", "y", "on":
		return true, nil
	case "false", "f", "0", "no", "n", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (use true or false)", v)
}

func checkNonEmpty(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func checkOneOf(allowed ...string) func(string) error {
	return func(v string) error {
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}

func checkQuantity(v string) error {
	if v == "" {
		return nil
	}
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return fmt.Errorf("%q is not a resource quantity", v)
	}
	if q.Sign() < 0 {
		return fmt.Errorf("%q is negative", v)
	}
	return nil
}

func checkID(v string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 || n > 2147483647 {
		return fmt.Errorf("%q is not a user or group ID", v)
	}
	return nil
}

func checkNonNegInt(v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a non-negative integer", v)
	}
	return nil
}

func checkPositiveInt(v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return fmt.Errorf("%q is not a positive integer", v)
	}
	return nil
}

// parseDuration accepts a Go duration ("30s") or a number of seconds ("30"), as Vault does.
func parseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration (for example 30s or 5m)", v)
	}
	return d, nil
}

func checkDuration(v string) error {
	_, err := parseDuration(v)
	return err
}

func checkURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", v)
	}
	return nil
}

func checkPerms(v string) error {
	n, err := strconv.ParseUint(v, 8, 32)
	if err != nil {
		return fmt.Errorf("%q is not an octal file mode such as 0644", v)
	}
	if n > 0o777 {
		return fmt.Errorf("%q: only permission bits up to 0777 are allowed (setuid, setgid and sticky bits are refused)", v)
	}
	return nil
}

// hasDotDot reports whether a slash-separated path has a ".." element.
func hasDotDot(p string) bool {
	for p != "" {
		var part string
		part, p, _ = strings.Cut(p, "/")
		if part == ".." {
			return true
		}
	}
	return false
}

// checkRelFile accepts a relative file path inside the secrets volume.
func checkRelFile(v string) error {
	switch {
	case v == "":
		return errors.New("must not be empty")
	case strings.ContainsRune(v, 0), strings.Contains(v, "\\"):
		return fmt.Errorf("%q has a forbidden character", v)
	case hasDotDot(v):
		return fmt.Errorf("%q escapes the secrets volume (path traversal with ..)", v)
	}
	clean := path.Clean(strings.TrimPrefix(v, "/"))
	if clean == "." || clean == "/" || strings.HasSuffix(v, "/") {
		return fmt.Errorf("%q does not name a file", v)
	}
	return nil
}

// checkAbsPath accepts a clean absolute path without "..".
func checkAbsPath(v string) error {
	switch {
	case !strings.HasPrefix(v, "/"):
		return fmt.Errorf("%q is not an absolute path", v)
	case strings.ContainsRune(v, 0):
		return fmt.Errorf("%q has a forbidden character", v)
	case hasDotDot(v):
		return fmt.Errorf("%q has a .. element (path traversal)", v)
	case path.Clean(v) == "/":
		return fmt.Errorf("%q is the root directory, which is not allowed", v)
	}
	return nil
}

// checkMountPath is checkAbsPath plus ":" which Kubernetes forbids in mount paths.
func checkMountPath(v string) error {
	if err := checkAbsPath(v); err != nil {
		return err
	}
	if strings.Contains(v, ":") {
		return fmt.Errorf("%q must not contain ':'", v)
	}
	return nil
}

func checkDNSSubdomain(v string) error {
	if errs := validation.IsDNS1123Subdomain(v); len(errs) > 0 {
		return fmt.Errorf("%q is not a valid object name: %s", v, strings.Join(errs, "; "))
	}
	return nil
}

func checkDNSLabel(v string) error {
	if errs := validation.IsDNS1123Label(v); len(errs) > 0 {
		return fmt.Errorf("%q is not a valid name: %s", v, strings.Join(errs, "; "))
	}
	return nil
}

func checkNameList(v string) error {
	for _, name := range splitList(v) {
		if err := checkDNSLabel(name); err != nil {
			return err
		}
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// checkEnvPrefix accepts the prefix of env-mode variable names. An empty prefix would let a
// secret's keys name any variable, and LD_ and the like name variables that take over the
// process (the agent checks each whole name again when the keys are known).
func checkEnvPrefix(v string) error {
	if v == "" {
		return errors.New("must not be empty: without a prefix the secret's keys could name any variable (PATH, LD_PRELOAD, ...)")
	}
	if errs := validation.IsEnvVarName(v); len(errs) > 0 {
		return fmt.Errorf("%q is not a valid environment variable prefix", v)
	}
	if agentconfig.HijackingEnvPrefix(v) {
		return fmt.Errorf("%q names variables that take over the process (LD_*, DYLD_*, BASH_FUNC_*, ...)", v)
	}
	return nil
}

func checkJSONPatch(v string) error {
	if v == "" {
		return nil
	}
	if _, err := jsonpatch5.DecodePatch([]byte(v)); err != nil {
		return fmt.Errorf("not a JSON patch: %v", err)
	}
	return nil
}

func checkCommand(v string) error {
	_, err := splitCommand(v)
	return err
}

// splitCommand splits a command line into argv the way a POSIX shell splits words
// (single and double quotes, backslash escapes), without expanding anything.
func splitCommand(s string) ([]string, error) {
	var (
		args    []string
		cur     strings.Builder
		inWord  bool
		quote   rune
		escaped bool
	)
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			default:
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped, inWord = true, true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || escaped {
		return nil, fmt.Errorf("%q has an unterminated quote or escape", s)
	}
	if inWord {
		args = append(args, cur.String())
	}
	if len(args) == 0 {
		return nil, errors.New("command is empty")
	}
	return args, nil
}

// compareQuantities compares two quantities as the API server would (-1, 0 or +1); ok is
// false when either is not a valid, non-negative quantity (as checkQuantity rejects it).
func compareQuantities(a, b string) (c int, ok bool) {
	x, err := resource.ParseQuantity(a)
	if err != nil || x.Sign() < 0 {
		return 0, false
	}
	y, err := resource.ParseQuantity(b)
	if err != nil || y.Sign() < 0 {
		return 0, false
	}
	return x.Cmp(y), true
}
