package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/bench/internal/harness"
	"github.com/mtlsgate/mtlsgate/bench/internal/procstat"
	"github.com/mtlsgate/mtlsgate/bench/report"
)

// flooding is a running flooder and the server's RSS sampled meanwhile.
type flooding struct {
	f         checkFlags
	proc      *harness.Proc
	rssBefore int64
	peak      chan int64
	done      chan struct{}
}

// startFlood starts the flooder (a child process on the load generator's
// CPUs, so that it never takes the server's) against the admin address
// and samples the server's RSS every 100 ms until stop.
func startFlood(f checkFlags, self, admin, caFile, work string, env []string, serverPID int) (*flooding, error) {
	before, _ := procstat.RSS(serverPID)
	argv := []string{self, "flood", "-addr", admin, "-ca", caFile, "-conc", strconv.Itoa(f.floodConc),
		"-size", strconv.FormatInt(f.floodSize, 10), "-rate", strconv.FormatFloat(f.floodRate, 'f', -1, 64)}
	p, err := harness.Start(argv, env, f.clientCPUs, filepath.Join(work, "flood.log"))
	if err != nil {
		return nil, err
	}
	if _, err := p.WaitLog(`"msg":"flood started"`, 30*time.Second); err != nil {
		_ = p.Stop(5 * time.Second)
		return nil, err
	}
	fl := &flooding{f: f, proc: p, rssBefore: before, peak: make(chan int64, 1), done: make(chan struct{})}
	go func() {
		peak := before
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-fl.done:
				fl.peak <- peak
				return
			case <-t.C:
				if rss, err := procstat.RSS(serverPID); err == nil && rss > peak {
					peak = rss
				}
			}
		}
	}()
	return fl, nil
}

// stop ends the flood and records the round, next to the round's hot run.
func (fl *flooding) stop(res *report.Check, run report.LoadRun, round int) error {
	close(fl.done)
	peak := <-fl.peak
	if err := fl.proc.Stop(30 * time.Second); err != nil {
		return fmt.Errorf("flooder: %w", err)
	}
	counts, err := floodCounts(fl.proc.Log)
	if err != nil {
		return err
	}
	if res.Flood == nil {
		res.Flood = &report.Flood{Senders: fl.f.floodConc, BodyBytes: fl.f.floodSize, RatePerSender: fl.f.floodRate}
	}
	fr := report.FloodRound{Round: round, FloodP99: run.P99, FloodRPS: run.RPS,
		RSSBeforeMB: float64(fl.rssBefore) / (1 << 20), RSSPeakMB: float64(peak) / (1 << 20), FloodCounts: counts}
	for _, r := range res.Runs {
		if r.Scenario == "hot" && r.Target == "mtlsgate" && r.Round == round {
			fr.HotP99, fr.HotRPS = r.P99, r.RPS
		}
	}
	res.Flood.Rounds = append(res.Flood.Rounds, fr)
	logf("admin flood round %d: %d uploads (%d refused, %d other, %d errors), %.1f MiB sent; server RSS %.0f → %.0f MB peak",
		round, counts.Requests, counts.Refused, counts.Other, counts.Errors, float64(counts.BytesSent)/(1<<20), fr.RSSBeforeMB, fr.RSSPeakMB)
	return nil
}

// floodCounts reads the flooder's final line from its log.
func floodCounts(log string) (report.FloodCounts, error) {
	var c report.FloodCounts
	b, err := os.ReadFile(log)
	if err != nil {
		return c, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"msg":"flood done"`) {
			return c, json.Unmarshal(sc.Bytes(), &c)
		}
	}
	return c, fmt.Errorf("flooder log %s has no final counts", log)
}
