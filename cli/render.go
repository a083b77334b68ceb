package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// writeJSON writes m as one indented protojson document with the proto
// field names (snake_case, as in update masks), like the HTTP API. protojson
// deliberately varies its whitespace, so the output is re-indented to keep
// it byte-stable.
func writeJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

// writePlainJSON writes v (not a protobuf message) as indented JSON, the
// way writeJSON writes messages.
func writePlainJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// newTabWriter aligns columns two spaces apart.
func newTabWriter(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// writeTable writes a header row and rows in aligned columns.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	tw := newTabWriter(w)
	for _, row := range append([][]string{header}, rows...) {
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = cell(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// field is one "key: value" line of a show command.
type field struct {
	key, value string
	section    bool // a heading: printed as "key:" with no value
}

// section returns a heading line.
func section(key string) field { return field{key: key, section: true} }

// writeFields writes key: value lines with aligned values. A key made only
// of spaces continues the previous key's value on a new line.
func writeFields(w io.Writer, fields []field) error {
	tw := newTabWriter(w)
	for _, f := range fields {
		switch {
		case f.section:
			fmt.Fprintf(tw, "%s:\n", f.key)
		case strings.TrimSpace(f.key) == "":
			fmt.Fprintf(tw, "%s\t%s\n", f.key, cell(f.value))
		default:
			fmt.Fprintf(tw, "%s:\t%s\n", f.key, cell(f.value))
		}
	}
	return tw.Flush()
}

// indent prefixes every key of fields.
func indent(prefix string, fields []field) []field {
	out := make([]field, len(fields))
	for i, f := range fields {
		f.key = prefix + f.key
		out[i] = f
	}
	return out
}

// cell makes s safe for one table cell: no tabs or newlines, "-" when empty.
func cell(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
	if s == "" {
		return "-"
	}
	return s
}

// fmtTime formats t as RFC 3339 UTC, "-" when unset.
func fmtTime(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}

// joinList joins values with ", ".
func joinList(values []string) string { return strings.Join(values, ", ") }

// yesNo renders a boolean fact.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// validity renders a not-after time with what it means at now: "(expires in
// 30 days)", "(expired 2 days ago)" or "(not yet valid)".
func validity(notBefore, notAfter *timestamppb.Timestamp, now time.Time) string {
	if notAfter == nil {
		return "-"
	}
	end := notAfter.AsTime()
	switch {
	case notBefore != nil && now.Before(notBefore.AsTime()):
		return fmtTime(notAfter) + " (not yet valid)"
	case now.After(end):
		return fmtTime(notAfter) + " (expired " + days(now.Sub(end)) + " ago)"
	}
	return fmtTime(notAfter) + " (expires in " + days(end.Sub(now)) + ")"
}

// days renders a duration in whole days.
func days(d time.Duration) string {
	switch n := int(d.Hours() / 24); n {
	case 0:
		return "less than a day"
	case 1:
		return "1 day"
	default:
		return fmt.Sprintf("%d days", n)
	}
}

// tableOf binds a message to its table renderer.
func tableOf[M any](m M, render func(io.Writer, M) error) func(io.Writer) error {
	return func(w io.Writer) error { return render(w, m) }
}

// writeIDs prints, one per line, what a script needs from m to name it in
// the next command: CA, CRL, token and audit event ids, site hostnames,
// node certificate serials, CRL source URLs. A new token's secret is not an
// id: token create --secret-file writes it. A message naming nothing is an
// error, never silence (session.printNamed serves those).
func writeIDs(w io.Writer, m proto.Message) error {
	// (From the denylist on, each command's file registers its messages
	// in extraIDs instead of growing this switch.)
	var ids []string
	switch v := m.(type) {
	case *pb.ClientCA:
		ids = []string{v.GetId()}
	case *pb.ListClientCAsResponse:
		for _, x := range v.GetCas() {
			ids = append(ids, x.GetId())
		}
	case *pb.Site:
		ids = []string{v.GetHostname()}
	case *pb.ListSitesResponse:
		for _, x := range v.GetSites() {
			ids = append(ids, x.GetHostname())
		}
	case *pb.CRL:
		ids = []string{v.GetId()}
	case *pb.ListCRLsResponse:
		for _, x := range v.GetCrls() {
			ids = append(ids, x.GetId())
		}
	case *pb.CreateTokenResponse:
		ids = []string{v.GetToken().GetId()}
	case *pb.Token:
		ids = []string{v.GetId()}
	case *pb.ListTokensResponse:
		for _, x := range v.GetTokens() {
			ids = append(ids, x.GetId())
		}
	case *pb.NodeCertificate:
		ids = []string{v.GetSerial()}
	case *pb.ListNodeCertificatesResponse:
		for _, x := range v.GetCertificates() {
			ids = append(ids, x.GetSerial())
		}
	case *pb.ListAuditEventsResponse:
		for _, x := range v.GetEvents() {
			ids = append(ids, x.GetId())
		}
	case *pb.ListCRLSourcesResponse:
		for _, x := range v.GetSources() {
			ids = append(ids, x.GetUrl())
		}
	default:
		more := extraIDs[m.ProtoReflect().Descriptor().FullName()]
		if more == nil {
			return fmt.Errorf("-o id: %s names nothing to print", m.ProtoReflect().Descriptor().Name())
		}
		ids = more(m)
	}
	for _, id := range ids {
		if _, err := fmt.Fprintln(w, id); err != nil {
			return err
		}
	}
	return nil
}

// extraIDs maps a message type to the ids -o id prints for it, for the
// types registered by their commands' files (see writeIDs).
var extraIDs = map[protoreflect.FullName]func(proto.Message) []string{}
