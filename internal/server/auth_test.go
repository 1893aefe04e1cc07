package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadTokens(t *testing.T) {
	t.Parallel()
	for addr, open := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:8080": true,
		"0.0.0.0:8080": false, ":8080": false, "10.1.2.3:8080": false, "docket.internal:8080": false,
	} {
		if got := loopback(addr); got != open {
			t.Errorf("loopback(%q) = %v, want %v", addr, got, open)
		}
		_, err := loadTokens(Config{Addr: addr})
		if open != (err == nil) {
			t.Errorf("no tokens file on %s: err = %v", addr, err)
		}
		if _, err := loadTokens(Config{Addr: addr, InsecureNoAuth: true}); err != nil {
			t.Errorf("--insecure-no-auth on %s: %v", addr, err)
		}
	}
	bad := filepath.Join(t.TempDir(), "tokens.yaml")
	os.WriteFile(bad, []byte("tokens:\n  - {name: a, role: root, sha256: x}\n"), 0o600)
	if _, err := loadTokens(Config{Addr: "0.0.0.0:1", TokensFile: bad}); err == nil || !strings.Contains(err.Error(), "tokens[0].role") {
		t.Errorf("bad tokens file: %v", err)
	}
}
