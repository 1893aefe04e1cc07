package container

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// pingTimeout bounds how long Connect waits for one engine to answer.
const pingTimeout = 5 * time.Second

// Engines says where Connect looks for a container engine. LocalEngines fills it in from
// this machine; tests give their own sockets.
type Engines struct {
	// DockerHost is DOCKER_HOST. When set it is the only engine tried: the user chose it.
	DockerHost string
	// Sockets are the unix sockets tried in turn when DockerHost is empty: Docker's, then
	// rootful Podman's, then rootless Podman's.
	Sockets []string
	// Podman is the path of the podman command, empty when it is not installed.
	Podman string
	// PodmanSocket is where the podman service this user would start listens (rootful or
	// rootless); the error names it in the command that starts the service.
	PodmanSocket string
	// Root says the user is root (rootful Podman); Systemd says systemd runs this machine,
	// so Podman's socket unit can start the service.
	Root, Systemd bool
}

// LocalEngines returns where the engines of this machine listen: DOCKER_HOST, Docker's
// socket, Podman's rootful socket and its rootless one under XDG_RUNTIME_DIR.
func LocalEngines() Engines {
	root := os.Geteuid() == 0
	runtimeDir := os.Getenv("XDG_RUNTIME_DIR")
	if runtimeDir == "" {
		runtimeDir = filepath.Join("/run/user", strconv.Itoa(os.Geteuid()))
	}
	rootful := "/run/podman/podman.sock"
	rootless := filepath.Join(runtimeDir, "podman", "podman.sock")
	e := Engines{
		DockerHost:   os.Getenv("DOCKER_HOST"),
		Sockets:      []string{"/var/run/docker.sock", rootful, rootless},
		PodmanSocket: rootless,
		Root:         root,
	}
	if root {
		e.PodmanSocket = rootful
	}
	if p, err := exec.LookPath("podman"); err == nil {
		e.Podman = p
	}
	// sd_booted(3): systemd runs the machine when this directory exists.
	if fi, err := os.Stat("/run/systemd/system"); err == nil && fi.IsDir() {
		e.Systemd = true
	}
	return e
}

// Connect returns a client for the first container engine of this machine that answers
// (see LocalEngines and Engines.Connect).
func Connect(ctx context.Context) (*client.Client, error) {
	return LocalEngines().Connect(ctx)
}

// Connect returns a client for the engine DockerHost names or, when it is empty, for the
// first of Sockets that answers, negotiating the API version. When none answers the
// error lists what was tried and, when Podman is installed, the command that starts its
// service.
func (e Engines) Connect(ctx context.Context) (*client.Client, error) {
	if e.DockerHost != "" {
		c, err := ping(ctx, e.DockerHost)
		if err != nil {
			return nil, fmt.Errorf("container engine at %s (DOCKER_HOST) does not answer: %w", e.DockerHost, err)
		}
		return c, nil
	}
	var tried []string
	for _, sock := range e.Sockets {
		host := "unix://" + sock
		if _, err := os.Stat(sock); errors.Is(err, fs.ErrNotExist) {
			tried = append(tried, host+": no such socket")
			continue
		}
		c, err := ping(ctx, host)
		if err == nil {
			return c, nil
		}
		tried = append(tried, host+": "+err.Error())
	}
	msg := "no container engine answers; tried DOCKER_HOST (unset), " + strings.Join(tried, ", ")
	if e.Podman == "" {
		return nil, errors.New(msg + ". Install Docker or Podman, or set DOCKER_HOST to an engine's socket")
	}
	return nil, errors.New(msg + ". Podman is installed but its API service is not running; start it with: " + e.startPodman())
}

// startPodman is the command that starts Podman's API service where Connect looks for it:
// systemd's socket unit where systemd runs (and, in case the user's session has no
// systemd, the service itself), else the service alone, in the background.
func (e Engines) startPodman() string {
	service := "podman system service --time=0 unix://" + e.PodmanSocket + " &"
	switch {
	case e.Systemd && e.Root:
		return "systemctl enable --now podman.socket (or, without systemd: " + service + ")"
	case e.Systemd:
		return "systemctl --user enable --now podman.socket (or, without systemd: " + service + ")"
	}
	return service
}

// ping makes a client for host and checks that the engine answers.
func ping(ctx context.Context, host string) (*client.Client, error) {
	c, err := client.New(client.WithTLSClientConfigFromEnv(), client.WithAPIVersionFromEnv(),
		client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("container engine client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if _, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
