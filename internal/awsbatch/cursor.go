package awsbatch

import (
	"encoding/base64"
	"strings"
)

// tokenPrefix marks the pagination tokens this server gives, which are opaque cursors
// that always move forward: a run id, or a job and revision.
const tokenPrefix = "dk1."

func encodeCursor(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// decodeCursor reads a token made by encodeCursor after tokenPrefix.
func decodeCursor(t string) (string, bool) {
	rest, ok := strings.CutPrefix(t, tokenPrefix)
	if !ok || len(rest) > 400 {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return "", false
	}
	return string(b), true
}
