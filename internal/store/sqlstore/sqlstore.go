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
	"sync"
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
	// QueuedRuns is the claim's FROM: the runs table, read through its index of queued
	// runs in claim order (runs_claim) where the planner would not choose it by itself
	// (SQLite without ANALYZE's statistics reads every queued run and sorts them).
	QueuedRuns() string
	// EachJob is a FROM item that yields, as rows of one column j.name, the job names
	// bound to its one parameter (a []string), comparable with runs.job through its
	// indexes: what a LATERAL subquery per job reads from. "" where the database has no
	// such form (SQLite); a statement then reads each job in a part of its own.
	EachJob() string
	// InsertWith reports whether a statement's WITH may insert rows (PostgreSQL): a run
	// and its first event then go in one statement, with no transaction around them.
	InsertWith() bool
	// LockJob takes, without waiting, a lock on claiming runs of one job that lasts until
	// the transaction q is in ends, and reports whether it got it. A database with one
	// writer always gets it.
	LockJob(ctx context.Context, q Querier, name string) (bool, error)
	// LockQueue takes, waiting for it, a lock on claiming runs of one queue that lasts
	// until the transaction q is in ends. A database with one writer has it at once.
	LockQueue(ctx context.Context, q Querier, name string) error
	// TryLockQueue is a column expression that takes LockQueue's lock on the queue named
	// by the column queue, without waiting, and is true when it got it ("TRUE" where one
	// writer holds the whole database). The default queue ('') is not locked.
	TryLockQueue() string
	// Unique reports whether err is a unique-constraint violation.
	Unique(err error) bool
	// Migrations holds the dialect's numbered .sql files at its root.
	Migrations() fs.FS
}

// Store keeps Docket's state in a SQL database.
type Store struct {
	db     *sql.DB
	d      Dialect
	stmts  stmtCache
	groups *knownGroups // where rows are locked; nil where one writer holds the database
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
	st := &Store{db: db, d: d, stmts: stmtCache{m: map[string]*sql.Stmt{}, wanted: map[string]bool{}}}
	if d.LockRows() != "" {
		st.groups = &knownGroups{m: map[string]string{}}
	}
	return st, nil
}

// Close closes the database and the statements prepared on it.
func (s *Store) Close() error {
	s.stmts.close()
	return s.db.Close()
}

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
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// conn runs this package's ?-queries in the dialect's own placeholders, as statements
// prepared once and kept (a statement is parsed and planned once, not at every use).
type conn struct {
	q     querier
	tx    *sql.Tx // set when q is a transaction
	d     Dialect
	stmts *stmtCache
	// ends, when set, keeps the ends of runs to fire at the transaction's end.
	ends *[]endAt
	// events, set in a transaction, keeps the events its statements record, to be inserted
	// together before it commits: one statement, however many changes the transaction
	// makes. No statement in a transaction reads events.
	events *[]job.Event
}

// stmt returns the prepared statement for query, in the conn's transaction when it has
// one; nil when the cache is full, and the query is then run unprepared.
func (c conn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	st, err := c.stmts.get(ctx, c.q, query)
	if st == nil || err != nil || c.tx == nil {
		return st, err
	}
	return c.tx.StmtContext(ctx, st), nil
}

func (c conn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	query = c.rebind(query)
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.q.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
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
	query = c.rebind(query)
	st, err := c.stmt(ctx, query)
	if err != nil || st == nil {
		// A statement that does not prepare fails the same way here, and says why.
		return c.q.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (c conn) rows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	query = c.rebind(query)
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.q.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
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
func (s *Store) conn() conn { return conn{q: s.db, d: s.d, stmts: &s.stmts} }

// tx runs fn in a transaction, committing when it returns nil, and translates errors.
func (s *Store) tx(ctx context.Context, fn func(c conn) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.translate(err)
	}
	defer tx.Rollback()
	var events []job.Event
	c := conn{q: tx, tx: tx, d: s.d, stmts: &s.stmts, events: &events}
	err = fn(c)
	if err == nil {
		c.events = nil
		err = s.insertEvents(ctx, c, events)
	}
	if err == nil {
		err = tx.Commit()
	} else {
		tx.Rollback()
	}
	s.stmts.prepareWanted(ctx, s.db)
	return s.translate(err)
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

// maxStmts bounds the prepared statements a store keeps. Queries built with lists of
// values (IN (?, ?, ...)) come in many lengths; past the bound they run unprepared.
const maxStmts = 512

// stmtCache keeps the statements prepared on the database, by query. A statement is
// prepared on the database outside transactions only (inside one, the transaction may
// hold the database's only connection); a query first met in a transaction runs
// unprepared there and is prepared once the transaction ends.
type stmtCache struct {
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	wanted map[string]bool
}

// get returns query's statement, preparing it on db the first time when db is not a
// transaction; nil when it is not prepared (yet, or the cache is full). It never holds
// its lock while preparing: preparing waits for a connection, which a transaction asking
// the cache for a statement may hold.
func (c *stmtCache) get(ctx context.Context, db querier, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.m[query]
	full := len(c.m)+len(c.wanted) >= maxStmts
	_, inTx := db.(*sql.Tx)
	if !ok && !full && inTx {
		c.wanted[query] = true
	}
	c.mu.Unlock()
	if ok || full || inTx {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return c.put(query, st), nil
}

// put keeps st for query, unless another was kept meanwhile: it returns the one kept.
func (c *stmtCache) put(query string, st *sql.Stmt) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if kept, dup := c.m[query]; dup {
		st.Close()
		return kept
	}
	c.m[query] = st
	return st
}

// prepareWanted prepares on db the queries first met in transactions. One that does not
// prepare is left to run unprepared.
func (c *stmtCache) prepareWanted(ctx context.Context, db *sql.DB) {
	c.mu.Lock()
	queries := make([]string, 0, len(c.wanted))
	for q := range c.wanted {
		queries = append(queries, q)
	}
	clear(c.wanted)
	c.mu.Unlock()
	for _, q := range queries {
		if st, err := db.PrepareContext(ctx, q); err == nil {
			c.put(q, st)
		}
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}
