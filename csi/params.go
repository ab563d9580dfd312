package csi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Parameter is one SecretProviderClass parameter: the compatibility contract with
// hashicorp/vault-csi-provider is this table (docs/csi.md and the tests are built from it).
type Parameter struct {
	Key string
	// Flag is the provider flag that gives the default, "" when there is none.
	Flag string
	Doc  string
}

// Parameters lists every SecretProviderClass parameter the provider reads. Keys the driver
// adds (csi.storage.k8s.io/*) are read from the mount attributes, not listed here.
var Parameters = []Parameter{
	{"roleName", "", "Vault role to log in as (required)."},
	{"vaultAddress", "vault-address", "Vault address, for example https://vault.vault.svc:8200."},
	{"vaultNamespace", "vault-namespace", "Vault Enterprise namespace."},
	{"vaultCACertPath", "vault-ca-cert", "PEM file of CA certificates, on the provider's filesystem."},
	{"vaultCADirectory", "vault-ca-directory", "directory of PEM CA certificates, on the provider's filesystem."},
	{"vaultTLSServerName", "vault-tls-server-name", "server name to verify Vault's certificate against."},
	{"vaultTLSClientCertPath", "vault-tls-client-cert", "PEM client certificate for TLS to Vault, on the provider's filesystem."},
	{"vaultTLSClientKeyPath", "vault-tls-client-key", "PEM client key for TLS to Vault, on the provider's filesystem."},
	{"vaultSkipTLSVerify", "", `"true" turns off the verification of Vault's certificate (never from the environment).`},
	{"vaultAuthMountPath", "vault-auth-mount-path", "mount path of the Kubernetes or JWT auth method (default kubernetes)."},
	{"vaultKubernetesMountPath", "", "older name of vaultAuthMountPath; give one of the two."},
	{"audience", "audience", "audience of the pod's service-account token used to log in (one of the CSIDriver's tokenRequests)."},
	{"objects", "", "YAML list of the objects to mount (see Object)."},
}

// ObjectField is one field of an entry of the objects parameter.
type ObjectField struct {
	Key string
	Doc string
}

// ObjectFields lists the fields of an object, vault-csi-provider's and ours (vaultkube.io/).
var ObjectFields = []ObjectField{
	{"objectName", "file name in the mount (relative, no '..'); unique within the class."},
	{"secretPath", "Vault path to read, with an optional ?version=N for KV v2."},
	{"secretKey", "key of the secret's data to write; strings raw, other values as JSON; empty: the whole response as JSON."},
	{"method", "GET (default) or PUT (POST is taken as PUT): PUT writes secretArgs to the path, for example pki/issue/ROLE."},
	{"secretArgs", "map sent as the request body (PUT) or as query parameters (GET)."},
	{"filePermission", "octal file mode, for example 0600 (default: the volume's, 0644)."},
	{"encoding", "how the value is encoded in Vault: utf-8 (default, written as is), base64 or hex (decoded before writing)."},
	{ExtTemplate, "vaultkube extension: a consul-template template rendered with the pod's token; the file is its output. No secretPath."},
	{ExtAllKeys, "vaultkube extension: \"true\" writes one file per key of the secret's data under objectName/ (no secretKey)."},
}

// Extension field names.
const (
	ExtTemplate = "vaultkube.io/template"
	ExtAllKeys  = "vaultkube.io/allKeys"
)

// Attribute keys the driver adds to the parameters.
const (
	attrPodName        = "csi.storage.k8s.io/pod.name"
	attrPodNamespace   = "csi.storage.k8s.io/pod.namespace"
	attrPodUID         = "csi.storage.k8s.io/pod.uid"
	attrServiceAccount = "csi.storage.k8s.io/serviceAccount.name"
	attrTokens         = "csi.storage.k8s.io/serviceAccount.tokens"
)

// Defaults are the provider's flags that give parameter defaults.
type Defaults struct {
	VaultAddress   string
	VaultNamespace string
	CACert         string
	CADirectory    string
	TLSServerName  string
	ClientCert     string
	ClientKey      string
	AuthMountPath  string
	Audience       string
}

// Object is one entry of the objects parameter, validated.
type Object struct {
	Name       string
	Path       string     // without the query
	Query      url.Values // from ?version=N and, for GET, secretArgs
	Key        string
	Method     string // GET or PUT
	Args       map[string]any
	Mode       os.FileMode
	HasMode    bool
	Encoding   string // utf-8, base64, hex
	Template   string
	AllKeys    bool
	requestKey string // identifies the Vault request: path, method, query and body
}

// Request is a validated mount request.
type Request struct {
	PodName, PodNamespace, PodUID, ServiceAccount string

	Role           string
	VaultAddress   string
	VaultNamespace string
	TLS            TLSParams
	AuthMount      string
	Audience       string
	JWT            string // the pod's token for Audience: a secret, never logged
	JWTExpiry      time.Time
	DefaultMode    os.FileMode
	Objects        []Object
}

// TLSParams are the TLS parameters of a request.
type TLSParams struct {
	CACert, CADirectory, ServerName, ClientCert, ClientKey string
	SkipVerify                                             bool
}

// ParamError is bad input in a SecretProviderClass: Object is the objectName (or index) and
// Field the parameter or field, both named in the message.
type ParamError struct {
	Object string
	Field  string
	Msg    string
}

func (e *ParamError) Error() string {
	if e.Object != "" {
		return fmt.Sprintf("SecretProviderClass object %s: %s: %s", e.Object, e.Field, e.Msg)
	}
	return fmt.Sprintf("SecretProviderClass parameter %s: %s", e.Field, e.Msg)
}

func paramErr(field, format string, a ...any) error {
	return &ParamError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

func objErr(obj, field, format string, a ...any) error {
	return &ParamError{Object: obj, Field: field, Msg: fmt.Sprintf(format, a...)}
}

// ParseRequest validates the mount attributes (the SecretProviderClass parameters plus the
// driver's pod attributes, as JSON) and the volume's default permission (a decimal string
// as JSON, "420" for 0644). Parameters win over defaults.
func ParseRequest(attributes, permission string, d Defaults) (*Request, error) {
	var attrs map[string]string
	if err := json.Unmarshal([]byte(attributes), &attrs); err != nil {
		return nil, paramErr("attributes", "not a JSON object of strings: %v", err)
	}
	r := &Request{
		PodName: attrs[attrPodName], PodNamespace: attrs[attrPodNamespace], PodUID: attrs[attrPodUID],
		ServiceAccount: attrs[attrServiceAccount],
		Role:           strings.TrimSpace(attrs["roleName"]),
		VaultAddress:   firstNonEmpty(attrs["vaultAddress"], d.VaultAddress),
		VaultNamespace: firstNonEmpty(attrs["vaultNamespace"], d.VaultNamespace),
		Audience:       firstNonEmpty(attrs["audience"], d.Audience),
		DefaultMode:    0o644,
	}
	if r.Role == "" {
		return nil, paramErr("roleName", "is required: the Vault role of the pod's service account")
	}
	if r.VaultAddress == "" {
		return nil, paramErr("vaultAddress", "is required (no --vault-address default is set on the provider)")
	}
	if u, err := url.Parse(r.VaultAddress); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, paramErr("vaultAddress", "%q is not an http(s) URL", r.VaultAddress)
	}
	if r.PodUID == "" {
		return nil, paramErr(attrPodUID, "missing: set podInfoOnMount: true on the CSIDriver secrets-store.csi.k8s.io")
	}

	// Auth mount: the two names are mutually exclusive.
	am, km := attrs["vaultAuthMountPath"], attrs["vaultKubernetesMountPath"]
	mountField := "vaultAuthMountPath"
	switch {
	case am != "" && km != "":
		return nil, paramErr("vaultAuthMountPath", "and vaultKubernetesMountPath are both set: give only one (vaultKubernetesMountPath is the older name)")
	case am != "":
		r.AuthMount = am
	case km != "":
		r.AuthMount, mountField = km, "vaultKubernetesMountPath"
	default:
		r.AuthMount = firstNonEmpty(d.AuthMountPath, "kubernetes")
	}
	if err := checkVaultPath(r.AuthMount); err != nil {
		return nil, paramErr(mountField, "%v", err)
	}

	// TLS: files on the provider's filesystem, absolute and clean.
	r.TLS = TLSParams{
		CACert: firstNonEmpty(attrs["vaultCACertPath"], d.CACert), CADirectory: firstNonEmpty(attrs["vaultCADirectory"], d.CADirectory),
		ServerName: firstNonEmpty(attrs["vaultTLSServerName"], d.TLSServerName),
		ClientCert: firstNonEmpty(attrs["vaultTLSClientCertPath"], d.ClientCert), ClientKey: firstNonEmpty(attrs["vaultTLSClientKeyPath"], d.ClientKey),
	}
	for field, p := range map[string]string{"vaultCACertPath": r.TLS.CACert, "vaultCADirectory": r.TLS.CADirectory,
		"vaultTLSClientCertPath": r.TLS.ClientCert, "vaultTLSClientKeyPath": r.TLS.ClientKey} {
		if p != "" && (!path.IsAbs(p) || path.Clean(p) != p || strings.Contains(p, "..")) {
			return nil, paramErr(field, "%q must be an absolute, clean path without '..'", p)
		}
	}
	if (r.TLS.ClientCert == "") != (r.TLS.ClientKey == "") {
		return nil, paramErr("vaultTLSClientCertPath", "and vaultTLSClientKeyPath go together: give both or neither")
	}
	if v, ok := attrs["vaultSkipTLSVerify"]; ok && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, paramErr("vaultSkipTLSVerify", "%q is not true or false", v)
		}
		r.TLS.SkipVerify = b
	}

	if permission != "" {
		var s string
		if err := json.Unmarshal([]byte(permission), &s); err != nil {
			s = permission
		}
		m, err := strconv.ParseUint(s, 10, 32)
		if err != nil || m > 0o777 {
			return nil, paramErr("permission", "the volume's default file permission %q is not a decimal mode up to 511 (0777)", s)
		}
		r.DefaultMode = os.FileMode(m)
	}

	// The pod's token for the audience.
	jwt, exp, err := pickToken(attrs[attrTokens], r.Audience)
	if err != nil {
		return nil, err
	}
	r.JWT, r.JWTExpiry = jwt, exp

	objs, err := parseObjects(attrs["objects"])
	if err != nil {
		return nil, err
	}
	r.Objects = objs
	return r, nil
}

// pickToken returns the token for audience from the driver's serviceAccount.tokens
// attribute: {"<audience>": {"token": "...", "expirationTimestamp": "..."}}.
func pickToken(raw, audience string) (string, time.Time, error) {
	if raw == "" {
		return "", time.Time{}, paramErr(attrTokens, "missing: the driver passed no service-account token; set tokenRequests (audience %q) on the CSIDriver secrets-store.csi.k8s.io", firstNonEmpty(audience, "vault"))
	}
	var toks map[string]struct {
		Token      string    `json:"token"`
		Expiration time.Time `json:"expirationTimestamp"`
	}
	if err := json.Unmarshal([]byte(raw), &toks); err != nil {
		return "", time.Time{}, paramErr(attrTokens, "not valid JSON: %v", err)
	}
	if audience == "" {
		if t, ok := toks[""]; ok && t.Token != "" {
			return t.Token, t.Expiration, nil
		}
		if len(toks) == 1 {
			for _, t := range toks {
				if t.Token != "" {
					return t.Token, t.Expiration, nil
				}
			}
		}
		auds := make([]string, 0, len(toks))
		for a := range toks {
			auds = append(auds, a)
		}
		sort.Strings(auds)
		return "", time.Time{}, paramErr("audience", "not set, and the driver passed tokens for %d audiences (%s): name one", len(toks), strings.Join(auds, ", "))
	}
	t, ok := toks[audience]
	if !ok || t.Token == "" {
		return "", time.Time{}, paramErr("audience", "the driver passed no token for audience %q: add it to the tokenRequests of the CSIDriver secrets-store.csi.k8s.io", audience)
	}
	return t.Token, t.Expiration, nil
}

// rawObject is an entry of the objects YAML as written.
type rawObject struct {
	ObjectName     string         `yaml:"objectName"`
	SecretPath     string         `yaml:"secretPath"`
	SecretKey      string         `yaml:"secretKey"`
	Method         string         `yaml:"method"`
	SecretArgs     map[string]any `yaml:"secretArgs"`
	FilePermission yaml.Node      `yaml:"filePermission"`
	Encoding       string         `yaml:"encoding"`
	Template       string         `yaml:"vaultkube.io/template"`
	AllKeys        yaml.Node      `yaml:"vaultkube.io/allKeys"`
}

// maxObjects bounds the objects of one class.
const maxObjects = 256

func parseObjects(s string) ([]Object, error) {
	if strings.TrimSpace(s) == "" {
		return nil, paramErr("objects", "is required: a YAML list of objects with objectName and secretPath")
	}
	dec := yaml.NewDecoder(strings.NewReader(s))
	dec.KnownFields(true)
	var raws []rawObject
	if err := dec.Decode(&raws); err != nil {
		return nil, paramErr("objects", "not a YAML list of objects: %s", oneLine(err.Error()))
	}
	if len(raws) == 0 {
		return nil, paramErr("objects", "lists no object")
	}
	if len(raws) > maxObjects {
		return nil, paramErr("objects", "lists %d objects, more than %d", len(raws), maxObjects)
	}
	seen := map[string]bool{}
	out := make([]Object, 0, len(raws))
	for i, ro := range raws {
		o, err := validateObject(i, ro)
		if err != nil {
			return nil, err
		}
		if seen[o.Name] {
			return nil, objErr(o.Name, "objectName", "is used by two objects: file names must be unique")
		}
		seen[o.Name] = true
		out = append(out, o)
	}
	// A file cannot also be a directory of another object's files.
	names := make([]string, 0, len(out))
	for _, o := range out {
		names = append(names, o.Name)
	}
	sort.Strings(names)
	for i := 1; i < len(names); i++ {
		if strings.HasPrefix(names[i], names[i-1]+"/") {
			return nil, objErr(names[i], "objectName", "is inside %s, which is another object's file", names[i-1])
		}
	}
	return out, nil
}

func validateObject(i int, ro rawObject) (Object, error) {
	name := ro.ObjectName
	label := name
	if label == "" {
		label = fmt.Sprintf("#%d", i+1)
	}
	if err := checkFileName(name); err != nil {
		return Object{}, objErr(label, "objectName", "%v", err)
	}
	o := Object{Name: name, Key: ro.SecretKey, Template: ro.Template, Args: ro.SecretArgs}

	// Method.
	switch strings.ToUpper(strings.TrimSpace(ro.Method)) {
	case "", "GET":
		o.Method = "GET"
	case "PUT", "POST":
		o.Method = "PUT"
	default:
		return Object{}, objErr(name, "method", "%q is not GET or PUT", ro.Method)
	}

	// Encoding.
	switch strings.ToLower(strings.TrimSpace(ro.Encoding)) {
	case "", "utf-8", "utf8":
		o.Encoding = "utf-8"
	case "base64":
		o.Encoding = "base64"
	case "hex":
		o.Encoding = "hex"
	default:
		return Object{}, objErr(name, "encoding", "%q is not one of utf-8, base64, hex", ro.Encoding)
	}

	// File permission: octal as YAML writes it (0600, 0o600) or the decimal it stands for.
	if ro.FilePermission.Kind != 0 {
		m, err := parseMode(ro.FilePermission.Value)
		if err != nil {
			return Object{}, objErr(name, "filePermission", "%v", err)
		}
		o.Mode, o.HasMode = m, true
	}

	if ro.AllKeys.Kind != 0 {
		b, err := strconv.ParseBool(ro.AllKeys.Value)
		if err != nil {
			return Object{}, objErr(name, ExtAllKeys, "%q is not true or false", ro.AllKeys.Value)
		}
		o.AllKeys = b
	}

	if o.Template != "" {
		if ro.SecretPath != "" || o.Key != "" || o.AllKeys || len(o.Args) > 0 {
			return Object{}, objErr(name, ExtTemplate, "a template object takes no secretPath, secretKey, secretArgs or %s: the template reads its secrets itself", ExtAllKeys)
		}
		return o, nil
	}

	// Path and query.
	p := ro.SecretPath
	if strings.TrimSpace(p) == "" {
		return Object{}, objErr(name, "secretPath", "is required")
	}
	rawPath, rawQuery, hasQuery := strings.Cut(p, "?")
	if err := checkVaultPath(rawPath); err != nil {
		return Object{}, objErr(name, "secretPath", "%v", err)
	}
	o.Path = strings.Trim(rawPath, "/")
	o.Query = url.Values{}
	if hasQuery {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return Object{}, objErr(name, "secretPath", "query %q: %v", rawQuery, err)
		}
		if o.Method != "GET" {
			return Object{}, objErr(name, "secretPath", "a query (?%s) only goes with method GET", rawQuery)
		}
		if v := q.Get("version"); v != "" {
			if n, err := strconv.Atoi(v); err != nil || n < 0 {
				return Object{}, objErr(name, "secretPath", "version %q is not a number", v)
			}
		}
		o.Query = q
	}
	if o.Method == "GET" {
		keys := make([]string, 0, len(o.Args))
		for k := range o.Args {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			o.Query.Add(k, fmt.Sprint(o.Args[k]))
		}
	}
	if o.AllKeys && o.Key != "" {
		return Object{}, objErr(name, ExtAllKeys, "and secretKey exclude each other: %s writes every key", ExtAllKeys)
	}
	body, _ := json.Marshal(o.Args)
	o.requestKey = o.Method + " " + o.Path + "?" + o.Query.Encode() + " " + string(body)
	return o, nil
}

// parseMode reads a file mode: octal with a leading 0 or 0o (as YAML 1.1 reads 0600), or a
// decimal number (as JSON would give 420 for 0644). Only permission bits are allowed.
func parseMode(s string) (os.FileMode, error) {
	t := strings.TrimSpace(s)
	var m uint64
	var err error
	switch {
	case strings.HasPrefix(t, "0o") || strings.HasPrefix(t, "0O"):
		m, err = strconv.ParseUint(t[2:], 8, 32)
	case len(t) > 1 && t[0] == '0':
		m, err = strconv.ParseUint(t[1:], 8, 32)
	default:
		m, err = strconv.ParseUint(t, 10, 32)
	}
	if err != nil || t == "" {
		return 0, fmt.Errorf("%q is not an octal file mode such as 0600", s)
	}
	if m > 0o777 {
		return 0, fmt.Errorf("%q has bits beyond 0777 (setuid, setgid and sticky are refused)", s)
	}
	return os.FileMode(m), nil
}

// checkFileName: relative, clean, no '..' element, no empty element, bounded length.
func checkFileName(n string) error {
	switch {
	case n == "":
		return errors.New("is required")
	case len(n) > 253:
		return errors.New("is longer than 253 characters")
	case strings.HasPrefix(n, "/"):
		return fmt.Errorf("%q is absolute: it must be relative to the mount", n)
	case strings.ContainsAny(n, "\\\x00"):
		return fmt.Errorf("%q contains a backslash or NUL", n)
	}
	for _, el := range strings.Split(n, "/") {
		switch el {
		case "":
			return fmt.Errorf("%q has an empty path element", n)
		case ".", "..":
			return fmt.Errorf("%q has a %q element: it must stay inside the mount", n, el)
		}
	}
	return nil
}

// checkVaultPath: a Vault API path without '..' or '.' elements, control characters or a
// scheme.
func checkVaultPath(p string) error {
	t := strings.Trim(p, "/")
	if t == "" {
		return fmt.Errorf("%q is empty", p)
	}
	for _, r := range t {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%q contains a control character", p)
		}
	}
	if strings.Contains(t, "://") {
		return fmt.Errorf("%q is a URL, not a Vault path", p)
	}
	for _, el := range strings.Split(t, "/") {
		if el == "." || el == ".." {
			return fmt.Errorf("%q has a %q element", p, el)
		}
	}
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func oneLine(s string) string {
	return string(bytes.Join(bytes.Fields([]byte(s)), []byte(" ")))
}
