package record

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"docket.dev/docket/internal/store/sqlite"
)

func TestLogs(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "docket.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	logs := &Logs{Store: st, Logger: slog.New(slog.DiscardHandler), Limit: 10}

	w := logs.OpenLog("short")
	w.Write([]byte("hello\n"))
	w.Close()
	w.Write([]byte("after close\n"))
	got, _ := st.LogRead(context.Background(), "short", 0, 1<<20)
	if string(got) != "hello\n" {
		t.Errorf("short log = %q", got)
	}

	w = logs.OpenLog("long")
	for range 5 {
		if n, err := w.Write([]byte("12345")); n != 5 || err != nil {
			t.Fatalf("Write past the limit = %d, %v; the writer must not fail the process", n, err)
		}
	}
	w.Close()
	got, _ = st.LogRead(context.Background(), "long", 0, 1<<20)
	if !strings.HasPrefix(string(got), "1234512345\n[docket: log truncated") {
		t.Errorf("capped log = %q", got)
	}

	// The limit is the run's, not one writer's: a second writer (a pod that replaced a
	// disrupted one, a server that took the run over) has only what is left.
	w = logs.OpenLog("two")
	w.Write([]byte("123456"))
	w.Close()
	w = logs.OpenLog("two")
	w.Write([]byte("abcdef"))
	w.Close()
	got, _ = st.LogRead(context.Background(), "two", 0, 1<<20)
	if !strings.HasPrefix(string(got), "123456abcd\n[docket: log truncated") {
		t.Errorf("log of two writers = %q", got)
	}
	w = logs.OpenLog("two")
	w.Write([]byte("more"))
	w.Close()
	if again, _ := st.LogRead(context.Background(), "two", 0, 1<<20); string(again) != string(got) {
		t.Errorf("a writer opened on a full log added to it: %q", again)
	}
}
