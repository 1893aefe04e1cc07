package definition

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"docket.dev/docket/internal/job"
)

// DefaultMaxSteps is the most steps a workflow may have unless the server says otherwise
// (Limits.MaxSteps): a workflow is a small graph of containers, and each of its runs
// makes one child run per step at once. StepsCeiling bounds what a server may allow.
const (
	DefaultMaxSteps = 100
	StepsCeiling    = 10000
)

// stepFields are the fields of a workflow's step, in reference order.
var stepFields = []string{
	"name", "needs", "when", "image", "command", "cpu", "memory", "deadline", "retries",
	"env", "labels", "annotations", "kubernetes", "queue",
}

// decodeSteps reads a workflow's steps strictly, naming each field as steps[i].FIELD.
func decodeSteps(field string, raw json.RawMessage, out *[]job.Step) error {
	items, err := decodeMappings(field, raw, StepsCeiling, mappingsText{
		list: "must be a list of steps, such as [{name: extract, command: [...]}]", tooMany: "has %d steps; a workflow has at most %d",
		entry: "must be a mapping with fields such as name:, needs: and command:"})
	if err != nil {
		return err
	}
	steps := make([]job.Step, len(items))
	for i, fields := range items {
		at := fmt.Sprintf("%s[%d]", field, i)
		st := &steps[i]
		var retries int
		targets := map[string]any{
			"name": &st.Name, "needs": &st.Needs, "when": &st.When, "image": &st.Image, "command": &st.Command,
			"cpu": &st.CPU, "memory": &st.Memory, "deadline": &st.Deadline, "retries": &retries,
			"env": &st.Env, "labels": &st.Labels, "annotations": &st.Annotations, "kubernetes": &st.Kubernetes,
			"queue": &st.Queue,
		}
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			if _, ok := targets[k]; !ok {
				if best := Nearest(k, stepFields); best != "" {
					return job.Invalid(at+"."+k, "is not a field of a step; did you mean %q?", best)
				}
				return job.Invalid(at+"."+k, "is not a field of a step; the fields are %s", strings.Join(stepFields, ", "))
			}
		}
		for _, k := range stepFields {
			v, ok := fields[k]
			if !ok || string(v) == "null" {
				continue
			}
			if err := decodeField(at+"."+k, v, targets[k]); err != nil {
				return err
			}
		}
		if v, ok := fields["retries"]; ok && string(v) != "null" {
			st.Retries = &retries
		}
		if v, ok := fields["deadline"]; ok && string(v) != "null" && st.Deadline == 0 {
			return job.Invalid(at+".deadline", "%s is no deadline; give one such as 30m, or leave it out for the job's", st.Deadline)
		}
	}
	*out = steps
	return nil
}

// mappingsText is what decodeMappings says of a list it refuses: that it is no list, that
// it is too long (a format of the count and the most), that an entry is no mapping.
type mappingsText struct{ list, tooMany, entry string }

// decodeMappings reads a field that is a list of at most max mappings, each as its fields'
// raw values; errors name the field, or the entry as field[i].
func decodeMappings(field string, raw json.RawMessage, max int, say mappingsText) ([]map[string]json.RawMessage, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, job.Invalid(field, "%s", say.list)
	}
	if len(items) > max {
		return nil, job.Invalid(field, say.tooMany, len(items), max)
	}
	out := make([]map[string]json.RawMessage, len(items))
	for i, item := range items {
		if err := json.Unmarshal(item, &out[i]); err != nil || out[i] == nil {
			return nil, job.Invalid(fmt.Sprintf("%s[%d]", field, i), "%s", say.entry)
		}
	}
	return out, nil
}

// Nearest returns the name among names closest to k, if one is close enough to be what
// was meant; "" otherwise.
func Nearest(k string, names []string) string {
	// At most 2 edits, and at most half the name: "cb" is not a slip for "fx".
	best, bestDist := "", min(3, len(k)/2+1)
	for _, n := range names {
		if d := distance(strings.ToLower(k), n); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// checkSteps checks a workflow's steps: names, needs (known, no cycle), when, each step's
// own fields laid over the job's as a run of the step gets them, and that a step's
// command names only the results of steps upstream of it.
func checkSteps(s job.Spec, l Limits) error {
	if len(s.Steps) == 0 {
		return nil // parallelism without steps caps the job's arrays (checkArray)
	}
	max := l.MaxSteps
	if max <= 0 {
		max = DefaultMaxSteps
	}
	if max = min(max, StepsCeiling); len(s.Steps) > max {
		return job.Invalid("steps", "has %d steps; a workflow has at most %d on this server", len(s.Steps), max)
	}
	if s.Tasks > 0 {
		return job.Invalid("tasks", "a workflow's run cannot also be an array; leave tasks or steps out")
	}
	if s.Parallelism < 0 || s.Parallelism > len(s.Steps) {
		return job.Invalid("parallelism", "%d is out of range; use 0 (no cap) to %d, the number of steps", s.Parallelism, len(s.Steps))
	}
	index := make(map[string]int, len(s.Steps))
	names := make([]string, len(s.Steps))
	for i, st := range s.Steps {
		field := fmt.Sprintf("steps[%d].name", i)
		switch {
		case st.Name == "":
			return job.Invalid(field, "is required: a lowercase name such as extract")
		case len(st.Name) > validation.DNS1123LabelMaxLength:
			return job.Invalid(field, "%q is %d characters; the limit is %d", st.Name, len(st.Name), validation.DNS1123LabelMaxLength)
		case len(validation.IsDNS1123Label(st.Name)) > 0:
			return job.Invalid(field, "%q is not a valid step name: use lowercase letters, digits and '-', starting and ending with a letter or digit", st.Name)
		}
		if j, dup := index[st.Name]; dup {
			return job.Invalid(field, "%q is also the name of steps[%d]; each step has a name of its own", st.Name, j)
		}
		index[st.Name], names[i] = i, st.Name
	}
	for i, st := range s.Steps {
		switch st.When {
		case "", job.WhenSucceeded, job.WhenAlways:
		default:
			return job.Invalid(fmt.Sprintf("steps[%d].when", i), "%q is not a condition; use succeeded (the default) or always", st.When)
		}
		seen := map[string]bool{}
		for j, need := range st.Needs {
			field := fmt.Sprintf("steps[%d].needs[%d]", i, j)
			_, ok := index[need]
			switch {
			case need == st.Name:
				return job.Invalid(field, "step %q cannot need itself", need)
			case !ok:
				if best := Nearest(need, names); best != "" {
					return job.Invalid(field, "no step %q; did you mean %q?", need, best)
				}
				return job.Invalid(field, "no step %q; the steps are %s", need, strings.Join(names, ", "))
			case seen[need]:
				return job.Invalid(field, "names %q twice", need)
			}
			seen[need] = true
		}
	}
	if cycle := findCycle(s.Steps, index); cycle != nil {
		return job.Invalid(fmt.Sprintf("steps[%d].needs", index[cycle[0]]), "the steps' needs form a cycle: %s; a workflow runs each step once, after what it needs",
			strings.Join(cycle, " -> "))
	}
	for i := range s.Steps {
		if err := checkStep(s, i, upstream(s.Steps, index, i), l); err != nil {
			return err
		}
	}
	return nil
}

// checkStep checks what a run of step i gets, the job's fields with the step's laid over
// them, naming the step's fields in errors (and a field it inherits as the step's too,
// saying so).
func checkStep(s job.Spec, i int, up []string, l Limits) error {
	st := s.Steps[i]
	spec := s.ForStep(st.Name)
	prefix := fmt.Sprintf("steps[%d].", i)
	checks := []func(job.Spec, Limits) error{
		checkNUL, checkImage,
		func(spec job.Spec, _ Limits) error {
			var names []string
			for _, o := range s.Steps {
				names = append(names, o.Name)
			}
			return checkStepCommand(spec, st.Name, up, names, func(name string) bool { return NeedsStep(s.Steps, name, st.Name) })
		},
		checkResources, checkDeadline, checkRetries, checkEnv, checkExecSize, checkMetadata, checkKubernetes,
	}
	for _, check := range checks {
		err := check(spec, l)
		var fe *job.FieldError
		if err == nil {
			continue
		}
		if !errors.As(err, &fe) || fe.Field == "" {
			return err
		}
		msg := fe.Message
		if top := strings.FieldsFunc(fe.Field, func(r rune) bool { return r == '.' || r == '[' })[0]; !stepSets(st, top) {
			msg = fmt.Sprintf("(step %s has the job's %s) %s", st.Name, top, msg)
		}
		return job.Invalid(prefix+fe.Field, "%s", msg)
	}
	return nil
}

// checkStepCommand checks a step's command against what it may name: the run's values,
// and the results of the steps upstream of it, saying what to do about any other step;
// downstream says whether a step runs after this one.
func checkStepCommand(s job.Spec, step string, up, steps []string, downstream func(string) bool) error {
	for i, arg := range s.Command {
		if !strings.Contains(arg, "{{") {
			continue
		}
		t, err := ParseTemplate(arg)
		if err != nil {
			continue // checkCommandIn reports it
		}
		for _, p := range t.Paths() {
			if len(p) < 2 || p[0] != "Steps" || slices.Contains(up, p[1]) {
				continue
			}
			field := fmt.Sprintf("command[%d]", i)
			switch {
			case p[1] == step:
				return job.Invalid(field, "{{ %s }}: a step cannot read its own result; it reports it", p)
			case !slices.Contains(steps, p[1]):
				hint := fmt.Sprintf("its steps are %s", strings.Join(steps, ", "))
				if near := Nearest(p[1], steps); near != "" {
					hint = fmt.Sprintf("did you mean %q?", near)
				}
				return job.Invalid(field, "{{ %s }}: the workflow has no step %q; %s", p, p[1], hint)
			case downstream(p[1]):
				return job.Invalid(field, "{{ %s }}: step %s runs after step %s (it needs it), so it has no result yet when %[3]s starts; a step reads the results of the steps it needs", p, p[1], step)
			case len(up) == 0:
				return job.Invalid(field, "{{ %s }}: step %s needs no other step, so it has no results to read; add %q to its needs", p, step, p[1])
			default:
				return job.Invalid(field, "{{ %s }}: step %q is not upstream of step %s, so its result may not be there yet; add it to needs (the steps upstream are %s)",
					p, p[1], step, strings.Join(up, ", "))
			}
		}
	}
	return checkCommandIn(s, withParams(stepsScope(up), s.Params))
}

// stepSets says whether a step sets a field itself rather than taking the job's.
func stepSets(st job.Step, field string) bool {
	switch field {
	case "image":
		return st.Image != ""
	case "command":
		return st.Command != nil
	case "cpu":
		return st.CPU != ""
	case "memory":
		return st.Memory != ""
	case "deadline":
		return st.Deadline != 0
	case "retries":
		return st.Retries != nil
	case "env":
		return len(st.Env) > 0
	case "labels":
		return len(st.Labels) > 0
	case "annotations":
		return len(st.Annotations) > 0
	case "kubernetes":
		return st.Kubernetes != nil
	}
	return false
}

// findCycle returns a cycle of needs as step names, its first step again at the end
// (a -> b -> a), or nil when the steps form a DAG.
func findCycle(steps []job.Step, index map[string]int) []string {
	const (
		unseen = iota
		onPath
		done
	)
	mark := make([]int, len(steps))
	var path []string
	var visit func(i int) []string
	visit = func(i int) []string {
		mark[i] = onPath
		path = append(path, steps[i].Name)
		for _, need := range steps[i].Needs {
			j := index[need]
			switch mark[j] {
			case onPath:
				start := slices.Index(path, need)
				return append(slices.Clone(path[start:]), need)
			case unseen:
				if c := visit(j); c != nil {
					return c
				}
			}
		}
		mark[i] = done
		path = path[:len(path)-1]
		return nil
	}
	for i := range steps {
		if mark[i] == unseen {
			if c := visit(i); c != nil {
				// The cycle is written in the direction work flows: what runs first first.
				slices.Reverse(c)
				return c
			}
		}
	}
	return nil
}

// NeedsStep says whether step name needs step up, directly or through others.
func NeedsStep(steps []job.Step, name, up string) bool {
	index := make(map[string]int, len(steps))
	for j, st := range steps {
		index[st.Name] = j
	}
	j, ok := index[name]
	return ok && slices.Contains(upstream(steps, index, j), up)
}

// upstream returns the steps step i needs, directly or through others, in step order.
func upstream(steps []job.Step, index map[string]int, i int) []string {
	seen := make([]bool, len(steps))
	var walk func(i int)
	walk = func(i int) {
		for _, need := range steps[i].Needs {
			if j := index[need]; !seen[j] {
				seen[j] = true
				walk(j)
			}
		}
	}
	walk(i)
	var out []string
	for j, st := range steps {
		if seen[j] {
			out = append(out, st.Name)
		}
	}
	return out
}
