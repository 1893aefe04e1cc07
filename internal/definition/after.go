package definition

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"docket.dev/docket/internal/job"
)

// MaxAfter is the most entries a definition's after may have.
const MaxAfter = 20

// decodeAfter reads a definition's after strictly: a list of {job, on}.
func decodeAfter(field string, raw json.RawMessage, out *[]job.After) error {
	items, err := decodeMappings(field, raw, MaxAfter, mappingsText{
		list: "must be a list such as [{job: load, on: succeeded}]", tooMany: "has %d entries; a job runs after at most %d others",
		entry: "must be a mapping such as {job: load, on: succeeded}"})
	if err != nil {
		return err
	}
	after := make([]job.After, len(items))
	for i, fields := range items {
		at := fmt.Sprintf("%s[%d]", field, i)
		// YAML 1.1, which definitions are read as, takes an unquoted key on for the
		// boolean true: {job: load, on: failed} arrives as {"job": "load", "true": "failed"}.
		if v, ok := fields["true"]; ok {
			if _, dup := fields["on"]; !dup {
				fields["on"] = v
				delete(fields, "true")
			}
		}
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			if k != "job" && k != "on" {
				return job.Invalid(at+"."+k, "is not a field of an after entry; the fields are job and on")
			}
		}
		for _, f := range []struct {
			k      string
			target any
		}{{"job", &after[i].Job}, {"on", &after[i].On}} {
			if v, ok := fields[f.k]; ok && string(v) != "null" {
				if err := decodeField(at+"."+f.k, v, f.target); err != nil {
					return err
				}
			}
		}
	}
	*out = after
	return nil
}

// checkAfter checks the jobs a definition runs after, as far as the definition alone
// tells (that each exists, and that triggers form no cycle, is the store's to check):
// names, conditions, no entry twice, not itself.
func checkAfter(s job.Spec, _ Limits) error {
	seen := map[string]bool{}
	for i, a := range s.After {
		field := fmt.Sprintf("after[%d]", i)
		switch {
		case a.Job == "":
			return job.Invalid(field+".job", "is required: the name of the job whose runs fire this one")
		case len(a.Job) > MaxNameLength || len(validation.IsDNS1123Label(a.Job)) > 0:
			return job.Invalid(field+".job", "%q is not a job name", a.Job)
		case a.Job == s.Name:
			return job.Invalid(field+".job", "a job cannot run after itself: that is a cycle of triggers (%s -> %[1]s)", s.Name)
		case seen[a.Job]:
			return job.Invalid(field+".job", "names %q twice", a.Job)
		}
		seen[a.Job] = true
		switch a.On {
		case "", job.OnSucceeded, job.OnFailed, job.OnFinished:
		default:
			return job.Invalid(field+".on", "%q is not an end a trigger waits for; use succeeded (the default), failed or finished", a.On)
		}
	}
	return nil
}

// CheckTriggers checks a definition's after against the jobs that exist: each job it
// names is one of them (suggesting the nearest name), and following after from job to
// job never comes back to it. defs are the stored jobs' definitions by name.
func CheckTriggers(s job.Spec, defs map[string]job.Spec) error {
	names := slices.Sorted(maps.Keys(defs))
	for i, a := range s.After {
		if _, ok := defs[a.Job]; ok {
			continue
		}
		field := fmt.Sprintf("after[%d].job", i)
		if best := Nearest(a.Job, names); best != "" {
			return job.Invalid(field, "no job %q; did you mean %q?", a.Job, best)
		}
		return job.Invalid(field, "no job %q; apply it first", a.Job)
	}
	// A cycle through s is a path from a job s runs after back to s.
	upstream := func(name string) []job.After {
		if name == s.Name {
			return s.After
		}
		return defs[name].After
	}
	var path []string
	seen := map[string]bool{}
	var walk func(name string) bool
	walk = func(name string) bool {
		path = append(path, name)
		for _, a := range upstream(name) {
			if a.Job == s.Name {
				path = append(path, s.Name)
				return true
			}
			if !seen[a.Job] {
				seen[a.Job] = true
				if walk(a.Job) {
					return true
				}
			}
		}
		path = path[:len(path)-1]
		return false
	}
	if walk(s.Name) {
		slices.Reverse(path)
		return job.Invalid("after", "the triggers form a cycle: %s (each runs after the one before it); a job cannot, through others, run after itself", strings.Join(path, " -> "))
	}
	return nil
}
