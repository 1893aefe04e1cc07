package executetest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ChildrenCPU is the CPU time of this process's children (the process executor's keepers,
// their starts included) and of the commands they ran and reaped, from /proc (in clock
// ticks of 10 ms, Linux's USER_HZ).
func ChildrenCPU() (children, theirs time.Duration) {
	lists, _ := filepath.Glob("/proc/self/task/*/children")
	seen := map[string]bool{}
	for _, list := range lists {
		pids, _ := os.ReadFile(list)
		for _, pid := range strings.Fields(string(pids)) {
			if seen[pid] {
				continue
			}
			seen[pid] = true
			data, err := os.ReadFile("/proc/" + pid + "/stat")
			if err != nil {
				continue
			}
			s := string(data)
			// Fields after the command's name: utime, stime, cutime and cstime are 14-17 of proc(5).
			f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
			if len(f) < 15 {
				continue
			}
			tick := func(i int) time.Duration {
				n, _ := strconv.ParseInt(f[i], 10, 64)
				return time.Duration(n) * 10 * time.Millisecond
			}
			children += tick(11) + tick(12)
			theirs += tick(13) + tick(14)
		}
	}
	return children, theirs
}
