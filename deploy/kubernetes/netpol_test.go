package kubernetes

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// podLabels are the labels each workload's pods carry, by workload name;
// the NetworkPolicies' peers are recognised by them.
var podLabels = map[string]map[string]string{
	"mtlsgate": {"app.kubernetes.io/name": "mtlsgate", "app.kubernetes.io/component": "control-plane"},
	"envoy":    {"app.kubernetes.io/name": "envoy", "app.kubernetes.io/component": "edge"},
	"etcd":     {"app.kubernetes.io/name": "etcd", "app.kubernetes.io/component": "store"},
}

// Peers other than the workloads above.
const (
	anyone      = "anyone"
	adminClient = "admin-client" // pods labelled mtlsgate-admin-client=true
	prometheus  = "prometheus"   // Prometheus in the monitoring namespace
)

// admitted says, for every port of every workload, who may connect to it;
// nobody else may. A port missing here fails the test: decide who may
// reach it first.
var admitted = map[string]map[int32][]string{
	"mtlsgate": {18000: {"envoy"}, 9191: {"envoy"}, 9000: {adminClient, prometheus}},
	"envoy":    {10443: {anyone}, 10080: {anyone}, 9901: {prometheus}},
	"etcd":     {2379: {"mtlsgate", "etcd"}, 2380: {"etcd"}, 2381: {prometheus}},
}

// TestNetworkPolicies: every pod is isolated by a NetworkPolicy, every
// connection the policies admit is in the table above, and every entry of
// the table is admitted (so Envoy reaches xDS and ext_authz, and nothing
// else does).
func TestNetworkPolicies(t *testing.T) {
	for _, r := range renderAll(t) {
		for _, w := range r.workloads() {
			table, ok := admitted[w.name]
			if !ok || !selects(podLabels[w.name], w.template.Labels) {
				t.Errorf("%s: %s: unknown workload, or its pods lack the labels %v", r.dir, w, podLabels[w.name])
				continue
			}
			checkPorts(t, r.dir, w, table)
			seen, isolated := r.admissions(t, w)
			if !isolated {
				t.Errorf("%s: %s: no NetworkPolicy isolates its pods for ingress", r.dir, w)
			}
			for _, port := range slices.Sorted(maps.Keys(table)) {
				for _, who := range table[port] {
					if !seen[port][who] {
						t.Errorf("%s: %s: port %d is not open to %s", r.dir, w, port, who)
					}
				}
			}
		}
	}
}

// checkPorts: the table decides for every port the workload's pods have.
func checkPorts(t *testing.T, dir string, w workload, table map[int32][]string) {
	t.Helper()
	var have []int32
	for _, c := range w.template.Spec.Containers {
		for _, p := range c.Ports {
			have = append(have, p.ContainerPort)
		}
	}
	if want := slices.Sorted(maps.Keys(table)); !slices.Equal(slices.Sorted(slices.Values(have)), want) {
		t.Errorf("%s: %s has ports %v, the NetworkPolicy table decides for %v", dir, w, have, want)
	}
}

// admissions collects who each policy selecting w's pods admits, port by
// port, failing on any admission the table does not allow.
func (r *rendered) admissions(t *testing.T, w workload) (seen map[int32]map[string]bool, isolated bool) {
	t.Helper()
	seen = map[int32]map[string]bool{}
	for _, np := range r.policies {
		sel := np.Spec.PodSelector
		if len(sel.MatchExpressions) > 0 || (len(sel.MatchLabels) > 0 && !selects(sel.MatchLabels, w.template.Labels)) {
			continue
		}
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			continue
		}
		isolated = true
		for i, rule := range np.Spec.Ingress {
			where := fmt.Sprintf("%s: NetworkPolicy %s rule %d on %s", r.dir, np.Name, i, w)
			ports := rulePorts(t, where, w, rule.Ports)
			for _, who := range peers(rule.From) {
				for _, p := range ports {
					if !slices.Contains(admitted[w.name][p], who) {
						t.Errorf("%s: admits %s to port %d", where, who, p)
					}
					if seen[p] == nil {
						seen[p] = map[string]bool{}
					}
					seen[p][who] = true
				}
			}
		}
	}
	return seen, isolated
}

// rulePorts resolves a rule's ports to the pods' port numbers: no ports
// means every port; a name is a container port's name.
func rulePorts(t *testing.T, where string, w workload, ports []networkingv1.NetworkPolicyPort) []int32 {
	t.Helper()
	var all, out []int32
	for _, c := range w.template.Spec.Containers {
		for _, p := range c.Ports {
			all = append(all, p.ContainerPort)
		}
	}
	if len(ports) == 0 {
		return all
	}
	for _, p := range ports {
		if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
			t.Errorf("%s: protocol %s: mtlsgate speaks TCP only", where, *p.Protocol)
		}
		switch {
		case p.Port == nil:
			out = append(out, all...)
		case p.Port.Type == intstr.String:
			n := int32(0)
			for _, c := range w.template.Spec.Containers {
				n = max(n, containerPort(c, *p.Port))
			}
			if n == 0 {
				t.Errorf("%s: port %q is no port of the pods", where, p.Port.StrVal)
			}
			out = append(out, n)
		default:
			last := p.Port.IntVal
			if p.EndPort != nil {
				last = *p.EndPort
			}
			for _, n := range all {
				if n >= p.Port.IntVal && n <= last {
					out = append(out, n)
				}
			}
		}
	}
	return out
}

// peers names who a rule's from admits: anyone (no from), one of the
// workloads, the admin clients, Prometheus, or a description of anything
// else (which no table entry allows).
func peers(from []networkingv1.NetworkPolicyPeer) []string {
	if len(from) == 0 {
		return []string{anyone}
	}
	var out []string
	for _, p := range from {
		out = append(out, peer(p))
	}
	return out
}

func peer(p networkingv1.NetworkPolicyPeer) string {
	switch {
	case p.IPBlock != nil:
		return "the address block " + p.IPBlock.CIDR
	case p.NamespaceSelector != nil:
		ns, pods := p.NamespaceSelector, p.PodSelector
		if len(ns.MatchExpressions) == 0 && maps.Equal(ns.MatchLabels, map[string]string{"kubernetes.io/metadata.name": "monitoring"}) &&
			pods != nil && len(pods.MatchExpressions) == 0 &&
			maps.Equal(pods.MatchLabels, map[string]string{"app.kubernetes.io/name": "prometheus"}) {
			return prometheus
		}
		return fmt.Sprintf("namespaces %v, pods %v", ns, pods)
	case p.PodSelector == nil || len(p.PodSelector.MatchExpressions) > 0 || len(p.PodSelector.MatchLabels) == 0:
		return fmt.Sprintf("pods %v", p.PodSelector)
	}
	sel := p.PodSelector.MatchLabels
	if maps.Equal(sel, map[string]string{"mtlsgate-admin-client": "true"}) {
		return adminClient
	}
	var names []string
	for name, labels := range podLabels {
		if selects(sel, labels) {
			names = append(names, name)
		}
	}
	if len(names) == 1 {
		return names[0]
	}
	return fmt.Sprintf("pods %v", sel)
}
