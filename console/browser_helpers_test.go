package console_test

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/server"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write each browser test's last page to docs/console/<test>.png")

// browserPath finds a Chromium to drive: CHROME_BIN, else the usual names.
func browserPath() string {
	if p := os.Getenv("CHROME_BIN"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// theBrowser is the one headless browser of the test binary; each test
// opens its own browser context (own cookies) in it.
var theBrowser struct {
	once   sync.Once
	ctx    context.Context
	cancel []context.CancelFunc
	err    error
}

func startBrowser() {
	b := &theBrowser
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browserPath()),
		chromedp.NoSandbox, chromedp.Flag("ignore-certificate-errors", true), chromedp.WindowSize(1200, 800))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	b.ctx, b.cancel = bctx, []context.CancelFunc{bcancel, acancel}
	// The first Run starts the browser, on a context without a timeout.
	_, b.err = chromedp.Run(bctx, chromedp.Title())
}

// closeBrowser stops the browser, if one was started.
func closeBrowser() {
	for _, c := range theBrowser.cancel {
		c()
	}
}

// tab opens a fresh browser context (no cookies) for t, or skips t when no
// browser is installed.
func tab(t *testing.T) context.Context {
	t.Helper()
	if browserPath() == "" {
		t.Skip("no Chromium found (chromium, chromium-browser, google-chrome or CHROME_BIN): browser tests skipped; apt-get install chromium")
	}
	theBrowser.once.Do(startBrowser)
	if theBrowser.err != nil {
		t.Fatalf("start browser: %v", theBrowser.err)
	}
	ctx, cancel := chromedp.NewContext(theBrowser.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 30*time.Second)
	t.Cleanup(cancelT)
	dir := t.TempDir()
	t.Cleanup(func() { screenshot(t, ctx, dir) })
	return ctx
}

// screenshot saves the page the test ends on to dir (and to docs/console
// with -update-screenshots).
func screenshot(t *testing.T, ctx context.Context, dir string) {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	name := strings.ReplaceAll(t.Name(), "/", "_") + ".png"
	dirs := []string{dir}
	if *updateScreenshots {
		dirs = append(dirs, filepath.Join("..", "docs", "console"))
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, name), png, 0o644); err != nil {
			t.Errorf("screenshot: %v", err)
		}
	}
}

// running is a server started for one test.
type running struct {
	srv   *server.Server
	data  string
	base  string // https://127.0.0.1:port
	admin string // the admin token
}

// startServer starts the real server in process on loopback ports.
func startServer(t *testing.T) *running {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	cfg.AdminAddr, cfg.AuthzAddr, cfg.XDSAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.Serve(ctx); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	tok, err := os.ReadFile(filepath.Join(cfg.Data, server.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return &running{srv: s, data: cfg.Data, base: "https://" + s.AdminAddr(), admin: strings.TrimSpace(string(tok))}
}

// caFile writes a fresh self-signed CA certificate as PEM and returns its
// path.
func caFile(t *testing.T, cn string) string {
	t.Helper()
	ca := testpki.NewRoot(t, cn, testpki.Options{NotAfter: time.Now().Add(10 * 24 * time.Hour)})
	p := filepath.Join(t.TempDir(), cn+".pem")
	if err := os.WriteFile(p, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// signIn signs in at r with token and waits for the client CA page.
func signIn(t *testing.T, ctx context.Context, r *running, token string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(r.base+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("list-heading")),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}
}

// text is the text of the element sel.
func text(t *testing.T, ctx context.Context, sel chromedp.CSS) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// waitText waits until the element sel of the page holds want: after a
// click that loads a new page, an element of the same id on the old page
// must not count.
func waitText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const e = document.querySelector(`+
			strconv.Quote(sel)+`); return e ? e.innerText : ""; })()`))
		if got == want {
			return
		}
	}
	t.Fatalf("%s holds %q, want %q", sel, got, want)
}
