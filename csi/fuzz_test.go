package csi

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseRequest: no input panics, and whatever is accepted is safe to write: file names
// stay inside the mount, modes are permission bits, methods and encodings are known.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"- {objectName: a, secretPath: secret/data/app, secretKey: user}",
		"- {objectName: d/p, secretPath: 'kv?version=2', filePermission: 0600, encoding: base64}",
		"- {objectName: c, secretPath: pki/issue/x, method: PUT, secretArgs: {common_name: a}}",
		"- {objectName: t, vaultkube.io/template: '{{ with secret \"a\" }}{{ end }}'}",
		"- {objectName: all, secretPath: a, vaultkube.io/allKeys: true}",
		"- objectName: ../x\n  secretPath: a",
		"[]", "{}", "- 1", "- {objectName: a, filePermission: 0689}",
	} {
		f.Add(s, "vault", "kubernetes", "420")
	}
	f.Fuzz(func(t *testing.T, objects, audience, mount, perm string) {
		m := map[string]string{
			"roleName": "r", "vaultAddress": "https://v:8200", attrPodUID: "u", "objects": objects,
			attrTokens: `{"vault":{"token":"t"}}`, "audience": audience, "vaultAuthMountPath": mount,
		}
		b, _ := json.Marshal(m)
		permJSON, _ := json.Marshal(perm)
		r, err := ParseRequest(string(b), string(permJSON), Defaults{})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if r.DefaultMode > 0o777 {
			t.Fatalf("default mode %o", r.DefaultMode)
		}
		for _, o := range r.Objects {
			if o.Name == "" || strings.HasPrefix(o.Name, "/") || strings.Contains("/"+o.Name+"/", "/../") {
				t.Fatalf("unsafe objectName %q accepted", o.Name)
			}
			if o.Mode > 0o777 {
				t.Fatalf("mode %o accepted", o.Mode)
			}
			if o.Method != "GET" && o.Method != "PUT" {
				t.Fatalf("method %q", o.Method)
			}
			switch o.Encoding {
			case "utf-8", "base64", "hex":
			default:
				t.Fatalf("encoding %q", o.Encoding)
			}
			if o.Template == "" && (o.Path == "" || strings.Contains("/"+o.Path+"/", "/../")) {
				t.Fatalf("unsafe secretPath %q accepted", o.Path)
			}
		}
	})
}
