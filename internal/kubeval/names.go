package kubeval

import (
	"fmt"
	"strings"
)

const (
	// dns1123LabelMaxLength is the longest RFC 1123 label Kubernetes accepts.
	dns1123LabelMaxLength = 63
	// dns1123SubdomainMaxLength is the longest RFC 1123 subdomain Kubernetes accepts.
	dns1123SubdomainMaxLength = 253
)

const (
	labelCharsMsg     = "a DNS-1123 label must consist of lower-case letters, digits and '-', and must start and end with a letter or digit (e.g. 'my-name' or '123-abc')"
	subdomainCharsMsg = "a DNS-1123 subdomain must consist of lower-case letters, digits, '-' and '.', each dot-separated part must start and end with a letter or digit (e.g. 'example.com')"
	envVarCharsMsg    = "an environment variable name must consist of letters, digits, '_', '-' and '.', and must not start with a digit (e.g. 'my.env-name', 'MY_ENV.NAME' or 'MyEnvName1')"
)

func tooLongMsg(max int) string {
	return fmt.Sprintf("must be no more than %d characters", max)
}

// IsDNS1123Label checks that v is an RFC 1123 label as Kubernetes defines it
// (k8s.io/apimachinery/pkg/util/validation.IsDNS1123Label): 1 to 63 characters,
// lower-case ASCII letters, digits and '-', starting and ending with a letter
// or digit. It returns nil when v is valid and otherwise one message per
// problem found.
func IsDNS1123Label(v string) []string {
	var errs []string
	if len(v) > dns1123LabelMaxLength {
		errs = append(errs, tooLongMsg(dns1123LabelMaxLength))
	}
	if !isLabelSyntax(v) {
		if isSubdomainSyntax(v) {
			errs = append(errs, "must not contain dots")
		} else {
			errs = append(errs, labelCharsMsg)
		}
	}
	return errs
}

// IsDNS1123Subdomain checks that v is an RFC 1123 subdomain as Kubernetes
// defines it (k8s.io/apimachinery/pkg/util/validation.IsDNS1123Subdomain): at
// most 253 characters in total, made of one or more dot-separated parts that
// each follow the DNS-1123 label character rules (the 63-character limit of a
// label is not applied to the parts). It returns nil when v is valid and
// otherwise one message per problem found.
func IsDNS1123Subdomain(v string) []string {
	var errs []string
	if len(v) > dns1123SubdomainMaxLength {
		errs = append(errs, tooLongMsg(dns1123SubdomainMaxLength))
	}
	if !isSubdomainSyntax(v) {
		errs = append(errs, subdomainCharsMsg)
	}
	return errs
}

// IsEnvVarName checks that v is a valid environment variable name as
// Kubernetes defines it (k8s.io/apimachinery/pkg/util/validation.IsEnvVarName):
// it matches [-._a-zA-Z][-._a-zA-Z0-9]* and is not ".", ".." or anything
// starting with "..". It returns nil when v is valid and otherwise one message
// per problem found.
func IsEnvVarName(v string) []string {
	var errs []string
	if !isEnvVarSyntax(v) {
		errs = append(errs, envVarCharsMsg)
	}
	switch {
	case v == ".":
		errs = append(errs, "must not be '.'")
	case v == "..":
		errs = append(errs, "must not be '..'")
	case strings.HasPrefix(v, ".."):
		errs = append(errs, "must not start with '..'")
	}
	return errs
}

// isLabelSyntax reports whether v is a non-empty run of [a-z0-9-] that starts
// and ends with [a-z0-9]; the length limit is checked separately.
func isLabelSyntax(v string) bool {
	if v == "" || !isLowerAlnum(v[0]) || !isLowerAlnum(v[len(v)-1]) {
		return false
	}
	for i := 1; i < len(v)-1; i++ {
		if c := v[i]; !isLowerAlnum(c) && c != '-' {
			return false
		}
	}
	return true
}

// isSubdomainSyntax reports whether v is one or more labels joined by dots;
// the length limit is checked separately.
func isSubdomainSyntax(v string) bool {
	for {
		part, rest, more := strings.Cut(v, ".")
		if !isLabelSyntax(part) {
			return false
		}
		if !more {
			return true
		}
		v = rest
	}
}

func isEnvVarSyntax(v string) bool {
	if v == "" || isDigit(v[0]) {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !isDigit(c) && !isLetter(c) && c != '-' && c != '.' && c != '_' {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isLetter(c byte) bool     { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isLowerAlnum(c byte) bool { return (c >= 'a' && c <= 'z') || isDigit(c) }
