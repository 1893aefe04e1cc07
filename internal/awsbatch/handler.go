package awsbatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"docket.dev/docket/internal/auth"
	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// Store is what the face needs of the store.
type Store interface {
	store.Definitions
	store.Queues
	RunCreateGroup(ctx context.Context, run job.Run, children []job.Run, events []job.Event) (job.Run, bool, error)
	RunGet(ctx context.Context, id string) (job.Run, error)
	RunAttempts(ctx context.Context, id string) ([]job.Run, error)
	RunTask(ctx context.Context, parent string, index int) (job.Run, error)
	RunList(ctx context.Context, f store.RunFilter) ([]job.Run, string, error)
	LogRead(ctx context.Context, runID string, offset int64, limit int) ([]byte, error)
	LogSize(ctx context.Context, runID string) (int64, error)
}

// Canceller cancels runs (the dispatcher).
type Canceller interface {
	Cancel(ctx context.Context, runID, by string) (job.Run, error)
}

// Admission says whether the executor can run a job with this spec (see api.Admission).
type Admission interface {
	Admit(ctx context.Context, spec job.Spec) error
}

// Options configures the face.
type Options struct {
	Store     Store
	Canceller Canceller
	Logger    *slog.Logger
	Limits    definition.Limits
	Admission Admission
	// Tokens, when set, are the keys requests must be signed with (auth.AWSKey); nil
	// takes signed and unsigned requests alike (a server on loopback).
	Tokens *auth.Tokens
	// RateLimit is the requests per second each key may make (bursts of twice that).
	RateLimit float64
	// Queued is called after a run was queued, to wake the dispatcher.
	Queued func()
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Executor names the server's executor, the one compute environment.
	Executor string
	// Region and Account go into the ARNs the face answers with.
	Region, Account string
}

// maxBody caps a request body, as the API's.
const maxBody = 1 << 20

// Handler serves the AWS Batch operations under /v1/ and the CloudWatch Logs calls at /.
type Handler struct {
	opts   Options
	now    func() time.Time
	limits *auth.Limiters
}

// New returns the face.
func New(opts Options) *Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Queued == nil {
		opts.Queued = func() {}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RateLimit <= 0 {
		opts.RateLimit = 50
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Account == "" {
		opts.Account = "000000000000"
	}
	if opts.Executor == "" {
		opts.Executor = "process"
	}
	return &Handler{opts: opts, now: opts.Now, limits: auth.NewLimiters(opts.RateLimit)}
}

// op is one Batch operation: the role it needs and its handler, which decodes the body
// and returns the response value.
type op struct {
	role auth.Role
	fn   func(h *Handler, ctx context.Context, body []byte) (any, error)
}

var ops = map[string]op{
	"registerjobdefinition":       {auth.Editor, (*Handler).registerJobDefinition},
	"describejobdefinitions":      {auth.Viewer, (*Handler).describeJobDefinitions},
	"deregisterjobdefinition":     {auth.Admin, (*Handler).deregisterJobDefinition},
	"submitjob":                   {auth.Editor, (*Handler).submitJob},
	"describejobs":                {auth.Viewer, (*Handler).describeJobs},
	"listjobs":                    {auth.Viewer, (*Handler).listJobs},
	"canceljob":                   {auth.Editor, (*Handler).cancelJob},
	"terminatejob":                {auth.Editor, (*Handler).terminateJob},
	"describecomputeenvironments": {auth.Viewer, (*Handler).describeComputeEnvironments},
	"describejobqueues":           {auth.Viewer, (*Handler).describeJobQueues},
	"createjobqueue":              {auth.Admin, (*Handler).createJobQueue},
	"updatejobqueue":              {auth.Admin, (*Handler).updateJobQueue},
	"deletejobqueue":              {auth.Admin, (*Handler).deleteJobQueue},
}

// ServeHTTP answers /v1/OPERATION (restJson1) and POST / with X-Amz-Target (the Logs
// JSON 1.1 protocol). Every answer, errors included, is JSON with the AWS error type.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	logs := r.URL.Path == "/"
	if logs {
		h.serveLogs(w, r)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	o, known := ops[strings.ToLower(name)]
	switch {
	case !ok || !known:
		h.fail(w, r, false, &apiError{status: http.StatusNotFound, typ: "ClientException",
			msg: fmt.Sprintf("no AWS Batch operation at %s %s; this server answers the operations listed in its docs/API.md", r.Method, job.Truncate(r.URL.Path, 100))})
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, r, false, &apiError{status: http.StatusMethodNotAllowed, typ: "ClientException", msg: fmt.Sprintf("%s takes POST, not %s", name, r.Method)})
		return
	}
	body, tok, err := h.admit(w, r, o.role)
	if err != nil {
		h.fail(w, r, false, err)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 || strings.ContainsFunc(key, func(c rune) bool { return c < ' ' || c == 0x7f }) || !utf8.ValidString(key) {
		h.fail(w, r, false, clientErr("Idempotency-Key: must be at most 255 bytes of text"))
		return
	}
	ctx := context.WithValue(context.WithValue(r.Context(), tokenKey{}, tok), idemKey{}, key)
	out, err := o.fn(h, ctx, body)
	if err != nil {
		h.fail(w, r, false, err)
		return
	}
	h.write(w, http.StatusOK, "application/json", out)
}

type tokenKey struct{}

// token is the token (or AWS key) the request was made with; the zero Token without
// tokens.
func token(ctx context.Context) auth.Token {
	tok, _ := ctx.Value(tokenKey{}).(auth.Token)
	return tok
}

// admit reads the body and checks what every request must pass: its signature (with
// tokens), the key's role and rate. Without tokens every request passes, signed or not.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, role auth.Role) ([]byte, auth.Token, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, auth.Token{}, &apiError{status: http.StatusRequestEntityTooLarge, typ: "ClientException", msg: "the request body is larger than 1 MiB"}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, auth.Token{}, &apiError{status: http.StatusRequestTimeout, typ: "ClientException", msg: "the request body did not arrive in time"}
	case err != nil:
		return nil, auth.Token{}, &apiError{status: http.StatusBadRequest, typ: "ClientException", msg: "the request body could not be read"}
	}
	if h.opts.Tokens == nil {
		return body, auth.Token{}, nil
	}
	if !signed(r) {
		return nil, auth.Token{}, &apiError{status: http.StatusForbidden, typ: "MissingAuthenticationTokenException",
			msg: "this server needs every request signed (SigV4) with an access key it knows: docket token new --aws makes one"}
	}
	var key auth.AWSKey
	_, err = verify(r, body, h.now(), func(id string) (string, bool) {
		k, ok := h.opts.Tokens.LookupAWS(id)
		key = k
		return k.Secret, ok
	})
	if err != nil {
		return nil, auth.Token{}, err
	}
	if key.Role < role {
		return nil, auth.Token{}, &apiError{status: http.StatusForbidden, typ: "AccessDeniedException",
			msg: fmt.Sprintf("access key %s (%s) has the role %s; this operation needs %s", key.ID, key.Name, key.Role, role)}
	}
	if !h.limits.Allow(key.Name) {
		w.Header().Set("Retry-After", "1")
		return nil, auth.Token{}, &apiError{status: http.StatusTooManyRequests, typ: "TooManyRequestsException",
			msg: fmt.Sprintf("%s made more than %g requests per second; retry in a second", key.Name, h.opts.RateLimit)}
	}
	return body, key.Token, nil
}

// apiError is an error answered with its status and AWS error type.
type apiError struct {
	status int
	typ    string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// clientErr is a ClientException: the request cannot be served as sent.
func clientErr(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, typ: "ClientException", msg: fmt.Sprintf(format, args...)}
}

// fail writes err as AWS does: the type in X-Amzn-ErrorType and the body's __type (Logs),
// the sentence in message. Field errors of Docket's validation and not-found are the
// client's; anything else is a ServerException, logged.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, logs bool, err error) {
	e := &apiError{status: http.StatusInternalServerError, typ: "ServerException", msg: "internal error; the server log has the details"}
	var ae *apiError
	var se *authError
	var fe *job.FieldError
	switch {
	case errors.As(err, &ae):
		e = ae
	case errors.As(err, &se):
		e = &apiError{status: se.status, typ: se.typ, msg: se.msg}
	case errors.As(err, &fe):
		e = &apiError{status: http.StatusBadRequest, typ: "ClientException", msg: fe.Error()}
	case errors.Is(err, job.ErrNotFound), errors.Is(err, job.ErrConflict):
		e = &apiError{status: http.StatusBadRequest, typ: "ClientException", msg: err.Error()}
	}
	if logs && e.typ == "ClientException" {
		e = &apiError{status: e.status, typ: "InvalidParameterException", msg: e.msg}
	}
	if e.status >= 500 {
		h.opts.Logger.Error("aws request", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	w.Header().Set("X-Amzn-ErrorType", e.typ)
	body := map[string]string{"message": job.Elide(e.msg, job.MaxErrorText)}
	ct := "application/json"
	if logs {
		body["__type"] = e.typ
		ct = "application/x-amz-json-1.1"
	}
	h.write(w, e.status, ct, body)
}

// write answers v as JSON with the headers AWS clients read.
func (h *Handler) write(w http.ResponseWriter, status int, contentType string, v any) {
	var id [16]byte
	_, _ = rand.Read(id[:])
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("x-amzn-RequestId", hex.EncodeToString(id[:]))
	w.Header().Set("Date", h.now().UTC().Format(http.TimeFormat))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON request body into v, ignoring members v does not have (newer
// clients send them) and naming the member a wrong type was sent for.
func decode(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if !utf8.Valid(body) {
		return clientErr("the request body is not UTF-8 text")
	}
	if d := definition.JSONDepth(body); d > maxDepth {
		return clientErr("the request body nests %d levels deep; at most %d are allowed", d, maxDepth)
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return clientErr("%s: must be a %s, not a JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
		}
		return clientErr("the request body is not a valid JSON object: %v", err)
	}
	return nil
}

// maxDepth is how deeply a request body may nest objects and arrays.
const maxDepth = 32
