// Package pgtest gives tests a PostgreSQL database of their own: a fresh schema on the
// server DOCKET_TEST_POSTGRES names (scripts/postgres starts one), dropped when the test
// ends. Without a server the test is skipped, unless DOCKET_TEST_POSTGRES_REQUIRED is set,
// as in CI, which makes it fail.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"docket.dev/docket/internal/store/postgres"
	"docket.dev/docket/internal/store/sqlstore"
)

var schemas atomic.Int64

// URL returns a connection URL whose search_path is a new, empty schema.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("DOCKET_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("DOCKET_TEST_POSTGRES_REQUIRED") != "" {
			t.Fatal("DOCKET_TEST_POSTGRES is not set and PostgreSQL is required (DOCKET_TEST_POSTGRES_REQUIRED)")
		}
		t.Skip("DOCKET_TEST_POSTGRES is not set; scripts/postgres start DIR starts a server")
	}
	schema := fmt.Sprintf("docket_test_%d_%d", os.Getpid(), schemas.Add(1))
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		admin.Close()
		t.Fatalf("create schema on %s: %v", base, err)
	}
	t.Cleanup(func() {
		admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open returns a store in a new schema; it is closed when the test ends.
func Open(t testing.TB) *sqlstore.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
