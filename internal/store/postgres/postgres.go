// Package postgres is the production store's dialect: Docket's state in PostgreSQL through
// pgx, so several servers can share it. Claims read queued runs FOR UPDATE SKIP LOCKED,
// so replicas claim different runs without waiting on each other, and take a
// transaction-scoped advisory lock per job they claim for.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"docket.dev/docket/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock that serializes migrations of servers starting at once.
const migrationLock = 0x646f636b6574 // "docket"

// Open connects to the database at url (postgres://...) and applies its migrations, one
// server at a time.
func Open(ctx context.Context, url string) (*sqlstore.Store, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s, err := open(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// open applies the migrations under a session advisory lock, so that servers starting
// together apply each migration once.
func open(ctx context.Context, db *sql.DB) (*sqlstore.Store, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return nil, fmt.Errorf("lock for migrations: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	return sqlstore.Open(ctx, db, dialect{})
}

// dialect is PostgreSQL's way of doing what sqlstore leaves to the database.
type dialect struct{}

func (dialect) Numbered() bool { return true }

// Time is kept as timestamptz, to the microsecond.
func (dialect) Time(t time.Time) any     { return t }
func (dialect) Precision() time.Duration { return time.Microsecond }
func (dialect) LockRows() string         { return " FOR UPDATE" }
func (dialect) SkipLocked() string       { return " FOR UPDATE SKIP LOCKED" }
func (dialect) QueuedRuns() string       { return "runs" }

// EachJob unnests a text array, its names compared bytewise as runs.job is (migration 15).
func (dialect) EachJob() string { return `(SELECT unnest(?::text[]) COLLATE "C" AS name) AS j` }

func (dialect) InsertWith() bool { return true }

func (dialect) Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}

// LockJob takes the job's advisory lock for the transaction. The key includes the schema,
// so Docket installations in different schemas of one database do not meet.
func (dialect) LockJob(ctx context.Context, q sqlstore.Querier, name string) (bool, error) {
	var ok bool
	err := q.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '/' || $1))`, name).Scan(&ok)
	return ok, err
}

// queueLockKey is the first key of the queues' advisory locks: a key space apart from
// the jobs' (LockJob's one-key locks).
const queueLockKey = "1685021543"

// LockQueue takes the queue's advisory lock for the transaction, waiting for it.
func (dialect) LockQueue(ctx context.Context, q sqlstore.Querier, name string) error {
	var ok bool
	return q.QueryRowContext(ctx, `SELECT true FROM pg_advisory_xact_lock(`+queueLockKey+`, hashtext(current_schema() || '/' || $1))`, name).Scan(&ok)
}

// TryLockQueue takes the advisory lock of each claimed row's queue, in the statement
// that reads the rows.
func (dialect) TryLockQueue() string {
	return `CASE WHEN queue = '' THEN true ELSE pg_try_advisory_xact_lock(` + queueLockKey + `, hashtext(current_schema() || '/' || queue)) END`
}

func (dialect) Unique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" // unique_violation
}
