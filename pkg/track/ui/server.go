// Package ui serves difflab's tracker in a browser: a runs table with the
// tracker's filter language, a compare page that overlays the curves of
// several runs (grouped by a param with a mean ± std band, smoothed, by step or
// wall time), Table-1 pivots of a metric by two params, and run pages with
// their sample images; behind them a JSON API under /api/ (see the README's
// "Tracker UI").
//
//	h, err := ui.New(store, ui.Options{})
//	ln, err := ui.Listen("127.0.0.1:8321", "")
//	err = ui.Serve(ctx, ln, h)
//
// The pages read the database through pkg/track's query API only; no
// endpoint writes to it. Every user string reaches the page as JSON and is
// put in the document as text, never as markup, and the pages' Content
// Security Policy allows no inline script. Long metrics are downsampled on the
// server into min, max and last per bucket (track.Downsample), so a chart gets
// at most a few thousand values whatever the run logged.
package ui

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/difflab/difflab/pkg/track"
)

//go:embed assets
var assets embed.FS

// TokenCookie is the cookie that carries the access token once a browser
// has opened a ?token= link.
const TokenCookie = "difflab_token"

// Options configure the UI.
type Options struct {
	// Token, when not empty, must come with every request: as the header
	// "Authorization: Bearer TOKEN", or the cookie TokenCookie, which a
	// request with ?token=TOKEN sets.
	Token string
	// Goals say which metrics are better high (track.Maximize); the others
	// are minimized. They pick the bold cell of each pivot column.
	Goals map[string]track.Goal
	// RequestTimeout bounds the work of one API request. Default 30 s.
	RequestTimeout time.Duration
}

// Handler serves the UI's pages, assets and API.
type Handler struct {
	store *track.Store
	opts  Options
	mux   *http.ServeMux
	files fs.FS
}

// New returns the UI's handler for store.
func New(store *track.Store, opts Options) (*Handler, error) {
	if store == nil {
		return nil, errors.New("ui: nil store")
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 30 * time.Second
	}
	files, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	h := &Handler{store: store, opts: opts, mux: http.NewServeMux(), files: files}
	page := h.page
	h.mux.HandleFunc("GET /{$}", page)
	h.mux.HandleFunc("GET /compare", page)
	h.mux.HandleFunc("GET /pivot", page)
	h.mux.HandleFunc("GET /run/{id}", page)
	h.mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.HandlerFunc(h.asset)))
	h.mux.HandleFunc("GET /api/experiments", h.api(h.experiments))
	h.mux.HandleFunc("GET /api/runs", h.api(h.runs))
	h.mux.HandleFunc("GET /api/runs/{id}", h.api(h.run))
	h.mux.HandleFunc("GET /api/runs/{id}/metrics/{key...}", h.api(h.metric))
	h.mux.HandleFunc("GET /api/metrics/{key...}", h.api(h.metricOfRuns))
	h.mux.HandleFunc("GET /api/compare", h.api(h.compare))
	h.mux.HandleFunc("GET /api/pivot", h.api(h.pivot))
	h.mux.HandleFunc("GET /api/artifacts/{id}/{name...}", h.artifact)
	h.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no API endpoint %s %s (see the README's Tracker UI section)", r.Method, r.URL.Path))
	})
	return h, nil
}

// ServeHTTP checks the token, sets the security headers and dispatches.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("%s: the tracker UI is read-only; only GET is served", r.Method))
		return
	}
	if h.opts.Token == "" && !isLoopback(hostOnly(r.Host)) {
		// Without a token the UI is bound to loopback; a page elsewhere
		// that resolves its own name to 127.0.0.1 (DNS rebinding) must
		// not read it.
		writeError(w, http.StatusForbidden, fmt.Errorf("host %q is not loopback: serve with --token to allow other host names", r.Host))
		return
	}
	if h.opts.Token != "" {
		if t := r.URL.Query().Get("token"); t != "" && h.tokenOK(t) {
			// A ?token= link: keep the token in a cookie and drop it from
			// the address bar (and from the history).
			http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: t, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			u := *r.URL
			q := u.Query()
			q.Del("token")
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		if !h.authorized(r) {
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong token: open the link difflab track ui printed (?token=...), or send the header Authorization: Bearer TOKEN"))
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) tokenOK(t string) bool {
	return subtle.ConstantTimeCompare([]byte(t), []byte(h.opts.Token)) == 1
}

// authorized reports whether r carries the token.
func (h *Handler) authorized(r *http.Request) bool {
	if a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && h.tokenOK(a) {
		return true
	}
	c, err := r.Cookie(TokenCookie)
	return err == nil && h.tokenOK(c.Value)
}

// page serves the single page; the script draws the view the path names.
func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, h.files, "index.html")
}

func (h *Handler) asset(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "index.html" || r.URL.Path == "" {
		http.NotFound(w, r)
		return
	}
	http.ServeFileFS(w, r, h.files, r.URL.Path)
}

// Listen listens on addr ("host:port"; port 0 picks a free one). An address
// that is not loopback (127.0.0.0/8, ::1, localhost), including an empty host,
// which means every interface, is refused unless token is set: the tracker's
// runs and files would be open to the whole network.
func Listen(addr, token string) (net.Listener, error) {
	if err := CheckAddr(addr, token); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	return ln, nil
}

// hostOnly strips the port from a Host header.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// CheckAddr says whether Listen would accept addr with token (see Listen),
// without listening.
func CheckAddr(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("ui: address %q: want host:port, for example 127.0.0.1:8321", addr)
	}
	if !isLoopback(host) && token == "" {
		return fmt.Errorf("ui: address %q is not loopback: give a token (--token) to serve the tracker to other machines, or bind 127.0.0.1", addr)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Serve serves h on ln until ctx is done, then shuts down gracefully. The
// server bounds the time to read a request and to write a response.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      5 * time.Minute, // artifacts may be large
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return err
		}
		return nil
	}
}

// URL returns the address to open for ln, with the token when there is one.
func URL(ln net.Listener, token string) string {
	u := url.URL{Scheme: "http", Host: ln.Addr().String(), Path: "/"}
	if token != "" {
		u.RawQuery = url.Values{"token": {token}}.Encode()
	}
	return u.String()
}
