// Package sqlite is the embedded store's dialect: Docket's state in one SQLite file under
// the data directory, through modernc.org/sqlite (pure Go, no cgo). One connection
// serializes every transaction, which is what SQLite does anyway, so the claim needs no
// row or job locks, and spares the busy-retry dance. Times are fixed-width UTC text, so
// they sort as they compare.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"io/fs"
	"net/url"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"docket.dev/docket/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Open opens (creating if needed) the database at path and applies its migrations.
func Open(ctx context.Context, path string) (*sqlstore.Store, error) {
	db, err := openDB(path)
	if err != nil {
		return nil, err
	}
	s, err := sqlstore.Open(ctx, db, dialect{})
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// openDB opens the database at path on one connection, whose transactions take the write
// lock when they begin.
func openDB(path string) (*sql.DB, error) {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	c, err := sqlite.NewConnector("file:" + path + "?" + q.Encode())
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector{c})
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// dialect is SQLite's way of doing what sqlstore leaves to the database.
type dialect struct{}

func (dialect) Numbered() bool                                                  { return false }
func (dialect) Time(t time.Time) any                                            { return sqlstore.FormatTime(t) }
func (dialect) Precision() time.Duration                                        { return time.Nanosecond }
func (dialect) LockRows() string                                                { return "" }
func (dialect) SkipLocked() string                                              { return "" }
func (dialect) QueuedRuns() string                                              { return "runs INDEXED BY runs_claim" }
func (dialect) EachJob() string                                                 { return "" }
func (dialect) InsertWith() bool                                                { return false }
func (dialect) LockJob(context.Context, sqlstore.Querier, string) (bool, error) { return true, nil }

func (dialect) LockQueue(context.Context, sqlstore.Querier, string) error { return nil }
func (dialect) TryLockQueue() string                                      { return "1" }

func (dialect) Unique(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

func (dialect) Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}
