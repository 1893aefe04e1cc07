// Package cron is the calendar of the schedule stage: it parses a job's schedule and
// answers when its slots fall, in the job's IANA zone, so that a daily job fires exactly
// once per local day across daylight-saving changes.
//
// Parsing is robfig/cron's; the fire-time arithmetic is Docket's own, because the
// scheduler needs slot times that are stable, strictly increasing and DST-aware in a
// way robfig's Next does not promise (see Schedule.Next).
package cron

import (
	"errors"
	"fmt"
	"strings"
	"time"

	robfig "github.com/robfig/cron/v3"
)

// starBit is robfig's marker for a field written as "*" or "?".
const starBit = 1 << 63

var parser = robfig.NewParser(robfig.Minute | robfig.Hour | robfig.Dom | robfig.Month | robfig.Dow | robfig.Descriptor)

// Schedule is a parsed schedule expression. The zero value is not usable; use Parse.
type Schedule struct {
	expr string
	// every is the interval of an "@every" schedule; zero for calendar schedules.
	every time.Duration
	// Bit sets as robfig builds them: bit n set means value n matches.
	minute, hour, dom, month, dow uint64
	// domStar and dowStar record a "*" day field; cron matches a day when both day
	// fields match if either is "*", and when either matches otherwise.
	domStar, dowStar bool
	// everyHour is true when the hour field matches all 24 hours. Such schedules follow
	// the clock through DST changes; fixed-hour schedules fire once per local day.
	everyHour bool
}

// Parse reads a schedule: five cron fields (minute hour day-of-month month day-of-week),
// a descriptor (@hourly, @daily, @weekly, @monthly, @yearly), or "@every DURATION" with
// a whole number of seconds, at least one. The zone is not part of the expression.
func Parse(expr string) (*Schedule, error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, errors.New("is empty; write five cron fields, a descriptor such as @daily, or @every 10m")
	}
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, errors.New("must not carry a zone prefix; set the timezone field instead")
	}
	if rest, ok := strings.CutPrefix(expr, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return nil, fmt.Errorf("%q: @every needs a duration such as 30s, 10m or 1h30m", expr)
		}
		if d < time.Second || d%time.Second != 0 {
			return nil, fmt.Errorf("%q: @every needs a whole number of seconds, at least 1s", expr)
		}
		return &Schedule{expr: expr, every: d}, nil
	}
	if !strings.HasPrefix(expr, "@") {
		if n := len(strings.Fields(expr)); n != 5 {
			return nil, fmt.Errorf("%q has %d fields; cron needs 5: minute hour day-of-month month day-of-week", expr, n)
		}
	}
	parsed, err := parser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("%q: %s", expr, strings.TrimPrefix(err.Error(), "failed to parse "))
	}
	spec, ok := parsed.(*robfig.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("%q is not a calendar schedule", expr)
	}
	const allHours = 1<<24 - 1
	return &Schedule{
		expr:      expr,
		minute:    spec.Minute,
		hour:      spec.Hour,
		dom:       spec.Dom,
		month:     spec.Month,
		dow:       spec.Dow,
		domStar:   spec.Dom&starBit != 0,
		dowStar:   spec.Dow&starBit != 0,
		everyHour: spec.Hour&allHours == allHours,
	}, nil
}

// String returns the expression as it was parsed.
func (s *Schedule) String() string { return s.expr }

// Every returns the interval of an "@every" schedule, or zero for a calendar schedule.
func (s *Schedule) Every() time.Duration { return s.every }
