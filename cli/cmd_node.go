package cli

import (
	"context"
	"flag"
	"io"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// nodeList is "node list [--fleet FLEET]".
func nodeList(fs *flag.FlagSet) action {
	fleet := fs.String("fleet", "", "only this fleet's certificates")
	return func(ctx context.Context, s *session, _ []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.ListNodeCertificates(ctx, &pb.ListNodeCertificatesRequest{Fleet: *fleet})
		if err != nil {
			return err
		}
		return s.print(resp, tableOf(resp, func(w io.Writer, r *pb.ListNodeCertificatesResponse) error {
			return nodeListTable(w, r, s.now())
		}))
	}
}

// nodeRevoke is "node revoke SERIAL".
func nodeRevoke(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		nc, err := c.RevokeNodeCertificate(ctx, &pb.RevokeNodeCertificateRequest{Serial: args[0]})
		if err != nil {
			return err
		}
		return s.printFields(nc, nodeFields(nc, s.now()))
	}
}
