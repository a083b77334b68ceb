package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store/backup"
)

// backupCmd downloads a backup, checks it whole, and only then writes it
// (mode 0600, through a temporary file renamed into place): a file at the
// path is always a complete backup.
func backupCmd(fs *flag.FlagSet) action {
	out := fs.String("out", "", "file to write the backup to (required)")
	return func(ctx context.Context, s *session, _ []string) error {
		if *out == "" {
			return usagef("--out FILE is required")
		}
		c, err := s.api()
		if err != nil {
			return err
		}
		raw, err := download(ctx, c)
		if err != nil {
			return err
		}
		info, err := backup.Verify(bytes.NewReader(raw), backup.DefaultLimits())
		if err != nil {
			return fmt.Errorf("the server sent a damaged backup: %w", err)
		}
		if err := writeFileAtomic(*out, raw); err != nil {
			return err
		}
		return printBackup(s, backupWritten{File: *out, Revision: info.Revision, Keys: info.Keys, Bytes: len(raw)})
	}
}

// backupWritten is what backup reports: with -o json as this object,
// with -o id the file (what mtlsgate restore --in takes).
type backupWritten struct {
	File     string `json:"file"`
	Revision int64  `json:"revision"`
	Keys     int    `json:"keys"`
	Bytes    int    `json:"bytes"`
}

// printBackup reports a written backup in the -o format.
func printBackup(s *session, b backupWritten) error {
	var err error
	switch s.cfg.output {
	case "json":
		err = writePlainJSON(s.r.stdout, b)
	case "id":
		_, err = fmt.Fprintln(s.r.stdout, b.File)
	default:
		_, err = fmt.Fprintf(s.r.stdout, "wrote %s: revision %d, %d keys, %d bytes (private keys sealed: keep the seal key apart)\n",
			b.File, b.Revision, b.Keys, b.Bytes)
	}
	return err
}

// download reads a whole ExportBackup stream.
func download(ctx context.Context, c pb.CertificateManagerServiceClient) ([]byte, error) {
	stream, err := c.ExportBackup(ctx, &pb.ExportBackupRequest{})
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

// writeFileAtomic writes data to path with mode 0600 through a temporary
// file in the same directory.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename, nothing to remove
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
