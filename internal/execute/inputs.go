package execute

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"docket.dev/docket/internal/job"
)

// BlobReader reads a blob chunk by chunk (the store).
type BlobReader interface {
	BlobRead(ctx context.Context, sha256 string, offset int64) ([]byte, error)
}

// InputsUnavailable is the final update of a run whose input file could not be placed.
func InputsUnavailable(runID string, f job.File, err error) job.Update {
	return job.Update{RunID: runID, State: job.StateFailed, Reason: job.ReasonInputsUnavailable,
		Message: fmt.Sprintf("input file %s could not be placed: %v", f.Path, err)}
}

// PlaceInputs writes each input file under dir, streaming its blob a chunk at a time. A
// path that would leave dir is refused (the API refuses them already; this holds even
// for what the store holds). It returns the file that could not be placed, with why.
func PlaceInputs(ctx context.Context, blobs BlobReader, dir string, files []job.File) (job.File, error) {
	for _, f := range files {
		if err := placeOne(ctx, blobs, dir, f); err != nil {
			return f, err
		}
	}
	return job.File{}, nil
}

func placeOne(ctx context.Context, blobs BlobReader, dir string, f job.File) error {
	return PlaceFile(dir, f, "the store holds", func(w io.Writer) (int64, error) { return CopyBlob(ctx, blobs, f.SHA256, w) })
}

// PlaceFile writes one input file under dir, at its path and with its mode, its bytes
// from write; a path that would leave dir is refused, and so is a file whose bytes fall
// short of its size ("<from> N of its M bytes").
func PlaceFile(dir string, f job.File, from string, write func(io.Writer) (int64, error)) error {
	dst := filepath.Join(dir, filepath.FromSlash(f.Path))
	if rel, err := filepath.Rel(dir, dst); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(f.Path) {
		return fmt.Errorf("the path leaves the working directory")
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	mode := os.FileMode(f.Mode & 0o777)
	if mode == 0 {
		mode = 0o644
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	n, err := write(out)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != f.Size {
		err = fmt.Errorf("%s %d of its %d bytes", from, n, f.Size)
	}
	return err
}

// CopyBlob writes a blob's bytes to w, chunk by chunk, and returns how many it wrote.
func CopyBlob(ctx context.Context, blobs BlobReader, sha string, w io.Writer) (int64, error) {
	var off int64
	for {
		chunk, err := blobs.BlobRead(ctx, sha, off)
		if err != nil {
			return off, err
		}
		if len(chunk) == 0 {
			return off, nil
		}
		if _, err := w.Write(chunk); err != nil {
			return off, err
		}
		off += int64(len(chunk))
	}
}
