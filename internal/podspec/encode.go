package podspec

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/vaultkube/vaultkube/internal/jsonscan"
)

// The encoder writes the modelled fields of a Container or a Volume byte for byte as
// json.Marshal writes the method-less types (TestEncodeMatchesMarshal, FuzzEncodeContainer):
// fields in struct order, the omitempty rules, encoding/json's HTML-safe string escaping,
// map keys sorted, json.RawMessage compacted and escaped. It is written out for the types
// instead of going through reflection and allocates the result alone: the webhook encodes
// the containers and volumes it injects on every request, and this is three times as fast
// on most of them, twice on an agent sidecar, whose configuration is a long string with
// many quotes to escape (BenchmarkEncodeContainer).
//
// Objects are written member by member, each with a comma before it; closeObject turns
// the first comma into the opening brace, so that no member needs to know whether one
// was written before it.

// encodeContainer encodes c's modelled fields; it fails where json.Marshal does, on a
// json.RawMessage that is not valid JSON.
func encodeContainer(c *Container) ([]byte, error) {
	return appendContainer(make([]byte, 0, containerSize(c)), c)
}

// containerSize is about the length of c's encoding, a little more for most containers,
// so that encoding allocates once: its lists of strings make a container long (the
// agent's configuration is an env value of a kilobyte or more), the rest fits in 512
// bytes.
func containerSize(c *Container) int {
	n := 512
	for _, s := range c.Command {
		n += len(s) + 3
	}
	for _, s := range c.Args {
		n += len(s) + 3
	}
	for _, e := range c.Env {
		n += len(e.Name) + len(e.Value) + len(e.ValueFrom) + 32
	}
	for _, m := range c.VolumeMounts {
		n += len(m.Name) + len(m.MountPath) + 64
	}
	n += len(c.Lifecycle)
	return n + n/8 // for escapes
}

// encodeVolume encodes v's modelled fields.
func encodeVolume(v *Volume) []byte {
	return appendVolume(make([]byte, 0, volumeSize(v)), v)
}

// volumeSize is a little more than an emptyDir, a secret or a token volume needs.
func volumeSize(v *Volume) int {
	n := 64 + len(v.Name)
	if v.Projected != nil {
		n += 80 * len(v.Projected.Sources)
	}
	return n
}

func appendContainer(dst []byte, c *Container) ([]byte, error) {
	start := len(dst)
	dst = jsonscan.AppendString(key(dst, "name"), c.Name)
	dst = optString(dst, "image", c.Image)
	dst = optStrings(dst, "command", c.Command)
	dst = optStrings(dst, "args", c.Args)
	if len(c.Env) > 0 {
		dst = append(key(dst, "env"), '[')
		for i := range c.Env {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendEnvVar(dst, &c.Env[i]); err != nil {
				return nil, err
			}
		}
		dst = append(dst, ']')
	}
	if c.Resources != nil {
		dst = appendResources(key(dst, "resources"), c.Resources)
	}
	dst = optStringPtr(dst, "restartPolicy", c.RestartPolicy)
	if len(c.VolumeMounts) > 0 {
		dst = append(key(dst, "volumeMounts"), '[')
		for i := range c.VolumeMounts {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendVolumeMount(dst, &c.VolumeMounts[i])
		}
		dst = append(dst, ']')
	}
	dst = optProbe(dst, "livenessProbe", c.LivenessProbe)
	dst = optProbe(dst, "readinessProbe", c.ReadinessProbe)
	dst = optProbe(dst, "startupProbe", c.StartupProbe)
	if len(c.Lifecycle) > 0 {
		var err error
		if dst, err = appendRaw(key(dst, "lifecycle"), c.Lifecycle); err != nil {
			return nil, err
		}
	}
	dst = optString(dst, "terminationMessagePolicy", c.TerminationMessagePolicy)
	if c.SecurityContext != nil {
		dst = appendSecurityContext(key(dst, "securityContext"), c.SecurityContext)
	}
	return closeObject(dst, start), nil
}

func appendEnvVar(dst []byte, e *EnvVar) ([]byte, error) {
	start := len(dst)
	dst = jsonscan.AppendString(key(dst, "name"), e.Name)
	dst = optString(dst, "value", e.Value)
	if len(e.ValueFrom) > 0 {
		var err error
		if dst, err = appendRaw(key(dst, "valueFrom"), e.ValueFrom); err != nil {
			return nil, err
		}
	}
	return closeObject(dst, start), nil
}

func appendResources(dst []byte, r *ResourceRequirements) []byte {
	start := len(dst)
	if len(r.Limits) > 0 {
		dst = appendResourceList(key(dst, "limits"), r.Limits)
	}
	if len(r.Requests) > 0 {
		dst = appendResourceList(key(dst, "requests"), r.Requests)
	}
	return closeObject(dst, start)
}

// appendResourceList writes the entries in the order of their keys, as encoding/json does.
func appendResourceList(dst []byte, l ResourceList) []byte {
	type entry struct {
		name     string
		quantity Quantity
	}
	var array [8]entry // cpu, memory, ephemeral-storage and a few more fit without allocating
	entries := array[:0]
	for name, q := range l {
		entries = append(entries, entry{name, q})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	start := len(dst)
	for _, e := range entries {
		dst = append(dst, ',')
		dst = jsonscan.AppendString(dst, e.name)
		dst = append(dst, ':')
		dst = jsonscan.AppendString(dst, string(e.quantity))
	}
	return closeObject(dst, start)
}

func appendVolumeMount(dst []byte, m *VolumeMount) []byte {
	start := len(dst)
	dst = jsonscan.AppendString(key(dst, "name"), m.Name)
	if m.ReadOnly {
		dst = append(key(dst, "readOnly"), "true"...)
	}
	dst = optStringPtr(dst, "recursiveReadOnly", m.RecursiveReadOnly)
	dst = jsonscan.AppendString(key(dst, "mountPath"), m.MountPath)
	dst = optString(dst, "subPath", m.SubPath)
	dst = optStringPtr(dst, "mountPropagation", m.MountPropagation)
	dst = optString(dst, "subPathExpr", m.SubPathExpr)
	return closeObject(dst, start)
}

func optProbe(dst []byte, name string, p *Probe) []byte {
	if p == nil {
		return dst
	}
	dst = key(dst, name)
	start := len(dst)
	if p.Exec != nil {
		dst = key(dst, "exec")
		execStart := len(dst)
		dst = optStrings(dst, "command", p.Exec.Command)
		dst = closeObject(dst, execStart)
	}
	dst = optInt(dst, "timeoutSeconds", int64(p.TimeoutSeconds))
	dst = optInt(dst, "periodSeconds", int64(p.PeriodSeconds))
	dst = optInt(dst, "failureThreshold", int64(p.FailureThreshold))
	return closeObject(dst, start)
}

func appendSecurityContext(dst []byte, s *SecurityContext) []byte {
	start := len(dst)
	if c := s.Capabilities; c != nil {
		dst = key(dst, "capabilities")
		capStart := len(dst)
		dst = optStrings(dst, "add", c.Add)
		dst = optStrings(dst, "drop", c.Drop)
		dst = closeObject(dst, capStart)
	}
	dst = optIntPtr(dst, "runAsUser", s.RunAsUser)
	dst = optIntPtr(dst, "runAsGroup", s.RunAsGroup)
	dst = optBoolPtr(dst, "runAsNonRoot", s.RunAsNonRoot)
	dst = optBoolPtr(dst, "readOnlyRootFilesystem", s.ReadOnlyRootFilesystem)
	dst = optBoolPtr(dst, "allowPrivilegeEscalation", s.AllowPrivilegeEscalation)
	if p := s.SeccompProfile; p != nil {
		dst = key(dst, "seccompProfile")
		profileStart := len(dst)
		dst = jsonscan.AppendString(key(dst, "type"), p.Type)
		dst = optStringPtr(dst, "localhostProfile", p.LocalhostProfile)
		dst = closeObject(dst, profileStart)
	}
	return closeObject(dst, start)
}

func appendVolume(dst []byte, v *Volume) []byte {
	start := len(dst)
	dst = jsonscan.AppendString(key(dst, "name"), v.Name)
	if e := v.EmptyDir; e != nil {
		dst = key(dst, "emptyDir")
		emptyDirStart := len(dst)
		dst = optString(dst, "medium", e.Medium)
		if e.SizeLimit != nil {
			dst = jsonscan.AppendString(key(dst, "sizeLimit"), string(*e.SizeLimit))
		}
		dst = closeObject(dst, emptyDirStart)
	}
	if s := v.Secret; s != nil {
		dst = key(dst, "secret")
		secretStart := len(dst)
		dst = optString(dst, "secretName", s.SecretName)
		dst = closeObject(dst, secretStart)
	}
	if p := v.Projected; p != nil {
		dst = key(dst, "projected")
		projectedStart := len(dst)
		dst = appendProjections(key(dst, "sources"), p.Sources)
		dst = closeObject(dst, projectedStart)
	}
	return closeObject(dst, start)
}

// appendProjections writes the sources of a projected volume: a member without omitempty,
// so a nil list is null.
func appendProjections(dst []byte, sources []VolumeProjection) []byte {
	if sources == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i := range sources {
		if i > 0 {
			dst = append(dst, ',')
		}
		start := len(dst)
		if t := sources[i].ServiceAccountToken; t != nil {
			dst = key(dst, "serviceAccountToken")
			tokenStart := len(dst)
			dst = optString(dst, "audience", t.Audience)
			dst = optIntPtr(dst, "expirationSeconds", t.ExpirationSeconds)
			dst = jsonscan.AppendString(key(dst, "path"), t.Path)
			dst = closeObject(dst, tokenStart)
		}
		dst = closeObject(dst, start)
	}
	return append(dst, ']')
}

// key starts a member of an object: the comma before it and its name (the modelled
// names need no escaping).
func key(dst []byte, name string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	return append(dst, '"', ':')
}

// closeObject ends the object whose members were written from dst[start:]: the comma
// before the first member becomes the opening brace.
func closeObject(dst []byte, start int) []byte {
	if len(dst) == start {
		return append(dst, '{', '}')
	}
	dst[start] = '{'
	return append(dst, '}')
}

// The opt functions write a member tagged omitempty, unless its value is empty.

func optString(dst []byte, name, s string) []byte {
	if s == "" {
		return dst
	}
	return jsonscan.AppendString(key(dst, name), s)
}

func optStringPtr(dst []byte, name string, s *string) []byte {
	if s == nil {
		return dst
	}
	return jsonscan.AppendString(key(dst, name), *s)
}

func optStrings(dst []byte, name string, l []string) []byte {
	if len(l) == 0 {
		return dst
	}
	return jsonscan.AppendStrings(key(dst, name), l)
}

func optInt(dst []byte, name string, n int64) []byte {
	if n == 0 {
		return dst
	}
	return strconv.AppendInt(key(dst, name), n, 10)
}

func optIntPtr(dst []byte, name string, n *int64) []byte {
	if n == nil {
		return dst
	}
	return strconv.AppendInt(key(dst, name), *n, 10)
}

func optBoolPtr(dst []byte, name string, b *bool) []byte {
	if b == nil {
		return dst
	}
	return strconv.AppendBool(key(dst, name), *b)
}

const hexDigits = "0123456789abcdef"

// appendRaw writes a json.RawMessage as encoding/json does: compacted, with <, >, &,
// U+2028 and U+2029 escaped (invalid UTF-8 is kept). Invalid JSON is left to
// encoding/json, for its error.
func appendRaw(dst []byte, raw json.RawMessage) ([]byte, error) {
	if !json.Valid(raw) {
		b, err := json.Marshal(raw)
		if err != nil {
			return nil, err
		}
		return append(dst, b...), nil
	}
	start, inString := 0, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '<' || c == '>' || c == '&': // only in a string, in valid JSON
			dst = append(dst, raw[start:i]...)
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			start = i + 1
		case c == 0xE2 && i+2 < len(raw) && raw[i+1] == 0x80 && raw[i+2]&^1 == 0xA8: // U+2028, U+2029
			dst = append(dst, raw[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[raw[i+2]&0xF])
			i += 2
			start = i + 1
		case inString:
			switch c {
			case '\\':
				i++ // the escaped character does not end the string
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			dst = append(dst, raw[start:i]...)
			start = i + 1
		}
	}
	return append(dst, raw[start:]...), nil
}
