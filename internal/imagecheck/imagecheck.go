// Package imagecheck asks an image's registry whether the image exists, so a definition
// naming an image that is not there is refused when it is applied rather than pending
// forever at run time. A registry that cannot be asked (unreachable, or wanting
// credentials Docket lacks) is only a warning: the image may well exist.
package imagecheck

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"docket.dev/docket/internal/job"
)

// Checker looks images up in their registries, remembering answers for a while.
type Checker struct {
	// Timeout bounds one lookup; default 5s.
	Timeout time.Duration
	// Remember is how long an answer is reused; default 5 minutes.
	Remember time.Duration
	// Keychain gives registry credentials; default the Docker config's
	// (~/.docker/config.json, DOCKER_CONFIG).
	Keychain authn.Keychain
	// Now is the clock; default time.Now.
	Now func() time.Time

	mu      sync.Mutex
	answers map[string]answer
}

type answer struct {
	warning string
	err     error
	at      time.Time
}

// Check returns a field error on image when the registry says there is no such image (or
// the reference is malformed), a warning when the registry could not be asked, and
// neither when the image exists.
func (c *Checker) Check(ctx context.Context, image string) (warning string, err error) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	remember := c.Remember
	if remember <= 0 {
		remember = 5 * time.Minute
	}
	c.mu.Lock()
	if a, ok := c.answers[image]; ok && now().Sub(a.at) < remember {
		c.mu.Unlock()
		return a.warning, a.err
	}
	c.mu.Unlock()

	warning, err = c.lookup(ctx, image)
	c.mu.Lock()
	if c.answers == nil {
		c.answers = map[string]answer{}
	}
	c.answers[image] = answer{warning, err, now()}
	c.mu.Unlock()
	return warning, err
}

func (c *Checker) lookup(ctx context.Context, image string) (string, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return "", job.Invalid("image", "%q is not an image reference: %v", image, err)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	keychain := c.Keychain
	if keychain == nil {
		keychain = authn.DefaultKeychain
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err = remote.Head(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(keychain))
	var terr *transport.Error
	switch {
	case err == nil:
		return "", nil
	case errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound:
		return "", job.Invalid("image", "%s not found: registry %s has no such image", image, ref.Context().RegistryStr())
	}
	return fmt.Sprintf("could not check that image %s exists: %v", image, err), nil
}
