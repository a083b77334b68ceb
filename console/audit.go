package console

import (
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// auditPageSize is how many events a page shows: the limit the page asks
// ListAuditEvents for.
const auditPageSize = 50

// auditFilter is the audit page's query. ListAuditEvents applies every
// field (actor exactly, action in any case, object as a substring, result
// exactly or "failed" for any failure); the console only passes them on.
type auditFilter struct {
	Actor, Action, Object, Result string
}

// auditFilterOf reads the filter from a query.
func auditFilterOf(q url.Values) auditFilter {
	return auditFilter{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")),
		Object: strings.TrimSpace(q.Get("object")), Result: strings.TrimSpace(q.Get("result"))}
}

// request is the ListAuditEvents request of one page of f from before.
func (f auditFilter) request(before string) *pb.ListAuditEventsRequest {
	return &pb.ListAuditEventsRequest{Limit: auditPageSize, Before: before,
		Actor: f.Actor, Action: f.Action, Object: f.Object, Result: f.Result}
}

// auditRow is one event as the page shows it.
type auditRow struct {
	Time, Actor, Action, Object, Result, Message, Remote string
}

// auditData is the audit page's data.
type auditData struct {
	navFlags
	Filter  auditFilter
	Rows    []auditRow
	Results []string
	// First: this is the newest page. NextURL and FirstURL keep the filter.
	First             bool
	NextURL, FirstURL string
	// Cut: the API stopped at its bound of events read before the page
	// was full; older events may match too (NextURL goes on from there).
	Cut bool
}

// auditResults are the result filter's choices besides "any"; the API
// takes every status code in snake case.
var auditResults = []string{"ok", "failed", "permission_denied", "invalid_argument", "not_found",
	"already_exists", "failed_precondition", "resource_exhausted", "unauthenticated"}

// auditList shows one page of the log: the API filters and pages it, and
// its next_before (the last event it read) is the "Older events" link.
func (c *Console) auditList(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	d := auditData{Filter: auditFilterOf(q), Results: auditResults, First: q.Get("before") == ""}
	d.FirstURL = auditURL(d.Filter, "")
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	resp, err := c.api.ListAuditEvents(ctx, d.Filter.request(q.Get("before")))
	d.navFlags = c.navFor(r, s)
	if status.Code(err) == codes.InvalidArgument {
		// A filter the API does not take: its message names the field.
		v := signedInView(s, "Audit log", "audit")
		v.Error, v.Data = status.Convert(err).Message(), d
		c.render(w, http.StatusBadRequest, "audit", v)
		return
	}
	if err != nil {
		c.apiRefused(w, r, s, "Audit log", "audit", "audit", d, err)
		return
	}
	for _, ev := range resp.GetEvents() {
		d.Rows = append(d.Rows, auditRow{Time: ev.GetTime().AsTime().UTC().Format("2006-01-02 15:04:05 UTC"),
			Actor: ev.GetActor(), Action: ev.GetAction(), Object: ev.GetObject(), Result: ev.GetResult(),
			Message: ev.GetMessage(), Remote: ev.GetRemoteAddr()})
	}
	if next := resp.GetNextBefore(); next != "" {
		d.NextURL = auditURL(d.Filter, next)
		d.Cut = len(d.Rows) < auditPageSize
	}
	v := signedInView(s, "Audit log", "audit")
	v.Data = d
	c.render(w, http.StatusOK, "audit", v)
}

// auditURL is the audit page with filter f from page token before.
func auditURL(f auditFilter, before string) string {
	q := url.Values{}
	for k, v := range map[string]string{"actor": f.Actor, "action": f.Action, "object": f.Object, "result": f.Result, "before": before} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return prefix + "audit"
	}
	return prefix + "audit?" + q.Encode()
}
