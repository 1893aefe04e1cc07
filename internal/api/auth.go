package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"docket.dev/docket/internal/auth"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

type tokenKey struct{}

// actor returns the name of the token a request was made with ("" without tokens).
func actor(ctx context.Context) string {
	tok, _ := ctx.Value(tokenKey{}).(auth.Token)
	return tok.Name
}

// mayChange says whether the request's token may change a job with these labels: a token
// limited to some teams changes only their jobs (403 otherwise).
func mayChange(ctx context.Context, name string, labels map[string]string) error {
	tok, _ := ctx.Value(tokenKey{}).(auth.Token)
	team := labels[auth.TeamLabel]
	if tok.MayChange(team) {
		return nil
	}
	belongs := fmt.Sprintf("belongs to team %q", team)
	if team == "" {
		belongs = "has no " + auth.TeamLabel + " label"
	}
	return &statusError{status: http.StatusForbidden, code: "forbidden",
		msg: fmt.Sprintf("token %q may change only jobs labelled %s: %s; job %q %s", tok.Name, auth.TeamLabel, strings.Join(tok.Teams, ", "), name, belongs)}
}

// teamScoped reports whether the request's token is limited to some teams' jobs.
func teamScoped(ctx context.Context) bool {
	tok, _ := ctx.Value(tokenKey{}).(auth.Token)
	return len(tok.Teams) > 0
}

// mayChangeRun is mayChange for the job of run id, as it was when the run was made: who
// may cancel the run or report on it.
func (a *API) mayChangeRun(ctx context.Context, id string) error {
	if !teamScoped(ctx) {
		return nil
	}
	run, err := a.opts.Store.RunGet(ctx, id)
	if err != nil {
		return err
	}
	return a.mayChangeJob(ctx, run.Job, run.Revision)
}

// mayRunAgain is mayChangeRun for a request that makes new runs from run id (a retry):
// the job's team now must allow it too, as it must a submission.
func (a *API) mayRunAgain(ctx context.Context, id string) error {
	if !teamScoped(ctx) {
		return nil
	}
	run, err := a.opts.Store.RunGet(ctx, id)
	if err != nil {
		return err
	}
	if err := a.mayChangeJob(ctx, run.Job, run.Revision); err != nil {
		return err
	}
	return a.mayChangeJob(ctx, run.Job, 0)
}

// mayChangeJob is mayChange for a stored job. A job that is not there passes: the handler
// answers 404.
func (a *API) mayChangeJob(ctx context.Context, name string, revision int) error {
	if !teamScoped(ctx) {
		return nil
	}
	def, err := store.DefinitionAt(ctx, a.opts.Store, name, revision)
	switch {
	case errors.Is(err, job.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	return mayChange(ctx, name, def.Labels)
}

// whoami says who the request's token is and what it may do, so a client (the web UI)
// offers only the actions it may take. Without tokens everyone may do everything.
func (a *API) whoami(w http.ResponseWriter, r *http.Request) {
	if a.opts.Tokens == nil {
		writeJSON(w, r, http.StatusOK, whoamiView{Auth: false, Role: auth.Admin.String()})
		return
	}
	tok, _ := r.Context().Value(tokenKey{}).(auth.Token)
	writeJSON(w, r, http.StatusOK, whoamiView{Auth: true, Name: tok.Name, Role: tok.Role.String(), Teams: tok.Teams, Jobs: tok.Jobs})
}

// bearer returns the token of an Authorization header of the Bearer scheme, whose name
// is matched without regard to case (RFC 9110, section 11.1): "bearer x" is a token too.
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// guard wraps an API handler with the role it needs. Without tokens (a server for this
// machine only) every request passes. With them, a request needs a known bearer token
// whose role is at least role (401 and 403 otherwise), and each token may make RateLimit
// requests per second (429 beyond). Then a write must send its body as JSON or YAML
// (checkType).
func (a *API) guard(role auth.Role, h http.HandlerFunc) http.HandlerFunc {
	return a.guardTyped(role, false, h)
}

// guardTyped is guard; anyWithToken lets a request with a bearer token send its body
// under any Content-Type (see checkType).
func (a *API) guardTyped(role auth.Role, anyWithToken bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.opts.Tokens == nil {
			if err := checkType(r, anyWithToken); err != nil {
				writeError(w, r, a.opts.Logger, err)
				return
			}
			h(w, r)
			return
		}
		secret, ok := bearer(r)
		if !ok {
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
		if tok.Role == auth.Runner {
			if err := a.runnerMay(r, tok); err != nil {
				writeError(w, r, a.opts.Logger, err)
				return
			}
		} else if tok.Role < role {
			writeError(w, r, a.opts.Logger, &statusError{status: http.StatusForbidden, code: "forbidden",
				msg: fmt.Sprintf("token %q has the role %s; %s %s needs %s", tok.Name, tok.Role, r.Method, r.URL.Path, role)})
			return
		}
		if !a.limits.Allow(tok.Name) {
			w.Header().Set("Retry-After", "1")
			writeError(w, r, a.opts.Logger, &statusError{status: http.StatusTooManyRequests, code: "rate_limited",
				msg: fmt.Sprintf("token %q made more than %g requests per second; retry in a second", tok.Name, a.opts.RateLimit)})
			return
		}
		if err := checkType(r, anyWithToken); err != nil {
			writeError(w, r, a.opts.Logger, err)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok)))
	}
}
