package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"
)

// modernc's driver prepares BEGIN, COMMIT and ROLLBACK afresh for every transaction, and
// a store's write is a transaction: parsing and freeing the two statements came to about
// 2 % of a busy server's CPU. connector hands database/sql connections whose three
// statements are prepared once, when the connection opens, and run again for each
// transaction. Everything else goes to the driver's own connection as it is.

// connector opens the driver's connections, each wrapped in a txConn.
type connector struct{ driver.Connector }

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	inner, ok := dc.(innerConn)
	if !ok {
		return dc, nil // a driver without what txConn forwards: its own transactions, then
	}
	t := &txConn{innerConn: inner}
	for _, s := range []struct {
		to  *execStmt
		sql string
	}{{&t.begin, "BEGIN IMMEDIATE"}, {&t.commit, "COMMIT"}, {&t.rollback, "ROLLBACK"}} {
		st, err := inner.PrepareContext(ctx, s.sql)
		if err != nil {
			t.Close()
			return nil, err
		}
		if *s.to, ok = st.(execStmt); !ok {
			st.Close()
			t.Close()
			return nil, fmt.Errorf("sqlite: the driver's statements take no context")
		}
	}
	return t, nil
}

// innerConn is what database/sql uses of the driver's connection, and txConn forwards.
type innerConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// txConn is a connection whose transactions run its prepared statements. A transaction is
// IMMEDIATE, as the store asks of every SQLite transaction (_txlock): it takes the write
// lock at BEGIN, so it never fails on the lock halfway. A read-only one is left to the
// driver.
type txConn struct {
	innerConn
	begin, commit, rollback execStmt
}

// execStmt is a prepared statement that runs with a context.
type execStmt interface {
	driver.Stmt
	driver.StmtExecContext
}

func (c *txConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if opts.ReadOnly || opts.Isolation != driver.IsolationLevel(0) {
		return c.innerConn.BeginTx(ctx, opts)
	}
	if err := c.run(ctx, c.begin); err != nil {
		return nil, err
	}
	return &tx{c: c, ctx: ctx}, nil
}

func (c *txConn) Close() error {
	for _, s := range []execStmt{c.begin, c.commit, c.rollback} {
		if s != nil {
			s.Close()
		}
	}
	return c.innerConn.Close()
}

func (c *txConn) run(ctx context.Context, s execStmt) error {
	_, err := s.ExecContext(ctx, nil)
	return err
}

// tx is a transaction of a txConn. ctx, BeginTx's, is in use until the transaction ends,
// as database/sql documents: a COMMIT waiting for a lock gives up when it is done.
type tx struct {
	c   *txConn
	ctx context.Context
}

// Commit commits. A COMMIT that fails may leave the transaction open (SQLITE_BUSY, say),
// where database/sql expects the connection clean: it is rolled back, and a rollback that
// finds no transaction open (the COMMIT's failure ended it) changes nothing.
func (t *tx) Commit() error {
	err := t.c.run(t.ctx, t.c.commit)
	if err != nil {
		t.c.run(context.Background(), t.c.rollback)
	}
	return err
}

func (t *tx) Rollback() error {
	return t.c.run(context.Background(), t.c.rollback)
}
