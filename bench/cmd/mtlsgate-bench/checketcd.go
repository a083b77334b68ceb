package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/bench/internal/harness"
	"github.com/mtlsgate/mtlsgate/bench/internal/loadgen"
	"github.com/mtlsgate/mtlsgate/bench/internal/procstat"
	"github.com/mtlsgate/mtlsgate/internal/etcdproc"
)

// onEtcd tells whether a scenario runs against the server whose store is
// etcd rather than the bbolt one.
func (s scenario) onEtcd() bool { return strings.HasSuffix(s.name, "-etcd") }

// splitScenarios splits scenarios by the server they run against.
func splitScenarios(all []scenario) (bbolt, etcd []scenario) {
	for _, s := range all {
		if s.onEtcd() {
			etcd = append(etcd, s)
		} else {
			bbolt = append(bbolt, s)
		}
	}
	return bbolt, etcd
}

// startEtcdServer starts a one-member etcd cluster (TLS, client
// certificates, as in production) and a second mtlsgate on it, both on
// the server's CPUs, configures that server's CAs and sites through its
// API as the bbolt one's (without the big CRL, which is larger than an
// etcd request may be), and dials its ext_authz.
func (c *checkRun) startEtcdServer() error {
	var wrap []string
	if c.f.serverCPUs != "" && harness.Taskset != "" {
		wrap = []string{harness.Taskset, "-c", c.f.serverCPUs}
	}
	cluster, err := etcdproc.Start(etcdproc.Options{Bin: c.f.etcdBin, Dir: filepath.Join(c.work, "etcd"), TLS: true, Wrap: wrap})
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	c.etcd = cluster
	c.undo = append(c.undo, cluster.Stop)
	c.edir = filepath.Join(c.work, "etcd-server")
	if err := os.MkdirAll(c.edir, 0o700); err != nil {
		return err
	}
	if c.ecfgPath, err = serveConfig(c.edir, c.f.cache, etcdStoreConfig(cluster, "/bench/")); err != nil {
		return err
	}
	c.esrv, c.eserving, err = harness.StartMtlsgate([]string{c.f.bin, "serve", "--config", c.ecfgPath}, c.env, c.f.serverCPUs, filepath.Join(c.edir, "mtlsgate.log"))
	if err != nil {
		return err
	}
	c.undo = append(c.undo, func() { c.esrv.Stop(30 * time.Second) })
	api, err := harness.DialAPI(c.eserving)
	if err != nil {
		return err
	}
	defer api.Close()
	if err := configureSites(api, c.m); err != nil {
		return fmt.Errorf("etcd server: %w", err)
	}
	nodeTLS, err := api.NodeTLS("default", "bench-loadgen")
	if err != nil {
		return err
	}
	if c.econns, err = loadgen.Dial(c.eserving.Authz, c.f.conns, nodeTLS); err != nil {
		return err
	}
	c.undo = append(c.undo, func() { loadgen.Close(c.econns) })
	logf("second mtlsgate on a one-member etcd cluster configured")
	return nil
}

// etcdStoreConfig is the config section that puts a server's store on
// cluster, under prefix, with the cluster's client certificate.
func etcdStoreConfig(cluster *etcdproc.Cluster, prefix string) string {
	return fmt.Sprintf("store: etcd\netcd:\n  endpoints: [%s]\n  ca_file: %s\n  cert_file: %s\n  key_file: %s\n  prefix: %s\n",
		strings.Join(cluster.Endpoints(), ", "), cluster.CAFile, cluster.ClientCertFile, cluster.ClientKeyFile, prefix)
}

// etcdDescription describes the etcd server's cluster for the report.
func (c *checkRun) etcdDescription() string {
	pinned := "unpinned"
	if c.f.serverCPUs != "" && harness.Taskset != "" {
		pinned = "on CPUs " + c.f.serverCPUs + " with the servers"
	}
	return "one etcd member, TLS with client certificates, " + pinned
}

// memberCPUSeconds returns the etcd member's CPU time so far, in seconds.
func (c *checkRun) memberCPUSeconds() float64 {
	d, err := procstat.CPU(c.etcd.Members[0].PID())
	if err != nil {
		return 0
	}
	return d.Seconds()
}
