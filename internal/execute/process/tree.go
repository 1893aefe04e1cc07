package process

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stat is what /proc/PID/stat says of a process that a tree walk needs.
type stat struct {
	pid, ppid int
	state     byte
	// start is when the process started, in clock ticks since boot: with the pid, it
	// names one process, never a later one given the same pid.
	start uint64
}

// readStat reads /proc/PID/stat. The command name, in parentheses, may hold spaces and
// parentheses itself, so the fields are read after its last ')'.
func readStat(pid int) (stat, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return stat{}, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, s)
	}
	f := strings.Fields(s[i+2:])
	// f[0] is field 3 of proc(5) (state), f[1] field 4 (ppid), f[19] field 22 (starttime).
	if len(f) < 20 {
		return stat{}, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, s)
	}
	ppid, err1 := strconv.Atoi(f[1])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return stat{}, fmt.Errorf("unexpected /proc/%d/stat: %w", pid, err)
	}
	return stat{pid: pid, ppid: ppid, state: f[0][0], start: start}, nil
}

// alive says whether a process is running (not a zombie).
func (s stat) alive() bool { return s.state != 'Z' && s.state != 'X' && s.state != 'x' }

// descendants lists the living processes under root, in no particular order. It follows
// /proc/PID/task/TID/children down from root, or, on kernels without those files, reads
// every process's parent.
func descendants(root int) ([]int, error) {
	if !childrenFiles() {
		return descendantsByScan(root)
	}
	var out []int
	for queue := []int{root}; len(queue) > 0; queue = queue[1:] {
		children, err := childrenOf(queue[0])
		if err != nil {
			return nil, err
		}
		for _, pid := range children {
			if st, err := readStat(pid); err == nil && st.alive() {
				out = append(out, pid)
				queue = append(queue, pid)
			}
		}
	}
	return out, nil
}

// childrenFiles says whether the kernel lists each task's children in /proc.
var childrenFiles = sync.OnceValue(func() bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d/task/%[1]d/children", os.Getpid()))
	return err == nil
})

// childrenOf lists a process's children, zombies included; none when it is gone.
func childrenOf(pid int) ([]int, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []int
	for _, t := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue // the thread ended meanwhile
		}
		for _, f := range strings.Fields(string(data)) {
			if child, err := strconv.Atoi(f); err == nil {
				out = append(out, child)
			}
		}
	}
	return out, nil
}

// descendantsByScan lists the living processes under root from every process's parent.
func descendantsByScan(root int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil || !st.alive() {
			continue // gone meanwhile, or a zombie: nothing left to kill
		}
		children[st.ppid] = append(children[st.ppid], pid)
	}
	var out []int
	for queue := children[root]; len(queue) > 0; queue = queue[1:] {
		out = append(out, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return out, nil
}

// killTree kills every process under root with SIGKILL, and root too when withRoot. It
// walks the tree again until nothing is left, since a process may fork while it is
// killed; root should be a child subreaper, so that no process under it escapes to init
// when its parent dies. It gives up after a few seconds of processes that keep coming.
func killTree(root int, withRoot bool) error {
	wait := time.Millisecond
	killed := false
	for deadline := time.Now().Add(5 * time.Second); ; {
		pids, err := descendants(root)
		if err != nil {
			return fmt.Errorf("list the processes under %d: %w", root, err)
		}
		if len(pids) == 0 && !killed {
			break
		}
		if len(pids) == 0 {
			// A process killed hands its children to root as it exits; a listing made
			// meanwhile can miss one in neither list. One more listing, a moment later,
			// finds it.
			killed = false
			time.Sleep(wait)
			continue
		}
		killed = true
		if time.Now().After(deadline) {
			return fmt.Errorf("processes under %d kept coming: %d left", root, len(pids))
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL) // gone meanwhile is fine
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
	if !withRoot {
		return nil
	}
	before, err := readStat(root)
	if err != nil {
		return nil // gone already
	}
	if err := syscall.Kill(root, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %d: %w", root, err)
	}
	// A signal is delivered when its process next runs: wait until root is no more.
	wait = time.Millisecond
	for deadline := time.Now().Add(5 * time.Second); ; {
		st, err := readStat(root)
		if err != nil || st.start != before.start || !st.alive() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d lives on after SIGKILL", root)
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
}
