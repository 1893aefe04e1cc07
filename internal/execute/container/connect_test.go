package container

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"docket.dev/docket/internal/execute/container/enginetest"
)

// fakeEngine serves the engine API's ping on a unix socket in dir and returns its path.
func fakeEngine(t *testing.T, dir, name string) string {
	t.Helper()
	sock := filepath.Join(dir, name)
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/_ping") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Api-Version", "1.41")
		w.Write([]byte("OK"))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// deadSocket leaves a socket file that nobody listens on, as an engine that stopped does.
func deadSocket(t *testing.T, dir, name string) string {
	t.Helper()
	sock := filepath.Join(dir, name)
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	return sock
}

func TestEnginesConnect(t *testing.T) {
	t.Parallel()
	// Unix socket paths are short (108 bytes): a directory of its own under /tmp.
	dir, err := os.MkdirTemp("", "engines")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	live := fakeEngine(t, dir, "live.sock")
	dead := deadSocket(t, dir, "dead.sock")
	none := filepath.Join(dir, "none.sock")

	tests := []struct {
		name    string
		engines Engines
		// want is the engine's host when one answers; else the error holds each of errs
		// and none of notErrs.
		want          string
		errs, notErrs []string
	}{
		{
			name:    "DOCKER_HOST first",
			engines: Engines{DockerHost: "unix://" + live, Sockets: []string{dead}},
			want:    "unix://" + live,
		},
		{
			name:    "DOCKER_HOST alone: it is not second-guessed",
			engines: Engines{DockerHost: "unix://" + dead, Sockets: []string{live}, Podman: "/usr/bin/podman"},
			errs:    []string{"container engine at unix://" + dead + " (DOCKER_HOST) does not answer"},
			notErrs: []string{"systemctl", "podman system service"},
		},
		{
			name:    "the first socket that answers",
			engines: Engines{Sockets: []string{none, dead, live}},
			want:    "unix://" + live,
		},
		{
			name:    "none answers, no podman",
			engines: Engines{Sockets: []string{none, dead}},
			errs: []string{
				"no container engine answers; tried DOCKER_HOST (unset), unix://" + none + ": no such socket, unix://" + dead + ": ",
				"Install Docker or Podman, or set DOCKER_HOST",
			},
			notErrs: []string{"podman system service"},
		},
		{
			name:    "none answers, rootless podman without systemd",
			engines: Engines{Sockets: []string{none}, Podman: "/usr/bin/podman", PodmanSocket: "/run/user/1000/podman/podman.sock"},
			errs: []string{
				"Podman is installed but its API service is not running; start it with: podman system service --time=0 unix:///run/user/1000/podman/podman.sock &",
			},
			notErrs: []string{"systemctl"},
		},
		{
			name:    "none answers, rootless podman with systemd",
			engines: Engines{Sockets: []string{none}, Podman: "/usr/bin/podman", PodmanSocket: "/run/user/1000/podman/podman.sock", Systemd: true},
			errs: []string{
				"start it with: systemctl --user enable --now podman.socket (or, without systemd: podman system service --time=0 unix:///run/user/1000/podman/podman.sock &)",
			},
		},
		{
			name:    "none answers, rootful podman with systemd",
			engines: Engines{Sockets: []string{none}, Podman: "/usr/bin/podman", PodmanSocket: "/run/podman/podman.sock", Systemd: true, Root: true},
			errs: []string{
				"start it with: systemctl enable --now podman.socket (or, without systemd: podman system service --time=0 unix:///run/podman/podman.sock &)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := tt.engines.Connect(context.Background())
			if tt.want != "" {
				if err != nil {
					t.Fatalf("Connect: %v; want the engine at %s", err, tt.want)
				}
				defer c.Close()
				if c.DaemonHost() != tt.want {
					t.Errorf("connected to %s; want %s", c.DaemonHost(), tt.want)
				}
				return
			}
			if err == nil {
				c.Close()
				t.Fatalf("connected to %s; want an error", c.DaemonHost())
			}
			for _, want := range tt.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			for _, not := range tt.notErrs {
				if strings.Contains(err.Error(), not) {
					t.Errorf("error has %q:\n%v", not, err)
				}
			}
		})
	}
}

// TestConnectRootlessPodman finds the real engine as rootless Podman's socket, with
// DOCKER_HOST unset: Docker's socket is missing and DIR/podman/podman.sock (as
// XDG_RUNTIME_DIR=DIR gives it) leads to the engine.
func TestConnectRootlessPodman(t *testing.T) {
	t.Parallel()
	engine := enginetest.Engine(t)
	target, ok := strings.CutPrefix(engine.DaemonHost(), "unix://")
	if !ok {
		t.Skipf("the engine under test is at %s, not a unix socket", engine.DaemonHost())
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "podman"), 0o700); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "podman", "podman.sock")
	if err := os.Symlink(target, sock); err != nil {
		t.Fatal(err)
	}
	e := Engines{Sockets: []string{filepath.Join(dir, "docker.sock"), sock}}
	c, err := e.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v, err := c.ServerVersion(context.Background(), client.ServerVersionOptions{})
	if err != nil {
		t.Fatalf("version through %s: %v", sock, err)
	}
	if c.DaemonHost() != "unix://"+sock || v.Version == "" {
		t.Errorf("connected to %s, version %q; want %s", c.DaemonHost(), v.Version, "unix://"+sock)
	}
}
