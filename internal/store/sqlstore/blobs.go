package sqlstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// BlobStat reads a blob's row.
func (s *Store) BlobStat(ctx context.Context, sha string) (store.Blob, error) {
	b := store.Blob{SHA256: sha}
	err := s.conn().row(ctx, `SELECT size, received, complete FROM blobs WHERE sha256 = ?`, sha).Scan(&b.Size, &b.Received, &b.Complete)
	return b, s.translate(err)
}

// BlobBegin inserts a blob's row unless there is one. A blob not complete of another size
// is begun again at this one: until its bytes match its name, its size is only what a
// client said, and one that said wrong (or sent nothing) must not hold the name. Only its
// owner may do that, or anyone once it has been still for store.BlobIdle: no one can reset
// or hold up another's upload in progress. A blob begun or begun again counts against its
// owner's up.MaxHeld.
func (s *Store) BlobBegin(ctx context.Context, up store.Upload, size int64, now time.Time) (store.Blob, error) {
	b := store.Blob{SHA256: up.SHA256}
	err := s.tx(ctx, func(c conn) error {
		// A prune may delete the row the insert found before it is read: insert again.
		for range 3 {
			made, err := c.execN(ctx, `INSERT INTO blobs (sha256, size, received, complete, created_at, owner, touched_at) VALUES (?, ?, 0, ?, ?, ?, ?)
				ON CONFLICT (sha256) DO NOTHING`, up.SHA256, size, false, s.ts(now), up.Owner, s.ts(now))
			if err != nil {
				return err
			}
			if made == 1 {
				b.Size = size
				return hold(ctx, c, up.Owner, size, up.MaxHeld)
			}
			err = s.beginStored(ctx, c, up, size, now, &b)
			if !isNoRows(err) {
				return err
			}
		}
		return fmt.Errorf("%w: blob %s was deleted three times as it was begun", job.ErrConflict, up.SHA256)
	})
	return b, err
}

// beginStored is BlobBegin of a blob that has a row, b filled in from it.
func (s *Store) beginStored(ctx context.Context, c conn, up store.Upload, size int64, now time.Time, b *store.Blob) error {
	// Locked where rows are: a seal cannot come between this read and the new start.
	var owner string
	var still, named bool
	if err := c.row(ctx, `SELECT size, received, complete, owner, touched_at < ?, named FROM blobs WHERE sha256 = ?`+s.d.LockRows(),
		s.ts(now.Add(-store.BlobIdle)), up.SHA256).Scan(&b.Size, &b.Received, &b.Complete, &owner, &still, &named); err != nil {
		return err
	}
	mine := owner == up.Owner
	switch {
	case b.Complete && b.Size == size, !b.Complete && mine && b.Size == size:
		return nil
	case b.Complete:
		return fmt.Errorf("%w: blob %s is %d bytes, not %d", job.ErrConflict, up.SHA256, b.Size, size)
	case !mine && !still:
		return store.ErrBlobBusy
	}
	// Begun again, at its new size, by its owner or the next: held by them at that size
	// (unless a run names it already). Two owners' rows are taken in name order, as
	// RunFilesPut takes them.
	if !named {
		changes := []struct {
			owner        string
			delta, limit int64
		}{{owner, -b.Size, 0}, {up.Owner, size, up.MaxHeld}}
		if owner > up.Owner {
			changes[0], changes[1] = changes[1], changes[0]
		}
		for _, ch := range changes {
			if err := hold(ctx, c, ch.owner, ch.delta, ch.limit); err != nil {
				return err
			}
		}
	}
	if _, err := c.exec(ctx, `UPDATE blobs SET size = ?, received = 0, owner = ?, touched_at = ? WHERE sha256 = ? AND NOT complete`,
		size, up.Owner, s.ts(now), up.SHA256); err != nil {
		return err
	}
	b.Size, b.Received = size, 0
	_, err := c.exec(ctx, `DELETE FROM blob_chunks WHERE sha256 = ?`, up.SHA256)
	return err
}

// hold adds delta bytes to what owner holds of blobs no run's file has named (their sizes
// as begun), kept per owner in blob_senders so that a begin reads one row however many
// uploads are piled up. A growth past limit (0: none) is store.ErrBlobHeld; the caller's
// transaction then undoes it. An owner who holds nothing has no row.
func hold(ctx context.Context, c conn, owner string, delta, limit int64) error {
	if delta == 0 {
		return nil
	}
	// One statement: a row another transaction deletes meanwhile is made again.
	var held int64
	if err := c.row(ctx, `INSERT INTO blob_senders (owner, held) VALUES (?, ?)
		ON CONFLICT (owner) DO UPDATE SET held = blob_senders.held + excluded.held RETURNING held`, owner, delta).Scan(&held); err != nil {
		return err
	}
	switch {
	case delta > 0 && limit > 0 && held > limit:
		return fmt.Errorf("%w: %d bytes of files no run names yet, %d with this one; at most %d", store.ErrBlobHeld, held-delta, held, limit)
	case held <= 0:
		_, err := c.exec(ctx, `DELETE FROM blob_senders WHERE owner = ?`, owner)
		return err
	}
	return nil
}

// BlobAppend stores a chunk at the end of what the blob received from its owner, guarded
// on that end.
func (s *Store) BlobAppend(ctx context.Context, up store.Upload, offset int64, data []byte, now time.Time) (int64, error) {
	err := s.tx(ctx, func(c conn) error {
		n, err := c.execN(ctx, `UPDATE blobs SET received = received + ?, touched_at = ?
			WHERE sha256 = ? AND owner = ? AND received = ? AND NOT complete AND received + ? <= size`,
			int64(len(data)), s.ts(now), up.SHA256, up.Owner, offset, int64(len(data)))
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: blob %s has not received exactly %d bytes from this client, or would grow past its size", job.ErrConflict, up.SHA256, offset)
		}
		_, err = c.exec(ctx, `INSERT INTO blob_chunks (sha256, start, data) VALUES (?, ?, ?)`, up.SHA256, offset, data)
		return err
	})
	return offset + int64(len(data)), err
}

// BlobSeal marks a blob complete.
func (s *Store) BlobSeal(ctx context.Context, sha string) error {
	n, err := s.conn().execN(ctx, `UPDATE blobs SET complete = ? WHERE sha256 = ? AND received = size`, true, sha)
	if err == nil && n == 0 {
		err = fmt.Errorf("%w: blob %s is not all received", job.ErrConflict, sha)
	}
	return s.translate(err)
}

// BlobDiscard drops what a blob that is not complete received from its owner.
func (s *Store) BlobDiscard(ctx context.Context, up store.Upload) error {
	return s.tx(ctx, func(c conn) error {
		n, err := c.execN(ctx, `UPDATE blobs SET received = 0 WHERE sha256 = ? AND owner = ? AND NOT complete`, up.SHA256, up.Owner)
		if err != nil || n == 0 {
			return err
		}
		_, err = c.exec(ctx, `DELETE FROM blob_chunks WHERE sha256 = ?`, up.SHA256)
		return err
	})
}

// BlobRead reads the chunk that starts at offset.
func (s *Store) BlobRead(ctx context.Context, sha string, offset int64) ([]byte, error) {
	var data []byte
	err := s.conn().row(ctx, `SELECT data FROM blob_chunks WHERE sha256 = ? AND start = ?`, sha, offset).Scan(&data)
	if isNoRows(err) {
		return []byte{}, nil
	}
	return data, s.translate(err)
}

// BlobPrune deletes blobs no run file names.
func (s *Store) BlobPrune(ctx context.Context, before time.Time, limit int) (int, error) {
	shas, err := all(ctx, s.conn(), scanString, `SELECT sha256 FROM blobs b WHERE created_at < ?
		AND NOT EXISTS (SELECT 1 FROM run_files f WHERE f.sha256 = b.sha256) ORDER BY created_at LIMIT ?`, s.ts(before), limit)
	if err != nil {
		return 0, s.translate(err)
	}
	deleted := 0
	for _, sha := range shas {
		err := s.tx(ctx, func(c conn) error {
			// A run may have named the blob since it was read.
			var owner string
			var size int64
			var named bool
			err := c.row(ctx, `DELETE FROM blobs WHERE sha256 = ? AND NOT EXISTS (SELECT 1 FROM run_files f WHERE f.sha256 = ?)
				RETURNING owner, size, named`, sha, sha).Scan(&owner, &size, &named)
			if isNoRows(err) {
				return nil
			}
			if err != nil {
				return err
			}
			deleted++
			if !named {
				if err := hold(ctx, c, owner, -size, 0); err != nil {
					return err
				}
			}
			_, err = c.exec(ctx, `DELETE FROM blob_chunks WHERE sha256 = ?`, sha)
			return err
		})
		if err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// RunFilesPut upserts runs' files, and marks the blobs they name as named: no longer held
// by their senders (in owner order, the order every transaction takes their rows in).
func (s *Store) RunFilesPut(ctx context.Context, kind string, files map[string][]job.File, now time.Time) error {
	var rows [][]any
	blobs := map[string]bool{}
	for runID, fs := range files {
		at := map[string]int{} // a path named twice for a run: the last one wins
		for _, f := range fs {
			blobs[f.SHA256] = true
			row := []any{runID, kind, f.Path, f.SHA256, f.Size, int64(f.Mode), s.ts(now)}
			if i, dup := at[f.Path]; dup {
				rows[i] = row
				continue
			}
			at[f.Path] = len(rows)
			rows = append(rows, row)
		}
	}
	return s.tx(ctx, func(c conn) error {
		if err := writeFiles(ctx, c, rows, `ON CONFLICT (run_id, kind, path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, mode = excluded.mode`); err != nil {
			return err
		}
		freed := map[string]int64{}
		for part := range slices.Chunk(slices.Sorted(maps.Keys(blobs)), 32766-1) { // SQLite's limit on parameters
			list, args := in(part)
			named, err := all(ctx, c, scanOwned, `UPDATE blobs SET named = ? WHERE NOT named AND sha256 IN `+list+` RETURNING owner, size`,
				append([]any{true}, args...)...)
			if err != nil {
				return err
			}
			for _, b := range named {
				freed[b.owner] += b.size
			}
		}
		for _, owner := range slices.Sorted(maps.Keys(freed)) {
			if err := hold(ctx, c, owner, -freed[owner], 0); err != nil {
				return err
			}
		}
		return nil
	})
}

// owned is a blob's owner and size.
type owned struct {
	owner string
	size  int64
}

func scanOwned(row scanner) (owned, error) {
	var o owned
	err := row.Scan(&o.owner, &o.size)
	return o, err
}

// writeFiles inserts rows of run_files (run_id, kind, path, sha256, size, mode,
// created_at), many a statement.
func writeFiles(ctx context.Context, c conn, rows [][]any, onConflict string) error {
	const perStatement = 32766 / 7 // SQLite's limit on parameters, 7 a row
	for part := range slices.Chunk(rows, perStatement) {
		var q strings.Builder
		q.WriteString(`INSERT INTO run_files (run_id, kind, path, sha256, size, mode, created_at) VALUES `)
		args := make([]any, 0, len(part)*7)
		for i, row := range part {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(rowParams(7))
			args = append(args, row...)
		}
		if _, err := c.exec(ctx, q.String()+" "+onConflict, args...); err != nil {
			return err
		}
	}
	return nil
}

// fileColumns are what scanFile reads, the run's id first.
const fileColumns = `run_id, path, sha256, size, mode`

type runFile struct {
	run  string
	file job.File
}

func scanFile(row scanner) (runFile, error) {
	var (
		rf   runFile
		mode int64
	)
	err := row.Scan(&rf.run, &rf.file.Path, &rf.file.SHA256, &rf.file.Size, &mode)
	rf.file.Mode = uint32(mode)
	return rf, err
}

// RunFiles reads a run's files of kind.
func (s *Store) RunFiles(ctx context.Context, runID, kind string) ([]job.File, error) {
	rows, err := all(ctx, s.conn(), scanFile, `SELECT `+fileColumns+` FROM run_files WHERE run_id = ? AND kind = ? ORDER BY path`, runID, kind)
	if err != nil {
		return nil, s.translate(err)
	}
	files := make([]job.File, len(rows))
	for i, rf := range rows {
		files[i] = rf.file
	}
	return files, nil
}

// RunFilesOf reads the files of kind of several runs in one query.
func (s *Store) RunFilesOf(ctx context.Context, kind string, runs []string) (map[string][]job.File, error) {
	out := map[string][]job.File{}
	if len(runs) == 0 {
		return out, nil
	}
	list, args := in(runs)
	rows, err := all(ctx, s.conn(), scanFile, `SELECT `+fileColumns+` FROM run_files WHERE kind = ? AND run_id IN `+list+` ORDER BY run_id, path`,
		append([]any{kind}, args...)...)
	if err != nil {
		return nil, s.translate(err)
	}
	for _, rf := range rows {
		out[rf.run] = append(out[rf.run], rf.file)
	}
	return out, nil
}
