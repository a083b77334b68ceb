package api_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store/backup"
)

// download runs ExportBackup with token and returns the file.
func download(e *env, token string) ([]byte, error) {
	stream, err := e.client(token).ExportBackup(context.Background(), &pb.ExportBackupRequest{})
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			return b.Bytes(), nil
		}
		if err != nil {
			return nil, err
		}
		b.Write(chunk.GetData())
	}
}

// TestExportBackup: an admin gets a whole, verifiable backup, and the
// audit log says so; another role is refused, and the refusal audited; no
// token gets nothing.
func TestExportBackup(t *testing.T) {
	e := start(t)
	raw, err := download(e, e.admin)
	if err != nil {
		t.Fatal(err)
	}
	info, err := backup.Verify(bytes.NewReader(raw), backup.DefaultLimits())
	if err != nil || info.Keys == 0 || info.Revision == 0 {
		t.Fatalf("backup: %v (%+v)", err, info)
	}
	viewer, err := e.client(e.admin).CreateToken(context.Background(), &pb.CreateTokenRequest{Role: pb.Role_ROLE_VIEWER})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := download(e, viewer.GetSecret()); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("viewer: %v", err)
	}
	if _, err := download(e, "nope"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v", err)
	}
	events, err := e.client(e.admin).ListAuditEvents(context.Background(), &pb.ListAuditEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var results []string
	for _, ev := range events.GetEvents() {
		if ev.GetAction() == "ExportBackup" {
			results = append(results, ev.GetResult())
		}
	}
	if strings.Join(results, ",") != "permission_denied,ok" {
		t.Fatalf("ExportBackup audit results, newest first: %v", results)
	}
}
