package imagecheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"docket.dev/docket/internal/job"
)

// TestCheck asks a registry served in-process (go-containerregistry's own) about an image
// it holds, one it does not, and a registry that is not there.
func TestCheck(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	pushed := host + "/ds/train:1.4.2"
	ref, err := name.ParseReference(pushed)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	c := &Checker{Timeout: 2 * time.Second}
	ctx := context.Background()

	if w, err := c.Check(ctx, pushed); w != "" || err != nil {
		t.Errorf("an image the registry holds: warning %q, err %v", w, err)
	}
	for _, missing := range []string{host + "/ds/train:1.4.3", host + "/ds/nothing:1"} {
		_, err := c.Check(ctx, missing)
		var fe *job.FieldError
		if !errors.As(err, &fe) || fe.Field != "image" || fe.Message != missing+" not found: registry "+host+" has no such image" {
			t.Errorf("a missing image %s: %v", missing, err)
		}
	}
	if _, err := c.Check(ctx, "UPPER/case:1"); err == nil || !strings.Contains(err.Error(), "is not an image reference") {
		t.Errorf("a malformed reference: %v", err)
	}
	// A registry nobody answers at is a warning, not a refusal.
	closed := httptest.NewServer(registry.New())
	gone := strings.TrimPrefix(closed.URL, "http://") + "/ds/train:1"
	closed.Close()
	w, err := c.Check(ctx, gone)
	if err != nil || !strings.Contains(w, "could not check that image "+gone+" exists") {
		t.Errorf("an unreachable registry: warning %q, err %v", w, err)
	}
}

// TestCheckHostileRegistry names hosts that answer as no registry should: a warning says
// what happened and never what the host sent, an endless answer is cut, a host that never
// answers costs the timeout, and the answers remembered stay bounded.
func TestCheckHostileRegistry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const secret = "<html>internal admin page: password=hunter2</html>"
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, secret)
	}))
	defer echo.Close()
	var sent atomic.Int64
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for r.Context().Err() == nil && sent.Load() < 1<<30 {
			n, err := w.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer endless.Close()
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer silent.Close()
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

	c := &Checker{Timeout: 2 * time.Second, MaxAnswers: 3}
	tests := []struct{ image, want string }{
		{host(echo) + "/p:t", "could not check that image " + host(echo) + "/p:t exists: registry " + host(echo) + " answered 418 I'm a teapot"},
		{host(endless) + "/p:t", "could not check that image " + host(endless) + "/p:t exists: registry " + host(endless) + " answered 418 I'm a teapot"},
		{host(silent) + "/p:t", "could not check that image " + host(silent) + "/p:t exists: registry " + host(silent) + " did not answer within 2s"},
	}
	for _, tt := range tests {
		w, err := c.Check(ctx, tt.image)
		if err != nil || w != tt.want {
			t.Errorf("Check(%s) = %q, %v; want the warning %q", tt.image, w, err, tt.want)
		}
	}
	if n := sent.Load(); n > 16<<20 {
		t.Errorf("the check read an endless answer on: the host sent %d bytes", n)
	}

	closed := httptest.NewServer(registry.New())
	gone := host(closed)
	closed.Close()
	for i := range 10 {
		c.Check(ctx, fmt.Sprintf("%s/p:%d", gone, i))
	}
	c.mu.Lock()
	n := len(c.answers)
	c.mu.Unlock()
	if n > 3 {
		t.Errorf("%d answers remembered; MaxAnswers is 3", n)
	}
}

// TestCheckRealmInside: a registry whose token realm is another host on Docket's own
// network does not get Docket to call it: the check is a warning saying so, and the
// service sees no request. The realm is a name (localhost) that resolves to loopback, as
// an internal service's would to a private address: go-containerregistry itself refuses
// only realms written as such addresses.
func TestCheckRealmInside(t *testing.T) {
	t.Parallel()
	var called atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called.Add(1)
		io.WriteString(w, `{"token": "t"}`)
	}))
	defer internal.Close()
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		realm := strings.Replace(internal.URL, "127.0.0.1", "localhost", 1) + "/token"
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`",service="reg"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	c := &Checker{Timeout: 2 * time.Second}
	w, err := c.Check(context.Background(), host+"/ds/train:1")
	want := "could not check that image " + host + "/ds/train:1 exists: registry " + host + " sent the check to another host on a private network, which Docket does not follow"
	if err != nil || w != want {
		t.Errorf("Check = %q, %v; want the warning %q", w, err, want)
	}
	if n := called.Load(); n != 0 {
		t.Errorf("the internal service was called %d times", n)
	}
}
