package podspec

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vaultkube/vaultkube/internal/jsonscan"
)

// DecodePod decodes a pod as json.Unmarshal into a zero Pod does, with the same result,
// the same acceptance of the document and the raw JSON that each Container and Volume
// keeps (FuzzDecodePod), in one pass over the document and about a third of the time
// (BenchmarkDecodePod): the decoding is written out for the modelled types instead of
// going through reflection, and what they do not model is checked and skipped.
//
// It follows encoding/json's rules where a pod could tell them apart: keys match a field
// exactly or else apart from case, the last of repeated keys wins, a repeated list or
// object is decoded over what the one before left (elements and map entries merge), null
// clears pointers, lists and maps and leaves other values as they are, and a type error
// names the field ("spec.containers.name: a JSON number where a string belongs").
func DecodePod(b []byte) (Pod, error) {
	d := decoder{}
	d.r.Reset(b)
	var pod Pod
	d.pod(&pod)
	if err := d.r.End(); err != nil {
		return Pod{}, err
	}
	return pod, nil
}

// decoder decodes the modelled types from a jsonscan.Reader.
type decoder struct {
	r jsonscan.Reader
	// unmodelled is set when a member the types do not model (see hasUnmodelled) is met;
	// Container and Volume keep their JSON when it is.
	unmodelled bool
	// the path of modelled field names to the value being read, for error messages
	path  [12]string
	depth int
}

func (d *decoder) push(name string) {
	if d.depth < len(d.path) {
		d.path[d.depth] = name
	}
	d.depth++
}

func (d *decoder) pop() { d.depth-- }

func (d *decoder) field() string {
	return strings.Join(d.path[:min(d.depth, len(d.path))], ".")
}

// typeError stops the decoding: the next value, of kind k, does not fit the field.
func (d *decoder) typeError(k jsonscan.Kind, want string) {
	if k == jsonscan.Invalid {
		return // the reader stopped already, with its own error
	}
	name := d.field()
	if name == "" {
		name = "pod"
	}
	d.r.Fail(fmt.Errorf("%s: a JSON %s where %s belongs", name, k, want))
}

// member returns the modelled field name that the current key fills, as encoding/json
// matches them (the exact name, else the name equal to the key apart from case), or "".
// A key that is not exactly a name, or is written with escapes, is unmodelled.
func (d *decoder) member(m *jsonscan.Members, names []string) string {
	k := m.Key()
	for _, n := range names {
		if string(k) == n {
			if m.Escaped() {
				d.unmodelled = true
			}
			return n
		}
	}
	d.unmodelled = true
	for _, n := range names {
		if foldEqual(k, n) {
			return n
		}
	}
	return ""
}

// foldEqual is bytes.EqualFold(k, []byte(n)) for an ASCII name.
func foldEqual(k []byte, n string) bool {
	if len(k) != len(n) {
		// a multi-byte rune may fold to an ASCII letter (U+212A KELVIN SIGN to k)
		return !isASCII(k) && bytes.EqualFold(k, []byte(n))
	}
	for i := 0; i < len(k); i++ {
		a, b := k[i], n[i]
		if a == b {
			continue
		}
		if a >= utf8.RuneSelf {
			return bytes.EqualFold(k, []byte(n))
		}
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// object reads an object into a struct whose JSON members are names: fill reads the value
// of each member that fills a field, the others are skipped. null leaves the struct as
// it is.
func (d *decoder) object(names []string, fill func(name string)) {
	switch k := d.r.Kind(); k {
	case jsonscan.Null:
		d.r.Null()
	case jsonscan.Object:
		for m := d.r.Object(); m.Next(); {
			name := d.member(&m, names)
			if name == "" {
				d.r.Skip()
				continue
			}
			d.push(name)
			fill(name)
			d.pop()
		}
	default:
		d.typeError(k, "an object")
	}
}

// pointer reads into the value *p points to, allocating it first; null makes *p nil.
func pointer[T any](d *decoder, p **T, read func(*T)) {
	if d.r.Null() {
		*p = nil
		return
	}
	if *p == nil {
		*p = new(T)
	}
	read(*p)
}

// list reads a list as encoding/json reads it into a slice: an element decodes over the
// one already at its index (up to the slice's capacity), the slice is cut to the number
// of elements, an empty list makes a new empty slice and null makes it nil.
func list[T any](d *decoder, s *[]T, elem func(*T)) {
	switch k := d.r.Kind(); k {
	case jsonscan.Null:
		d.r.Null()
		*s = nil
	case jsonscan.Array:
		l := *s
		i := 0
		for a := d.r.Array(); a.Next(); i++ {
			switch {
			case i >= cap(l):
				var zero T
				l = append(l, zero)
			case i >= len(l):
				l = l[:i+1]
			}
			elem(&l[i])
		}
		if i < len(l) {
			l = l[:i]
		}
		if i == 0 {
			l = []T{}
		}
		*s = l
	default:
		d.typeError(k, "a list")
	}
}

// keeping reads an element of a list of Containers or Volumes with read, and returns the
// element's JSON when it has members the types do not model (else nil).
func (d *decoder) keeping(read func()) []byte {
	d.unmodelled = false
	k := d.r.Kind()
	start := d.r.Offset()
	read()
	var raw []byte
	if d.unmodelled && k != jsonscan.Invalid && d.r.Err() == nil {
		raw = bytes.Clone(d.r.Source()[start:d.r.Offset()])
	}
	d.unmodelled = false
	return raw
}

func (d *decoder) str(s *string) {
	switch k := d.r.Kind(); k {
	case jsonscan.String:
		*s = d.r.String()
	case jsonscan.Null:
		d.r.Null()
	default:
		d.typeError(k, "a string")
	}
}

func (d *decoder) strPtr(p **string) { pointer(d, p, d.str) }

func (d *decoder) strList(s *[]string) { list(d, s, d.str) }

func (d *decoder) boolean(v *bool) {
	switch k := d.r.Kind(); k {
	case jsonscan.Bool:
		*v = d.r.Bool()
	case jsonscan.Null:
		d.r.Null()
	default:
		d.typeError(k, "true or false")
	}
}

func (d *decoder) boolPtr(p **bool) { pointer(d, p, d.boolean) }

// integer reads a number that is an integer of the given bits, as encoding/json does.
func (d *decoder) integer(bits int) (int64, bool) {
	switch k := d.r.Kind(); k {
	case jsonscan.Number:
		lit := d.r.Number()
		n, err := strconv.ParseInt(string(lit), 10, bits)
		if err != nil {
			d.r.Fail(fmt.Errorf("%s: a JSON number %s where an integer belongs", d.field(), lit))
			return 0, false
		}
		return n, true
	case jsonscan.Null:
		d.r.Null()
	default:
		d.typeError(k, "an integer")
	}
	return 0, false
}

func (d *decoder) int32(v *int32) {
	if n, ok := d.integer(32); ok {
		*v = int32(n)
	}
}

func (d *decoder) int64(v *int64) {
	if n, ok := d.integer(64); ok {
		*v = n
	}
}

func (d *decoder) int64Ptr(p **int64) { pointer(d, p, d.int64) }

// raw reads a json.RawMessage: the value as written (null included).
func (d *decoder) raw(v *[]byte) {
	if b := d.r.Raw(); b != nil {
		*v = append((*v)[:0], b...)
	}
}

// quantity reads a Quantity as its UnmarshalJSON does: a string or a number as written,
// null as "".
func (d *decoder) quantity(q *Quantity) {
	switch k := d.r.Kind(); k {
	case jsonscan.String:
		*q = Quantity(d.r.String())
	case jsonscan.Number:
		*q = Quantity(d.r.Number())
	case jsonscan.Null:
		d.r.Null()
		*q = ""
	default:
		d.r.Fail(fmt.Errorf("%s: a quantity must be a string or a number, got a JSON %s", d.field(), k))
	}
}

// stringMap reads a map of strings (labels, annotations), null as nil; entries merge
// into a map already there.
func (d *decoder) stringMap(m *map[string]string) {
	switch k := d.r.Kind(); k {
	case jsonscan.Null:
		d.r.Null()
		*m = nil
	case jsonscan.Object:
		if *m == nil {
			*m = map[string]string{}
		}
		for it := d.r.Object(); it.Next(); {
			key := string(it.Key())
			var v string
			d.push(key)
			d.str(&v)
			d.pop()
			(*m)[key] = v
		}
	default:
		d.typeError(k, "an object")
	}
}

func (d *decoder) resourceList(m *ResourceList) {
	switch k := d.r.Kind(); k {
	case jsonscan.Null:
		d.r.Null()
		*m = nil
	case jsonscan.Object:
		if *m == nil {
			*m = ResourceList{}
		}
		for it := d.r.Object(); it.Next(); {
			key := string(it.Key())
			var q Quantity
			d.push(key)
			d.quantity(&q)
			d.pop()
			(*m)[key] = q
		}
	default:
		d.typeError(k, "an object")
	}
}

// The JSON members of each modelled struct (TestMemberNames checks them against the
// types' tags).
var (
	podMembers       = []string{"metadata", "spec"}
	metaMembers      = []string{"name", "generateName", "namespace", "uid", "labels", "annotations"}
	specMembers      = []string{"volumes", "initContainers", "containers", "serviceAccountName", "shareProcessNamespace", "securityContext"}
	containerMembers = []string{"name", "image", "command", "args", "env", "resources", "restartPolicy", "volumeMounts",
		"livenessProbe", "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePolicy", "securityContext"}
	envMembers            = []string{"name", "value", "valueFrom"}
	mountMembers          = []string{"name", "readOnly", "recursiveReadOnly", "mountPath", "subPath", "mountPropagation", "subPathExpr"}
	resourcesMembers      = []string{"limits", "requests"}
	securityMembers       = []string{"capabilities", "runAsUser", "runAsGroup", "runAsNonRoot", "readOnlyRootFilesystem", "allowPrivilegeEscalation", "seccompProfile"}
	capabilitiesMembers   = []string{"add", "drop"}
	seccompMembers        = []string{"type", "localhostProfile"}
	podSecurityMembers    = []string{"runAsUser", "runAsGroup", "seccompProfile"}
	probeMembers          = []string{"exec", "timeoutSeconds", "periodSeconds", "failureThreshold"}
	execMembers           = []string{"command"}
	volumeMembers         = []string{"name", "emptyDir", "secret", "projected"}
	emptyDirMembers       = []string{"medium", "sizeLimit"}
	secretMembers         = []string{"secretName"}
	projectedMembers      = []string{"sources"}
	projectionMembers     = []string{"serviceAccountToken"}
	saTokenMembers        = []string{"audience", "expirationSeconds", "path"}
	memberNamesByTypeName = map[string][]string{
		"Pod": podMembers, "ObjectMeta": metaMembers, "PodSpec": specMembers, "Container": containerMembers,
		"EnvVar": envMembers, "VolumeMount": mountMembers, "ResourceRequirements": resourcesMembers,
		"SecurityContext": securityMembers, "Capabilities": capabilitiesMembers, "SeccompProfile": seccompMembers,
		"PodSecurityContext": podSecurityMembers, "Probe": probeMembers, "ExecAction": execMembers,
		"Volume": volumeMembers, "EmptyDirVolumeSource": emptyDirMembers, "SecretVolumeSource": secretMembers,
		"ProjectedVolumeSource": projectedMembers, "VolumeProjection": projectionMembers,
		"ServiceAccountTokenProjection": saTokenMembers,
	}
)

func (d *decoder) pod(p *Pod) {
	d.object(podMembers, func(name string) {
		switch name {
		case "metadata":
			d.meta(&p.ObjectMeta)
		case "spec":
			d.spec(&p.Spec)
		}
	})
}

func (d *decoder) meta(m *ObjectMeta) {
	d.object(metaMembers, func(name string) {
		switch name {
		case "name":
			d.str(&m.Name)
		case "generateName":
			d.str(&m.GenerateName)
		case "namespace":
			d.str(&m.Namespace)
		case "uid":
			d.str(&m.UID)
		case "labels":
			d.stringMap(&m.Labels)
		case "annotations":
			d.stringMap(&m.Annotations)
		}
	})
}

func (d *decoder) spec(s *PodSpec) {
	d.object(specMembers, func(name string) {
		switch name {
		case "volumes":
			list(d, &s.Volumes, d.volume)
		case "initContainers":
			list(d, &s.InitContainers, d.container)
		case "containers":
			list(d, &s.Containers, d.container)
		case "serviceAccountName":
			d.str(&s.ServiceAccountName)
		case "shareProcessNamespace":
			d.boolPtr(&s.ShareProcessNamespace)
		case "securityContext":
			pointer(d, &s.SecurityContext, d.podSecurityContext)
		}
	})
}

func (d *decoder) podSecurityContext(s *PodSecurityContext) {
	d.object(podSecurityMembers, func(name string) {
		switch name {
		case "runAsUser":
			d.int64Ptr(&s.RunAsUser)
		case "runAsGroup":
			d.int64Ptr(&s.RunAsGroup)
		case "seccompProfile":
			pointer(d, &s.SeccompProfile, d.seccompProfile)
		}
	})
}

func (d *decoder) container(c *Container) {
	c.raw = d.keeping(func() {
		d.object(containerMembers, func(name string) {
			switch name {
			case "name":
				d.str(&c.Name)
			case "image":
				d.str(&c.Image)
			case "command":
				d.strList(&c.Command)
			case "args":
				d.strList(&c.Args)
			case "env":
				list(d, &c.Env, d.envVar)
			case "resources":
				pointer(d, &c.Resources, d.resources)
			case "restartPolicy":
				d.strPtr(&c.RestartPolicy)
			case "volumeMounts":
				list(d, &c.VolumeMounts, d.volumeMount)
			case "livenessProbe":
				pointer(d, &c.LivenessProbe, d.probe)
			case "readinessProbe":
				pointer(d, &c.ReadinessProbe, d.probe)
			case "startupProbe":
				pointer(d, &c.StartupProbe, d.probe)
			case "lifecycle":
				d.raw((*[]byte)(&c.Lifecycle))
			case "terminationMessagePolicy":
				d.str(&c.TerminationMessagePolicy)
			case "securityContext":
				pointer(d, &c.SecurityContext, d.securityContext)
			}
		})
	})
}

func (d *decoder) envVar(e *EnvVar) {
	d.object(envMembers, func(name string) {
		switch name {
		case "name":
			d.str(&e.Name)
		case "value":
			d.str(&e.Value)
		case "valueFrom":
			d.raw((*[]byte)(&e.ValueFrom))
		}
	})
}

func (d *decoder) volumeMount(m *VolumeMount) {
	d.object(mountMembers, func(name string) {
		switch name {
		case "name":
			d.str(&m.Name)
		case "readOnly":
			d.boolean(&m.ReadOnly)
		case "recursiveReadOnly":
			d.strPtr(&m.RecursiveReadOnly)
		case "mountPath":
			d.str(&m.MountPath)
		case "subPath":
			d.str(&m.SubPath)
		case "mountPropagation":
			d.strPtr(&m.MountPropagation)
		case "subPathExpr":
			d.str(&m.SubPathExpr)
		}
	})
}

func (d *decoder) resources(r *ResourceRequirements) {
	d.object(resourcesMembers, func(name string) {
		switch name {
		case "limits":
			d.resourceList(&r.Limits)
		case "requests":
			d.resourceList(&r.Requests)
		}
	})
}

func (d *decoder) securityContext(s *SecurityContext) {
	d.object(securityMembers, func(name string) {
		switch name {
		case "capabilities":
			pointer(d, &s.Capabilities, d.capabilities)
		case "runAsUser":
			d.int64Ptr(&s.RunAsUser)
		case "runAsGroup":
			d.int64Ptr(&s.RunAsGroup)
		case "runAsNonRoot":
			d.boolPtr(&s.RunAsNonRoot)
		case "readOnlyRootFilesystem":
			d.boolPtr(&s.ReadOnlyRootFilesystem)
		case "allowPrivilegeEscalation":
			d.boolPtr(&s.AllowPrivilegeEscalation)
		case "seccompProfile":
			pointer(d, &s.SeccompProfile, d.seccompProfile)
		}
	})
}

func (d *decoder) capabilities(c *Capabilities) {
	d.object(capabilitiesMembers, func(name string) {
		switch name {
		case "add":
			d.strList(&c.Add)
		case "drop":
			d.strList(&c.Drop)
		}
	})
}

func (d *decoder) seccompProfile(s *SeccompProfile) {
	d.object(seccompMembers, func(name string) {
		switch name {
		case "type":
			d.str(&s.Type)
		case "localhostProfile":
			d.strPtr(&s.LocalhostProfile)
		}
	})
}

func (d *decoder) probe(p *Probe) {
	d.object(probeMembers, func(name string) {
		switch name {
		case "exec":
			pointer(d, &p.Exec, d.execAction)
		case "timeoutSeconds":
			d.int32(&p.TimeoutSeconds)
		case "periodSeconds":
			d.int32(&p.PeriodSeconds)
		case "failureThreshold":
			d.int32(&p.FailureThreshold)
		}
	})
}

func (d *decoder) execAction(e *ExecAction) {
	d.object(execMembers, func(name string) {
		if name == "command" {
			d.strList(&e.Command)
		}
	})
}

func (d *decoder) volume(v *Volume) {
	v.raw = d.keeping(func() {
		d.object(volumeMembers, func(name string) {
			switch name {
			case "name":
				d.str(&v.Name)
			case "emptyDir":
				pointer(d, &v.EmptyDir, d.emptyDir)
			case "secret":
				pointer(d, &v.Secret, d.secretVolume)
			case "projected":
				pointer(d, &v.Projected, d.projected)
			}
		})
	})
}

func (d *decoder) emptyDir(e *EmptyDirVolumeSource) {
	d.object(emptyDirMembers, func(name string) {
		switch name {
		case "medium":
			d.str(&e.Medium)
		case "sizeLimit":
			pointer(d, &e.SizeLimit, d.quantity)
		}
	})
}

func (d *decoder) secretVolume(s *SecretVolumeSource) {
	d.object(secretMembers, func(name string) {
		if name == "secretName" {
			d.str(&s.SecretName)
		}
	})
}

func (d *decoder) projected(p *ProjectedVolumeSource) {
	d.object(projectedMembers, func(name string) {
		if name == "sources" {
			list(d, &p.Sources, d.projection)
		}
	})
}

func (d *decoder) projection(p *VolumeProjection) {
	d.object(projectionMembers, func(name string) {
		if name == "serviceAccountToken" {
			pointer(d, &p.ServiceAccountToken, d.serviceAccountToken)
		}
	})
}

func (d *decoder) serviceAccountToken(t *ServiceAccountTokenProjection) {
	d.object(saTokenMembers, func(name string) {
		switch name {
		case "audience":
			d.str(&t.Audience)
		case "expirationSeconds":
			d.int64Ptr(&t.ExpirationSeconds)
		case "path":
			d.str(&t.Path)
		}
	})
}
