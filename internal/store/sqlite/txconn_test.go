package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestTxConn checks the transactions of the prepared BEGIN, COMMIT and ROLLBACK: a commit
// stores, a rollback stores nothing, and a COMMIT that fails (a deferred foreign key)
// leaves the connection out of the transaction, ready for the next.
func TestTxConn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := openDB(filepath.Join(t.TempDir(), "tx.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (p INTEGER REFERENCES p (id))`); err != nil {
		t.Fatal(err)
	}
	write := func(stmts ...string) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatalf("begin: %v", err)
		}
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				tx.Rollback()
				return err
			}
		}
		return tx.Commit()
	}
	count := func() (n int) {
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM p`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := write(`INSERT INTO p VALUES (1)`); err != nil || count() != 1 {
		t.Fatalf("commit: %v, %d rows; want 1", err, count())
	}
	if err := write(`INSERT INTO p VALUES (2)`, `INSERT INTO p VALUES (1)`); err == nil || count() != 1 {
		t.Fatalf("rolled back: %v, %d rows; want an error and 1", err, count())
	}
	err = write(`PRAGMA defer_foreign_keys = ON`, `INSERT INTO p VALUES (3)`, `INSERT INTO c VALUES (99)`)
	if err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Fatalf("commit of a dangling key: %v; want a FOREIGN KEY error", err)
	}
	if err := write(`INSERT INTO p VALUES (4)`); err != nil || count() != 2 {
		t.Fatalf("after a failed commit: %v, %d rows; want 2", err, count())
	}
}
