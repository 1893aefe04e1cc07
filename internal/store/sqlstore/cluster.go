package sqlstore

import (
	"context"
	"time"

	"docket.dev/docket/internal/store"
)

// InstanceBeat records that an instance is alive.
func (s *Store) InstanceBeat(ctx context.Context, id string, now time.Time) error {
	_, err := s.conn().exec(ctx, `INSERT INTO instances (id, beat_at) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET beat_at = excluded.beat_at`, id, s.ts(now))
	return s.translate(err)
}

// InstanceList returns every instance with its last beat.
func (s *Store) InstanceList(ctx context.Context) ([]store.Instance, error) {
	ins, err := all(ctx, s.conn(), func(row scanner) (store.Instance, error) {
		var in store.Instance
		return in, row.Scan(&in.ID, timeCol{&in.BeatAt})
	}, `SELECT id, beat_at FROM instances ORDER BY id`)
	return ins, s.translate(err)
}

// InstanceForget removes an instance's record.
func (s *Store) InstanceForget(ctx context.Context, id string) error {
	_, err := s.conn().exec(ctx, `DELETE FROM instances WHERE id = ?`, id)
	return s.translate(err)
}

// LeaseAcquire takes, renews or reads a lease.
func (s *Store) LeaseAcquire(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (store.Lease, error) {
	l := store.Lease{Name: name}
	err := s.tx(ctx, func(c conn) error {
		if _, err := c.exec(ctx, `INSERT INTO leases (name, holder, token, expires_at) VALUES (?, ?, 1, ?)
			ON CONFLICT (name) DO UPDATE SET
				token = CASE WHEN leases.holder = excluded.holder THEN leases.token ELSE leases.token + 1 END,
				holder = excluded.holder, expires_at = excluded.expires_at
			WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`,
			name, holder, s.ts(now.Add(ttl)), s.ts(now)); err != nil {
			return err
		}
		return c.row(ctx, `SELECT holder, token, expires_at FROM leases WHERE name = ?`, name).Scan(&l.Holder, &l.Token, timeCol{&l.ExpiresAt})
	})
	return l, err
}

// LeaseRelease gives a lease up if holder holds it: it expires at the zero time.
func (s *Store) LeaseRelease(ctx context.Context, name, holder string) error {
	_, err := s.conn().exec(ctx, `UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?`, s.ts(time.Time{}), name, holder)
	return s.translate(err)
}

// SettingInit stores a setting unless it is set, and returns the stored value.
func (s *Store) SettingInit(ctx context.Context, name, value string) (string, error) {
	var stored string
	err := s.tx(ctx, func(c conn) error {
		if _, err := c.exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, value); err != nil {
			return err
		}
		return c.row(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&stored)
	})
	return stored, err
}
