package kubernetes

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// selected are the workloads whose pods sel selects.
func (r *rendered) selected(sel map[string]string) []workload {
	var out []workload
	for _, w := range r.workloads() {
		if selects(sel, w.template.Labels) {
			out = append(out, w)
		}
	}
	return out
}

// servesPort reports whether some container of w has port p.
func servesPort(w workload, p intstr.IntOrString) bool {
	for _, c := range w.template.Spec.Containers {
		if containerPort(c, p) != 0 {
			return true
		}
	}
	return false
}

// TestServices: every Service selects pods of this kustomization, and
// every port it targets is a port of every pod it selects. Only Envoy is
// exposed outside the cluster; the Services Envoy dials for xDS and
// ext_authz keep replicas that lost their store, the admin one does not.
func TestServices(t *testing.T) {
	for _, r := range renderAll(t) {
		for _, s := range r.services {
			matched := r.selected(s.Spec.Selector)
			if len(matched) == 0 {
				t.Errorf("%s: Service %s selects no pod template (selector %v)", r.dir, s.Name, s.Spec.Selector)
			}
			for _, p := range s.Spec.Ports {
				target := p.TargetPort
				if target.Type == intstr.Int && target.IntVal == 0 {
					target = intstr.FromInt32(p.Port)
				}
				for _, w := range matched {
					if !servesPort(w, target) {
						t.Errorf("%s: Service %s port %s targets %s, which %s does not serve", r.dir, s.Name, p.Name, target.String(), w)
					}
				}
			}
			checkExposure(t, r, s, matched)
		}
	}
}

func checkExposure(t *testing.T, r *rendered, s *corev1.Service, matched []workload) {
	t.Helper()
	public := s.Spec.Type == corev1.ServiceTypeLoadBalancer || s.Spec.Type == corev1.ServiceTypeNodePort
	if public && (len(matched) != 1 || matched[0].name != "envoy") {
		t.Errorf("%s: Service %s exposes %v outside the cluster: only Envoy may be", r.dir, s.Name, matched)
	}
	if s.Name == "envoy" && (s.Spec.Type != corev1.ServiceTypeLoadBalancer || s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal) {
		t.Errorf("%s: Service envoy must be a LoadBalancer keeping client addresses (externalTrafficPolicy Local)", r.dir)
	}
	for _, w := range matched {
		if w.name != "mtlsgate" {
			continue
		}
		for _, p := range s.Spec.Ports {
			envoyFacing := p.TargetPort.StrVal == "xds" || p.TargetPort.StrVal == "ext-authz"
			if envoyFacing && !s.Spec.PublishNotReadyAddresses {
				t.Errorf("%s: Service %s: Envoy must keep reaching a replica cut off from etcd (publishNotReadyAddresses)", r.dir, s.Name)
			}
		}
		if s.Name == "mtlsgate-admin" && s.Spec.PublishNotReadyAddresses {
			t.Errorf("%s: Service mtlsgate-admin must send API calls to ready replicas only", r.dir)
		}
	}
}

// TestStatefulSetsAreGoverned: each StatefulSet's serviceName is a
// headless Service of the kustomization selecting its pods (the pods' DNS
// names come from it).
func TestStatefulSetsAreGoverned(t *testing.T) {
	for _, r := range renderAll(t) {
		for _, w := range r.workloads() {
			if w.kind != "StatefulSet" {
				continue
			}
			ok := false
			for _, s := range r.services {
				ok = ok || (s.Name == w.serviceName && s.Spec.ClusterIP == corev1.ClusterIPNone && selects(s.Spec.Selector, w.template.Labels))
			}
			if !ok {
				t.Errorf("%s: %s: serviceName %q is not a headless Service selecting its pods", r.dir, w, w.serviceName)
			}
		}
	}
}

// TestDisruptionBudgets: every workload of several replicas has a budget
// that lets a drain take at least one pod and leaves the others; no budget
// holds a single replica hostage.
func TestDisruptionBudgets(t *testing.T) {
	for _, r := range renderAll(t) {
		covered := map[string]bool{}
		for _, b := range r.budgets {
			if b.Spec.Selector == nil || len(b.Spec.Selector.MatchExpressions) > 0 {
				t.Errorf("%s: PodDisruptionBudget %s: selector by labels only", r.dir, b.Name)
				continue
			}
			matched := r.selected(b.Spec.Selector.MatchLabels)
			if len(matched) != 1 {
				t.Errorf("%s: PodDisruptionBudget %s selects %d workloads, want 1", r.dir, b.Name, len(matched))
				continue
			}
			w := matched[0]
			covered[w.name] = true
			if b.Spec.MaxUnavailable == nil || b.Spec.MaxUnavailable.Type != intstr.Int || b.Spec.MinAvailable != nil ||
				b.Spec.MaxUnavailable.IntVal < 1 || b.Spec.MaxUnavailable.IntVal >= w.replicas {
				t.Errorf("%s: PodDisruptionBudget %s: want maxUnavailable between 1 and %d (the replicas of %s, less one)", r.dir, b.Name, w.replicas-1, w)
			}
		}
		for _, w := range r.workloads() {
			if w.replicas > 1 && !covered[w.name] {
				t.Errorf("%s: %s has %d replicas and no PodDisruptionBudget", r.dir, w, w.replicas)
			}
		}
	}
}
