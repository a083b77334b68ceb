package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startEcho serves echo-origin on a loopback port for the test's life and
// returns its base URL.
func startEcho(t *testing.T, alwaysJSON bool, l echoLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveEcho(ctx, ln, alwaysJSON, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serveEcho: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// get sends a request with headers and returns the status and body.
func get(t *testing.T, method, url string, body io.Reader, header map[string][]string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestEchoOriginAnswers: over real HTTP, the answer is the method, the
// path with its query and every header, names lower-case and sorted,
// values in the order sent; as JSON when asked.
func TestEchoOriginAnswers(t *testing.T) {
	base := startEcho(t, false, defaultEchoLimits)
	hdr := map[string][]string{"X-Client-Cert-Verify": {"SUCCESS"}, "X-Client-Cert-Subject": {"CN=bob"},
		"Accept-Encoding": {"identity"}, "B-Multi": {"2", "1"}, "User-Agent": {"test"}}
	code, body, h := get(t, "POST", base+"/a/b%20c?x=1&y", strings.NewReader("hello"), hdr)
	want := "POST /a/b%20c?x=1&y HTTP/1.1\n" +
		"accept-encoding: identity\nb-multi: 2\nb-multi: 1\ncontent-length: 5\nhost: " + strings.TrimPrefix(base, "http://") + "\n" +
		"user-agent: test\nx-client-cert-subject: CN=bob\nx-client-cert-verify: SUCCESS\n\n(5 bytes of body)\n"
	if code != 200 || body != want {
		t.Errorf("text: %d\n%s\nwant\n%s", code, body, want)
	}
	if ct := h.Get("Content-Type"); ct != "text/plain; charset=utf-8" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("text headers: %v", h)
	}
	hdr["Accept"] = []string{"text/html;q=0.9, application/json"}
	code, body, h = get(t, "GET", base+"/json", nil, hdr)
	var e echoed
	if err := json.Unmarshal([]byte(body), &e); err != nil || code != 200 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("JSON: %d %v %q", code, err, body)
	}
	if e.Method != "GET" || e.Path != "/json" || e.Headers["x-client-cert-verify"][0] != "SUCCESS" ||
		strings.Join(e.Headers["b-multi"], ",") != "2,1" || e.Headers["host"][0] == "" {
		t.Errorf("JSON: %+v", e)
	}
	always := startEcho(t, true, defaultEchoLimits)
	if _, body, _ := get(t, "GET", always+"/", nil, nil); !json.Valid([]byte(body)) {
		t.Errorf("-o json: %q is not JSON", body)
	}
}

// TestEchoOriginIsBounded: a header block over the limit gets 431, a body
// over the limit 413, and a client that never finishes its headers is
// disconnected once the header timeout passes.
func TestEchoOriginIsBounded(t *testing.T) {
	l := defaultEchoLimits
	l.maxHeaderBytes, l.maxBody, l.readHeader = 1<<10, 16, 200*time.Millisecond
	base := startEcho(t, false, l)
	if code, _, _ := get(t, "GET", base+"/", nil, map[string][]string{"X-Big": {strings.Repeat("a", 8<<10)}}); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("big header: %d, want 431", code)
	}
	if code, _, _ := get(t, "POST", base+"/", strings.NewReader(strings.Repeat("b", 17)), nil); code != http.StatusRequestEntityTooLarge {
		t.Errorf("big body: %d, want 413", code)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := bufio.NewReader(conn).ReadString('\n'); err == nil || time.Since(start) > 4*time.Second {
		t.Errorf("slow client: %v after %v, want the connection closed after the header timeout", err, time.Since(start))
	}
}

// TestEchoOriginCommand runs the command: it says where it listens, answers
// there, and exits 0 when its context ends; -o id is refused.
func TestEchoOriginCommand(t *testing.T) {
	pr, pw := io.Pipe()
	r, _, _ := testRunner(&fakeAPI{}, testEnv{})
	r.stderr = pw
	ctx, cancel := context.WithCancel(context.Background())
	exit := make(chan int, 1)
	go func() { exit <- r.main(ctx, []string{"echo-origin", "--addr", "127.0.0.1:0"}); pw.Close() }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	go io.Copy(io.Discard, pr)
	addr, ok := strings.CutPrefix(line, "echo-origin: listening on ")
	if err != nil || !ok {
		cancel()
		t.Fatalf("first line %q, %v", line, err)
	}
	url := strings.Fields(addr)[0]
	if code, body, _ := get(t, "GET", url+"/hello", nil, nil); code != 200 || !strings.HasPrefix(body, "GET /hello HTTP/1.1\n") {
		t.Errorf("GET: %d %q", code, body)
	}
	cancel()
	if code := <-exit; code != 0 {
		t.Errorf("exit %d after the context ended, want 0", code)
	}
	if code, _, errOut := runFake(&fakeAPI{}, testEnv{}, "echo-origin", "-o", "id"); code != 2 || !strings.Contains(errOut, "-o id is not supported") {
		t.Errorf("-o id: exit %d, %q", code, errOut)
	}
}
