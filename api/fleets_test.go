package api_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
)

// TestSiteFleetsOverJSON: a site is created on fleets, moved with the
// update mask path "fleets", shown with them, and a bad fleet name is a
// 400 naming the field.
func TestSiteFleetsOverJSON(t *testing.T) {
	e := start(t)
	req := siteReq(t, "eu.example.com")
	req.Site.Fleets = []string{"eu-west", "eu-central"}
	body, _ := protojson.Marshal(req)
	code, _, out := e.do(t, e.admin, "POST", "/v1/sites", "application/json", body)
	if code != 200 || !strings.Contains(string(out), `"fleets": [`) || !strings.Contains(string(out), `"eu-central",`) {
		t.Fatalf("create on fleets: %d %s", code, out)
	}
	code, _, out = e.do(t, e.admin, "PATCH", "/v1/sites/eu.example.com", "application/json",
		[]byte(`{"site": {"fleets": ["us-east"]}, "update_mask": ["fleets"]}`))
	if code != 200 || !strings.Contains(string(out), `"us-east"`) || strings.Contains(string(out), "eu-west") {
		t.Fatalf("move: %d %s", code, out)
	}
	code, _, out = e.do(t, e.admin, "PATCH", "/v1/sites/eu.example.com", "application/json",
		[]byte(`{"site": {"origin_url": "http://10.0.0.2"}, "update_mask": ["origin_url"]}`))
	if code != 200 || !strings.Contains(string(out), `"us-east"`) {
		t.Fatalf("an update not naming fleets changed them: %d %s", code, out)
	}
	code, _, out = e.do(t, e.admin, "PATCH", "/v1/sites/eu.example.com", "application/json",
		[]byte(`{"site": {"fleets": ["eu/west"]}, "update_mask": ["fleets"]}`))
	assertError(t, code, out, 400, "invalid_argument")
	if !strings.Contains(string(out), "fleets[0]") {
		t.Fatalf("error does not name the field: %s", out)
	}
}
