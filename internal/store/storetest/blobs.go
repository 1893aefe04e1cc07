package storetest

import (
	"bytes"
	"context"
	"errors"
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
	if _, err := s.BlobStat(ctx, sha); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("stat of an unknown blob: %v; want not found", err)
	}
	b, err := s.BlobBegin(ctx, sha, 10, t0)
	if err != nil || b.Received != 0 || b.Complete {
		t.Fatalf("begin: %+v %v", b, err)
	}
	// Until it is complete, a blob's size is only what a client said: another size begins
	// it again (what it received dropped), so a wrong size cannot hold the name.
	if _, err := s.BlobAppend(ctx, sha, 0, []byte("hel")); err != nil {
		t.Fatal(err)
	}
	if b, err := s.BlobBegin(ctx, sha, 11, t0); err != nil || b.Size != 11 || b.Received != 0 {
		t.Errorf("begin with another size: %+v %v; want it begun again at 11", b, err)
	}
	if b, err := s.BlobBegin(ctx, sha, 10, t0); err != nil || b.Size != 10 || b.Received != 0 {
		t.Fatalf("begin at 10 again: %+v %v", b, err)
	}
	if chunk, err := s.BlobRead(ctx, sha, 0); err != nil || len(chunk) != 0 {
		t.Errorf("the chunk received before: %q %v; want it dropped", chunk, err)
	}
	if n, err := s.BlobAppend(ctx, sha, 0, []byte("hello")); err != nil || n != 5 {
		t.Fatalf("append: %d %v", n, err)
	}
	if _, err := s.BlobAppend(ctx, sha, 0, []byte("hello")); !errors.Is(err, job.ErrConflict) {
		t.Errorf("append at 0 again: %v; want a conflict", err)
	}
	if _, err := s.BlobAppend(ctx, sha, 5, []byte("world!")); !errors.Is(err, job.ErrConflict) {
		t.Errorf("append past the size: %v; want a conflict", err)
	}
	if err := s.BlobSeal(ctx, sha); !errors.Is(err, job.ErrConflict) {
		t.Errorf("seal of half a blob: %v; want a conflict", err)
	}
	if b, _ := s.BlobBegin(ctx, sha, 10, t0); b.Received != 5 {
		t.Errorf("begin again after 5 bytes: %+v; want them kept, to resume", b)
	}
	if _, err := s.BlobAppend(ctx, sha, 5, []byte("world")); err != nil {
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
	if _, err := s.BlobBegin(ctx, sha, 11, t0); !errors.Is(err, job.ErrConflict) {
		t.Errorf("begin a complete blob with another size: %v; want a conflict", err)
	}

	if _, err := s.BlobBegin(ctx, other, 3, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BlobAppend(ctx, other, 0, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	if err := s.BlobDiscard(ctx, other); err != nil {
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
