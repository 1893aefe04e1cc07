package ui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, tt := range []struct {
		path, contentType, contains string
		status                      int
	}{
		{"/", "text/html", `<script src="/ui/app.js" defer></script>`, 200},
		{"/", "text/html", `<script src="/ui/charts.js" defer></script>`, 200},
		{"/ui/charts.js", "javascript", "function jobCharts(", 200},
		{"/ui/app.js", "javascript", "function route()", 200},
		{"/ui/app.css", "text/css", ".badge", 200},
		{"/ui/missing.js", "", "", 404},
		{"/jobs", "", "", 404},
	} {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.Contains(resp.Header.Get("Content-Type"), tt.contentType) || !strings.Contains(string(body), tt.contains) {
			t.Errorf("GET %s: %d %s, %d bytes; want %d %s with %q", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), tt.status, tt.contentType, tt.contains)
		}
	}
	// The page allows no script but its own, and no other site may frame it.
	for _, path := range []string{"/", "/ui/app.js"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: Content-Security-Policy %q lacks %s", path, csp, want)
			}
		}
		if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("GET %s: X-Frame-Options %q", path, got)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", path, got)
		}
	}
}
