package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// keeperStartTimeout bounds how long a keeper may take to say whether a command started.
const keeperStartTimeout = 30 * time.Second

// keeper is a keeper process, as the server holds it.
type keeper struct {
	cmd  *exec.Cmd
	conn *net.UnixConn
	log  *slog.Logger
	// messages are what the keeper says; closed when it can say no more.
	messages chan message
	// exited is closed once the keeper process has exited.
	exited chan struct{}
	// started is the keeper's start time as /proc has it, read once (0 until then): with
	// its pid, it tells this keeper from a later process with the same pid.
	started uint64
	// record is where the keeper's record waits while the keeper waits for a run ("" until
	// its first run); it is removed when the keeper ends.
	record string
}

// startKeeper starts a keeper process.
func startKeeper(program string, log *slog.Logger) (*keeper, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("make a keeper's socket: %w", err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "docket-keeper"), os.NewFile(uintptr(fds[1]), "docket-server")
	defer theirs.Close()
	fc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		return nil, fmt.Errorf("make a keeper's socket: %w", err)
	}
	k := &keeper{conn: fc.(*net.UnixConn), log: log, messages: make(chan message, 4), exited: make(chan struct{})}
	k.cmd = exec.Command(program, KeeperArg)
	k.cmd.Env = []string{}
	k.cmd.ExtraFiles = []*os.File{theirs}
	// Its own process group: a terminal's Ctrl-C goes to the server, which stops its runs.
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := k.cmd.Start(); err != nil {
		k.conn.Close()
		return nil, fmt.Errorf("start a keeper (%s): %w", program, err)
	}
	go func() {
		defer close(k.messages)
		buf := make([]byte, 64<<10)
		for {
			n, err := k.conn.Read(buf)
			if err != nil || n == 0 {
				return
			}
			var m message
			if json.Unmarshal(buf[:n], &m) == nil {
				k.messages <- m
			}
		}
	}()
	go func() {
		k.cmd.Wait()
		close(k.exited)
	}()
	return k, nil
}

func (k *keeper) pid() int { return k.cmd.Process.Pid }

// startTime returns the keeper's start time, read from /proc the first time only: a
// keeper takes many runs, and each run's record holds it.
func (k *keeper) startTime() (uint64, error) {
	if k.started != 0 {
		return k.started, nil
	}
	st, err := readStat(k.pid())
	if err != nil {
		return 0, err
	}
	k.started = st.start
	return k.started, nil
}

// ask sends a control to the keeper, with files for a run.
func (k *keeper) ask(op string, files ...*os.File) error {
	b, _ := json.Marshal(control{Op: op})
	return k.send(b, files...)
}

// send sends an encoded control to the keeper, with files for a run.
func (k *keeper) send(b []byte, files ...*os.File) error {
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = syscall.UnixRights(fds...)
	}
	_, _, err := k.conn.WriteMsgUnix(b, oob, nil)
	return err
}

// next returns the keeper's next message; false when the keeper is gone, or said nothing
// within timeout.
func (k *keeper) next(timeout time.Duration) (message, bool) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case m, ok := <-k.messages:
		return m, ok
	case <-t.C:
		return message{}, false
	}
}

// warn logs what a keeper says that is neither a pid nor a status.
func (k *keeper) warn(m message) {
	if m.Error != "" {
		k.log.Warn("process keeper", "pid", k.pid(), "err", m.Error)
	}
}

// waitStatus waits up to timeout for the status that ends a run.
func (k *keeper) waitStatus(timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); ; {
		m, ok := k.next(time.Until(deadline))
		if !ok {
			return false
		}
		if m.Status != nil {
			return true
		}
		k.warn(m)
	}
}

// close ends an idle keeper, or one that is not to be trusted with another run: the
// keeper kills what it holds and exits; one that does not within grace is killed with
// all under it.
func (k *keeper) close(grace time.Duration) {
	k.conn.CloseWrite()
	select {
	case <-k.exited:
	case <-time.After(grace):
		killTree(k.pid(), true)
		<-k.exited
	}
	k.conn.Close()
	if k.record != "" {
		os.Remove(k.record)
	}
}

// started is a run's command under a keeper.
type started struct {
	k   *keeper
	pid int
	// output is closed once the command's output has all been copied to the log.
	output chan struct{}
}

// start runs s under k, with its output copied to out, and returns once the command has
// started; the error says why it could not.
func (k *keeper) start(s spec, out io.Writer) (*started, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	if err := k.handOver(s, outW); err != nil {
		outR.Close()
		return nil, fmt.Errorf("hand the run to its keeper: %w", err)
	}
	r := &started{k: k, output: make(chan struct{})}
	go func() {
		defer close(r.output)
		io.Copy(out, outR)
		outR.Close()
	}()
	m, ok := k.next(keeperStartTimeout)
	switch {
	case !ok:
		return r, errors.New("its keeper did not start it")
	case m.PID == 0:
		return r, errors.New(m.Error)
	}
	r.pid = m.PID
	return r, nil
}

// handOver sends the keeper a run's control with its output, outW, which it closes: the
// spec in the control when it fits in one (maxInlineSpec), else through a pipe of its own.
func (k *keeper) handOver(s spec, outW *os.File) error {
	defer outW.Close()
	if b, err := json.Marshal(control{Op: "run", Spec: &s}); err == nil && len(b) <= maxInlineSpec {
		return k.send(b, outW)
	}
	specR, specW, err := os.Pipe()
	if err != nil {
		return err
	}
	err = k.ask("run", outW, specR)
	specR.Close()
	if err != nil {
		specW.Close()
		return err
	}
	go func() {
		// Writing blocks until the keeper reads; it fails if the keeper dies first.
		json.NewEncoder(specW).Encode(s)
		specW.Close()
	}()
	return nil
}

// stop ends the run's processes: SIGTERM to the command's process group; after grace
// SIGKILL to every process of the run, by the keeper; and should the keeper not be done
// after another grace (stopped, or killed), from here, keeper and all. It returns once
// they are gone, and whether the keeper may take another run.
func (r *started) stop(grace time.Duration) (reusable bool) {
	if r.k.ask("term") == nil && r.k.waitStatus(grace) {
		return true
	}
	if r.k.ask("kill") == nil && r.k.waitStatus(grace) {
		return true
	}
	killTree(r.k.pid(), true)
	<-r.k.exited
	return false
}
