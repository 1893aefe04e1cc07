package postgres

import (
	"context"
	"time"

	"docket.dev/docket/internal/store"
)

// InstanceBeat records that an instance is alive.
func (s *Store) InstanceBeat(ctx context.Context, id string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO instances (id, beat_at) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET beat_at = excluded.beat_at`, id, ts(now))
	return translate(err)
}

// InstanceList returns every instance with its last beat.
func (s *Store) InstanceList(ctx context.Context) ([]store.Instance, error) {
	return queryAll(ctx, s.db, func(row scanner) (store.Instance, error) {
		var in store.Instance
		err := row.Scan(&in.ID, &in.BeatAt)
		in.BeatAt = in.BeatAt.UTC()
		return in, err
	}, `SELECT id, beat_at FROM instances ORDER BY id`)
}

// InstanceForget removes an instance's record.
func (s *Store) InstanceForget(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM instances WHERE id = $1`, id)
	return translate(err)
}
