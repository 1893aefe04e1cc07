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
		{"tokens:\n  - name: a\n    role: viewer\n    sha256: " + h + "\n  - name: b\n    role: admin\n    sha256: " + h, `tokens[1].sha256: is the token of "a" too`},
		{"tokens:\n  - name: a\n    role: viewer\n    secret: x", "unknown field"},
		{"tokens:\n  - name: a\n    role: editor\n    sha256: " + h + "\n    teams: [ds, \"Data Science\"]", `tokens[0].teams[1]: "Data Science" is not a team label value`},
	}
	for _, tt := range tests {
		if _, err := Parse([]byte(tt.file)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v; want an error with %q", tt.file, err, tt.want)
		}
	}
}

func TestMayChange(t *testing.T) {
	t.Parallel()
	everyone, ds := Token{Name: "ops"}, Token{Name: "ana", Teams: []string{"ds", "ml"}}
	for _, tt := range []struct {
		tok  Token
		team string
		want bool
	}{
		{everyone, "", true}, {everyone, "fin", true},
		{ds, "ds", true}, {ds, "ml", true}, {ds, "fin", false}, {ds, "", false},
	} {
		if got := tt.tok.MayChange(tt.team); got != tt.want {
			t.Errorf("%s.MayChange(%q) = %v, want %v", tt.tok.Name, tt.team, got, tt.want)
		}
	}
}

func TestParseAWSKeys(t *testing.T) {
	t.Parallel()
	id, secret, err := NewAWSKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != 20 || len(secret) != 40 {
		t.Fatalf("NewAWSKey = %q, %q; want 20 and 40 characters", id, secret)
	}
	toks, err := Parse([]byte("tokens:\n  - {name: ana, role: editor, teams: [ds], aws_access_key_id: " + id + ", aws_secret_access_key: \"" + secret + "\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	k, ok := toks.LookupAWS(id)
	if !ok || k.Secret != secret || k.Name != "ana" || k.Role != Editor || len(k.Teams) != 1 {
		t.Fatalf("LookupAWS(%q) = %+v, %v", id, k, ok)
	}
	if _, ok := toks.LookupAWS("AKDKNOTTHEREATALL"); ok {
		t.Fatal("an unknown key was found")
	}
	if toks.Len() != 1 {
		t.Fatalf("Len = %d; want 1", toks.Len())
	}
	for _, bad := range []string{
		"tokens:\n  - {name: a, role: editor, aws_access_key_id: short, aws_secret_access_key: \"" + secret + "\"}\n",
		"tokens:\n  - {name: a, role: editor, aws_access_key_id: " + id + ", aws_secret_access_key: tiny}\n",
		"tokens:\n  - {name: a, role: editor}\n",
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) took it", bad)
		}
	} // A runner posts to Docket's own API; the AWS face has no operation for it.
	runner := "tokens:\n  - {name: ci, role: runner, jobs: [nightly], aws_access_key_id: " + id + ", aws_secret_access_key: \"" + secret + "\"}\n"
	if _, err := Parse([]byte(runner)); err == nil || !strings.Contains(err.Error(), "tokens[0].aws_access_key_id: a runner token") {
		t.Errorf("a runner's AWS key pair: %v", err)
	}
}
