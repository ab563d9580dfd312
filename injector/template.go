package injector

import (
	"fmt"
	"strings"
	"text/template/parse"
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

// sprigFuncs are the names of sprig v3's hermetic text functions, which consul-template
// offers with a "sprig_" prefix. A test checks the list against sprig itself (listing them
// here keeps sprig and its dependencies out of the webhook's binary).
var sprigFuncs = []string{
	"abbrev", "abbrevboth", "add", "add1", "add1f", "addf", "adler32sum", "ago", "all", "any",
	"append", "atoi", "b32dec", "b32enc", "b64dec", "b64enc", "base", "bcrypt", "biggest",
	"buildCustomCert", "camelcase", "cat", "ceil", "chunk", "clean", "coalesce", "compact",
	"concat", "contains", "decryptAES", "deepCopy", "deepEqual", "default", "derivePassword",
	"dict", "dig", "dir", "div", "divf", "duration", "durationRound", "empty", "encryptAES", "ext",
	"fail", "first", "float64", "floor", "fromJson", "genCA", "genCAWithKey", "genPrivateKey",
	"genSelfSignedCert", "genSelfSignedCertWithKey", "genSignedCert", "genSignedCertWithKey",
	"get", "has", "hasKey", "hasPrefix", "hasSuffix", "hello", "htpasswd", "indent", "initial",
	"initials", "int", "int64", "isAbs", "join", "kebabcase", "keys", "kindIs", "kindOf", "last",
	"list", "lower", "max", "maxf", "merge", "mergeOverwrite", "min", "minf", "mod", "mul", "mulf",
	"mustAppend", "mustChunk", "mustCompact", "mustDateModify", "mustDeepCopy", "mustFirst",
	"mustFromJson", "mustHas", "mustInitial", "mustLast", "mustMerge", "mustMergeOverwrite",
	"mustPrepend", "mustPush", "mustRegexFind", "mustRegexFindAll", "mustRegexMatch",
	"mustRegexReplaceAll", "mustRegexReplaceAllLiteral", "mustRegexSplit", "mustRest",
	"mustReverse", "mustSlice", "mustToDate", "mustToJson", "mustToPrettyJson", "mustToRawJson",
	"mustUniq", "mustWithout", "must_date_modify", "nindent", "nospace", "omit", "osBase",
	"osClean", "osDir", "osExt", "osIsAbs", "pick", "pluck", "plural", "prepend", "push", "quote",
	"randInt", "regexFind", "regexFindAll", "regexMatch", "regexQuoteMeta", "regexReplaceAll",
	"regexReplaceAllLiteral", "regexSplit", "repeat", "replace", "rest", "reverse", "round",
	"semver", "semverCompare", "seq", "set", "sha1sum", "sha256sum", "sha512sum", "shuffle",
	"slice", "snakecase", "sortAlpha", "split", "splitList", "splitn", "squote", "sub", "subf",
	"substr", "swapcase", "ternary", "title", "toDate", "toDecimal", "toJson", "toPrettyJson",
	"toRawJson", "toString", "toStrings", "trim", "trimAll", "trimPrefix", "trimSuffix", "trimall",
	"trunc", "tuple", "typeIs", "typeIsLike", "typeOf", "uniq", "unixEpoch", "unset", "until",
	"untilStep", "untitle", "upper", "urlJoin", "urlParse", "values", "without", "wrap", "wrapWith",
}

// textTemplateBuiltins are text/template's own functions.
var textTemplateBuiltins = []string{
	"and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println",
	"urlquery", "eq", "ge", "gt", "le", "lt", "ne",
}

// parseFuncs holds every known function name: the parser only checks that names exist,
// nothing is ever run. Built once; parse.Parse only reads it.
var parseFuncs = func() map[string]any {
	m := map[string]any{}
	for _, name := range textTemplateBuiltins {
		m[name] = true
	}
	for _, name := range consulTemplateFuncs {
		m[name] = true
	}
	for _, name := range sprigFuncs {
		m["sprig_"+name] = true
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
	_, err := parse.Parse("t", text, left, right, parseFuncs)
	if err != nil {
		// the parser prefixes "template: t:"; keep the line and the problem.
		msg := strings.TrimPrefix(err.Error(), "template: ")
		msg = strings.TrimPrefix(msg, "t:")
		return fmt.Errorf("template does not parse: line %s", msg)
	}
	return nil
}
