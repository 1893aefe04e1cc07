package imagecheck

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
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
