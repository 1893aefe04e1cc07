package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"docket.dev/docket/internal/job"
)

// statusError is an error that carries its HTTP status and code.
type statusError struct {
	status int
	code   string
	field  string
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

// errorDetail says what went wrong: a short code (invalid, not_found, conflict, ...), a
// sentence, and the field at fault when there is one.
type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// writeError maps err to a status and writes the error body. It is the one place where
// errors become statuses; 5xx errors are logged, since the client only sees that one occurred.
// maxFieldText caps the field an error names, which may hold a key the client sent.
const maxFieldText = 256

func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var body errorBody
	status := http.StatusInternalServerError
	body.Error.Code, body.Error.Message = "internal", "internal error; the server log has the details"
	var se *statusError
	var fe *job.FieldError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &se):
		status, body.Error.Code, body.Error.Field, body.Error.Message = se.status, se.code, se.field, se.msg
	case errors.As(err, &fe):
		status, body.Error.Code, body.Error.Field, body.Error.Message = http.StatusBadRequest, "invalid", fe.Field, fe.Error()
	case errors.As(err, &tooLarge):
		status, body.Error.Code = http.StatusRequestEntityTooLarge, "too_large"
		body.Error.Message = fmt.Sprintf("the request body is larger than %d MiB", tooLarge.Limit>>20)
	case errors.Is(err, job.ErrNotFound):
		status, body.Error.Code, body.Error.Message = http.StatusNotFound, "not_found", err.Error()
	case errors.Is(err, job.ErrConflict):
		// The code says it is a conflict; the message is the sentence that says why.
		status, body.Error.Code = http.StatusConflict, "conflict"
		body.Error.Message = strings.TrimPrefix(err.Error(), job.ErrConflict.Error()+": ")
	}
	if status >= 500 {
		log.Error("request", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	body.Error.Field, body.Error.Message = job.Truncate(body.Error.Field, maxFieldText), job.Elide(body.Error.Message, job.MaxErrorText)
	if awsRequest(r) {
		// A request to the AWS Batch face refused before it got there (host, origin) is
		// answered as AWS clients read errors.
		typ := "ClientException"
		if status >= 500 {
			typ = "ServerException"
		}
		w.Header().Set("X-Amzn-ErrorType", typ)
		writeJSON(w, r, status, map[string]string{"__type": typ, "message": body.Error.Message})
		return
	}
	writeJSON(w, r, status, body)
}

// writeJSON writes v as the response body: compact JSON, or indented when the request
// asks with ?pretty (as kube-apiserver does). Indenting is most of the cost of a large
// answer, and multiplies the size of a deeply nested one.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	if pretty(r) {
		enc.SetIndent("", "  ")
	}
	_ = enc.Encode(v)
}

// pretty reports whether the request asks for indented JSON: ?pretty, ?pretty=true or
// ?pretty=1.
func pretty(r *http.Request) bool {
	v, ok := r.URL.Query()["pretty"]
	if !ok {
		return false
	}
	if v[0] == "" {
		return true
	}
	b, err := strconv.ParseBool(v[0])
	return err == nil && b
}

// invalid returns a 400 error naming a field.
func invalid(field, msg string) error {
	return &statusError{status: http.StatusBadRequest, code: "invalid", field: field, msg: field + ": " + msg}
}

// awsRequest reports whether a request is for the AWS Batch face: /v1/..., or the
// CloudWatch Logs calls at / (X-Amz-Target).
func awsRequest(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/v1/") || r.URL.Path == "/" && r.Header.Get("X-Amz-Target") != ""
}
