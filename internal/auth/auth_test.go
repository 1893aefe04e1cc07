package auth

import (
	"strings"
	"testing"
)

func TestParseAndLookup(t *testing.T) {
	t.Parallel()
	secret, err := New()
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := Parse([]byte("tokens:\n  - name: ana\n    role: editor\n    sha256: " + Hash(secret) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tok, ok := tokens.Lookup(secret); !ok || tok.Name != "ana" || tok.Role != Editor {
		t.Errorf("Lookup = %+v, %v", tok, ok)
	}
	if _, ok := tokens.Lookup(secret + "x"); ok {
		t.Error("a wrong secret was accepted")
	}
	if !strings.HasPrefix(secret, "dkt_") || len(secret) < 40 {
		t.Errorf("token %q", secret)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	h := Hash("x")
	tests := []struct{ file, want string }{
		{"tokens: []", "tokens: is empty"},
		{"tokens:\n  - role: viewer\n    sha256: " + h, "tokens[0].name: is required"},
		{"tokens:\n  - name: a\n    role: boss\n    sha256: " + h, `tokens[0].role: "boss" is not a role`},
		{"tokens:\n  - name: a\n    role: viewer\n    sha256: abc", "tokens[0].sha256: must be the 64 hex digits"},
		{"tokens:\n  - name: a\n    role: viewer\n    sha256: " + h + "\n  - name: a\n    role: admin\n    sha256: " + h, `tokens[1].name: "a" is used twice`},
		{"tokens:\n  - name: a\n    role: viewer\n    secret: x", "unknown field"},
	}
	for _, tt := range tests {
		if _, err := Parse([]byte(tt.file)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v; want an error with %q", tt.file, err, tt.want)
		}
	}
}
