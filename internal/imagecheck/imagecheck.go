// Package imagecheck asks an image's registry whether the image exists, so a definition
// naming an image that is not there is refused when it is applied rather than pending
// forever at run time. A registry that cannot be asked (unreachable, or wanting
// credentials Docket lacks) is only a warning: the image may well exist.
//
// Any host can be named as a registry, so what it answers is bounded (time, headers,
// bodies) and never repeated: a warning says what happened (a status, a timeout), not
// what the host said. Nor may it send Docket elsewhere inside its network: a registry's
// token realm or redirect to another host is followed only to a public address.
package imagecheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"docket.dev/docket/internal/job"
)

// maxAnswer bounds the bytes of one answer's headers and of its body that a check reads;
// a registry's answers to the requests a check makes are far smaller.
const maxAnswer = 64 << 10

// Checker looks images up in their registries, remembering answers for a while.
type Checker struct {
	// Timeout bounds one lookup, every request it makes included; default 5s.
	Timeout time.Duration
	// Remember is how long an answer is reused; default 5 minutes.
	Remember time.Duration
	// MaxAnswers bounds how many answers are remembered; default 1000.
	MaxAnswers int
	// Keychain gives registry credentials; default the Docker config's
	// (~/.docker/config.json, DOCKER_CONFIG).
	Keychain authn.Keychain
	// Now is the clock; default time.Now.
	Now func() time.Time

	mu        sync.Mutex
	answers   map[string]answer
	transport http.RoundTripper
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
	c.remember(image, answer{warning, err, now()}, remember)
	c.mu.Unlock()
	return warning, err
}

// remember keeps an answer, first making room: answers older than keep go, then, while
// there are still too many, the oldest. The caller holds c.mu.
func (c *Checker) remember(image string, a answer, keep time.Duration) {
	limit := c.MaxAnswers
	if limit <= 0 {
		limit = 1000
	}
	if c.answers == nil {
		c.answers = map[string]answer{}
	}
	if _, ok := c.answers[image]; !ok && len(c.answers) >= limit {
		for k, old := range c.answers {
			if a.at.Sub(old.at) >= keep {
				delete(c.answers, k)
			}
		}
		for len(c.answers) >= limit {
			oldest := ""
			for k, old := range c.answers {
				if oldest == "" || old.at.Before(c.answers[oldest].at) {
					oldest = k
				}
			}
			delete(c.answers, oldest)
		}
	}
	c.answers[image] = a
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
	rt := elsewherePublic{registry: ref.Context().RegistryStr(), next: c.boundedTransport()}
	_, err = remote.Head(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(keychain), remote.WithTransport(rt))
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return "", job.Invalid("image", "%s not found: registry %s has no such image", image, ref.Context().RegistryStr())
	}
	if err != nil {
		return fmt.Sprintf("could not check that image %s exists: %s", image, why(err, ref.Context().RegistryStr(), timeout)), nil
	}
	return "", nil
}

// why says in Docket's words why a registry could not be asked: a status, a timeout, a
// connection or certificate failure; never text the registry sent.
func why(err error, registry string, timeout time.Duration) string {
	var (
		terr    *transport.Error
		dnsErr  *net.DNSError
		opErr   *net.OpError
		certErr *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		netErr  net.Error
	)
	switch {
	case errors.Is(err, errNotPublic):
		return fmt.Sprintf("registry %s sent the check to another host on a private network, which Docket does not follow", registry)
	case errors.As(err, &terr):
		s := fmt.Sprintf("registry %s answered %d %s", registry, terr.StatusCode, http.StatusText(terr.StatusCode))
		if terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden {
			s += "; the server has no credentials for it that it accepts (docker login as the server's user, or DOCKER_CONFIG)"
		}
		return s
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("registry %s did not answer within %s", registry, timeout)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("the registry's host %s could not be resolved", registry)
	case errors.As(err, &certErr) || errors.As(err, &unknown):
		return fmt.Sprintf("registry %s's TLS certificate is not trusted", registry)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Sprintf("could not connect to registry %s", registry)
	}
	return fmt.Sprintf("registry %s did not answer as a registry does", registry)
}

// boundedTransport is the HTTP transport of every lookup: go-containerregistry's, with
// each answer's headers and body cut at maxAnswer.
func (c *Checker) boundedTransport() http.RoundTripper {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.transport == nil {
		t := remote.DefaultTransport.(*http.Transport).Clone()
		t.MaxResponseHeaderBytes = maxAnswer
		dial := t.DialContext
		t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if target, _ := ctx.Value(publicOnly{}).(string); target == addr {
				return dialPublic(ctx, dial, network, addr)
			}
			return dial(ctx, network, addr) // the registry's own host, or a proxy
		}
		c.transport = bounded{t}
	}
	return c.transport
}

// elsewherePublic sends a lookup's requests to its registry's own host as they are, and
// those to any other host (a token realm, a redirect) only to public addresses: a
// registry cannot have Docket call a service on Docket's own network.
type elsewherePublic struct {
	registry string
	next     http.RoundTripper
}

// publicOnly keys a request's context to the host:port its connection may reach at public
// addresses only.
type publicOnly struct{}

var errNotPublic = errors.New("a host that is not the registry's own resolves to a non-public address")

func (e elsewherePublic) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == e.registry {
		return e.next.RoundTrip(req)
	}
	target := req.URL.Host
	if req.URL.Port() == "" {
		port := "443"
		if req.URL.Scheme == "http" {
			port = "80"
		}
		target = net.JoinHostPort(req.URL.Hostname(), port)
	}
	// Checked here too for a request that goes through a proxy, which resolves it itself.
	if _, err := publicAddrs(req.Context(), req.URL.Hostname()); err != nil {
		return nil, err
	}
	return e.next.RoundTrip(req.WithContext(context.WithValue(req.Context(), publicOnly{}, target)))
}

// dialPublic resolves addr's host and dials the first of its addresses, only when every
// one is public (not loopback, private, link-local, unspecified or multicast), so the
// address checked is the address dialled.
func dialPublic(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := publicAddrs(ctx, host)
	if err != nil {
		return nil, err
	}
	return dial(ctx, network, net.JoinHostPort(ips[0].String(), port))
}

// publicAddrs resolves host, failing unless it has addresses and every one is public.
func publicAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, &net.DNSError{Err: "no addresses", Name: host}
	}
	for _, ip := range ips {
		ip = ip.Unmap()
		if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
			ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() {
			return nil, errNotPublic
		}
	}
	return ips, nil
}

// bounded cuts every answer's body at maxAnswer bytes: reading past it is an error.
type bounded struct{ next http.RoundTripper }

func (b bounded) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.next.RoundTrip(req)
	if err == nil {
		resp.Body = &cutBody{ReadCloser: resp.Body, left: maxAnswer}
	}
	return resp, err
}

// cutBody is a body that ends in an error after left bytes.
type cutBody struct {
	io.ReadCloser
	left int64
}

var errTooLong = errors.New("the answer is longer than a registry's")

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errTooLong
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
