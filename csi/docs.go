package csi

import (
	"fmt"
	"strings"
)

// Markdown renders docs/csi.md from the parameter and object tables (TestDocs keeps the
// file current: go test ./csi -run TestDocs -update).
func Markdown() string {
	var b strings.Builder
	b.WriteString(`# The vaultkube CSI provider

<!-- Generated from csi/params.go by csi.Markdown(): go test ./csi -run TestDocs -update -->

` + "`vaultkube csi-provider`" + ` serves SecretProviderClass volumes of the
[Secrets Store CSI Driver](https://secrets-store-csi-driver.sigs.k8s.io/) from Vault. Its provider
name is ` + "`vault`" + ` and it reads hashicorp/vault-csi-provider's parameters with the same meaning,
so SecretProviderClasses written for vault-csi-provider work unchanged.

What it does for each mount:

- logs in to Vault as the pod's service account with the token the driver passes (the
  CSIDriver's ` + "`tokenRequests`" + `, audience ` + "`vault`" + ` in our manifests), with the Kubernetes or JWT
  auth method; the Vault token is kept per pod, role, Vault and auth mount until 80% of its
  TTL, so a pod logs in once per token TTL, not at every rotation poll;
- reads each distinct (path, method, arguments) once, in parallel;
- keeps leased answers (dynamic credentials) and PUT answers with an expiration (PKI
  certificates) for the pod until two thirds of their life, so a rotation poll returns the
  same credentials instead of issuing new ones; KV reads are not cached, so a change reaches
  the file at the next poll;
- answers every file with a version: a keyed hash of its content, stable while the content is
  and revealing nothing of it (the driver stores versions in SecretProviderClassPodStatus);
- refuses bad input with one message naming the object and field, and writes nothing.

TLS to Vault is verified unless the class sets ` + "`vaultSkipTLSVerify: \"true\"`" + `; ` + "`VAULT_*`" + `
environment variables are never read.

## Parameters

| parameter | provider flag (default) | meaning |
|---|---|---|
`)
	for _, p := range Parameters {
		flag := ""
		if p.Flag != "" {
			flag = "`--" + p.Flag + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", p.Key, flag, p.Doc)
	}
	b.WriteString(`
Every flag has an environment twin: ` + "`" + EnvPrefix + "<FLAG>`" + ` (` + "`" + EnvName("vault-address") + "`" + `).

## Objects

| field | meaning |
|---|---|
`)
	for _, f := range ObjectFields {
		fmt.Fprintf(&b, "| `%s` | %s |\n", f.Key, f.Doc)
	}
	b.WriteString(`
Templates use consul-template's syntax and Vault functions (` + "`secret`, `secrets`" + `) with the pod's
token; ` + strings.Join(quoteAll(deniedFuncs), ", ") + ` are refused, since they would reach the provider's
own files, environment or programs.

## Example

` + "```yaml" + `
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: db, namespace: app}
spec:
  provider: vault
  secretObjects:                     # optional: the driver syncs a Kubernetes Secret
  - secretName: db
    type: Opaque
    data: [{objectName: username, key: username}]
  parameters:
    vaultAddress: https://vault.vault.svc:8200
    roleName: app                    # vault write auth/kubernetes/role/app ... audience=vault
    audience: vault
    objects: |
      - objectName: username
        secretPath: secret/data/app/db
        secretKey: username
      - objectName: tls.crt
        secretPath: pki/issue/app
        method: PUT
        secretArgs: {common_name: web.app.svc}
        secretKey: certificate
        filePermission: 0600
      - objectName: db.env
        vaultkube.io/template: |
          {{- with secret "secret/data/app/db" }}DB_USER={{ .Data.data.username }}{{ end }}
      - objectName: all
        secretPath: secret/data/app/config
        vaultkube.io/allKeys: true   # all/<key> for every key
` + "```" + `

## Health and metrics

` + "`--health-addr`" + ` (127.0.0.1:8099) serves ` + "`/healthz`" + `, ` + "`/readyz`" + ` (ready when the socket answers a
Version call, as the driver's would) and ` + "`/metrics`" + `: ` + "`vaultkube_csi_mounts_total{result}`" + `,
` + "`vaultkube_csi_mount_errors_total{kind}`" + ` (parameters, login, read, template, size, content,
internal), ` + "`vaultkube_csi_vault_logins_total`" + `, ` + "`vaultkube_csi_vault_login_errors_total`" + `,
` + "`vaultkube_csi_vault_requests_total`" + `, ` + "`vaultkube_csi_cache_hits_total{cache}`" + ` and
` + "`vaultkube_csi_mount_duration_seconds`" + `. Every label value is one of a fixed set.
`)
	return b.String()
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = "`" + v + "`"
	}
	return out
}
