package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/mtlsgate/mtlsgate/bench/internal/harness"
	"github.com/mtlsgate/mtlsgate/bench/internal/loadgen"
	"github.com/mtlsgate/mtlsgate/bench/report"
)

// profileCheck runs every scenario once more against serve-profiled (the
// same server code, with runtime/pprof) and summarises each CPU profile.
func profileCheck(f checkFlags, self, cfgPath, work string, env []string, scenarios []scenario, res *report.Check) error {
	pdir := filepath.Join(work, "profiles")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(f.profiles, 0o755); err != nil {
		return err
	}
	srv, serving, err := harness.StartMtlsgate([]string{self, "serve-profiled", "-profile-dir", pdir, "--", "--config", cfgPath},
		env, f.serverCPUs, filepath.Join(work, "profiled.log"))
	if err != nil {
		return err
	}
	defer srv.Stop(30 * time.Second)
	api, err := harness.DialAPI(serving)
	if err != nil {
		return err
	}
	defer api.Close()
	nodeTLS, err := api.NodeTLS("default", "bench-profiler")
	if err != nil {
		return err
	}
	conns, err := loadgen.Dial(serving.Authz, f.conns, nodeTLS)
	if err != nil {
		return err
	}
	defer loadgen.Close(conns)
	// Let the policy load before the first profile.
	deadline := time.Now().Add(time.Minute)
	for preflight(conns[0], scenarios) != nil {
		if time.Now().After(deadline) {
			return errors.New("profiled server never answered as expected")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i, s := range scenarios {
		if err := profileScenario(f, srv, conns, pdir, i+1, s, res); err != nil {
			return err
		}
	}
	return nil
}

// profileScenario warms the profiled server up with s, profiles it for
// f.profileDur (SIGUSR1 starts profile n, SIGUSR2 writes it) and copies the
// profile, with its top entries, into res.
func profileScenario(f checkFlags, srv *harness.Proc, conns []*grpc.ClientConn, pdir string, n int, s scenario, res *report.Check) error {
	cfg := loadgen.Config{Callers: f.callers, Warmup: f.warmup, Duration: 0}
	if _, err := loadgen.Run(context.Background(), conns, s.work, cfg, "mtlsgate", srv.PID()); err != nil {
		return err
	}
	if err := srv.Signal(syscall.SIGUSR1); err != nil {
		return err
	}
	cfg.Warmup, cfg.Duration = 0, f.profileDur
	if _, err := loadgen.Run(context.Background(), conns, s.work, cfg, "mtlsgate", srv.PID()); err != nil {
		return err
	}
	if err := srv.Signal(syscall.SIGUSR2); err != nil {
		return err
	}
	src := filepath.Join(pdir, fmt.Sprintf("cpu-%d.pprof", n))
	if _, err := srv.WaitLog(fmt.Sprintf(`"msg":"profile written","n":%d`, n), 30*time.Second); err != nil {
		return err
	}
	dst := filepath.Join(f.profiles, "check-"+s.name+".pprof")
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		return err
	}
	cum, flat := pprofTop(dst)
	res.Profiles = append(res.Profiles, report.Profile{Name: "check " + s.name + " (serve-profiled)", File: dst, Top: cum, Flat: flat})
	logf("profile %s written", dst)
	return nil
}

// pprofTop returns `go tool pprof -top -cum` and `-top` of a profile.
func pprofTop(path string) (cum, flat string) {
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	run := func(args ...string) string {
		out, err := exec.Command(goCmd, append(append([]string{"tool", "pprof"}, args...), path)...).Output()
		if err != nil {
			return "pprof failed: " + err.Error()
		}
		return strings.TrimSpace(string(out))
	}
	return run("-top", "-cum", "-nodecount=40"), run("-top", "-nodecount=20")
}
