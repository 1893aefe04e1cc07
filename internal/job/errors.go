package job

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Sentinel errors that every layer uses, so the HTTP layer can map them to a status in one
// place. The store translates its driver's errors into these.
var (
	// ErrNotFound means the named job or run does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the change lost a race or collides with what is stored, for example
	// a guarded transition whose run is no longer in the expected state.
	ErrConflict = errors.New("conflict")
)

// FieldError says what is wrong with one field of user input. Field is the path as the user
// wrote it ("schedule", "env.MODE", "command[1]").
type FieldError struct {
	Field   string
	Message string
}

// Error returns "field: message".
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Invalid returns a *FieldError for field with a formatted message.
func Invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// MaxErrorText caps an error's message as an API answers it: what a client sent and an
// error quotes back is bounded, however large it was.
const MaxErrorText = 2048

// Truncate shortens s, which a client may have sent, to at most n bytes (cut at a
// character's start) and an ellipsis, before it is quoted back.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Elide shortens s to at most n bytes and an ellipsis by cutting its middle, so that an
// error keeps both what it names (at its start) and what it says of it (at its end).
func Elide(s string, n int) string {
	if len(s) <= n {
		return s
	}
	head, tail := n/2, len(s)-(n-n/2)
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	for tail < len(s) && !utf8.RuneStart(s[tail]) {
		tail++
	}
	return s[:head] + "…" + s[tail:]
}
