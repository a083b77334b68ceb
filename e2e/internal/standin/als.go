package standin

import (
	"sync"

	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
)

// alsQueue is how many entries wait for one access log stream; more are
// dropped, as Envoy drops what overflows its buffer.
const alsQueue = 1024

// alsBatch is the most entries one message carries.
const alsBatch = 100

// alsEntry is one entry for a gRPC access log: exactly one of the two.
type alsEntry struct {
	http *datav3.HTTPAccessLogEntry
	tcp  *datav3.TCPAccessLogEntry
}

// alsSinks are the access log streams of a Proxy, one per (cluster, log
// name), each with the goroutine that feeds it; started on first use,
// stopped with the Proxy.
type alsSinks struct {
	mu    sync.Mutex
	sinks map[alsCfg]chan alsEntry
	// closed: the Proxy is closing; no sink starts any more (its
	// goroutine would join the WaitGroup Close waits on).
	closed bool
}

// log queues e for the access log c, starting its stream on first use.
func (p *Proxy) log(c *alsCfg, e alsEntry) {
	p.als.mu.Lock()
	if p.als.closed {
		p.als.mu.Unlock()
		return
	}
	ch := p.als.sinks[*c]
	if ch == nil {
		if p.als.sinks == nil {
			p.als.sinks = map[alsCfg]chan alsEntry{}
		}
		ch = make(chan alsEntry, alsQueue)
		p.als.sinks[*c] = ch
		key := *c
		p.wg.Go(func() { p.streamLog(key, ch) })
	}
	p.als.mu.Unlock()
	select {
	case ch <- e:
	default:
		p.logf("standin: access log %s: queue full, entry dropped", c.logName)
	}
}

// streamLog sends what arrives on ch to the access log service of the
// log's cluster, opening the stream (identifier first) when needed and
// again after a failure, until the Proxy stops.
func (p *Proxy) streamLog(c alsCfg, ch chan alsEntry) {
	var stream alsv3.AccessLogService_StreamAccessLogsClient
	defer func() {
		if stream != nil {
			_, _ = stream.CloseAndRecv()
		}
	}()
	for {
		var first alsEntry
		select {
		case <-p.ctx.Done():
			return
		case first = <-ch:
		}
		batch := []alsEntry{first}
		for len(batch) < alsBatch && len(ch) > 0 {
			batch = append(batch, <-ch)
		}
		msg := alsMessage(batch)
		if stream == nil {
			var err error
			if stream, err = p.openLog(c); err != nil {
				p.logf("standin: access log %s: %v (%d entries dropped)", c.logName, err, len(batch))
				continue
			}
			msg.Identifier = &alsv3.StreamAccessLogsMessage_Identifier{Node: p.boot.node, LogName: c.logName}
		}
		if err := stream.Send(msg); err != nil {
			p.logf("standin: access log %s: %v (%d entries dropped)", c.logName, err, len(batch))
			_ = stream.CloseSend()
			stream = nil
		}
	}
}

// openLog opens a StreamAccessLogs stream on the log's cluster.
func (p *Proxy) openLog(c alsCfg) (alsv3.AccessLogService_StreamAccessLogsClient, error) {
	cl := p.rt.Load().clusters[c.cluster]
	if cl == nil {
		return nil, errNoCluster(c.cluster)
	}
	conn, err := cl.grpcConn()
	if err != nil {
		return nil, err
	}
	return alsv3.NewAccessLogServiceClient(conn).StreamAccessLogs(p.ctx)
}

// alsMessage packs entries of one kind (a log has one) into a message.
func alsMessage(batch []alsEntry) *alsv3.StreamAccessLogsMessage {
	if batch[0].http != nil {
		logs := &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{}
		for _, e := range batch {
			logs.LogEntry = append(logs.LogEntry, e.http)
		}
		return &alsv3.StreamAccessLogsMessage{LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: logs}}
	}
	logs := &alsv3.StreamAccessLogsMessage_TCPAccessLogEntries{}
	for _, e := range batch {
		logs.LogEntry = append(logs.LogEntry, e.tcp)
	}
	return &alsv3.StreamAccessLogsMessage{LogEntries: &alsv3.StreamAccessLogsMessage_TcpLogs{TcpLogs: logs}}
}

// errNoCluster says an access log names a cluster that does not exist.
type errNoCluster string

func (e errNoCluster) Error() string { return "cluster " + string(e) + " does not exist" }
