package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// days is a duration flag that also takes whole days ("90d"), as retention periods are
// said; it prints whole days back the same way.
type days struct{ d *time.Duration }

func (v days) String() string {
	if v.d == nil {
		return ""
	}
	const day = 24 * time.Hour
	if *v.d != 0 && *v.d%day == 0 {
		return strconv.FormatInt(int64(*v.d/day), 10) + "d"
	}
	return v.d.String()
}

func (v days) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return fmt.Errorf("%q: whole days are written like 30d", s)
		}
		*v.d = time.Duration(d) * 24 * time.Hour
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q: use days (30d) or a duration (12h, 90m), or 0 for never", s)
	}
	if d < 0 {
		return fmt.Errorf("%q is negative", s)
	}
	*v.d = d
	return nil
}

func (days) Type() string { return "duration" }
