// Package sqlite is the embedded store: Docket's state in one SQLite file under the data
// directory, through modernc.org/sqlite (pure Go, no cgo). One connection serializes every
// transaction, which is what SQLite does anyway, and spares the busy-retry dance.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/migrate"
	"docket.dev/docket/internal/store/sqlscan"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store keeps Docket's state in a SQLite database.
type Store struct {
	db *sql.DB
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path and applies its migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	ms, err := migrate.Load(migrations, "migrations")
	if err == nil {
		_, err = migrate.Apply(ctx, db, ms)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// tx runs fn in a transaction, committing when it returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	return translate(sqlscan.InTx(ctx, s.db, fn))
}

// translate turns driver errors into the store's sentinels.
func translate(err error) error {
	var se *sqlite.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return job.ErrNotFound
	case errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
		return fmt.Errorf("%w: %s", job.ErrConflict, se.Error())
	}
	return err
}

// tsLayout is fixed-width UTC, so stored times sort as text in time order.
const tsLayout = "2006-01-02T15:04:05.000000000Z"

func ts(t time.Time) string { return t.UTC().Format(tsLayout) }

// tsPtr stores a nil time as NULL.
func tsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ts(*t)
}

func parseTS(s string) (time.Time, error) { return time.ParseInLocation(tsLayout, s, time.UTC) }

// nullTS reads a nullable time column.
func nullTS(ns sql.NullString) (*time.Time, error) {
	if !ns.Valid {
		return nil, nil
	}
	t, err := parseTS(ns.String)
	return &t, err
}

// nullString stores "" as NULL, for the columns whose unique indexes skip NULLs.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

type scanner = sqlscan.Scanner

// queryAll runs query and scans every row with scan, translating errors.
func queryAll[T any](ctx context.Context, q sqlscan.Querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	out, err := sqlscan.All(ctx, q, scan, query, args...)
	return out, translate(err)
}
