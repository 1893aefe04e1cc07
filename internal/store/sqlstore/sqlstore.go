// Package sqlstore is Docket's one implementation of the store on database/sql: the
// definitions, the runs table that is the queue, events, logs, reports and what servers
// sharing a database keep in it. The rules (which transitions a run may make, the times
// stamped on its start and end, the cursor reset of a changed schedule, idempotent
// submissions) live here once, in Go. What differs between databases is a Dialect:
// placeholders, how a time is encoded, how rows and jobs are locked for a claim, which
// errors are unique violations, and the migrations. Packages sqlite and postgres provide
// the two dialects and open a Store with them.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/migrate"
)

// Dialect is what one database does its own way. Queries in this package are written with
// `?` placeholders and never hold a literal question mark.
type Dialect interface {
	// Numbered reports whether parameters are written $1, $2, ... instead of ?.
	Numbered() bool
	// Time encodes a UTC time for a timestamp column, at the precision the column keeps.
	Time(t time.Time) any
	// Precision is how finely a stored time is kept; a time read back is truncated to it.
	Precision() time.Duration
	// LockRows ends a SELECT of the rows a transaction is about to change: " FOR UPDATE"
	// where rows are locked, "" where one writer holds the whole database.
	LockRows() string
	// SkipLocked ends the claim's SELECT of queued runs: rows another claimer locked are
	// passed over rather than waited for.
	SkipLocked() string
	// LockJob takes, without waiting, a lock on claiming runs of one job that lasts until
	// the transaction q is in ends, and reports whether it got it. A database with one
	// writer always gets it.
	LockJob(ctx context.Context, q Querier, name string) (bool, error)
	// Unique reports whether err is a unique-constraint violation.
	Unique(err error) bool
	// Migrations holds the dialect's numbered .sql files at its root.
	Migrations() fs.FS
}

// Store keeps Docket's state in a SQL database.
type Store struct {
	db *sql.DB
	d  Dialect
}

var _ store.Store = (*Store)(nil)

// Open applies the dialect's migrations to db and returns the store over it. db is closed
// with the store.
func Open(ctx context.Context, db *sql.DB, d Dialect) (*Store, error) {
	ms, err := migrate.Load(d.Migrations(), ".")
	if err == nil {
		_, err = migrate.Apply(ctx, db, ms)
	}
	if err != nil {
		return nil, err
	}
	return &Store{db: db, d: d}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DB is the database under the store, for tests that inspect it.
func (s *Store) DB() *sql.DB { return s.db }

// Querier runs a query for one row, on the database or in a transaction.
type Querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// querier runs statements on the database or in a transaction.
type querier interface {
	Querier
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// conn runs this package's ?-queries in the dialect's own placeholders.
type conn struct {
	q querier
	d Dialect
}

func (c conn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.q.ExecContext(ctx, c.rebind(query), args...)
}

// execN runs a statement and returns how many rows it changed.
func (c conn) execN(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c conn) row(ctx context.Context, query string, args ...any) *sql.Row {
	return c.q.QueryRowContext(ctx, c.rebind(query), args...)
}

func (c conn) rows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.q.QueryContext(ctx, c.rebind(query), args...)
}

// rebind turns ? placeholders into $1, $2, ... where the dialect numbers them.
func (c conn) rebind(query string) string {
	if !c.d.Numbered() || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] != '?' {
			b.WriteByte(query[i])
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// conn returns the store's database as a conn.
func (s *Store) conn() conn { return conn{q: s.db, d: s.d} }

// tx runs fn in a transaction, committing when it returns nil, and translates errors.
func (s *Store) tx(ctx context.Context, fn func(c conn) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.translate(err)
	}
	defer tx.Rollback()
	if err := fn(conn{q: tx, d: s.d}); err != nil {
		return s.translate(err)
	}
	return s.translate(tx.Commit())
}

// translate turns driver errors into the store's sentinels.
func (s *Store) translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return job.ErrNotFound
	case errors.Is(err, job.ErrConflict), errors.Is(err, job.ErrNotFound):
		return err
	case s.d.Unique(err):
		return fmt.Errorf("%w: %s", job.ErrConflict, err.Error())
	}
	return err
}

// scanner is a row to scan: *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// all runs query and scans every row with scan.
func all[T any](ctx context.Context, c conn, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := c.rows(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// scanString scans a row of one text column.
func scanString(row scanner) (string, error) {
	var s string
	return s, row.Scan(&s)
}

// ts encodes a time for a timestamp column.
func (s *Store) ts(t time.Time) any { return s.d.Time(s.stored(t)) }

// tsPtr encodes a nil time as NULL.
func (s *Store) tsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.ts(*t)
}

// stored is t as a later read returns it: UTC, at the dialect's precision.
func (s *Store) stored(t time.Time) time.Time { return t.UTC().Truncate(s.d.Precision()) }

// tsLayout is fixed-width UTC, so times stored as text sort in time order.
const tsLayout = "2006-01-02T15:04:05.000000000Z"

// FormatTime writes a time as dialects that keep times as text store it.
func FormatTime(t time.Time) string { return t.UTC().Format(tsLayout) }

// timeCol scans a timestamp column, kept as a time or as text in tsLayout.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*c.t = v.UTC()
	case string:
		return c.parse(v)
	case []byte:
		return c.parse(string(v))
	default:
		return fmt.Errorf("a timestamp column holds %T", src)
	}
	return nil
}

func (c timeCol) parse(s string) error {
	t, err := time.ParseInLocation(tsLayout, s, time.UTC)
	if err != nil {
		return fmt.Errorf("stored time %q: %w", s, err)
	}
	*c.t = t
	return nil
}

// nullTimeCol scans a nullable timestamp column; NULL is nil.
type nullTimeCol struct{ t **time.Time }

func (c nullTimeCol) Scan(src any) error {
	if src == nil {
		*c.t = nil
		return nil
	}
	var t time.Time
	if err := (timeCol{&t}).Scan(src); err != nil {
		return err
	}
	*c.t = &t
	return nil
}

// nullString stores "" as NULL, for the columns whose unique indexes skip NULLs.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// in returns "(?, ?, ?)" for n values and the values as arguments.
func in[T any](values []T) (string, []any) {
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", len(values)), ", ") + ")", args
}
