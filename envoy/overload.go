package envoy

import (
	"fmt"
	"time"

	overloadv3 "github.com/envoyproxy/go-control-plane/envoy/config/overload/v3"
	connsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	heapv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/fixed_heap/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Overload protection: Envoy refuses connections beyond a bound, and,
// given the memory it may use, sheds load before the kernel kills it.
const (
	// DefaultMaxConnections bounds the downstream connections of all of
	// a node's listeners together (BootstrapOptions.MaxConnections).
	DefaultMaxConnections = 50000
	connectionsMonitor    = "envoy.resource_monitors.global_downstream_max_connections"
	heapMonitor           = "envoy.resource_monitors.fixed_heap"
	// At these fractions of the heap, Envoy first returns free memory to
	// the system, then stops accepting requests (answering 503).
	shrinkHeapAt    = 0.95
	stopRequestsAt  = 0.98
	shrinkHeapName  = "envoy.overload_actions.shrink_heap"
	stopRequestName = "envoy.overload_actions.stop_accepting_requests"
	// minHeap is the least MaxHeapBytes accepted: Envoy with a few
	// thousand connections needs more than this anyway.
	minHeap = 64 << 20
	// overloadRefresh is how often the monitors are read.
	overloadRefresh = 250 * time.Millisecond
)

// overloadManager is the bootstrap's overload manager: the connection
// bound always; with maxHeap (bytes, 0 for none), the heap monitor and
// its two actions.
func overloadManager(maxConnections, maxHeap int64) (*overloadv3.OverloadManager, error) {
	conns, err := packed(&connsv3.DownstreamConnectionsConfig{MaxActiveDownstreamConnections: maxConnections})
	if err != nil {
		return nil, err
	}
	m := &overloadv3.OverloadManager{
		RefreshInterval: durationpb.New(overloadRefresh),
		ResourceMonitors: []*overloadv3.ResourceMonitor{{Name: connectionsMonitor,
			ConfigType: &overloadv3.ResourceMonitor_TypedConfig{TypedConfig: conns}}},
	}
	if maxHeap <= 0 {
		return m, nil
	}
	heap, err := packed(&heapv3.FixedHeapConfig{MaxHeapSizeBytes: uint64(maxHeap)})
	if err != nil {
		return nil, err
	}
	m.ResourceMonitors = append(m.ResourceMonitors, &overloadv3.ResourceMonitor{Name: heapMonitor,
		ConfigType: &overloadv3.ResourceMonitor_TypedConfig{TypedConfig: heap}})
	for _, a := range []struct {
		name string
		at   float64
	}{{shrinkHeapName, shrinkHeapAt}, {stopRequestName, stopRequestsAt}} {
		m.Actions = append(m.Actions, &overloadv3.OverloadAction{Name: a.name, Triggers: []*overloadv3.Trigger{{
			Name: heapMonitor, TriggerOneof: &overloadv3.Trigger_Threshold{Threshold: &overloadv3.ThresholdTrigger{Value: a.at}},
		}}})
	}
	return m, nil
}

// packed is m in an Any.
func packed(m proto.Message) (*anypb.Any, error) {
	a, err := anypb.New(m)
	if err != nil {
		return nil, fmt.Errorf("envoy: packing %T: %w", m, err)
	}
	return a, nil
}
