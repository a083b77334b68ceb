package console

import (
	"net/http"
	"net/url"
	"strings"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// Audit page sizes: events shown per page, read per API call, and read
// at most per page view while looking for matches.
const (
	auditPageSize = 50
	auditBatch    = 200
	auditMaxScan  = 5000
)

// auditFilter is the audit page's query. Actor goes to the API
// (ListAuditEvents filters by it); the API has no filter for the others,
// so the console applies them to the events it reads, page by page.
type auditFilter struct {
	Actor, Action, Object, Result string
}

// auditFilterOf reads the filter from a query.
func auditFilterOf(q url.Values) auditFilter {
	return auditFilter{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")),
		Object: strings.TrimSpace(q.Get("object")), Result: strings.TrimSpace(q.Get("result"))}
}

// match: Action matches exactly (ignoring case), Object as a substring,
// Result exactly, or any failure for "failed".
func (f auditFilter) match(ev *pb.AuditEvent) bool {
	if f.Action != "" && !strings.EqualFold(ev.GetAction(), f.Action) {
		return false
	}
	if f.Object != "" && !strings.Contains(ev.GetObject(), f.Object) {
		return false
	}
	switch f.Result {
	case "":
	case "failed":
		return ev.GetResult() != "ok"
	default:
		return ev.GetResult() == f.Result
	}
	return true
}

// auditFetch reads one page of the API's log older than before.
type auditFetch func(before string) (events []*pb.AuditEvent, next string, err error)

// auditPage is one page of the filtered log: the matches and the page
// token of the next page ("" on the last). Scanned says how many events
// were read; when it reaches maxScan the page may hold fewer than want
// matches though more may follow.
type auditPage struct {
	Events  []*pb.AuditEvent
	Next    string
	Scanned int
}

// collectAudit reads the log from before, newest first, until want events
// match f, the log ends or maxScan events were read. The next page token
// is the id of the last event read: the API's "before" is any event id.
func collectAudit(fetch auditFetch, f auditFilter, before string, want, maxScan int) (auditPage, error) {
	var p auditPage
	for {
		evs, next, err := fetch(before)
		if err != nil {
			return p, err
		}
		for i, ev := range evs {
			p.Scanned++
			before = ev.GetId()
			if f.match(ev) {
				p.Events = append(p.Events, ev)
			}
			if len(p.Events) == want || p.Scanned >= maxScan {
				if i < len(evs)-1 || next != "" {
					p.Next = before
				}
				return p, nil
			}
		}
		if next == "" || len(evs) == 0 {
			return p, nil
		}
		before = next
	}
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
	Scanned           int
	Capped            bool
}

// auditResults are the result filter's choices besides "any".
var auditResults = []string{"ok", "failed", "permission_denied", "invalid_argument", "not_found",
	"already_exists", "failed_precondition", "unauthenticated"}

func (c *Console) auditList(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	d := auditData{Filter: auditFilterOf(q), Results: auditResults, First: q.Get("before") == ""}
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	fetch := func(before string) ([]*pb.AuditEvent, string, error) {
		resp, err := c.api.ListAuditEvents(ctx, &pb.ListAuditEventsRequest{Limit: auditBatch, Before: before, Actor: d.Filter.Actor})
		return resp.GetEvents(), resp.GetNextBefore(), err
	}
	p, err := collectAudit(fetch, d.Filter, q.Get("before"), auditPageSize, auditMaxScan)
	d.navFlags = c.navFor(r, s)
	if err != nil {
		c.apiRefused(w, r, s, "Audit log", "audit", "audit", d, err)
		return
	}
	for _, ev := range p.Events {
		d.Rows = append(d.Rows, auditRow{Time: ev.GetTime().AsTime().UTC().Format("2006-01-02 15:04:05 UTC"),
			Actor: ev.GetActor(), Action: ev.GetAction(), Object: ev.GetObject(), Result: ev.GetResult(),
			Message: ev.GetMessage(), Remote: ev.GetRemoteAddr()})
	}
	d.Scanned, d.Capped = p.Scanned, p.Scanned >= auditMaxScan
	d.FirstURL = auditURL(d.Filter, "")
	if p.Next != "" {
		d.NextURL = auditURL(d.Filter, p.Next)
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
