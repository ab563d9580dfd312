// Package agent is the in-pod agent: it logs in to Vault, renders templates and keeps tokens
// and leases renewed.
//
// Its configuration is agentconfig's JSON in VAULTKUBE_AGENT_CONFIG (written by the
// injector); it needs no shell and no /tmp, so it runs from a scratch image.
//
//   - `vaultkube agent`, mode "init": log in (bounded retries), render every template once,
//     exit 0; any failure exits 1 with one line naming the template, path or role. Also
//     when ExitAfterAuth is set.
//   - `vaultkube agent`, mode "sidecar": render, touch ReadyFile after the first complete
//     render, keep the token renewed (vault/api's lifetime watcher; a new login when
//     renewal fails, the max TTL nears, or Vault rejects the token), keep leases renewed and
//     re-render on change (consul-template), re-read static secrets every
//     StaticSecretRenderInterval (default 5m), and on SIGTERM stop and revoke the token if
//     RevokeOnShutdown.
//   - `vaultkube agent exec -- CMD ARGS...` (env mode): render in memory, start CMD with
//     each key K of each secret as PREFIX+K (upper-cased, characters outside [A-Z0-9_]
//     replaced by '_', a leading digit guarded by '_'; for KV v2 the keys of .Data.data),
//     forward signals, keep token and leases alive while CMD runs, exit with CMD's status
//     (128+N when signal N killed it). A custom template whose output is a JSON object
//     maps the same way; any other output becomes one variable named PREFIX+NAME. As the
//     container's PID 1 it reaps orphaned processes. Nothing is written to disk.
//   - `vaultkube agent probe`: exit 0 iff ReadyFile exists (native sidecar startup probe).
//   - `vaultkube agent install DIR`: copy the running executable to DIR/vaultkube (0755).
//
// Templates are rendered by the consul-template library (manager.Runner), so the
// functions are vault agent's (secret, pkiCert, toJSON, sprig ...). A template without
// contents or source gets vault-k8s's default text ("map" or "json"); custom delimiters
// apply to it too. Files are written through a temporary file in their own directory,
// synced, given their perms (default 0644) and renamed into place; a command after render
// runs as argv (no shell), once per pass for all templates that changed, in order.
//
// Logs are log/slog (text or JSON); consul-template's own log lines are re-emitted through
// it (its INFO lines at debug). Logs name paths, roles, mounts and templates, never
// secret values or tokens.
//
// The package imports neither client-go nor controller-runtime, so that
// cmd/vaultkube-agent stays small. `go run ./injector/agent/bench` compares it with `vault agent`.
package agent
