// Package postgres is the production store: Docket's state in PostgreSQL through pgx, so
// several servers can share it. Claims lock queued runs with FOR UPDATE SKIP LOCKED, so
// replicas claim different runs without waiting on each other.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/migrate"
	"docket.dev/docket/internal/store/sqlscan"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store keeps Docket's state in a PostgreSQL database.
type Store struct {
	db *sql.DB
}

var _ store.Store = (*Store)(nil)

// migrationLock is the advisory lock that serializes migrations of servers starting at once.
const migrationLock = 0x646f636b6574 // "docket"

// Open connects to the database at url (postgres://...) and applies its migrations.
func Open(ctx context.Context, url string) (*Store, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := migrateDB(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db}, nil
}

// migrateDB applies the migrations under a session advisory lock, so that servers starting
// together apply each migration once.
func migrateDB(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("lock for migrations: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	ms, err := migrate.Load(migrations, "migrations")
	if err != nil {
		return err
	}
	_, err = migrate.Apply(ctx, db, ms)
	return err
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// tx runs fn in a transaction, committing when it returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	return translate(sqlscan.InTx(ctx, s.db, fn))
}

// translate turns driver errors into the store's sentinels.
func translate(err error) error {
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return job.ErrNotFound
	case errors.As(err, &pe) && pe.Code == "23505": // unique_violation
		return fmt.Errorf("%w: %s", job.ErrConflict, pe.Message)
	}
	return err
}

// ts is a time as PostgreSQL keeps it: UTC, to the microsecond.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// tsPtr stores a nil time as NULL.
func tsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ts(*t)
}

// nullTS reads a nullable time column.
func nullTS(nt sql.NullTime) *time.Time {
	if !nt.Valid {
		return nil
	}
	t := nt.Time.UTC()
	return &t
}

// nullString stores "" as NULL, for the columns whose unique indexes skip NULLs.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

type scanner = sqlscan.Scanner

// queryAll runs query and scans every row with scan, translating errors.
func queryAll[T any](ctx context.Context, q sqlscan.Querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	out, err := sqlscan.All(ctx, q, scan, query, args...)
	return out, translate(err)
}
