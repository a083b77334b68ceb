package console

import (
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"

	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*
var staticFS embed.FS

// asset is one embedded static file with its content hash.
type asset struct {
	body []byte
	etag string
	ctyp string
}

// assets are the static files by name; assetURL gives their versioned
// URLs, so a page always loads the assets it was rendered with.
var assets = loadAssets()

func loadAssets() map[string]asset {
	out := map[string]asset{}
	entries, _ := fs.ReadDir(staticFS, "static")
	for _, e := range entries {
		b, _ := staticFS.ReadFile("static/" + e.Name())
		sum := sha256.Sum256(b)
		ctyp := "text/css; charset=utf-8"
		if strings.HasSuffix(e.Name(), ".js") {
			ctyp = "text/javascript; charset=utf-8"
		}
		out[e.Name()] = asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctyp: ctyp}
	}
	return out
}

// assetURL is the URL of a static file, versioned by its content hash.
func assetURL(name string) string {
	a := assets[name]
	return prefix + "static/" + name + "?v=" + strings.Trim(a.etag, `"`)
}

// serveStatic serves an embedded asset with a long cache lifetime (its
// URL changes with its content) and an ETag.
func serveStatic(w http.ResponseWriter, r *http.Request) {
	a, ok := assets[path.Base(r.PathValue("name"))]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("Content-Type", a.ctyp)
	w.Header().Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// pages are the parsed templates, one per page, each with the layout.
var pages = parsePages("signin", "cas", "sites")

var funcs = template.FuncMap{
	"asset":  assetURL,
	"caPath": caPath,
	"date":   func(t time.Time) string { return t.UTC().Format("2006-01-02") },
}

func parsePages(names ...string) map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, n := range names {
		// A page's partials (templates/_<page>-*.html) are parsed with it:
		// each part of a page that grows on its own lives in its own file.
		files := []string{"templates/layout.html", "templates/" + n + ".html"}
		parts, _ := fs.Glob(templateFS, "templates/_"+n+"-*.html")
		out[n] = template.Must(template.New("layout.html").Funcs(funcs).
			ParseFS(templateFS, append(files, parts...)...))
	}
	return out
}

// view is what every page template gets.
type view struct {
	Title string
	// Nav is the current section ("" on sign-in: no navigation).
	Nav string
	// SignoutCSRF is the sign-out form's token (signed-in pages only).
	SignoutCSRF string
	// Error is a page-level error from the API, shown at the top.
	Error string
	// Data is the page's own.
	Data any
	// Role is the signed-in token's, for the navigation.
	Role pb.Role
}

// render writes page with v and status code.
func (c *Console) render(w http.ResponseWriter, code int, page string, v view) {
	var buf bytes.Buffer
	if err := pages[page].Execute(&buf, v); err != nil {
		c.log.Error("console template failed", "page", page, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// signedInView starts the view of a signed-in page.
func signedInView(s *session, title, nav string) view {
	return view{Title: title, Nav: nav, SignoutCSRF: csrfToken(s, prefix+"signout"), Role: pb.Role(s.Role)}
}
