package csi

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestProvider(t *testing.T) *Provider {
	t.Helper()
	p, err := NewProvider(Options{VersionKey: []byte("k")})
	require.NoError(t, err)
	return p
}

func files(r *Result) map[string]File {
	m := map[string]File{}
	for _, f := range r.Files {
		m[f.Path] = f
	}
	return m
}

func versions(r *Result) map[string]string {
	m := map[string]string{}
	for _, v := range r.Versions {
		m[v.ID] = v.Version
	}
	return m
}

const kvObjects = `
- objectName: user
  secretPath: secret/data/app
  secretKey: user
- objectName: db/password
  secretPath: secret/data/app
  secretKey: password
  filePermission: 0600
- objectName: port
  secretPath: secret/data/app
  secretKey: port
- objectName: decoded-b64
  secretPath: secret/data/app
  secretKey: b64
  encoding: base64
- objectName: decoded-hex
  secretPath: secret/data/app
  secretKey: hex
  encoding: hex
- objectName: old
  secretPath: secret/data/app?version=1
  secretKey: user
- objectName: whole.json
  secretPath: kv1/plain
- objectName: nested
  secretPath: kv1/plain
  secretKey: nested
`

func TestMountKV(t *testing.T) {
	v := newFakeVault(t)
	p := newTestProvider(t)
	res, err := p.Mount(context.Background(), attrs(v.URL, "uid-1", kvObjects, nil), `"420"`)
	require.NoError(t, err)
	f := files(res)
	require.Len(t, f, 8)
	assert.Equal(t, "app-user", string(f["user"].Contents))
	assert.Equal(t, int32(0o644), f["user"].Mode, "the volume's permission is the default")
	assert.Equal(t, "s3cr3t", string(f["db/password"].Contents))
	assert.Equal(t, int32(0o600), f["db/password"].Mode)
	assert.Equal(t, "5432", string(f["port"].Contents), "a non-string value is JSON")
	assert.Equal(t, "hello", string(f["decoded-b64"].Contents))
	assert.Equal(t, "hello", string(f["decoded-hex"].Contents))
	assert.Equal(t, "old-user", string(f["old"].Contents), "?version=1 reaches Vault")
	assert.JSONEq(t, `{"a":1}`, string(f["nested"].Contents))
	var whole map[string]any
	require.NoError(t, json.Unmarshal(f["whole.json"].Contents, &whole))
	assert.Equal(t, map[string]any{"k": "v", "nested": map[string]any{"a": float64(1)}}, whole["data"], "no key: the whole response")

	// One login; one read per distinct request (three: secret/data/app, ?version=1, kv1/plain).
	assert.EqualValues(t, 1, v.logins.Load())
	assert.EqualValues(t, 3, v.reads.Load())
	assert.Equal(t, "jwt-of-uid-1", v.lastJWT, "the token of the requested audience")

	// Every file has a version; unchanged content keeps its version.
	vs := versions(res)
	require.Len(t, vs, 8)
	res2, err := p.Mount(context.Background(), attrs(v.URL, "uid-1", kvObjects, nil), `"420"`)
	require.NoError(t, err)
	assert.Equal(t, vs, versions(res2))
	assert.EqualValues(t, 1, v.logins.Load(), "the pod's token is reused")

	// A KV change shows up at the next mount (rotation poll), with a new version.
	v.setKV("secret/data/app", map[string]any{"user": "new-user", "password": "s3cr3t", "port": 1, "b64": "aGVsbG8=", "hex": "68"})
	res3, err := p.Mount(context.Background(), attrs(v.URL, "uid-1", kvObjects, nil), `"420"`)
	require.NoError(t, err)
	assert.Equal(t, "new-user", string(files(res3)["user"].Contents))
	assert.NotEqual(t, vs["user"], versions(res3)["user"])
	assert.Equal(t, vs["db/password"], versions(res3)["db/password"])
	// The version does not reveal the content.
	assert.NotContains(t, vs["user"], "app-user")
}

func TestOneLoginPerPodPerTokenTTL(t *testing.T) {
	v := newFakeVault(t)
	p := newTestProvider(t)
	objs := "- {objectName: u, secretPath: secret/data/app, secretKey: user}"
	for range 100 {
		_, err := p.Mount(context.Background(), attrs(v.URL, "pod-a", objs, nil), "")
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, v.logins.Load(), "100 mounts of one pod")
	_, err := p.Mount(context.Background(), attrs(v.URL, "pod-b", objs, nil), "")
	require.NoError(t, err)
	assert.EqualValues(t, 2, v.logins.Load(), "another pod logs in on its own")
	_, err = p.Mount(context.Background(), attrs(v.URL, "pod-a", objs, map[string]string{"vaultAuthMountPath": "k8s-other"}), "")
	require.NoError(t, err)
	assert.EqualValues(t, 3, v.logins.Load(), "another auth mount is another login")
}

func TestRefusedTokenLogsInAgain(t *testing.T) {
	v := newFakeVault(t)
	p := newTestProvider(t)
	objs := "- {objectName: u, secretPath: secret/data/app, secretKey: user}"
	_, err := p.Mount(context.Background(), attrs(v.URL, "pod-a", objs, nil), "")
	require.NoError(t, err)
	v.revoke("hvs.tok-1")
	res, err := p.Mount(context.Background(), attrs(v.URL, "pod-a", objs, nil), "")
	require.NoError(t, err)
	assert.Equal(t, "app-user", string(files(res)["u"].Contents))
	assert.EqualValues(t, 2, v.logins.Load())
}

func TestLeasedSecretsAreNotReissuedOnEveryPoll(t *testing.T) {
	v := newFakeVault(t)
	p := newTestProvider(t)
	objs := `
- {objectName: db-user, secretPath: database/creds/app, secretKey: username}
- {objectName: db-lease, secretPath: database/creds/app, secretKey: password}
- objectName: tls.crt
  secretPath: pki/issue/web
  method: PUT
  secretKey: certificate
  secretArgs: {common_name: web.team.svc}
`
	var first map[string]File
	for i := range 5 {
		res, err := p.Mount(context.Background(), attrs(v.URL, "pod-a", objs, nil), "")
		require.NoError(t, err)
		if i == 0 {
			first = files(res)
		}
		assert.Equal(t, first, files(res), "poll %d", i)
	}
	assert.Equal(t, "v-app-1", string(first["db-user"].Contents))
	assert.Equal(t, "CERT-1-web.team.svc", string(first["tls.crt"].Contents), "secretArgs are the PUT body")
	assert.EqualValues(t, 1, v.creds.Load(), "one lease for five polls")
	assert.EqualValues(t, 1, v.issues.Load(), "one certificate for five polls")
	// Another pod gets its own credentials.
	res, err := p.Mount(context.Background(), attrs(v.URL, "pod-b", objs, nil), "")
	require.NoError(t, err)
	assert.Equal(t, "v-app-2", string(files(res)["db-user"].Contents))
}

func TestTemplateAndAllKeys(t *testing.T) {
	v := newFakeVault(t)
	p := newTestProvider(t)
	objs := `
- objectName: config.ini
  vaultkube.io/template: |
    {{- with secret "secret/data/app" }}user={{ .Data.data.user }}
    password={{ .Data.data.password }}{{ end }}
- objectName: app
  secretPath: secret/data/app
  vaultkube.io/allKeys: true
`
	res, err := p.Mount(context.Background(), attrs(v.URL, "pod-a", objs, nil), "")
	require.NoError(t, err)
	f := files(res)
	assert.Equal(t, "user=app-user\npassword=s3cr3t", strings.TrimSpace(string(f["config.ini"].Contents)))
	for k, want := range map[string]string{"user": "app-user", "password": "s3cr3t", "port": "5432"} {
		assert.Equal(t, want, string(f["app/"+k].Contents), k)
	}
	assert.EqualValues(t, 1, v.logins.Load(), "the template uses the pod's token")

	// A template may not read the provider's files or environment.
	_, err = p.Mount(context.Background(), attrs(v.URL, "pod-a", `- {objectName: x, vaultkube.io/template: '{{ file "/etc/passwd" }}'}`, nil), "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "object x")
	_, err = p.Mount(context.Background(), attrs(v.URL, "pod-a", `- {objectName: x, vaultkube.io/template: '{{ env "HOME" }}'}`, nil), "")
	require.Error(t, err)

	// A key that is not a safe file name is refused.
	_, err = p.Mount(context.Background(), attrs(v.URL, "pod-a", `- {objectName: w, secretPath: kv1/weird, vaultkube.io/allKeys: true}`, nil), "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `key "../escape"`)
}

func TestMountErrorsNameObjectAndField(t *testing.T) {
	v := newFakeVault(t)
	p := newTestProvider(t)
	cases := []struct {
		name    string
		objects string
		extra   map[string]string
		want    []string
		kind    string
	}{
		{"missing roleName", "- {objectName: a, secretPath: secret/data/app}", map[string]string{"roleName": ""}, []string{"roleName", "required"}, KindParameters},
		{"both mount paths", "- {objectName: a, secretPath: secret/data/app}", map[string]string{"vaultAuthMountPath": "a", "vaultKubernetesMountPath": "b"}, []string{"vaultAuthMountPath", "vaultKubernetesMountPath"}, KindParameters},
		{"duplicate objectName", "- {objectName: a, secretPath: x}\n- {objectName: a, secretPath: y}", nil, []string{"object a", "objectName", "unique"}, KindParameters},
		{"absolute objectName", "- {objectName: /etc/x, secretPath: x}", nil, []string{"objectName", "absolute"}, KindParameters},
		{"escaping objectName", "- {objectName: a/../../x, secretPath: x}", nil, []string{"objectName", `".."`}, KindParameters},
		{"unknown encoding", "- {objectName: a, secretPath: x, encoding: rot13}", nil, []string{"object a", "encoding", "rot13"}, KindParameters},
		{"non-octal filePermission", "- {objectName: a, secretPath: x, filePermission: 0689}", nil, []string{"object a", "filePermission", "0689"}, KindParameters},
		{"setuid filePermission", "- {objectName: a, secretPath: x, filePermission: 04755}", nil, []string{"object a", "filePermission"}, KindParameters},
		{"unknown field", "- {objectName: a, secretPath: x, secretkey: typo}", nil, []string{"objects", "secretkey"}, KindParameters},
		{"bad method", "- {objectName: a, secretPath: x, method: DELETE}", nil, []string{"object a", "method"}, KindParameters},
		{"no objects", "", nil, []string{"objects", "required"}, KindParameters},
		{"unknown audience", "- {objectName: a, secretPath: x}", map[string]string{"audience": "other"}, []string{"audience", "other", "tokenRequests"}, KindParameters},
		{"no tokens", "- {objectName: a, secretPath: x}", map[string]string{attrTokens: ""}, []string{"tokenRequests"}, KindParameters},
		{"bad skip verify", "- {objectName: a, secretPath: x}", map[string]string{"vaultSkipTLSVerify": "yes please"}, []string{"vaultSkipTLSVerify"}, KindParameters},
		{"relative CA path", "- {objectName: a, secretPath: x}", map[string]string{"vaultCACertPath": "../ca.crt"}, []string{"vaultCACertPath"}, KindParameters},
		{"missing secretKey", "- {objectName: a, secretPath: secret/data/app, secretKey: nope}", nil, []string{"object a", `secretKey "nope"`, "user"}, KindContent},
		{"missing secret", "- {objectName: a, secretPath: secret/data/none}", nil, []string{"object a", "secret/data/none"}, KindRead},
		{"wrong role", "- {objectName: a, secretPath: secret/data/app}", map[string]string{"roleName": "nope"}, []string{"role \"nope\"", "log in"}, KindLogin},
		{"over the driver's limit", "- {objectName: a, secretPath: kv1/big, secretKey: v}\n- {objectName: b, secretPath: kv1/big, secretKey: v, encoding: utf-8}", nil, []string{"4194304"}, KindSize},
		{"bad base64", "- {objectName: a, secretPath: secret/data/app, secretKey: user, encoding: base64}", nil, []string{"object a", "base64"}, KindContent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := p.Mount(context.Background(), attrs(v.URL, "pod-err", tc.objects, tc.extra), "")
			require.Error(t, err)
			assert.Nil(t, res, "nothing is written on an error")
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Equal(t, tc.kind, ErrorKind(err))
		})
	}
}

// TestParametersTable enumerates the compatibility table: each parameter changes what the
// provider does, and each object field is accepted.
func TestParametersTable(t *testing.T) {
	d := Defaults{VaultAddress: "https://default:8200", AuthMountPath: "kubernetes"}
	base := map[string]string{
		"roleName": "r", attrPodUID: "u", attrTokens: `{"vault":{"token":"t"},"other":{"token":"o"}}`,
		"audience": "vault", "objects": "- {objectName: a, secretPath: x}",
	}
	set := map[string]struct {
		value string
		check func(*testing.T, *Request)
	}{
		"roleName":                 {"role-x", func(t *testing.T, r *Request) { assert.Equal(t, "role-x", r.Role) }},
		"vaultAddress":             {"https://v:8200", func(t *testing.T, r *Request) { assert.Equal(t, "https://v:8200", r.VaultAddress) }},
		"vaultNamespace":           {"ns1", func(t *testing.T, r *Request) { assert.Equal(t, "ns1", r.VaultNamespace) }},
		"vaultCACertPath":          {"/ca.pem", func(t *testing.T, r *Request) { assert.Equal(t, "/ca.pem", r.TLS.CACert) }},
		"vaultCADirectory":         {"/cas", func(t *testing.T, r *Request) { assert.Equal(t, "/cas", r.TLS.CADirectory) }},
		"vaultTLSServerName":       {"vault.local", func(t *testing.T, r *Request) { assert.Equal(t, "vault.local", r.TLS.ServerName) }},
		"vaultTLSClientCertPath":   {"/c.pem", func(t *testing.T, r *Request) { assert.Equal(t, "/c.pem", r.TLS.ClientCert) }},
		"vaultTLSClientKeyPath":    {"/k.pem", func(t *testing.T, r *Request) { assert.Equal(t, "/k.pem", r.TLS.ClientKey) }},
		"vaultSkipTLSVerify":       {"true", func(t *testing.T, r *Request) { assert.True(t, r.TLS.SkipVerify) }},
		"vaultAuthMountPath":       {"jwt-a", func(t *testing.T, r *Request) { assert.Equal(t, "jwt-a", r.AuthMount) }},
		"vaultKubernetesMountPath": {"k8s-b", func(t *testing.T, r *Request) { assert.Equal(t, "k8s-b", r.AuthMount) }},
		"audience":                 {"other", func(t *testing.T, r *Request) { assert.Equal(t, "o", r.JWT) }},
		"objects":                  {"- {objectName: z, secretPath: y}", func(t *testing.T, r *Request) { assert.Equal(t, "z", r.Objects[0].Name) }},
	}
	for _, prm := range Parameters {
		tc, ok := set[prm.Key]
		require.True(t, ok, "parameter %s has no test case", prm.Key)
		t.Run(prm.Key, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range base {
				m[k] = v
			}
			m[prm.Key] = tc.value
			if prm.Key == "vaultTLSClientCertPath" {
				m["vaultTLSClientKeyPath"] = "/k.pem"
			}
			if prm.Key == "vaultTLSClientKeyPath" {
				m["vaultTLSClientCertPath"] = "/c.pem"
			}
			b, _ := json.Marshal(m)
			r, err := ParseRequest(string(b), "", d)
			require.NoError(t, err)
			tc.check(t, r)
		})
	}
	assert.Len(t, set, len(Parameters), "a test case for a parameter that is not in the table")

	// Defaults come from flags when the class sets nothing; verification stays on.
	b, _ := json.Marshal(base)
	r, err := ParseRequest(string(b), "", d)
	require.NoError(t, err)
	assert.Equal(t, "https://default:8200", r.VaultAddress)
	assert.Equal(t, "kubernetes", r.AuthMount)
	assert.False(t, r.TLS.SkipVerify)

	// Every object field parses.
	fields := map[string]string{
		"objectName": "objectName: a", "secretPath": "secretPath: x", "secretKey": "secretKey: k",
		"method": "method: PUT", "secretArgs": "secretArgs: {a: b}", "filePermission": "filePermission: 0600",
		"encoding": "encoding: hex", ExtTemplate: "", ExtAllKeys: "",
	}
	for _, f := range ObjectFields {
		_, ok := fields[f.Key]
		require.True(t, ok, "object field %s has no test case", f.Key)
	}
	objs, err := parseObjects("- {" + strings.Join([]string{fields["objectName"], fields["secretPath"], fields["secretKey"], fields["method"], fields["secretArgs"], fields["filePermission"], fields["encoding"]}, ", ") + "}\n- {objectName: t, vaultkube.io/template: 'x'}\n- {objectName: all, secretPath: y, vaultkube.io/allKeys: true}")
	require.NoError(t, err)
	assert.Equal(t, Object{Name: "a", Path: "x", Query: objs[0].Query, Key: "k", Method: "PUT", Args: map[string]any{"a": "b"},
		Mode: 0o600, HasMode: true, Encoding: "hex", requestKey: objs[0].requestKey}, objs[0])
	assert.Equal(t, "x", objs[1].Template)
	assert.True(t, objs[2].AllKeys)
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]uint32{"0600": 0o600, "0o640": 0o640, "420": 0o644, "0": 0, "0777": 0o777} {
		m, err := parseMode(in)
		require.NoError(t, err, in)
		assert.EqualValues(t, want, m, in)
	}
	for _, in := range []string{"0689", "01000", "1000", "-1", "rw", "", "0x1ff"} {
		_, err := parseMode(in)
		assert.Error(t, err, in)
	}
}

func TestErrorKind(t *testing.T) {
	assert.Equal(t, "internal", ErrorKind(errors.New("x")))
	assert.Equal(t, KindParameters, ErrorKind(paramErr("f", "m")))
	assert.Equal(t, KindLogin, ErrorKind(kindErr(KindLogin, errors.New("x"))))
}
