package definition

import (
	"strings"
	"testing"
)

func TestJSONDepth(t *testing.T) {
	t.Parallel()
	nested := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for doc, want := range map[string]int{
		`1`: 0, `{}`: 1, `{"a":[1,{"b":2}]}`: 3, nested(70): 70,
		`"[[[["`: 0, `["\"[[", {"k\\":["x"]}]`: 3, `{"a":"\\"}`: 1,
	} {
		if got := JSONDepth([]byte(doc)); got != want {
			t.Errorf("JSONDepth(%s) = %d, want %d", doc, got, want)
		}
	}
}
