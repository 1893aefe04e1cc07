package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Every run's command runs under a keeper: the docket binary started again as
// `docket KeeperArg`, between the server and the run's processes. The keeper is a child
// subreaper, so every process the run starts stays under it whatever it does (double
// forks, setsid, leaving the process group): when a parent dies its children are handed to
// the keeper, not to init. So the keeper can always kill the run's whole tree, and does:
// when the run's command exits (what it left behind goes with it, as in a container), when
// the server asks, and when the server dies (its end of the keeper's socket closes, even on
// kill -9). A server that restarts after a crash finds a keeper that outlived it by the pid
// and start time the server recorded, and kills what is under it before the run is retried.
// A keeper runs one run at a time and, once everything of it is gone, may take the next,
// so its start is paid once for many runs.

// KeeperArg is the argument that makes the docket binary a keeper: it must run Keep before
// anything else.
const KeeperArg = "__docket-process-keeper"

// keeperFD is the keeper's end of its socket to the server: SOCK_SEQPACKET, so each
// control and each message is one packet, and a run's files travel with its control.
const keeperFD = 3

// prSetChildSubreaper is prctl's PR_SET_CHILD_SUBREAPER (linux/prctl.h).
const prSetChildSubreaper = 36

// control is what the server asks of a keeper. "run" starts a run; its packet carries the
// run's output (for the command's stdout and stderr) and either the spec, or, for a spec
// larger than maxInlineSpec, a pipe from which the keeper reads it. "term" sends SIGTERM
// to the command's process group; "kill" ends the run, every process of it killed. A
// closed socket is a kill, and the keeper's end.
type control struct {
	Op   string `json:"op"`
	Spec *spec  `json:"spec,omitempty"`
}

// maxInlineSpec is the largest control that carries its run's spec; the keeper reads
// controls of up to controlSize bytes.
const (
	maxInlineSpec = 60 << 10
	controlSize   = 64 << 10
)

// spec is what a run's command is.
type spec struct {
	Path string   `json:"path"`
	Args []string `json:"args"`
	Dir  string   `json:"dir"`
	Env  []string `json:"env"`
}

// message is what a keeper tells the server of a run: the command's pid once it started
// (or why it could not start), then its wait status once it and everything it left are
// gone. Error with a pid of zero and no status is a warning.
type message struct {
	PID    int     `json:"pid,omitempty"`
	Error  string  `json:"error,omitempty"`
	Status *uint32 `json:"status,omitempty"`
}

// packet is a control as the keeper received it, with the files it carried.
type packet struct {
	control
	files []*os.File
}

// Keep is the keeper: it runs what the server sends on its socket (fd 3), one run at a
// time, until the socket closes. It returns an error only when it cannot talk to the
// server.
//
// The keeper is one thread making system calls: it blocks in recvmsg(2) for a control, and
// while a run runs in poll(2) on its socket and the command's pidfd, so the Go scheduler
// never has to hand the locked thread over to another and back. The first moments of each
// wait are raw polls (see rawWait), which the Go runtime does not see as blocking.
func Keep() error {
	// A command's parent-death signal follows the thread that started it; this one lives
	// as long as the keeper.
	runtime.LockOSThread()
	runtime.GOMAXPROCS(1)
	conn := keeperConn{fd: keeperFD, buf: make([]byte, controlSize), oob: make([]byte, syscall.CmsgSpace(2*4))}
	if _, err := unix.GetsockoptInt(keeperFD, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
		return fmt.Errorf("the keeper has no socket to its server: %w", err)
	}
	syscall.CloseOnExec(keeperFD) // no command inherits it
	if err := syscall.SetNonblock(keeperFD, false); err != nil {
		return fmt.Errorf("the keeper's socket: %w", err)
	}
	defer syscall.Close(keeperFD)
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return conn.send(message{Error: fmt.Sprintf("become a child subreaper: %v", errno)})
	}
	// A keeper stopped when its server dies is sent SIGHUP and SIGCONT by the kernel (its
	// process group is orphaned): it carries on and ends the run. SIGHUP is caught (and
	// dropped), not ignored: an ignored signal stays ignored in every command the keeper
	// starts, a caught one is reset to its default there. SIGINT too: of the signals a
	// server may have been started with ignored (nohup; & in a script), these are the two
	// Go leaves ignored unless caught.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP, syscall.SIGINT)
	dropTerminal()

	for {
		// The next run, if it comes soon, is waited for raw; the socket is then readable.
		waitRaw([]unix.PollFd{{Fd: keeperFD, Events: unix.POLLIN}}, time.Now().Add(rawWait))
		p, ok := conn.receive()
		if !ok {
			return nil
		}
		if p.Op != "run" {
			closeAll(p.files)
			continue // a late term or kill of a run that ended
		}
		if gone := run(&conn, p); gone {
			return nil
		}
	}
}

// dropTerminal gives up the keeper's controlling terminal, the one the server was started
// from, if any: as in a container, no command of a run then has one, so a job that opens
// /dev/tty (a prompt for a password) fails at once instead of writing to, or waiting on,
// that terminal. The keeper is no session leader, so this concerns it alone and what it
// starts afterwards. (A session of each command's own would do it too, but a kernel that
// gives each session a scheduling group of its own, as desktops' do, would then make and
// free one per run, and give each run as much CPU as all the rest of the user's session.)
func dropTerminal() {
	fd, err := unix.Open("/dev/tty", unix.O_RDONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return // none
	}
	_ = unix.IoctlSetInt(fd, unix.TIOCNOTTY, 0)
	unix.Close(fd)
}

// keeperConn is the keeper's end of its socket, read and written with plain system calls.
type keeperConn struct {
	fd       int
	buf, oob []byte
}

// receive reads the next control; false once the socket is closed or fails. A control
// that cannot be read is dropped, with the files it carried.
func (c *keeperConn) receive() (packet, bool) {
	for {
		n, oobn, _, _, err := syscall.Recvmsg(c.fd, c.buf, c.oob, syscall.MSG_CMSG_CLOEXEC)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			return packet{}, false
		}
		var p packet
		if msgs, err := syscall.ParseSocketControlMessage(c.oob[:oobn]); err == nil {
			for _, m := range msgs {
				fds, _ := syscall.ParseUnixRights(&m)
				for _, fd := range fds {
					p.files = append(p.files, os.NewFile(uintptr(fd), "run"))
				}
			}
		}
		if json.Unmarshal(c.buf[:n], &p.control) != nil {
			closeAll(p.files)
			continue
		}
		return p, true
	}
}

func (c *keeperConn) send(m message) error {
	b, _ := json.Marshal(m)
	for {
		err := syscall.Sendmsg(c.fd, b, nil, nil, 0)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// run runs one run to its end: it starts the command, passes on what the server asks, and
// once the command has exited or the server said kill, kills what is left under the
// keeper and reports the command's status. It returns true when the server is gone.
func run(conn *keeperConn, p packet) (gone bool) {
	defer closeAll(p.files)
	want := 2 // the output and the spec's pipe
	if p.Spec != nil {
		want = 1
	}
	if len(p.files) != want {
		conn.send(message{Error: fmt.Sprintf("a run needs its output and its spec; %d files came", len(p.files))})
		return false
	}
	out := p.files[0]
	var s spec
	if p.Spec != nil {
		s = *p.Spec
	} else if err := json.NewDecoder(p.files[1]).Decode(&s); err != nil {
		conn.send(message{Error: fmt.Sprintf("read what to run: %v", err)})
		return false
	}
	stdin := devNull()
	if stdin == nil {
		conn.send(message{Error: "cannot open " + os.DevNull})
		return false
	}
	pidfd := -1
	pid, err := syscall.ForkExec(s.Path, s.Args, &syscall.ProcAttr{
		Dir: s.Dir, Env: s.Env, Files: []uintptr{stdin.Fd(), out.Fd(), out.Fd()},
		// Its own process group, so SIGTERM reaches its children too; and killed if the
		// keeper is, which the keeper never is but by SIGKILL. Its pidfd says when it exits.
		Sys: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, PidFD: &pidfd},
	})
	out.Close() // the run's output ends when its processes do
	if err != nil {
		conn.send(message{Error: (&os.PathError{Op: "fork/exec", Path: s.Path, Err: err}).Error()})
		return false
	}
	if pidfd >= 0 {
		defer syscall.Close(pidfd)
	}
	if conn.send(message{PID: pid}) != nil {
		gone = true
	}

	w := reaper{command: pid}
	for done := gone; !done; {
		c, exited, err := w.next(conn, pidfd)
		switch {
		case err != nil:
			conn.send(message{Error: err.Error()})
			done = true
		case exited:
			done = true
		case c == nil:
			gone, done = true, true
		case c.Op == "term":
			// Its group; processes that left it go when the grace is up or it exits.
			_ = syscall.Kill(-pid, syscall.SIGTERM)
		case c.Op == "kill":
			done = true
		}
		if c != nil {
			closeAll(c.files)
		}
	}
	w.killLeft(func(err error) {
		if !gone {
			conn.send(message{Error: err.Error()})
		}
	})
	if gone {
		return true
	}
	ws := uint32(w.status)
	return conn.send(message{Status: &ws}) != nil
}

// reaper reaps a run's processes: its command, and every process of the run whose parent
// died before it (the keeper is their subreaper).
type reaper struct {
	command int
	status  syscall.WaitStatus
	exited  bool // the command was reaped, and status is its
}

// next waits for the command to exit or a control to come, whichever is first: the
// control, or exited; a nil control and false when the socket closed.
func (w *reaper) next(conn *keeperConn, pidfd int) (c *packet, exited bool, err error) {
	fds := []unix.PollFd{{Fd: int32(conn.fd), Events: unix.POLLIN}, {Fd: int32(pidfd), Events: unix.POLLIN}}
	raw := time.Now().Add(rawWait)
	if pidfd < 0 {
		fds = fds[:1] // no pidfd (a kernel before 5.3): the command is looked for every 10 ms
		raw = time.Time{}
	}
	for {
		if w.reap() || w.exited {
			return nil, true, nil
		}
		timeout := -1
		if pidfd < 0 {
			timeout = 10
		}
		if !waitRaw(fds, raw) {
			if _, err := unix.Poll(fds, timeout); err != nil && !errors.Is(err, syscall.EINTR) {
				return nil, false, fmt.Errorf("wait for the command: %w", err)
			}
		}
		if fds[0].Revents != 0 {
			p, ok := conn.receive()
			if !ok {
				return nil, false, nil
			}
			return &p, false, nil
		}
	}
}

// rawWait is how long a keeper's wait, for its next run or for its command's end, polls
// unseen by the Go runtime before it blocks as the runtime knows.
//
// A blocking system call hands the keeper's one P back to the runtime, whose monitor
// thread then sleeps until the next system call wakes it; once woken it checks every 20 us
// for a millisecond or more. For a keeper whose runs are short and come one after
// another, those wakings cost more CPU than the runs' own system calls. A raw poll keeps
// the P: the monitor naps up to 10 ms between looks, and at most interrupts the poll
// (EINTR) to preempt the keeper, which polls again. After rawWait the keeper blocks as the
// runtime knows, so a keeper that waits long, idle or under a long run, costs nothing.
const rawWait = 50 * time.Millisecond

// waitRaw polls fds with ppoll(2) made as a raw system call until one is ready (true) or
// deadline passes (false).
func waitRaw(fds []unix.PollFd, deadline time.Time) bool {
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		ts := unix.NsecToTimespec(int64(left))
		n, _, errno := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)), uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		if errno == 0 && n > 0 {
			return true
		}
		if errno != 0 && errno != unix.EINTR {
			return false // the runtime's poll says why
		}
	}
}

// reapOne reaps one process of the run that has exited, without waiting: its pid, 0 when
// none has exited yet, or -1 when none is left under the keeper.
func (w *reaper) reapOne() int {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			return -1 // ECHILD
		case pid == w.command:
			w.status, w.exited = ws, true
		}
		return pid
	}
}

// reap reaps every process of the run that has exited, without waiting; it returns true
// once none is left under the keeper.
func (w *reaper) reap() (none bool) {
	for {
		switch pid := w.reapOne(); {
		case pid < 0:
			return true
		case pid == 0:
			return false
		}
	}
}

// killLeft kills what is left of a run until nothing of it is left under the keeper. A
// command that left nothing needs no kill; what it left gets a millisecond to go on its
// own.
func (w *reaper) killLeft(warn func(error)) {
	for wait := time.Millisecond; !w.reap(); wait = 100 * time.Millisecond {
		if !w.wait(wait) {
			if err := killTree(os.Getpid(), false); err != nil {
				warn(err)
			}
		}
	}
}

// wait waits up to d for a process under the keeper to exit, and reaps it; false when
// none did. It looks ten times in d.
func (w *reaper) wait(d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(d / 10) {
		if w.reapOne() != 0 {
			return true
		}
	}
	return false
}

// devNull is the keeper's /dev/null, every run's stdin, opened once; nil when it cannot be.
var devNull = sync.OnceValue(func() *os.File {
	f, err := os.Open(os.DevNull)
	if err != nil {
		return nil
	}
	return f
})
