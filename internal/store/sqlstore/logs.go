package sqlstore

import "context"

// logEnd is the byte offset just past a run's stored log.
const logEnd = `COALESCE(MAX(start + LENGTH(data)), 0)`

// LogAppend adds a chunk at the end of a run's log. One writer appends to a run's log at
// a time (the server that follows the run).
func (s *Store) LogAppend(ctx context.Context, runID string, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	_, err := s.conn().exec(ctx, `INSERT INTO logs (run_id, start, data)
		SELECT ?, `+logEnd+`, ? FROM logs WHERE run_id = ?`, runID, data, runID)
	return s.translate(err)
}

// LogSize returns how many bytes of a run's log are stored.
func (s *Store) LogSize(ctx context.Context, runID string) (int64, error) {
	var n int64
	err := s.conn().row(ctx, `SELECT `+logEnd+` FROM logs WHERE run_id = ?`, runID).Scan(&n)
	return n, s.translate(err)
}

// LogRead returns up to limit bytes of a run's log from offset.
func (s *Store) LogRead(ctx context.Context, runID string, offset int64, limit int) ([]byte, error) {
	type chunk struct {
		start int64
		data  []byte
	}
	chunks, err := all(ctx, s.conn(), func(row scanner) (chunk, error) {
		var c chunk
		return c, row.Scan(&c.start, &c.data)
	}, `SELECT start, data FROM logs WHERE run_id = ? AND start + LENGTH(data) > ? AND start < ? ORDER BY start`,
		runID, offset, offset+int64(limit))
	if err != nil {
		return nil, s.translate(err)
	}
	out := []byte{}
	for _, c := range chunks {
		if c.start < offset {
			c.data = c.data[offset-c.start:]
		}
		out = append(out, c.data...)
	}
	return out[:min(len(out), limit)], nil
}
