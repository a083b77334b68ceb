package xds

import (
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// resumingCache keeps a state-of-the-world stream quiet when it resumes at
// the version the control plane holds. An Envoy reconnecting to a restarted
// mtlsgate sends, per type, the version it accepted last; versions are
// content hashes, so an equal version means Envoy already holds exactly
// this configuration. go-control-plane would answer anyway (a new stream
// has been sent nothing yet), so the stream's subscription is presented as
// already holding the snapshot's resources. Later changes are pushed as
// usual: the open watch is answered on the next snapshot with another
// version. Delta streams need none of this: Envoy reports per-resource
// versions and go-control-plane compares them.
type resumingCache struct {
	cachev3.SnapshotCache
}

// CreateWatch implements cachev3.ConfigWatcher.
func (c resumingCache) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, ch chan cachev3.Response) (func(), error) {
	if req.GetResponseNonce() == "" && req.GetVersionInfo() != "" {
		snap, err := c.GetSnapshot(fleetHash{}.ID(req.GetNode()))
		if err == nil && snap.GetVersion(req.GetTypeUrl()) == req.GetVersionInfo() {
			held := map[string]string{}
			for name := range snap.GetResources(req.GetTypeUrl()) {
				held[name] = req.GetVersionInfo()
			}
			sub = resumed{Subscription: sub, held: held}
		}
	}
	return c.SnapshotCache.CreateWatch(req, sub, ch)
}

// resumed is a subscription whose client already holds the resources.
type resumed struct {
	cachev3.Subscription
	held map[string]string
}

// ReturnedResources implements cachev3.Subscription.
func (r resumed) ReturnedResources() map[string]string { return r.held }
