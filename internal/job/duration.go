package job

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration that reads and writes as a Go duration string ("90s", "2h").
type Duration time.Duration

// String formats the duration the way a user would write it, without trailing zero units.
func (d Duration) String() string {
	s := time.Duration(d).String()
	for _, unit := range []string{"m0s", "h0m"} {
		if len(s) > len(unit) && s[len(s)-len(unit):] == unit {
			s = s[:len(s)-len(unit)+1]
		}
	}
	return s
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string such as "90s" or "2h".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"30m\" or \"2h\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration: use a number with a unit, such as \"30m\" or \"2h\"", s)
	}
	*d = Duration(v)
	return nil
}
