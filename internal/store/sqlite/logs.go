package sqlite

import (
	"context"
	"database/sql"
)

// LogAppend adds a chunk at the end of a run's log.
func (s *Store) LogAppend(ctx context.Context, runID string, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO logs (run_id, start, data)
			SELECT ?, COALESCE(MAX(start + length(data)), 0), ? FROM logs WHERE run_id = ?`, runID, data, runID)
		return err
	})
}

// LogSize returns how many bytes of a run's log are stored.
func (s *Store) LogSize(ctx context.Context, runID string) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(start + length(data)), 0) FROM logs WHERE run_id = ?`, runID).Scan(&n)
	return n, translate(err)
}

// LogRead returns up to limit bytes of a run's log from offset.
func (s *Store) LogRead(ctx context.Context, runID string, offset int64, limit int) ([]byte, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT start, data FROM logs
		WHERE run_id = ? AND start + length(data) > ? AND start < ? ORDER BY start`, runID, offset, offset+int64(limit))
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []byte{}
	for rows.Next() {
		var (
			start int64
			data  []byte
		)
		if err := rows.Scan(&start, &data); err != nil {
			return nil, translate(err)
		}
		if start < offset {
			data = data[offset-start:]
		}
		out = append(out, data...)
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, translate(rows.Err())
}
