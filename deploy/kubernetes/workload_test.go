package kubernetes

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// workload is a Deployment or a StatefulSet, as the checks see it.
type workload struct {
	kind, name, ns string
	replicas       int32
	selector       *metav1.LabelSelector
	template       *corev1.PodTemplateSpec
	claims         []string // volumeClaimTemplates' names
	serviceName    string   // a StatefulSet's governing Service
}

func (r *rendered) workloads() []workload {
	var out []workload
	for _, d := range r.deployments {
		out = append(out, workload{kind: "Deployment", name: d.Name, ns: d.Namespace,
			replicas: replicas(d.Spec.Replicas), selector: d.Spec.Selector, template: &d.Spec.Template})
	}
	for _, s := range r.statefulSets {
		w := workload{kind: "StatefulSet", name: s.Name, ns: s.Namespace, replicas: replicas(s.Spec.Replicas),
			selector: s.Spec.Selector, template: &s.Spec.Template, serviceName: s.Spec.ServiceName}
		for _, c := range s.Spec.VolumeClaimTemplates {
			w.claims = append(w.claims, c.Name)
		}
		out = append(out, w)
	}
	return out
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// workload returns the workload named name, or nil.
func (r *rendered) workload(name string) *workload {
	for _, w := range r.workloads() {
		if w.name == name {
			return &w
		}
	}
	return nil
}

func (w workload) String() string { return w.kind + " " + w.name }

// selects reports whether the labels carry every pair of sel.
func selects(sel map[string]string, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// containerPort resolves a port (number or name) to a port of c, or 0.
func containerPort(c corev1.Container, p intstr.IntOrString) int32 {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort
		}
	}
	return 0
}

// TestWorkloads: every pod template is selected by its own selector, runs
// under its own ServiceAccount without a token, gets no Service variables,
// and holds only non-root, read-only, capability-less containers with
// resources and probes; every volume has one source and is mounted.
func TestWorkloads(t *testing.T) {
	for _, r := range renderAll(t) {
		accounts := map[string]bool{}
		for _, a := range r.accounts {
			accounts[a.Name] = a.AutomountServiceAccountToken != nil && !*a.AutomountServiceAccountToken
			if !accounts[a.Name] {
				t.Errorf("%s: ServiceAccount %s mounts its token (automountServiceAccountToken: false)", r.dir, a.Name)
			}
		}
		for _, w := range r.workloads() {
			checkPod(t, r.dir, w, accounts)
			for _, c := range append(slices.Clone(w.template.Spec.InitContainers), w.template.Spec.Containers...) {
				checkContainer(t, fmt.Sprintf("%s: %s container %s", r.dir, w, c.Name), w.template.Spec, c)
			}
			checkVolumes(t, r.dir, w)
		}
	}
}

func checkPod(t *testing.T, dir string, w workload, accounts map[string]bool) {
	t.Helper()
	spec := w.template.Spec
	if w.selector == nil || len(w.selector.MatchExpressions) > 0 || !selects(w.selector.MatchLabels, w.template.Labels) {
		t.Errorf("%s: %s: its selector does not select its own pods", dir, w)
	}
	if _, ok := accounts[spec.ServiceAccountName]; !ok {
		t.Errorf("%s: %s runs as ServiceAccount %q, not one of this kustomization", dir, w, spec.ServiceAccountName)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: %s: automountServiceAccountToken must be false", dir, w)
	}
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		t.Errorf("%s: %s: enableServiceLinks must be false (Kubernetes would set MTLSGATE_*_PORT variables from the Services)", dir, w)
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Errorf("%s: %s shares a host namespace", dir, w)
	}
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("%s: %s: the pod must run as a non-root user (runAsNonRoot, runAsUser)", dir, w)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: %s: seccompProfile must be RuntimeDefault", dir, w)
	}
}

func checkContainer(t *testing.T, where string, spec corev1.PodSpec, c corev1.Container) {
	t.Helper()
	if !strings.Contains(c.Image[strings.LastIndex(c.Image, "/")+1:], ":") && !strings.Contains(c.Image, "@") {
		t.Errorf("%s: image %q has no tag or digest", where, c.Image)
	}
	for _, kind := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := kind[res]; !ok || q.IsZero() {
				t.Errorf("%s: no %s request or limit", where, res)
			}
		}
	}
	for res, limit := range c.Resources.Limits {
		if req, ok := c.Resources.Requests[res]; ok && limit.Cmp(req) < 0 {
			t.Errorf("%s: %s limit %s below its request %s", where, res, limit.String(), req.String())
		}
	}
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		if p == nil {
			if name != "startup" {
				t.Errorf("%s: no %s probe", where, name)
			}
			continue
		}
		if port, ok := probePort(p); !ok || containerPort(c, port) == 0 {
			t.Errorf("%s: the %s probe's port %v is not a port of the container", where, name, port.String())
		}
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Errorf("%s: no securityContext", where)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("%s: allowPrivilegeEscalation must be false", where)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Errorf("%s: readOnlyRootFilesystem must be true", where)
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("%s: capabilities must drop ALL and add none", where)
	case sc.Privileged != nil && *sc.Privileged:
		t.Errorf("%s: privileged", where)
	case sc.RunAsUser != nil && *sc.RunAsUser == 0:
		t.Errorf("%s: runs as root", where)
	case sc.SeccompProfile != nil && sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("%s: seccompProfile must be RuntimeDefault", where)
	}
}

// probePort is the port an HTTP, TCP or gRPC probe dials.
func probePort(p *corev1.Probe) (intstr.IntOrString, bool) {
	switch {
	case p.HTTPGet != nil:
		return p.HTTPGet.Port, true
	case p.TCPSocket != nil:
		return p.TCPSocket.Port, true
	case p.GRPC != nil:
		return intstr.FromInt32(p.GRPC.Port), true
	}
	return intstr.IntOrString{}, false
}

// checkVolumes: each volume has exactly one source and is mounted, each
// mount names a volume or a claim template, and a mounted Secret is
// readable by no one but the owner and the pod's group.
func checkVolumes(t *testing.T, dir string, w workload) {
	t.Helper()
	volumes := map[string]bool{}
	for _, v := range w.template.Spec.Volumes {
		volumes[v.Name] = false
		if n := sources(v.VolumeSource); n != 1 || v.HostPath != nil {
			t.Errorf("%s: %s volume %s has %d sources (one, not a hostPath)", dir, w, v.Name, n)
		}
		if s := v.Secret; s != nil && (s.DefaultMode == nil || *s.DefaultMode&0o037 != 0) {
			t.Errorf("%s: %s volume %s: defaultMode must give no write to the group and nothing to others", dir, w, v.Name)
		}
	}
	for _, c := range w.claims {
		if _, ok := volumes[c]; ok {
			t.Errorf("%s: %s: %s is both a volume and a claim template", dir, w, c)
		}
		volumes[c] = false
	}
	for _, c := range w.template.Spec.Containers {
		for _, m := range c.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok {
				t.Errorf("%s: %s container %s mounts %s, which is neither a volume nor a claim", dir, w, c.Name, m.Name)
			}
			volumes[m.Name] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(volumes)) {
		if !volumes[name] {
			t.Errorf("%s: %s volume %s is never mounted", dir, w, name)
		}
	}
}

// sources counts the sources a volume names.
func sources(s corev1.VolumeSource) int {
	n := 0
	for _, set := range []bool{s.EmptyDir != nil, s.Secret != nil, s.ConfigMap != nil, s.PersistentVolumeClaim != nil,
		s.Projected != nil, s.HostPath != nil, s.DownwardAPI != nil, s.Ephemeral != nil, s.CSI != nil, s.NFS != nil} {
		if set {
			n++
		}
	}
	return n
}
