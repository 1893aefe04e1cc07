package container

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/moby/moby/client"

	"docket.dev/docket/internal/execute"
	"docket.dev/docket/internal/job"
)

// InputsDir is where a container's input files are placed, and its working directory
// when it has any ($DOCKET_INPUTS).
const InputsDir = "/docket/inputs"

// copyInputs streams a run's input files into its created container, as one tar
// archive read from the store a chunk at a time. It returns the file that could not be
// copied, with why.
func (e *Executor) copyInputs(ctx context.Context, cid string, files []job.File) (job.File, error) {
	if e.opts.Blobs == nil {
		return files[0], fmt.Errorf("this server's container executor has no store to read input files from")
	}
	pr, pw := io.Pipe()
	failed := make(chan job.File, 1)
	go func() {
		tw := tar.NewWriter(pw)
		made := map[string]bool{}
		err := func() error {
			for _, f := range files {
				name := strings.TrimPrefix(InputsDir, "/") + "/" + f.Path
				for _, d := range parents(name) {
					if made[d] {
						continue
					}
					made[d] = true
					if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}); err != nil {
						failed <- f
						return err
					}
				}
				mode := int64(f.Mode & 0o777)
				if mode == 0 {
					mode = 0o644
				}
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: f.Size}); err != nil {
					failed <- f
					return err
				}
				n, err := execute.CopyBlob(ctx, e.opts.Blobs, f.SHA256, tw)
				if err == nil && n != f.Size {
					err = fmt.Errorf("the store holds %d of its %d bytes", n, f.Size)
				}
				if err != nil {
					failed <- f
					return err
				}
			}
			return tw.Close()
		}()
		pw.CloseWithError(err)
	}()
	_, err := e.engine.CopyToContainer(ctx, cid, client.CopyToContainerOptions{DestinationPath: "/", Content: pr})
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		select {
		case f := <-failed:
			return f, err
		default:
			return files[0], fmt.Errorf("copy into the container: %w", err)
		}
	}
	return job.File{}, nil
}

// parents lists the folders above name, outermost first.
func parents(name string) []string {
	var out []string
	for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
		out = append([]string{d}, out...)
	}
	return out
}
