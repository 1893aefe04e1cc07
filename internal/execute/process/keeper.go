package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"
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
func Keep() error {
	// A command's parent-death signal follows the thread that started it; this one lives
	// as long as the keeper.
	runtime.LockOSThread()
	runtime.GOMAXPROCS(1)
	f := os.NewFile(keeperFD, "docket-server")
	if f == nil {
		return errors.New("the keeper has no socket to its server")
	}
	fc, err := net.FileConn(f) // a close-on-exec copy: no command inherits it
	f.Close()
	if err != nil {
		return fmt.Errorf("the keeper's socket: %w", err)
	}
	conn := fc.(*net.UnixConn)
	defer conn.Close()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return send(conn, message{Error: fmt.Sprintf("become a child subreaper: %v", errno)})
	}
	// A keeper stopped when its server dies is sent SIGHUP and SIGCONT by the kernel (its
	// process group is orphaned): it carries on and ends the run.
	signal.Ignore(syscall.SIGHUP)

	controls := make(chan packet)
	go receive(conn, controls)
	for p := range controls {
		if p.Op != "run" {
			continue // a late term or kill of a run that ended
		}
		if gone := run(conn, p, controls); gone {
			return nil
		}
	}
	return nil
}

// receive reads controls until the socket fails, then closes controls.
func receive(conn *net.UnixConn, controls chan<- packet) {
	defer close(controls)
	buf, oob := make([]byte, controlSize), make([]byte, syscall.CmsgSpace(2*4))
	for {
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 {
			return
		}
		var p packet
		if msgs, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				fds, _ := syscall.ParseUnixRights(&m)
				for _, fd := range fds {
					syscall.CloseOnExec(fd)
					p.files = append(p.files, os.NewFile(uintptr(fd), "run"))
				}
			}
		}
		if json.Unmarshal(buf[:n], &p.control) != nil {
			closeAll(p.files)
			continue
		}
		controls <- p
	}
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

func send(conn *net.UnixConn, m message) error {
	b, _ := json.Marshal(m)
	_, err := conn.Write(b)
	return err
}

// run runs one run to its end: it starts the command, passes on what the server asks, and
// once the command has exited or the server said kill, kills what is left under the
// keeper and reports the command's status. It returns true when the server is gone.
func run(conn *net.UnixConn, p packet, controls <-chan packet) (gone bool) {
	defer closeAll(p.files)
	want := 2 // the output and the spec's pipe
	if p.Spec != nil {
		want = 1
	}
	if len(p.files) != want {
		send(conn, message{Error: fmt.Sprintf("a run needs its output and its spec; %d files came", len(p.files))})
		return false
	}
	out := p.files[0]
	var s spec
	if p.Spec != nil {
		s = *p.Spec
	} else if err := json.NewDecoder(p.files[1]).Decode(&s); err != nil {
		send(conn, message{Error: fmt.Sprintf("read what to run: %v", err)})
		return false
	}
	stdin := devNull()
	if stdin == nil {
		send(conn, message{Error: "cannot open " + os.DevNull})
		return false
	}
	proc, err := os.StartProcess(s.Path, s.Args, &os.ProcAttr{
		Dir: s.Dir, Env: s.Env, Files: []*os.File{stdin, out, out},
		// Its own process group, so SIGTERM reaches its children too; and killed if the
		// keeper is, which the keeper never is but by SIGKILL.
		Sys: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	})
	out.Close() // the run's output ends when its processes do
	if err != nil {
		send(conn, message{Error: err.Error()})
		return false
	}
	exited := make(chan syscall.WaitStatus, 1)
	reaped := make(chan struct{})
	go reapAll(proc.Pid, exited, reaped)
	if send(conn, message{PID: proc.Pid}) != nil {
		gone = true
	}

	var status syscall.WaitStatus
	for done := gone; !done; {
		select {
		case status = <-exited:
			done = true
		case c, ok := <-controls:
			switch {
			case !ok:
				gone, done = true, true
			case c.Op == "term":
				// Its group; processes that left it go when the grace is up or it exits.
				_ = syscall.Kill(-proc.Pid, syscall.SIGTERM)
			case c.Op == "kill":
				done = true
			}
			closeAll(c.files)
		}
	}
	killLeft(reaped, func(err error) {
		if !gone {
			send(conn, message{Error: err.Error()})
		}
	})
	select {
	case status = <-exited:
	default:
	}
	if gone {
		return true
	}
	ws := uint32(status)
	return send(conn, message{Status: &ws}) != nil
}

// devNull is the keeper's /dev/null, every run's stdin, opened once; nil when it cannot be.
var devNull = sync.OnceValue(func() *os.File {
	f, err := os.Open(os.DevNull)
	if err != nil {
		return nil
	}
	return f
})

// killLeft kills what is left of a run until reaped says the keeper has no child, and so
// nothing of the run is left. A command that left nothing needs no kill.
func killLeft(reaped <-chan struct{}, warn func(error)) {
	for wait := time.Millisecond; ; wait = 100 * time.Millisecond {
		select {
		case <-reaped:
			return
		case <-time.After(wait):
			if err := killTree(os.Getpid(), false); err != nil {
				warn(err)
			}
		}
	}
}

// reapAll waits for the keeper's children until it has none: the command, and every
// process of the run whose parent died before it. The command's status goes to exited.
func reapAll(command int, exited chan<- syscall.WaitStatus, reaped chan<- struct{}) {
	defer close(reaped)
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			return // ECHILD: nothing left under the keeper
		case pid == command:
			exited <- ws
		}
	}
}
