// Package enginetest gives tests a real container engine and the test job image. The
// engine is the one DOCKER_HOST names (scripts/podman starts one); without it the tests
// that need it are skipped, unless DOCKET_TEST_CONTAINER=require, as in CI, which turns the
// skip into a failure.
package enginetest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// Engine returns a client for the container engine under test.
func Engine(t testing.TB) *client.Client {
	t.Helper()
	if os.Getenv("DOCKER_HOST") == "" {
		missing(t, "DOCKER_HOST is not set; scripts/podman start DIR starts an engine")
	}
	c, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("container engine client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		missing(t, fmt.Sprintf("the container engine at %s does not answer: %v", os.Getenv("DOCKER_HOST"), err))
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("DOCKET_TEST_CONTAINER") == "require" {
		t.Fatalf("a container engine is required (DOCKET_TEST_CONTAINER=require): %s", why)
	}
	t.Skip(why)
}

var build struct {
	sync.Mutex
	binary string
	image  string
}

// TestJob compiles the test job program (internal/testjob) as a static binary, once per
// test process, and returns its path.
func TestJob(t testing.TB) string {
	t.Helper()
	build.Lock()
	defer build.Unlock()
	if build.binary != "" {
		return build.binary
	}
	dir, err := os.MkdirTemp("", "docket-testjob-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "testjob")
	cmd := exec.Command(goTool(), "build", "-trimpath", "-o", bin, "docket.dev/docket/internal/testjob")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build testjob: %v\n%s", err, out)
	}
	build.binary = bin
	return bin
}

// goTool is the go command of the toolchain running the tests.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// JobImage builds an image FROM scratch holding the test job at /usr/local/bin/testjob,
// once per test process (and not at all when the engine has it already), and returns its
// reference.
func JobImage(t testing.TB, c *client.Client) string {
	t.Helper()
	bin := TestJob(t)
	build.Lock()
	defer build.Unlock()
	if build.image != "" {
		return build.image
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	ref := "localhost/docket-testjob:" + hex.EncodeToString(sum[:6])
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.ImageInspect(ctx, ref); err == nil {
		build.image = ref
		return ref
	} else if !cerrdefs.IsNotFound(err) {
		t.Fatalf("inspect image %s: %v", ref, err)
	}
	if err := buildImage(ctx, c, ref, data); err != nil {
		t.Fatalf("build image %s: %v", ref, err)
	}
	build.image = ref
	return ref
}

const dockerfile = `FROM scratch
COPY testjob /usr/local/bin/testjob
ENV PATH=/usr/local/bin
`

// buildImage builds ref from the Dockerfile above through the engine's build endpoint.
func buildImage(ctx context.Context, c *client.Client, ref string, testjob []byte) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"testjob", 0o755, testjob}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	res, err := c.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{ref}, Remove: true, ForceRemove: true})
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var out bytes.Buffer
	dec := json.NewDecoder(res.Body)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("read build output: %w", err)
		}
		out.WriteString(m.Stream)
		if m.Error != nil {
			return fmt.Errorf("%s\n%s", m.Error.Message, out.String())
		}
	}
	if _, err := c.ImageInspect(ctx, ref); err != nil {
		return fmt.Errorf("image missing after the build: %w\n%s", err, out.String())
	}
	return nil
}
