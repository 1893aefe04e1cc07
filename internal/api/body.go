package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"reflect"
	"strings"
	"unicode/utf8"
)

// bodyTypes are the media types a request body may be sent as.
var bodyTypes = map[string]bool{
	"application/json": true, "application/yaml": true, "application/x-yaml": true, "text/yaml": true,
	// A blob's bytes; a page of another site cannot send this type without asking first
	// either, and JSON routes decode their body as JSON whatever it says.
	"application/octet-stream": true,
}

// checkType refuses a write whose body is not declared as JSON or YAML (415). A web page
// of another site can send a form or a text/plain body without the browser asking this
// server first (a "simple" request); it cannot send application/json. A write with no
// body needs no type. anyWithToken lets a request that carries a bearer token send its
// body under any type (curl -d sends a form type): a page cannot add an Authorization
// header without the browser asking first, which this server never allows.
func checkType(r *http.Request, anyWithToken bool) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if _, ok := bearer(r); ok && anyWithToken {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		if r.ContentLength == 0 {
			return nil
		}
		return &statusError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
			msg: "the request has a body but no Content-Type; send Content-Type: application/json or application/yaml"}
	}
	mt, _, err := mime.ParseMediaType(ct)
	switch {
	case err != nil:
		return &statusError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", msg: fmt.Sprintf("Content-Type %q cannot be parsed", ct)}
	case !bodyTypes[mt]:
		return &statusError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
			msg: fmt.Sprintf("Content-Type %q is not accepted; send application/json or application/yaml", mt)}
	}
	return nil
}

// readBody reads a request body, at most maxBody bytes of UTF-8 text (JSON and YAML are).
// A body that does not arrive within the server's read timeout is 408.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return readBodyUpTo(w, r, maxBody)
}

// readBodyUpTo is readBody with another cap (a run submission carries an array's inputs).
func readBodyUpTo(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, &statusError{status: http.StatusRequestTimeout, code: "timeout", msg: "the request body did not arrive in time"}
	}
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(body) {
		return nil, invalid("body", fmt.Sprintf("is not UTF-8 text: byte %d is not valid UTF-8", invalidUTF8At(body)))
	}
	return body, nil
}

// invalidUTF8At is the offset of the first byte of data that is not valid UTF-8.
func invalidUTF8At(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// headerText returns a header meant as short text (a name, a key), refusing one that is
// not UTF-8, holds control characters or is longer than limit bytes.
func headerText(r *http.Request, name string, limit int) (string, error) {
	v := r.Header.Get(name)
	switch {
	case len(v) > limit:
		return "", invalid(name, fmt.Sprintf("is %d bytes long; at most %d are allowed", len(v), limit))
	case !utf8.ValidString(v):
		return "", invalid(name, fmt.Sprintf("is not UTF-8 text: byte %d is not valid UTF-8", invalidUTF8At([]byte(v))))
	case strings.ContainsFunc(v, func(c rune) bool { return c < ' ' || c == 0x7f }):
		return "", invalid(name, "holds a control character")
	}
	return v, nil
}

// bodyShape describes a JSON request body for the errors of decodeBody.
type bodyShape struct {
	// name is what the body is ("a run request"); fields lists its fields in words.
	name, fields string
	// want says what a field's value must be, for type errors ("a mapping of names to
	// strings").
	want map[string]string
}

// decodeBody decodes a request body that holds one JSON value into v, refusing fields v
// does not have and anything after the value.
func decodeBody(body []byte, v any, shape bodyShape) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err, shape)
	}
	return oneValue(dec)
}

// oneValue refuses what follows the JSON value dec has read.
func oneValue(dec *json.Decoder) error {
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("body", fmt.Sprintf("holds more after its JSON value (from byte %d); send one JSON value", dec.InputOffset()))
	}
	return nil
}

// checkOneJSON refuses a body that begins with a JSON value and goes on after it (a JSON
// definition with YAML after it, whose YAML would be dropped). Bodies that are not JSON
// are left to the YAML decoder.
func checkOneJSON(body []byte) error {
	if t := bytes.TrimSpace(body); len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	return oneValue(dec)
}

// bodyError names the field of a JSON body the decoder tripped on.
func bodyError(err error, shape bodyShape) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		want := shape.want[strings.Split(typeErr.Field, ".")[0]]
		if want == "" {
			want = "a " + typeErr.Type.String()
		}
		if k := typeErr.Type.Kind(); strings.HasPrefix(want, "a mapping") && k != reflect.Map && k != reflect.Interface {
			// The decoder names the mapping, not the key whose value is wrong.
			return invalid(typeErr.Field, fmt.Sprintf("must be %s; one of its values is a JSON %s", want, typeErr.Value))
		}
		return invalid(typeErr.Field, fmt.Sprintf("must be %s, not a JSON %s", want, typeErr.Value))
	case errors.As(err, &typeErr):
		return invalid("body", fmt.Sprintf("must be a JSON object (%s), not a JSON %s", shape.name, typeErr.Value))
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("body", "is not valid JSON: "+err.Error())
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return invalid(strings.Trim(name, `"`), fmt.Sprintf("is not a field of %s; the fields are %s", shape.name, shape.fields))
	}
	return invalid("body", err.Error())
}

// maxDepth is how deeply a reported document may nest objects and arrays.
const maxDepth = 64
