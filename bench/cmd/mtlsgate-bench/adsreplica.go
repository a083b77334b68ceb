package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/bench/internal/procstat"
	"github.com/mtlsgate/mtlsgate/bench/report"
	"github.com/mtlsgate/mtlsgate/internal/etcdproc"
)

// measureReplicaADS moves the seeded bbolt server's store to an etcd
// cluster as an operator would (`mtlsgate backup` from the running server,
// stopped, `mtlsgate restore` into etcd), starts two replicas on it, and
// times changes made through replica A's API as seen by ADS clients of
// replica B. The bbolt server is stopped on return.
func measureReplicaADS(f cpFlags, src *adsServer, work string, undo *undoStack) (*report.ADSRun, error) {
	out := &report.ADSRun{Sites: f.adsSites, CAs: f.caPool,
		Store: fmt.Sprintf("etcd, %d members (TLS, client certificates); changes through replica A's API, ADS clients on replica B", f.etcdMembers),
		Change: "UpdateSite origin_url (new port) through replica A: changes the site's origin/<host> Cluster only; " +
			"a state-of-the-world and a delta client of replica B wait for each change"}
	backup := filepath.Join(work, "mtlsgate.backup")
	if err := runCLI(f.bin, "--server", src.serving.Admin, "--token-file", filepath.Join(src.serving.Data, "admin.token"),
		"backup", "--out", backup); err != nil {
		return nil, err
	}
	if err := src.srv.Stop(30 * time.Second); err != nil {
		return nil, fmt.Errorf("stop the bbolt server: %w", err)
	}
	cluster, err := etcdproc.Start(etcdproc.Options{Bin: f.etcdBin, Dir: filepath.Join(work, "etcd"), Members: f.etcdMembers, TLS: true})
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	undo.push(cluster.Stop)
	dir := filepath.Join(work, "replicas")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfgPath, err := serveConfig(dir, 10000, etcdStoreConfig(cluster, "/bench/"))
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := runCLI(f.bin, "restore", "--in", backup, "--config", cfgPath); err != nil {
		return nil, err
	}
	out.RestoreSeconds = time.Since(start).Seconds()
	logf("backup of %d sites restored into a %d-member etcd cluster in %s", f.adsSites, f.etcdMembers, time.Since(start).Round(time.Millisecond))
	a, b, err := startReplicas(f, cfgPath, src.serving.Data, dir, undo)
	if err != nil {
		return nil, err
	}
	if err := measureChanges(f, a.api, b, out, undo, 20080); err != nil {
		return nil, err
	}
	for _, s := range []*adsServer{a, b} {
		if rss, err := procstat.PeakRSS(s.srv.PID()); err == nil {
			out.ServerPeakRSSMB = max(out.ServerPeakRSSMB, float64(rss)/mb)
		}
	}
	return out, nil
}

// startReplicas starts replicas A and B on cfgPath's store, each with its
// own data directory under dir, sharing the moved installation's seal key
// and admin token (from srcData, the bbolt server's data directory).
func startReplicas(f cpFlags, cfgPath, srcData, dir string, undo *undoStack) (a, b *adsServer, err error) {
	token, err := os.ReadFile(filepath.Join(srcData, "admin.token"))
	if err != nil {
		return nil, nil, err
	}
	var out [2]*adsServer
	for i, name := range []string{"a", "b"} {
		data := filepath.Join(dir, name)
		if err := os.MkdirAll(data, 0o700); err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(filepath.Join(data, "admin.token"), token, 0o600); err != nil {
			return nil, nil, err
		}
		argv := []string{f.bin, "serve", "--config", cfgPath, "--data", data, "--seal-key-file", filepath.Join(srcData, "seal.key")}
		if out[i], err = startADSServer(argv, filepath.Join(dir, name+".log"), undo); err != nil {
			return nil, nil, fmt.Errorf("replica %s: %w", name, err)
		}
	}
	return out[0], out[1], nil
}

// runCLI runs the mtlsgate binary with args and fails with its output.
func runCLI(bin string, args ...string) error {
	b, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mtlsgate %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}
