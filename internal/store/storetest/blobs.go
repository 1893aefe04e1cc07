package storetest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// testBlobs: a blob is stored chunk by chunk, only at the end of what it received (an
// upload cut off resumes there; a repeated chunk is refused), read back chunk by chunk,
// sealed once all arrived; the files of a run name blobs, and retention deletes only the
// blobs no run names, once their grace is over.
func testBlobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	const sha, other = "aa11", "bb22"
	up, upOther := store.Upload{SHA256: sha, Owner: "ana"}, store.Upload{SHA256: other, Owner: "ana"}
	if _, err := s.BlobStat(ctx, sha); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("stat of an unknown blob: %v; want not found", err)
	}
	b, err := s.BlobBegin(ctx, up, 10, t0)
	if err != nil || b.Received != 0 || b.Complete {
		t.Fatalf("begin: %+v %v", b, err)
	}
	// Until it is complete, a blob's size is only what a client said: another size begins
	// it again (what it received dropped), so a wrong size cannot hold the name.
	if _, err := s.BlobAppend(ctx, up, 0, []byte("hel"), t0); err != nil {
		t.Fatal(err)
	}
	if b, err := s.BlobBegin(ctx, up, 11, t0); err != nil || b.Size != 11 || b.Received != 0 {
		t.Errorf("begin with another size: %+v %v; want it begun again at 11", b, err)
	}
	if b, err := s.BlobBegin(ctx, up, 10, t0); err != nil || b.Size != 10 || b.Received != 0 {
		t.Fatalf("begin at 10 again: %+v %v", b, err)
	}
	if chunk, err := s.BlobRead(ctx, sha, 0); err != nil || len(chunk) != 0 {
		t.Errorf("the chunk received before: %q %v; want it dropped", chunk, err)
	}
	if n, err := s.BlobAppend(ctx, up, 0, []byte("hello"), t0); err != nil || n != 5 {
		t.Fatalf("append: %d %v", n, err)
	}
	if _, err := s.BlobAppend(ctx, up, 0, []byte("hello"), t0); !errors.Is(err, job.ErrConflict) {
		t.Errorf("append at 0 again: %v; want a conflict", err)
	}
	if _, err := s.BlobAppend(ctx, up, 5, []byte("world!"), t0); !errors.Is(err, job.ErrConflict) {
		t.Errorf("append past the size: %v; want a conflict", err)
	}
	if err := s.BlobSeal(ctx, sha); !errors.Is(err, job.ErrConflict) {
		t.Errorf("seal of half a blob: %v; want a conflict", err)
	}
	if b, _ := s.BlobBegin(ctx, up, 10, t0); b.Received != 5 {
		t.Errorf("begin again after 5 bytes: %+v; want them kept, to resume", b)
	}
	if _, err := s.BlobAppend(ctx, up, 5, []byte("world"), t0); err != nil {
		t.Fatal(err)
	}
	if err := s.BlobSeal(ctx, sha); err != nil {
		t.Fatal(err)
	}
	var all []byte
	for off := int64(0); ; {
		chunk, err := s.BlobRead(ctx, sha, off)
		if err != nil {
			t.Fatal(err)
		}
		if len(chunk) == 0 {
			break
		}
		all, off = append(all, chunk...), off+int64(len(chunk))
	}
	if !bytes.Equal(all, []byte("helloworld")) {
		t.Errorf("read back %q", all)
	}
	if b, _ := s.BlobStat(ctx, sha); !b.Complete || b.Received != 10 {
		t.Errorf("stat after seal: %+v", b)
	}
	if _, err := s.BlobBegin(ctx, up, 11, t0); !errors.Is(err, job.ErrConflict) {
		t.Errorf("begin a complete blob with another size: %v; want a conflict", err)
	}

	if _, err := s.BlobBegin(ctx, upOther, 3, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BlobAppend(ctx, upOther, 0, []byte("abc"), t0); err != nil {
		t.Fatal(err)
	}
	if err := s.BlobDiscard(ctx, upOther); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.BlobStat(ctx, other); b.Received != 0 {
		t.Errorf("after discard: %+v; want nothing received", b)
	}

	files := []job.File{{Path: "src/main.py", SHA256: sha, Size: 10, Mode: 0o644}}
	if err := s.RunFilesPut(ctx, store.FileInput, map[string][]job.File{"run-1": files, "run-2": files[:1]}, t0); err != nil {
		t.Fatal(err)
	}
	got, err := s.RunFiles(ctx, "run-1", store.FileInput)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(files, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	of, err := s.RunFilesOf(ctx, store.FileInput, []string{"run-1", "run-2", "run-3"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]job.File{"run-1": files, "run-2": files}, of); diff != "" {
		t.Errorf("files of several runs (-want +got):\n%s", diff)
	}
	if none, _ := s.RunFiles(ctx, "run-1", store.FileOutput); len(none) != 0 {
		t.Errorf("outputs: %v; want none", none)
	}
	if n, err := s.BlobPrune(ctx, t0, 10); err != nil || n != 0 {
		t.Errorf("prune within the grace: %d %v; want nothing", n, err)
	}
	if n, err := s.BlobPrune(ctx, t0.Add(time.Hour), 10); err != nil || n != 1 {
		t.Errorf("prune: %d %v; want the blob no run names", n, err)
	}
	if _, err := s.BlobStat(ctx, other); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("pruned blob: %v; want it gone", err)
	}
	if _, err := s.BlobStat(ctx, sha); err != nil {
		t.Errorf("named blob: %v; want it kept", err)
	}
}

// testBlobOwners: a blob being sent is its sender's. Another sender may not begin it again
// (at its size or another), append to it or drop what it received while bytes keep
// arriving; once none has for store.BlobIdle, the next sender begins it again as theirs.
// Complete, a blob is everyone's.
func testBlobOwners(t *testing.T, s store.Store) {
	ctx := context.Background()
	const sha = "cc33"
	ana, bo := store.Upload{SHA256: sha, Owner: "ana"}, store.Upload{SHA256: sha, Owner: "bo"}
	if _, err := s.BlobBegin(ctx, ana, 6, t0); err != nil {
		t.Fatal(err)
	}
	last := t0.Add(time.Minute)
	if _, err := s.BlobAppend(ctx, ana, 0, []byte("abc"), last); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{6, 7} {
		if b, err := s.BlobBegin(ctx, bo, size, last.Add(store.BlobIdle-time.Second)); !errors.Is(err, store.ErrBlobBusy) || b.Received != 3 || b.Size != 6 {
			t.Errorf("another sender begins it at %d: %+v %v; want busy, as it stands (3 of 6)", size, b, err)
		}
	}
	if _, err := s.BlobAppend(ctx, bo, 3, []byte("xyz"), last); !errors.Is(err, job.ErrConflict) {
		t.Errorf("another sender appends: %v; want a conflict", err)
	}
	if err := s.BlobDiscard(ctx, bo); err != nil {
		t.Fatal(err)
	}
	if b, err := s.BlobBegin(ctx, ana, 6, last); err != nil || b.Received != 3 {
		t.Errorf("its sender resumes after the others tried: %+v %v; want its 3 bytes", b, err)
	}

	// Still for BlobIdle since its last bytes (not since it began): the next sender's.
	b, err := s.BlobBegin(ctx, bo, 6, last.Add(store.BlobIdle+time.Second))
	if err != nil || b.Received != 0 || b.Size != 6 {
		t.Fatalf("another sender after it was still: %+v %v; want it begun again, empty", b, err)
	}
	if chunk, _ := s.BlobRead(ctx, sha, 0); len(chunk) != 0 {
		t.Errorf("the first sender's bytes: %q; want them dropped", chunk)
	}
	if _, err := s.BlobAppend(ctx, ana, 3, []byte("def"), last); !errors.Is(err, job.ErrConflict) {
		t.Errorf("the first sender appends after losing it: %v; want a conflict", err)
	}
	if _, err := s.BlobAppend(ctx, bo, 0, []byte("abcdef"), last); err != nil {
		t.Fatal(err)
	}
	if err := s.BlobSeal(ctx, sha); err != nil {
		t.Fatal(err)
	}
	if b, err := s.BlobBegin(ctx, ana, 6, last); err != nil || !b.Complete {
		t.Errorf("a complete blob, to another sender: %+v %v; want it complete", b, err)
	}
	if err := s.BlobDiscard(ctx, ana); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.BlobStat(ctx, sha); !b.Complete || b.Received != 6 {
		t.Errorf("after another's discard: %+v; want it complete", b)
	}
}

// testBlobHeld: a sender may hold at most Upload.MaxHeld bytes of blobs no run names,
// those in progress included. A blob past it is refused and nothing is stored; what a run
// names, and what another sender holds, does not count; a blob begun again at another
// size counts at that size, once; a blob pruned is no longer held; one another sender
// begins again after it was still is held by them, not by the first.
func testBlobHeld(t *testing.T, s store.Store) {
	ctx := context.Background()
	ana := func(sha string) store.Upload { return store.Upload{SHA256: sha, Owner: "ana", MaxHeld: 10} }
	if _, err := s.BlobBegin(ctx, ana("dd01"), 6, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BlobBegin(ctx, ana("dd02"), 5, t0); !errors.Is(err, store.ErrBlobHeld) {
		t.Errorf("6 + 5 bytes of 10: %v; want held", err)
	}
	if _, err := s.BlobStat(ctx, "dd02"); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("the blob refused: %v; want nothing stored", err)
	}
	if _, err := s.BlobBegin(ctx, store.Upload{SHA256: "dd02", Owner: "bo", MaxHeld: 10}, 5, t0); err != nil {
		t.Errorf("another sender's 5 bytes: %v; want them, ana's do not count", err)
	}
	if b, err := s.BlobBegin(ctx, ana("dd01"), 10, t0); err != nil || b.Size != 10 {
		t.Errorf("begun again at 10 bytes: %+v %v; want it, counted once", b, err)
	}
	if b, err := s.BlobBegin(ctx, ana("dd01"), 11, t0); !errors.Is(err, store.ErrBlobHeld) || b.Size != 10 {
		t.Errorf("begun again at 11 bytes: %+v %v; want held, still 10", b, err)
	}
	if err := s.RunFilesPut(ctx, store.FileInput, map[string][]job.File{"run-1": {{Path: "a", SHA256: "dd01", Size: 10}}}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BlobBegin(ctx, ana("dd03"), 10, t0); err != nil {
		t.Errorf("10 bytes once a run names the first blob: %v; want them", err)
	}
	if n, err := s.BlobPrune(ctx, t0.Add(time.Hour), 10); err != nil || n != 2 {
		t.Fatalf("prune: %d %v; want the two blobs no run names", n, err)
	}
	if _, err := s.BlobBegin(ctx, ana("dd04"), 4, t0.Add(time.Hour)); err != nil {
		t.Errorf("4 bytes once ana's 10 were pruned: %v; want them", err)
	}

	later := t0.Add(time.Hour + store.BlobIdle + time.Second)
	bo := func(sha string) store.Upload { return store.Upload{SHA256: sha, Owner: "bo", MaxHeld: 10} }
	if _, err := s.BlobBegin(ctx, bo("dd04"), 6, later); err != nil {
		t.Fatalf("bo begins ana's upload once it was still: %v", err)
	}
	if _, err := s.BlobBegin(ctx, ana("dd05"), 10, later); err != nil {
		t.Errorf("10 bytes once bo began ana's 4 again: %v; want them, ana holds nothing", err)
	}
	if _, err := s.BlobBegin(ctx, bo("dd06"), 5, later); !errors.Is(err, store.ErrBlobHeld) {
		t.Errorf("5 bytes beside the 6 bo took over: %v; want held", err)
	}
}

// testBlobSenders begins, names and prunes blobs of three senders from eight goroutines at
// once, each begin of another's upload a takeover: none of it deadlocks, and what each
// sender holds (the table blob_senders, read through the store's database) is then the
// sum of its blobs no run names.
func testBlobSenders(t *testing.T, st store.Store) {
	ctx := context.Background()
	s, ok := st.(interface {
		store.Store
		DB() *sql.DB
	})
	if !ok {
		t.Skip("the store has no SQL database to read what senders hold from")
	}
	var (
		wg   sync.WaitGroup
		step atomic.Int64
	)
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(g), 1))
			sha := func() string { return fmt.Sprintf("%064x", rnd.IntN(12)) }
			for range 60 {
				n := step.Add(1)
				now := t0.Add(time.Duration(n) * 2 * store.BlobIdle)
				var (
					err  error
					what string
				)
				switch op := rnd.IntN(8); {
				case op < 5:
					up := store.Upload{SHA256: sha(), Owner: string(rune('a' + rnd.IntN(3))), MaxHeld: 12}
					what = "begin " + up.Owner
					_, err = s.BlobBegin(ctx, up, int64(1+rnd.IntN(5)), now)
				case op < 7:
					what = "name"
					files := []job.File{{Path: "a", SHA256: sha(), Size: 1}, {Path: "b", SHA256: sha(), Size: 1}}
					err = s.RunFilesPut(ctx, store.FileInput, map[string][]job.File{fmt.Sprintf("run-%d", n): files}, now)
				default:
					what = "prune"
					_, err = s.BlobPrune(ctx, now, 5)
				}
				if err != nil && !errors.Is(err, store.ErrBlobHeld) && !errors.Is(err, job.ErrConflict) {
					errs <- fmt.Errorf("%s: %w", what, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	read := func(q string) map[string]int64 {
		rows, err := s.DB().QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		m := map[string]int64{}
		for rows.Next() {
			var owner string
			var held int64
			if err := rows.Scan(&owner, &held); err != nil {
				t.Fatal(err)
			}
			m[owner] = held
		}
		return m
	}
	kept := read(`SELECT owner, held FROM blob_senders`)
	if diff := cmp.Diff(read(`SELECT owner, SUM(size) FROM blobs WHERE NOT named GROUP BY owner`), kept); diff != "" {
		t.Errorf("held by each sender (-summed +kept):\n%s", diff)
	}
}
