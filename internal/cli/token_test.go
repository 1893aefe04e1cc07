package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"docket.dev/docket/internal/auth"
)

// TestTokenNewEntry: the entry docket token new prints is one the server reads back with
// the name given, whatever the name holds.
func TestTokenNewEntry(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"ana", "x #1", "ana, the lead", "yes", `say "hi"`} {
		var out, errOut bytes.Buffer
		if err := Run(context.Background(), []string{"token", "new", "--name", name, "--role", "editor"}, strings.NewReader(""), &out, &errOut); err != nil {
			t.Fatalf("token new --name %q: %v", name, err)
		}
		printed := out.String() + errOut.String()
		_, entry, ok := strings.Cut(printed, "\n  - {")
		_, secret, ok2 := strings.Cut(printed, "  dkt_")
		if !ok || !ok2 {
			t.Fatalf("token new --name %q printed no entry or token:\n%s", name, printed)
		}
		entry, _, _ = strings.Cut(entry, "\n")
		secret, _, _ = strings.Cut(secret, "\n")
		toks, err := auth.Parse([]byte("tokens:\n  - {" + entry + "\n"))
		if err != nil {
			t.Errorf("the entry for %q: %v\n%s", name, err, entry)
			continue
		}
		if tok, ok := toks.Lookup("dkt_" + secret); !ok || tok.Name != name {
			t.Errorf("the entry for %q reads back as %+v (found %v)", name, tok, ok)
		}
	}
}
