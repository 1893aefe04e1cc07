package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/time/rate"

	"docket.dev/docket/internal/auth"
)

type actorKey struct{}

// actor returns the name of the token a request was made with ("" without tokens).
func actor(ctx context.Context) string {
	name, _ := ctx.Value(actorKey{}).(string)
	return name
}

// limiters hands out one rate limiter per token.
type limiters struct {
	mu    sync.Mutex
	every rate.Limit
	burst int
	byKey map[string]*rate.Limiter
}

func (l *limiters) allow(name string) bool {
	l.mu.Lock()
	lim, ok := l.byKey[name]
	if !ok {
		lim = rate.NewLimiter(l.every, l.burst)
		l.byKey[name] = lim
	}
	l.mu.Unlock()
	return lim.Allow()
}

// guard wraps an API handler with the role it needs. Without tokens (a server for this
// machine only) every request passes. With them, a request needs a known bearer token
// whose role is at least role (401 and 403 otherwise), and each token may make RateLimit
// requests per second (429 beyond).
func (a *API) guard(role auth.Role, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.opts.Tokens == nil {
			h(w, r)
			return
		}
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || secret == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="docket"`)
			writeError(w, r, a.opts.Logger, &statusError{status: http.StatusUnauthorized, code: "unauthorized",
				msg: "this server needs an API token: send Authorization: Bearer TOKEN (the docket command reads DOCKET_TOKEN)"})
			return
		}
		tok, ok := a.opts.Tokens.Lookup(secret)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="docket", error="invalid_token"`)
			writeError(w, r, a.opts.Logger, &statusError{status: http.StatusUnauthorized, code: "unauthorized",
				msg: "the API token is not one this server knows"})
			return
		}
		if tok.Role < role {
			writeError(w, r, a.opts.Logger, &statusError{status: http.StatusForbidden, code: "forbidden",
				msg: fmt.Sprintf("token %q has the role %s; %s %s needs %s", tok.Name, tok.Role, r.Method, r.URL.Path, role)})
			return
		}
		if !a.limits.allow(tok.Name) {
			w.Header().Set("Retry-After", "1")
			writeError(w, r, a.opts.Logger, &statusError{status: http.StatusTooManyRequests, code: "rate_limited",
				msg: fmt.Sprintf("token %q made more than %g requests per second; retry in a second", tok.Name, a.opts.RateLimit)})
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, tok.Name)))
	}
}
