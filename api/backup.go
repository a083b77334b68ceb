package api

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/store/backup"
)

// backupChunk is the size of the BackupChunk messages a backup is sent in.
const backupChunk = 256 << 10

// ExportBackup streams a backup of the whole store at one revision (package
// backup), private keys still sealed, and audits it.
func (s *Server) ExportBackup(_ *pb.ExportBackupRequest, stream grpc.ServerStreamingServer[pb.BackupChunk]) error {
	if !s.backupSlot() {
		return status.Error(codes.ResourceExhausted, "a backup is already in progress; retry when it is done")
	}
	defer func() { <-s.backups }()
	ctx := stream.Context()
	w := &chunkWriter{send: stream.Send}
	info, err := backup.Export(ctx, s.store.Snapshot, "", w, time.Now())
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		return s.toStatus("ExportBackup", err)
	}
	ev := s.store.NewAuditEvent(actor(ctx), "backup", store.AuditResultOK,
		fmt.Sprintf("revision %d, %d keys", info.Revision, info.Keys))
	if aerr := s.store.AppendAudit(context.WithoutCancel(ctx), ev); aerr != nil {
		s.log.Error("audit write failed", "err", aerr, "method", "ExportBackup")
	}
	return nil
}

// backupSlot takes the one backup slot, or reports that it is taken: a
// backup holds a snapshot of the whole store in memory, so one runs at a
// time, whoever asks (admins only, but a script in a loop should not
// multiply the server's memory).
func (s *Server) backupSlot() bool {
	select {
	case s.backups <- struct{}{}:
		return true
	default:
		return false
	}
}

// chunkWriter sends what is written in BackupChunk messages.
type chunkWriter struct {
	send func(*pb.BackupChunk) error
	buf  []byte
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(backupChunk-len(w.buf), len(p))
		w.buf, p = append(w.buf, p[:k]...), p[k:]
		if len(w.buf) == backupChunk {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.send(&pb.BackupChunk{Data: w.buf})
	w.buf = make([]byte, 0, backupChunk)
	return err
}

// StreamInterceptor authenticates, authorises and records streaming calls
// (ExportBackup) as UnaryInterceptor does unary ones.
func (s *Server) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if !strings.HasPrefix(info.FullMethod, servicePrefix) {
			return handler(srv, ss)
		}
		method := path.Base(info.FullMethod)
		c := caller{method: method, actor: store.Actor{Action: method, RemoteAddr: remoteAddr(ss.Context())}}
		r, known := rules[method]
		err := s.authorize(ss.Context(), &c, r, known, nil)
		if err == nil {
			err = handler(srv, callerStream{ss, context.WithValue(ss.Context(), callerKey{}, c)})
		}
		s.record(ss.Context(), c, r, nil, err)
		return err
	}
}

// callerStream is a stream whose context carries the caller.
type callerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (c callerStream) Context() context.Context { return c.ctx }
