package injector

import (
	"fmt"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// consulTemplateFuncs are the functions consul-template v0.41 (and thus Vault agent) gives
// templates. A test checks each name against consul-template itself.
var consulTemplateFuncs = []string{
	"datacenters", "exportedServices", "file", "key", "keyExists", "keyOrDefault", "ls", "safeLs",
	"node", "nodes", "partitions", "peerings", "secret", "secrets", "service", "connect", "services",
	"tree", "safeTree", "caRoots", "caLeaf", "pkiCert", "nomadServices", "nomadService", "nomadVarList",
	"nomadVarListSafe", "nomadVar", "nomadVarExists", "scratch", "base64Decode", "base64Encode",
	"base64URLDecode", "base64URLEncode", "byKey", "byPort", "byTag", "contains", "containsAll",
	"containsAny", "containsNone", "containsNotAll", "env", "mustEnv", "envOrDefault", "executeTemplate",
	"explode", "explodeMap", "mergeMap", "mergeMapWithOverride", "in", "indent", "loop", "join", "trim",
	"trimPrefix", "trimSuffix", "trimSpace", "parseBool", "parseFloat", "parseInt", "parseJSON",
	"parseUint", "parseYAML", "plugin", "regexReplaceAll", "regexMatch", "replaceAll", "sha256Hex",
	"md5sum", "hmacSHA256Hex", "timestamp", "toLower", "toJSON", "toJSONPretty", "toUnescapedJSON",
	"toUnescapedJSONPretty", "toTitle", "toTOML", "toUpper", "toYAML", "split", "splitToMap", "byMeta",
	"sockaddr", "writeToFile", "add", "subtract", "multiply", "divide", "modulo", "minimum", "maximum",
	"spew_dump", "spew_printf", "spew_sdump", "spew_sprintf",
}

// parseFuncs maps every known function name to a stub: parsing checks names, never runs them.
var parseFuncs = func() template.FuncMap {
	stub := func(...any) any { return nil }
	m := template.FuncMap{}
	for _, name := range consulTemplateFuncs {
		m[name] = stub
	}
	for name := range sprig.HermeticTxtFuncMap() {
		m["sprig_"+name] = stub
	}
	return m
}()

// ValidateTemplate parses a consul-template text with the given delimiters. It executes
// nothing: it only reports syntax errors and unknown functions.
func ValidateTemplate(text, left, right string) error {
	if left == "" {
		left = "{{"
	}
	if right == "" {
		right = "}}"
	}
	_, err := template.New("t").Delims(left, right).Funcs(parseFuncs).Parse(text)
	if err != nil {
		// text/template prefixes "template: t:"; keep the line:col and the problem.
		msg := strings.TrimPrefix(err.Error(), "template: ")
		msg = strings.TrimPrefix(msg, "t:")
		return fmt.Errorf("template does not parse: line %s", msg)
	}
	return nil
}
