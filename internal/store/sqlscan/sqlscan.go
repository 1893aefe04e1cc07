// Package sqlscan reads query results into values, for the database/sql store backends.
package sqlscan

import (
	"context"
	"database/sql"
)

// Scanner is a row to scan: *sql.Row or *sql.Rows.
type Scanner interface{ Scan(dest ...any) error }

// Querier runs queries on a database or in a transaction.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// All runs query and scans every row with scan. Errors are the driver's and scan's own;
// the backend translates them.
func All[T any](ctx context.Context, q Querier, scan func(Scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
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

// InTx runs fn in a transaction of db, committing when fn returns nil and rolling back
// otherwise. Errors are the driver's and fn's own; the backend translates them.
func InTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// String scans a row of one text column.
func String(row Scanner) (string, error) {
	var s string
	return s, row.Scan(&s)
}
