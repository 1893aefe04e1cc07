package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store/postgres/pgtest"
)

// BenchmarkUpload sends one file of DOCKET_BENCH_UPLOAD_MIB MiB (default 300) through the
// API to a server on SQLite and one on PostgreSQL, and reports the throughput and the
// server's peak resident memory: a blob is streamed into the store a chunk at a time,
// never held whole, so the peak stays far below the file's size.
//
//	go test -run '^$' -bench BenchmarkUpload -benchtime 1x ./e2e
func BenchmarkUpload(b *testing.B) {
	mib := benchSize(b, "DOCKET_BENCH_UPLOAD_MIB", 300)
	dir := b.TempDir()
	path := filepath.Join(dir, "big.bin")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, int64(mib)<<20); err != nil {
		b.Fatal(err)
	}
	f.Close()
	file := job.File{Path: "big.bin", SHA256: hex.EncodeToString(h.Sum(nil)), Size: int64(mib) << 20}
	for _, st := range []struct {
		name  string
		flags func() []string
	}{
		{"sqlite", func() []string { return nil }},
		{"postgres", func() []string { return []string{"--database-url", pgtest.URL(b)} }},
	} {
		b.Run(st.name, func(b *testing.B) {
			for range b.N {
				s := startServer(b, filepath.Join(b.TempDir(), "data"), append(st.flags(), "--max-input-file", "1073741824")...)
				_, before := memory(b, s.cmd.Process.Pid)
				c := client.New(s.URL)
				start := time.Now()
				sent, err := c.UploadFile(context.Background(), path, file)
				took := time.Since(start)
				if err != nil || sent != file.Size {
					b.Fatalf("upload: sent %d, %v", sent, err)
				}
				if _, complete, err := c.BlobReceived(context.Background(), file.SHA256); err != nil || !complete {
					b.Fatalf("blob not complete: %v", err)
				}
				_, peak := memory(b, s.cmd.Process.Pid)
				b.ReportMetric(float64(mib)/took.Seconds(), "MB/s")
				b.ReportMetric(peak, "peak-rss-MiB")
				b.ReportMetric(before, "start-rss-MiB")
				s.Stop()
			}
		})
	}
}
