package podspec

import (
	"bytes"
	"fmt"

	"github.com/vaultkube/vaultkube/internal/jsonscan"
)

// DecodePod decodes a pod as json.Unmarshal into a zero Pod does, with the same result,
// the same acceptance of the document and the raw JSON that each Container and Volume
// keeps (FuzzDecodePod), in one pass over the document and about a quarter of the time
// (BenchmarkDecodePod): the decoding is written out for the modelled types instead of
// going through reflection, and what they do not model is checked and skipped.
//
// It follows encoding/json's rules where a pod could tell them apart: keys match a field
// exactly or else apart from case, the last of repeated keys wins, a repeated list or
// object is decoded over what the one before left (elements and map entries merge), null
// clears pointers, lists and maps and leaves other values as they are, and a type error
// names the field ("spec.containers.name: a JSON number where a string belongs").
func DecodePod(b []byte) (Pod, error) {
	var d decoder
	d.Reset(b)
	var pod Pod
	d.pod(&pod)
	if err := d.End(); err != nil {
		return Pod{}, err
	}
	return pod, nil
}

// decoder decodes the modelled types.
type decoder struct {
	jsonscan.Decoder
}

// keeping reads an element of a list of Containers or Volumes with read, and returns the
// element's JSON when it has members the types do not model (see hasUnmodelled), at
// any depth: a member that fills no field exactly, as Inexact counts them (the
// decoding skips what is not modelled, and looks into modelled values only).
func (d *decoder) keeping(read func()) []byte {
	inexact := d.Inexact
	k := d.Kind()
	start := d.Offset()
	read()
	if d.Inexact == inexact || k == jsonscan.Invalid || d.Err() != nil {
		return nil
	}
	return bytes.Clone(d.Source()[start:d.Offset()])
}

// quantity reads a Quantity as its UnmarshalJSON does: a string or a number as written,
// null as "".
func (d *decoder) quantity(q *Quantity) {
	switch k := d.Kind(); k {
	case jsonscan.String:
		*q = Quantity(d.String())
	case jsonscan.Number:
		*q = Quantity(d.Number())
	case jsonscan.Null:
		d.Null()
		*q = ""
	default:
		d.Fail(fmt.Errorf("%s: a quantity must be a string or a number, got a JSON %s", d.Field(), k))
	}
}

func (d *decoder) resourceList(m *ResourceList) {
	jsonscan.Map(d.dec(), (*map[string]Quantity)(m), func(q Quantity) Quantity { d.quantity(&q); return q })
}

func (d *decoder) dec() *jsonscan.Decoder { return &d.Decoder }

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
	d.Object(podMembers, func(name string) {
		switch name {
		case "metadata":
			d.meta(&p.ObjectMeta)
		case "spec":
			d.spec(&p.Spec)
		}
	})
}

func (d *decoder) meta(m *ObjectMeta) {
	d.Object(metaMembers, func(name string) {
		switch name {
		case "name":
			d.Str(&m.Name)
		case "generateName":
			d.Str(&m.GenerateName)
		case "namespace":
			d.Str(&m.Namespace)
		case "uid":
			d.Str(&m.UID)
		case "labels":
			d.StrMap(&m.Labels)
		case "annotations":
			d.StrMap(&m.Annotations)
		}
	})
}

func (d *decoder) spec(s *PodSpec) {
	d.Object(specMembers, func(name string) {
		switch name {
		case "volumes":
			jsonscan.List(d.dec(), &s.Volumes, d.volume)
		case "initContainers":
			jsonscan.List(d.dec(), &s.InitContainers, d.container)
		case "containers":
			jsonscan.List(d.dec(), &s.Containers, d.container)
		case "serviceAccountName":
			d.Str(&s.ServiceAccountName)
		case "shareProcessNamespace":
			d.BoolPtr(&s.ShareProcessNamespace)
		case "securityContext":
			jsonscan.Pointer(d.dec(), &s.SecurityContext, d.podSecurityContext)
		}
	})
}

func (d *decoder) podSecurityContext(s *PodSecurityContext) {
	d.Object(podSecurityMembers, func(name string) {
		switch name {
		case "runAsUser":
			d.Int64Ptr(&s.RunAsUser)
		case "runAsGroup":
			d.Int64Ptr(&s.RunAsGroup)
		case "seccompProfile":
			jsonscan.Pointer(d.dec(), &s.SeccompProfile, d.seccompProfile)
		}
	})
}

func (d *decoder) container(c *Container) {
	c.raw = d.keeping(func() {
		d.Object(containerMembers, func(name string) {
			switch name {
			case "name":
				d.Str(&c.Name)
			case "image":
				d.Str(&c.Image)
			case "command":
				d.Strs(&c.Command)
			case "args":
				d.Strs(&c.Args)
			case "env":
				jsonscan.List(d.dec(), &c.Env, d.envVar)
			case "resources":
				jsonscan.Pointer(d.dec(), &c.Resources, d.resources)
			case "restartPolicy":
				d.StrPtr(&c.RestartPolicy)
			case "volumeMounts":
				jsonscan.List(d.dec(), &c.VolumeMounts, d.volumeMount)
			case "livenessProbe":
				jsonscan.Pointer(d.dec(), &c.LivenessProbe, d.probe)
			case "readinessProbe":
				jsonscan.Pointer(d.dec(), &c.ReadinessProbe, d.probe)
			case "startupProbe":
				jsonscan.Pointer(d.dec(), &c.StartupProbe, d.probe)
			case "lifecycle":
				d.RawValue((*[]byte)(&c.Lifecycle))
			case "terminationMessagePolicy":
				d.Str(&c.TerminationMessagePolicy)
			case "securityContext":
				jsonscan.Pointer(d.dec(), &c.SecurityContext, d.securityContext)
			}
		})
	})
}

func (d *decoder) envVar(e *EnvVar) {
	d.Object(envMembers, func(name string) {
		switch name {
		case "name":
			d.Str(&e.Name)
		case "value":
			d.Str(&e.Value)
		case "valueFrom":
			d.RawValue((*[]byte)(&e.ValueFrom))
		}
	})
}

func (d *decoder) volumeMount(m *VolumeMount) {
	d.Object(mountMembers, func(name string) {
		switch name {
		case "name":
			d.Str(&m.Name)
		case "readOnly":
			d.Boolean(&m.ReadOnly)
		case "recursiveReadOnly":
			d.StrPtr(&m.RecursiveReadOnly)
		case "mountPath":
			d.Str(&m.MountPath)
		case "subPath":
			d.Str(&m.SubPath)
		case "mountPropagation":
			d.StrPtr(&m.MountPropagation)
		case "subPathExpr":
			d.Str(&m.SubPathExpr)
		}
	})
}

func (d *decoder) resources(r *ResourceRequirements) {
	d.Object(resourcesMembers, func(name string) {
		switch name {
		case "limits":
			d.resourceList(&r.Limits)
		case "requests":
			d.resourceList(&r.Requests)
		}
	})
}

func (d *decoder) securityContext(s *SecurityContext) {
	d.Object(securityMembers, func(name string) {
		switch name {
		case "capabilities":
			jsonscan.Pointer(d.dec(), &s.Capabilities, d.capabilities)
		case "runAsUser":
			d.Int64Ptr(&s.RunAsUser)
		case "runAsGroup":
			d.Int64Ptr(&s.RunAsGroup)
		case "runAsNonRoot":
			d.BoolPtr(&s.RunAsNonRoot)
		case "readOnlyRootFilesystem":
			d.BoolPtr(&s.ReadOnlyRootFilesystem)
		case "allowPrivilegeEscalation":
			d.BoolPtr(&s.AllowPrivilegeEscalation)
		case "seccompProfile":
			jsonscan.Pointer(d.dec(), &s.SeccompProfile, d.seccompProfile)
		}
	})
}

func (d *decoder) capabilities(c *Capabilities) {
	d.Object(capabilitiesMembers, func(name string) {
		switch name {
		case "add":
			d.Strs(&c.Add)
		case "drop":
			d.Strs(&c.Drop)
		}
	})
}

func (d *decoder) seccompProfile(s *SeccompProfile) {
	d.Object(seccompMembers, func(name string) {
		switch name {
		case "type":
			d.Str(&s.Type)
		case "localhostProfile":
			d.StrPtr(&s.LocalhostProfile)
		}
	})
}

func (d *decoder) probe(p *Probe) {
	d.Object(probeMembers, func(name string) {
		switch name {
		case "exec":
			jsonscan.Pointer(d.dec(), &p.Exec, d.execAction)
		case "timeoutSeconds":
			d.Int32(&p.TimeoutSeconds)
		case "periodSeconds":
			d.Int32(&p.PeriodSeconds)
		case "failureThreshold":
			d.Int32(&p.FailureThreshold)
		}
	})
}

func (d *decoder) execAction(e *ExecAction) {
	d.Object(execMembers, func(name string) {
		if name == "command" {
			d.Strs(&e.Command)
		}
	})
}

func (d *decoder) volume(v *Volume) {
	v.raw = d.keeping(func() {
		d.Object(volumeMembers, func(name string) {
			switch name {
			case "name":
				d.Str(&v.Name)
			case "emptyDir":
				jsonscan.Pointer(d.dec(), &v.EmptyDir, d.emptyDir)
			case "secret":
				jsonscan.Pointer(d.dec(), &v.Secret, d.secretVolume)
			case "projected":
				jsonscan.Pointer(d.dec(), &v.Projected, d.projected)
			}
		})
	})
}

func (d *decoder) emptyDir(e *EmptyDirVolumeSource) {
	d.Object(emptyDirMembers, func(name string) {
		switch name {
		case "medium":
			d.Str(&e.Medium)
		case "sizeLimit":
			jsonscan.Pointer(d.dec(), &e.SizeLimit, d.quantity)
		}
	})
}

func (d *decoder) secretVolume(s *SecretVolumeSource) {
	d.Object(secretMembers, func(name string) {
		if name == "secretName" {
			d.Str(&s.SecretName)
		}
	})
}

func (d *decoder) projected(p *ProjectedVolumeSource) {
	d.Object(projectedMembers, func(name string) {
		if name == "sources" {
			jsonscan.List(d.dec(), &p.Sources, d.projection)
		}
	})
}

func (d *decoder) projection(p *VolumeProjection) {
	d.Object(projectionMembers, func(name string) {
		if name == "serviceAccountToken" {
			jsonscan.Pointer(d.dec(), &p.ServiceAccountToken, d.serviceAccountToken)
		}
	})
}

func (d *decoder) serviceAccountToken(t *ServiceAccountTokenProjection) {
	d.Object(saTokenMembers, func(name string) {
		switch name {
		case "audience":
			d.Str(&t.Audience)
		case "expirationSeconds":
			d.Int64Ptr(&t.ExpirationSeconds)
		case "path":
			d.Str(&t.Path)
		}
	})
}
