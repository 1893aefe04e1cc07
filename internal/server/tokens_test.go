package server

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"docket.dev/docket/internal/auth"
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
		_, _, err := loadTokens(Config{Addr: addr})
		if open != (err == nil) {
			t.Errorf("no tokens file on %s: err = %v", addr, err)
		}
		if _, _, err := loadTokens(Config{Addr: addr, InsecureNoAuth: true}); err != nil {
			t.Errorf("--insecure-no-auth on %s: %v", addr, err)
		}
	}
	// Tokens given directly (DOCKET_TOKENS) guard a public address too; bad ones are named.
	direct := "tokens:\n  - {name: ci, role: viewer, sha256: " + auth.Hash("secret-ci") + "}\n"
	tokens, _, err := loadTokens(Config{Addr: "0.0.0.0:1", Tokens: direct})
	if err != nil {
		t.Fatal(err)
	}
	if tok, ok := tokens.Lookup("secret-ci"); !ok || tok.Name != "ci" {
		t.Errorf("token from DOCKET_TOKENS: %+v, %v", tok, ok)
	}
	if _, _, err := loadTokens(Config{Addr: "0.0.0.0:1", Tokens: "tokens: []"}); err == nil || !strings.HasPrefix(err.Error(), "DOCKET_TOKENS: tokens file: tokens: is empty") {
		t.Errorf("empty DOCKET_TOKENS: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "tokens.yaml")
	os.WriteFile(bad, []byte("tokens:\n  - {name: a, role: root, sha256: x}\n"), 0o600)
	if _, _, err := loadTokens(Config{Addr: "0.0.0.0:1", TokensFile: bad}); err == nil || !strings.Contains(err.Error(), "tokens[0].role") {
		t.Errorf("bad tokens file: %v", err)
	}
}

// syncBuffer is a log destination safe for the reloader's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestReloadTokens(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	entry := func(name, role, secret string) string {
		return "  - {name: " + name + ", role: " + role + ", sha256: " + auth.Hash(secret) + "}\n"
	}
	write := func(content string) {
		t.Helper()
		// Written aside and renamed in, as a Secret volume or an editor does.
		if err := os.WriteFile(path+".new", []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	first := "tokens:\n" + entry("ana", "viewer", "secret-ana")
	write(first)
	tokens, data, err := loadTokens(Config{TokensFile: path})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- reloadTokens(ctx, path, data, tokens, 5*time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)))
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	eventually := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; log:\n%s", what, logs.String())
			}
		}
	}

	write(first + entry("bo", "admin", "secret-bo"))
	eventually("bo's token to be accepted", func() bool {
		tok, ok := tokens.Lookup("secret-bo")
		return ok && tok.Role == auth.Admin
	})
	if _, ok := tokens.Lookup("secret-ana"); !ok {
		t.Error("ana's token was dropped by a reload that kept it")
	}

	// A broken file changes nothing; the log says why.
	write("tokens:\n  - {name: bo, role: boss, sha256: x}\n")
	eventually("the broken file to be reported", func() bool {
		return strings.Contains(logs.String(), "tokens[0].role")
	})
	if _, ok := tokens.Lookup("secret-bo"); !ok {
		t.Error("a broken tokens file removed the tokens read before")
	}

	// Removing a token takes effect too.
	write(first)
	eventually("bo's token to be refused", func() bool {
		_, ok := tokens.Lookup("secret-bo")
		return !ok
	})
}
