package sqlite

import (
	"context"
	"database/sql"
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

// LeaseAcquire takes, renews or reads a lease.
func (s *Store) LeaseAcquire(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (store.Lease, error) {
	l := store.Lease{Name: name}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO leases (name, holder, token, expires_at) VALUES (?, ?, 1, ?)
			ON CONFLICT (name) DO UPDATE SET
				token = CASE WHEN leases.holder = excluded.holder THEN leases.token ELSE leases.token + 1 END,
				holder = excluded.holder, expires_at = excluded.expires_at
			WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`,
			name, holder, ts(now.Add(ttl)), ts(now)); err != nil {
			return err
		}
		var expires string
		if err := tx.QueryRowContext(ctx, `SELECT holder, token, expires_at FROM leases WHERE name = ?`, name).Scan(&l.Holder, &l.Token, &expires); err != nil {
			return err
		}
		var err error
		l.ExpiresAt, err = parseTS(expires)
		return err
	})
	return l, err
}

// LeaseRelease gives a lease up if holder holds it.
func (s *Store) LeaseRelease(ctx context.Context, name, holder string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?`, ts(time.Time{}), name, holder)
	return translate(err)
}
