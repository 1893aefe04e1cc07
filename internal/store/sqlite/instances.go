package sqlite

import (
	"context"
	"time"

	"docket.dev/docket/internal/store"
)

// InstanceBeat records that an instance is alive.
func (s *Store) InstanceBeat(ctx context.Context, id string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO instances (id, beat_at) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET beat_at = excluded.beat_at`, id, ts(now))
	return translate(err)
}

// InstanceList returns every instance with its last beat.
func (s *Store) InstanceList(ctx context.Context) ([]store.Instance, error) {
	return queryAll(ctx, s.db, func(row scanner) (store.Instance, error) {
		var (
			in  store.Instance
			at  string
			err error
		)
		if err = row.Scan(&in.ID, &at); err == nil {
			in.BeatAt, err = parseTS(at)
		}
		return in, err
	}, `SELECT id, beat_at FROM instances ORDER BY id`)
}

// InstanceForget removes an instance's record.
func (s *Store) InstanceForget(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM instances WHERE id = ?`, id)
	return translate(err)
}
