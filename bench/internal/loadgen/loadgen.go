package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/mtlsgate/mtlsgate/bench/internal/procstat"
	"github.com/mtlsgate/mtlsgate/bench/report"
)

// CheckMethod is the ext_authz gRPC method.
const CheckMethod = "/envoy.service.auth.v3.Authorization/Check"

// rawCodec sends pre-encoded requests and keeps responses as bytes: the
// wire is exactly what a proto client sends, without its CPU cost.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }

func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append((*v.(*[]byte))[:0], data...)
	return nil
}

// Dial opens m connections to addr (each its own HTTP/2 connection), over
// TLS with tc, or in plaintext when tc is nil.
func Dial(addr string, m int, tc *tls.Config) ([]*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if tc != nil {
		creds = credentials.NewTLS(tc)
	}
	var out []*grpc.ClientConn
	for range m {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			return nil, err
		}
		c.Connect()
		out = append(out, c)
	}
	return out, nil
}

// Close closes every connection.
func Close(conns []*grpc.ClientConn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// Workload is what one scenario sends: requests cycled in order, and the
// gRPC status code (in CheckResponse.status) every answer must carry.
type Workload struct {
	Name     string
	Requests [][]byte
	Expect   int32 // 0 OK (allowed), 7 PERMISSION_DENIED (denied), -1 any
}

// Config shapes one run.
type Config struct {
	Callers  int           // concurrent callers (closed loop) or paced senders (open loop)
	Warmup   time.Duration // sent, not measured
	Duration time.Duration // measured
	Rate     float64       // requests/s for an open-loop run; 0 for closed loop
	// AtWindow, when set, is called at the start (end false) and the end
	// of the measured window, right after the CPU counters are read: the
	// caller reads its own counters at the same edges.
	AtWindow func(end bool)
}

// worker holds one caller's samples, merged at the end.
type worker struct {
	lat, lag, svc    []int64
	errs, unexpected int64
	firstErr         error
}

// Run sends w to conns as cfg says and measures the server process pid.
func Run(ctx context.Context, conns []*grpc.ClientConn, w Workload, cfg Config, target string, pid int) (report.LoadRun, error) {
	if len(w.Requests) == 0 || cfg.Callers < 1 || len(conns) == 0 {
		return report.LoadRun{}, errors.New("loadgen: empty workload or no callers")
	}
	start := time.Now()
	mStart := start.Add(cfg.Warmup)
	mEnd := mStart.Add(cfg.Duration)
	var wg sync.WaitGroup
	workers, err := startWorkers(ctx, &wg, conns, w, cfg, start, mStart, mEnd)
	if err != nil {
		return report.LoadRun{}, err
	}
	// CPU counters at the edges of the measured window.
	time.Sleep(time.Until(mStart))
	before, err0 := sampleCPU(pid)
	if cfg.AtWindow != nil {
		cfg.AtWindow(false)
	}
	time.Sleep(time.Until(mEnd))
	after, err1 := sampleCPU(pid)
	if cfg.AtWindow != nil {
		cfg.AtWindow(true)
	}
	wg.Wait()
	if err := errors.Join(err0, err1); err != nil {
		return report.LoadRun{}, fmt.Errorf("loadgen: server CPU: %w", err)
	}
	res := report.LoadRun{Scenario: w.Name, Target: target, Mode: "closed", Callers: cfg.Callers, Conns: len(conns),
		Seconds: cfg.Duration.Seconds()}
	if cfg.Rate > 0 {
		res.Mode, res.OfferedRate = "open", cfg.Rate
	}
	merge(&res, workers)
	cpuUse(&res, before, after)
	return res, nil
}

// startWorkers starts the callers (and, for an open loop, the pacer) on
// wg.
func startWorkers(ctx context.Context, wg *sync.WaitGroup, conns []*grpc.ClientConn, w Workload, cfg Config, start, mStart, mEnd time.Time) ([]*worker, error) {
	var next atomic.Uint64
	var pace chan time.Time
	if cfg.Rate > 0 {
		pace = make(chan time.Time, 1<<16)
		tk, err := newTicker(time.Duration(float64(time.Second) / cfg.Rate))
		if err != nil {
			return nil, err
		}
		wg.Go(func() { pacer(ctx, tk, start, cfg.Rate, mEnd, pace) })
	}
	workers := make([]*worker, cfg.Callers)
	for i := range workers {
		wk := &worker{}
		workers[i] = wk
		conn := conns[i%len(conns)]
		if pace != nil {
			wg.Go(func() { wk.paced(ctx, conn, w, &next, pace, mStart) })
		} else {
			wg.Go(func() { wk.closed(ctx, conn, w, &next, mStart, mEnd) })
		}
	}
	return workers, nil
}

// cpuSample is the CPU time of the server, of this process and of the
// machine at one moment.
type cpuSample struct {
	server, self time.Duration
	sys          procstat.System
}

func sampleCPU(pid int) (cpuSample, error) {
	srv, err := serverCPU(pid)
	c := cpuSample{server: srv, self: procstat.SelfCPU()}
	sys, err2 := procstat.SystemCPU()
	c.sys = sys
	return c, errors.Join(err, err2)
}

// merge gathers the workers' samples into res: counts, latency
// percentiles, and for an open loop the send lag and service time.
func merge(res *report.LoadRun, workers []*worker) {
	var lat, lag, svc []int64
	for _, wk := range workers {
		lat = append(lat, wk.lat...)
		lag = append(lag, wk.lag...)
		svc = append(svc, wk.svc...)
		res.Errors += wk.errs
		res.Unexpected += wk.unexpected
		if wk.firstErr != nil && res.FirstError == "" {
			res.FirstError = wk.firstErr.Error()
		}
	}
	res.Requests = int64(len(lat))
	res.RPS = float64(res.Requests) / res.Seconds
	slices.Sort(lat)
	res.P50, res.P90, res.P99, res.P999 = pct(lat, 0.50), pct(lat, 0.90), pct(lat, 0.99), pct(lat, 0.999)
	if len(lat) > 0 {
		res.Max = us(lat[len(lat)-1])
		var sum int64
		for _, l := range lat {
			sum += l
		}
		res.Mean = us(sum / int64(len(lat)))
	}
	if len(lag) > 0 {
		slices.Sort(lag)
		res.SendLagP50, res.SendLagP99 = pct(lag, 0.50), pct(lag, 0.99)
		slices.Sort(svc)
		res.SendP50, res.SendP99, res.SendP999 = pct(svc, 0.50), pct(svc, 0.99), pct(svc, 0.999)
	}
}

// cpuUse sets res's CPU figures from the samples at the window's edges.
func cpuUse(res *report.LoadRun, before, after cpuSample) {
	self := (after.self - before.self).Seconds()
	res.ServerCPUSeconds = (after.server - before.server).Seconds()
	res.ServerCPUUtil = res.ServerCPUSeconds / res.Seconds
	res.ClientCPUUtil = self / res.Seconds
	s0, s1 := before.sys, after.sys
	busy := procstat.Seconds(s1.Busy - s0.Busy)
	res.OtherCPUUtil = max(0, (busy-res.ServerCPUSeconds-self)/res.Seconds)
	res.IRQCPUUtil = procstat.Seconds(s1.IRQ-s0.IRQ) / res.Seconds
	if all := s1.Busy + s1.IRQ + s1.Idle + s1.Steal - s0.Busy - s0.IRQ - s0.Idle - s0.Steal; all > 0 {
		res.StealPct = 100 * float64(s1.Steal-s0.Steal) / float64(all)
	}
	if res.Requests > 0 {
		res.CPUPer1000 = res.ServerCPUSeconds / float64(res.Requests) * 1000
	}
}

// serverCPU is the CPU time of pid, or 0 when pid is not positive.
func serverCPU(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, nil
	}
	return procstat.CPU(pid)
}

func us(ns int64) float64 { return float64(ns) / 1e3 }

// pct returns the p-quantile of sorted samples (nearest rank), in µs.
func pct(sorted []int64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return us(sorted[max(0, min(i, len(sorted)-1))])
}

// call sends one request and checks the answer's status.
func (wk *worker) call(ctx context.Context, conn *grpc.ClientConn, w Workload, req *[]byte, resp *[]byte) bool {
	if err := conn.Invoke(ctx, CheckMethod, req, resp, grpc.ForceCodec(rawCodec{})); err != nil {
		wk.errs++
		if wk.firstErr == nil {
			wk.firstErr = err
		}
		return false
	}
	if code, ok := StatusCode(*resp); w.Expect >= 0 && (!ok || code != w.Expect) {
		wk.unexpected++
		if wk.firstErr == nil {
			wk.firstErr = fmt.Errorf("answer status %d, want %d", code, w.Expect)
		}
	}
	return true
}

// closed sends back to back until mEnd, recording the calls that end
// inside [mStart, mEnd].
func (wk *worker) closed(ctx context.Context, conn *grpc.ClientConn, w Workload, next *atomic.Uint64, mStart, mEnd time.Time) {
	var resp []byte
	n := uint64(len(w.Requests))
	for {
		req := w.Requests[next.Add(1)%n]
		t0 := time.Now()
		if t0.After(mEnd) || ctx.Err() != nil {
			return
		}
		ok := wk.call(ctx, conn, w, &req, &resp)
		t1 := time.Now()
		if ok && !t1.Before(mStart) && !t1.After(mEnd) {
			wk.lat = append(wk.lat, int64(t1.Sub(t0)))
		}
	}
}

// pacer schedules request i at start + i/rate until mEnd, handing each
// scheduled time to the senders when it is due, whether or not earlier
// calls have answered.
func pacer(ctx context.Context, tk *ticker, start time.Time, rate float64, mEnd time.Time, pace chan<- time.Time) {
	defer close(pace)
	defer tk.stop()
	interval := float64(time.Second) / rate
	for i := 0; ctx.Err() == nil; {
		if err := tk.wait(); err != nil {
			return
		}
		now := time.Now()
		for ; ; i++ {
			at := start.Add(time.Duration(float64(i) * interval))
			if at.After(now) {
				break
			}
			if !at.Before(mEnd) {
				return
			}
			pace <- at
		}
	}
}

// paced sends one request per scheduled time and measures it from that
// time, so that a stalled server is charged for every request it delayed
// (no coordinated omission). Times inside [mStart, mEnd) are recorded. It
// also records the latency from the actual send, which leaves out the
// generator's own lateness (and any wait for a free sender).
func (wk *worker) paced(ctx context.Context, conn *grpc.ClientConn, w Workload, next *atomic.Uint64, pace <-chan time.Time, mStart time.Time) {
	var resp []byte
	n := uint64(len(w.Requests))
	for at := range pace {
		if ctx.Err() != nil {
			continue
		}
		req := w.Requests[next.Add(1)%n]
		sent := time.Now()
		ok := wk.call(ctx, conn, w, &req, &resp)
		t1 := time.Now()
		if ok && !at.Before(mStart) {
			wk.lat = append(wk.lat, int64(t1.Sub(at)))
			wk.lag = append(wk.lag, int64(sent.Sub(at)))
			wk.svc = append(wk.svc, int64(t1.Sub(sent)))
		}
	}
}

// StatusCode reads CheckResponse.status.code from an encoded response.
func StatusCode(b []byte) (int32, bool) {
	st, ok := field(b, 1, protowire.BytesType)
	if !ok {
		return 0, false
	}
	code, ok := field(st, 1, protowire.VarintType)
	if !ok {
		return 0, true // code 0 is not encoded
	}
	v, n := protowire.ConsumeVarint(code)
	return int32(v), n > 0
}

// field returns the value bytes of the first field num of type typ.
func field(b []byte, num protowire.Number, typ protowire.Type) ([]byte, bool) {
	for len(b) > 0 {
		n, t, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil, false
		}
		b = b[l:]
		vl := protowire.ConsumeFieldValue(n, t, b)
		if vl < 0 {
			return nil, false
		}
		if n == num && t == typ {
			if t == protowire.BytesType {
				v, _ := protowire.ConsumeBytes(b)
				return v, true
			}
			return b[:vl], true
		}
		b = b[vl:]
	}
	return nil, false
}
