package definition

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"docket.dev/docket/internal/job"
)

// Templates in a command are substitutions only: {{ .Name }} is replaced by a value Docket
// knows when a run starts (its slot, id, attempt), and {{ "text" }} by the text as written
// (the way to write a literal "{{"). There are no actions, loops, conditions, variables or
// functions: a template is checked completely when the job is applied, and rendering a
// run's command is one lookup per substitution, which cannot fail or take long.

// TemplateData is what a command's templates may use, as {{ .ScheduledDate }} and so on.
// For runs started on demand the scheduled time is the time the run was created.
type TemplateData struct {
	RunID         string
	Job           string
	Attempt       int
	ScheduledTime string // RFC 3339 in the job's zone
	ScheduledDate string // YYYY-MM-DD in the job's zone
	ScheduledUnix int64
	// Steps are the results the steps of a workflow reported, by step: what
	// {{ .Steps.extract.Result.path }} reads. A step that reported none renders as "".
	Steps map[string]json.RawMessage
	// Params are the run's params, by name.
	Params map[string]string
}

// values are the data's substitutions by path.
func (d TemplateData) values() map[string]string {
	v := map[string]string{
		"RunID": d.RunID, "Job": d.Job, "Attempt": strconv.Itoa(d.Attempt),
		"ScheduledTime": d.ScheduledTime, "ScheduledDate": d.ScheduledDate,
		"ScheduledUnix": strconv.FormatInt(d.ScheduledUnix, 10),
	}
	maps.Copy(v, paramValues(d.Params))
	return v
}

// Scope is what a template may name, by the first part of a path. A Var with Fields
// names a group (a future .Params.NAME or .Steps.STEP.Result), one without is a value.
type Scope map[string]Var

// Var is one name a template may use.
type Var struct {
	// MaxLen bounds the text the value renders as, so the size of a run's command is
	// known when the job is applied.
	MaxLen int
	// Fields are the names below this one; empty for a value.
	Fields Scope
	// Open values take any path below them as well (a step's reported result, whose
	// fields are known only when it reports): {{ .Steps.extract.Result.path }}.
	Open bool
}

// runScope is what every run's command may name.
var runScope = Scope{
	"ScheduledTime": {MaxLen: len("2006-01-02T15:04:05-07:00")},
	"ScheduledDate": {MaxLen: len("2006-01-02")},
	"ScheduledUnix": {MaxLen: len("-9223372036854775808")},
	"RunID":         {MaxLen: len("01900000-0000-7000-8000-000000000000")},
	"Job":           {MaxLen: MaxNameLength},
	"Attempt":       {MaxLen: len("-9223372036854775808")},
}

// Path is a substitution's name in parts: .ScheduledDate is [ScheduledDate].
type Path []string

// String returns the path as written, with its leading dot.
func (p Path) String() string { return "." + strings.Join(p, ".") }

// Template is one command argument, parsed: literal text and substitutions in order.
type Template struct {
	pieces []piece
}

// piece is literal text, or the value at path when path is set. Quoted text, written as
// {{ "text" }}, is not trimmed by a "{{- " after it.
type piece struct {
	text   string
	path   Path
	quoted bool
}

// ParseTemplate reads one command argument. Text without "{{" is literal. Its errors say
// what is wrong and what to write instead; the caller names the field.
func ParseTemplate(s string) (Template, error) {
	var t Template
	trimNext := false
	for s != "" {
		i := strings.Index(s, "{{")
		if i < 0 {
			t.literal(s, trimNext)
			break
		}
		t.literal(s[:i], trimNext)
		a, rest, err := parseAction(s[i:])
		if err != nil {
			return Template{}, err
		}
		if a.trimLeft && len(t.pieces) > 0 && t.pieces[len(t.pieces)-1].path == nil && !t.pieces[len(t.pieces)-1].quoted {
			last := &t.pieces[len(t.pieces)-1]
			last.text = strings.TrimRight(last.text, spaces)
		}
		if a.path != nil {
			t.pieces = append(t.pieces, piece{path: a.path})
		} else {
			t.pieces = append(t.pieces, piece{text: a.text, quoted: true})
		}
		trimNext, s = a.trimRight, rest
	}
	return t, nil
}

// literal adds text, without its leading spaces after a "-}}".
func (t *Template) literal(text string, trimLeft bool) {
	if trimLeft {
		text = strings.TrimLeft(text, spaces)
	}
	if text != "" {
		t.pieces = append(t.pieces, piece{text: text})
	}
}

// spaces are what may surround a substitution inside its braces, as in Go's templates.
const spaces = " \t\r\n"

// action is one {{ ... }}: a path, or constant text; trimLeft and trimRight are the
// "{{- " and " -}}" markers, which trim the spaces around it.
type action struct {
	path                Path
	text                string
	trimLeft, trimRight bool
}

// parseAction reads the action at the start of s (which starts with "{{") and returns it
// with what follows it.
func parseAction(s string) (action, string, error) {
	var a action
	body := s[2:]
	if len(body) >= 2 && body[0] == '-' && strings.ContainsRune(spaces, rune(body[1])) {
		a.trimLeft, body = true, body[1:]
	}
	body = strings.TrimLeft(body, spaces)
	var err error
	switch {
	case strings.HasPrefix(body, "."):
		var n int
		a.path, n = scanPath(body)
		if a.path == nil {
			return a, "", notSubstitution(s)
		}
		body = body[n:]
	case strings.HasPrefix(body, `"`), strings.HasPrefix(body, "`"):
		var n int
		if a.text, n, err = scanString(body); err != nil {
			return a, "", fmt.Errorf("%s: %w", excerpt(s), err)
		}
		body = body[n:]
	default:
		return a, "", notSubstitution(s)
	}
	rest := strings.TrimLeft(body, spaces)
	if len(rest) < len(body) && strings.HasPrefix(rest, "-}}") {
		a.trimRight, rest = true, rest[1:]
	}
	if !strings.HasPrefix(rest, "}}") {
		return a, "", notSubstitution(s)
	}
	return a, rest[2:], nil
}

// scanPath reads a path such as .ScheduledDate from the start of s and returns it with its
// length; nil when s does not start with one.
func scanPath(s string) (Path, int) {
	var p Path
	i := 0
	for i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && (isLetter(s[j]) || j > i+1 && (s[j] >= '0' && s[j] <= '9' || s[j] == '-' && j+1 < len(s) && isAlnum(s[j+1]))) {
			j++
		}
		if j == i+1 {
			return nil, 0
		}
		p = append(p, s[i+1:j])
		i = j
	}
	return p, i
}

func isLetter(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// isAlnum says whether c may follow a '-' inside a name: step names are DNS labels
// (evaluate-a), and a '-' before "}}" is the trim marker, not part of the name.
func isAlnum(c byte) bool { return isLetter(c) || c >= '0' && c <= '9' }

// scanString reads a Go string literal, quoted or raw, from the start of s and returns its
// value and length.
func scanString(s string) (string, int, error) {
	end := -1
	if s[0] == '`' {
		if i := strings.IndexByte(s[1:], '`'); i >= 0 {
			end = i + 2
		}
	} else {
		for i := 1; i < len(s); i++ {
			if s[i] == '\\' {
				i++
			} else if s[i] == '"' {
				end = i + 1
				break
			}
		}
	}
	if end < 0 {
		return "", 0, fmt.Errorf("the quoted text has no closing quote")
	}
	v, err := strconv.Unquote(s[:end])
	if err != nil {
		return "", 0, fmt.Errorf("%s is not a valid quoted string", s[:end])
	}
	return v, end, nil
}

// excerpt quotes the start of a template for a message, cut short when long.
func excerpt(s string) string {
	const max = 60
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

func unclosed(s string) error {
	return fmt.Errorf(`%s opens "{{" and never closes it with "}}"; write a substitution such as {{ .ScheduledDate }}, or {{ "{{" }} for a literal "{{"`, excerpt(s))
}

func notSubstitution(s string) error {
	end := strings.Index(s, "}}")
	if end < 0 {
		return unclosed(s)
	}
	return fmt.Errorf("%s is not a substitution: a command's templates are {{ .Name }} with a name such as .ScheduledDate, "+
		`or {{ "text" }} for literal text; loops, conditions, variables, pipes and functions are not run. `+
		`Compute other values in the command itself, e.g. ["sh", "-c", "echo \"$DOCKET_SCHEDULED_TIME\""]`, excerpt(s[:end+2]))
}

// Check says whether every substitution names a value of scope, and returns the most
// text the template can render as.
func (t Template) Check(scope Scope) (maxLen int, err error) {
	for _, p := range t.pieces {
		if p.path == nil {
			maxLen += len(p.text)
			continue
		}
		v, err := scope.lookup(p.path)
		if err != nil {
			return 0, err
		}
		maxLen += v.MaxLen
	}
	return maxLen, nil
}

// lookup finds the value a path names.
func (s Scope) lookup(p Path) (Var, error) {
	var v Var
	level := s
	for i, name := range p {
		var ok bool
		if v, ok = level[name]; !ok {
			at := Path(p[:i+1]).String()
			if i == 0 {
				return Var{}, fmt.Errorf("{{ %s }} names no value; the values are %s", at, level.names(nil))
			}
			return Var{}, fmt.Errorf("{{ %s }} names no value; below %s are %s", at, Path(p[:i]), level.names(p[:i]))
		}
		switch {
		case v.Open:
			return v, nil
		case len(v.Fields) == 0 && i < len(p)-1:
			return Var{}, fmt.Errorf("{{ %s }}: %s is a value with nothing below it; write {{ %[2]s }}", p, Path(p[:i+1]))
		case len(v.Fields) > 0 && i == len(p)-1:
			return Var{}, fmt.Errorf("{{ %s }} is not a value; name one below it: %s", p, v.Fields.names(p))
		}
		level = v.Fields
	}
	return v, nil
}

// names lists a level's paths for a message: ".Attempt, .Job and .RunID".
func (s Scope) names(prefix Path) string {
	keys := slices.Sorted(maps.Keys(s))
	for i, k := range keys {
		keys[i] = append(slices.Clone(prefix), k).String()
	}
	if len(keys) == 1 {
		return keys[0]
	}
	return strings.Join(keys[:len(keys)-1], ", ") + " and " + keys[len(keys)-1]
}

// Render writes the template with each substitution's value, by its path's parts joined
// with dots ("ScheduledDate"); a checked template names only paths values has.
func (t Template) Render(values map[string]string) string {
	return t.render(func(p Path) string { return values[strings.Join(p, ".")] })
}

// render writes the template with each substitution's value as value gives it.
func (t Template) render(value func(Path) string) string {
	var b strings.Builder
	for _, p := range t.pieces {
		if p.path == nil {
			b.WriteString(p.text)
		} else {
			b.WriteString(value(p.path))
		}
	}
	return b.String()
}

// Paths returns the paths the template substitutes, in order.
func (t Template) Paths() []Path {
	var out []Path
	for _, p := range t.pieces {
		if p.path != nil {
			out = append(out, p.path)
		}
	}
	return out
}

// checkTemplate parses and checks one command argument against scope and returns the
// most text it renders as.
func checkTemplate(arg string, scope Scope) (int, error) {
	if !strings.Contains(arg, "{{") {
		return len(arg), nil
	}
	t, err := ParseTemplate(arg)
	if err != nil {
		return 0, err
	}
	return t.Check(scope)
}

// stepsScope is what the command of a workflow's step may name: the run's values and the
// results of the steps given (those upstream of it).
func stepsScope(steps []string) Scope {
	if len(steps) == 0 {
		return runScope
	}
	scope := maps.Clone(runScope)
	below := Scope{}
	for _, st := range steps {
		below[st] = Var{Fields: Scope{"Result": {Open: true, MaxLen: job.MaxResultBytes}}}
	}
	scope["Steps"] = Var{Fields: below}
	return scope
}

// RenderCommand renders each argument of command for one run. Every argument was checked
// when its definition was applied; an error means the definition was stored before
// templates were limited to substitutions and must be applied again.
func RenderCommand(command []string, data TemplateData) ([]string, error) {
	values := data.values()
	scope := runScope
	if data.Steps != nil {
		scope = maps.Clone(runScope)
		scope["Steps"] = Var{Open: true}
	}
	scope = withParams(scope, data.Params)
	value := func(p Path) string {
		if len(p) >= 3 && p[0] == "Steps" && p[2] == "Result" {
			return resultAt(data.Steps[p[1]], p[3:])
		}
		return values[strings.Join(p, ".")]
	}
	out := make([]string, len(command))
	for i, arg := range command {
		if !strings.Contains(arg, "{{") {
			out[i] = arg
			continue
		}
		t, err := ParseTemplate(arg)
		if err == nil {
			_, err = t.Check(scope)
		}
		if err != nil {
			return nil, fmt.Errorf("command[%d]: %w; apply the job again with substitutions only", i, err)
		}
		out[i] = t.render(value)
	}
	return out, nil
}

// ResultGaps says, for each substitution of a step's result in command that renders as ""
// because that result has nothing at its path (a key misspelt, a step that reported no
// result), what is missing, so a run's events can tell what its command got. At most
// maxGaps are listed; a result's keys are named up to maxGapKeys, each cut at 64 bytes.
func ResultGaps(command []string, steps map[string]json.RawMessage) []string {
	var out []string
	for _, arg := range command {
		if !strings.Contains(arg, "{{") {
			continue
		}
		t, err := ParseTemplate(arg)
		if err != nil {
			continue
		}
		for _, p := range t.Paths() {
			if len(p) < 3 || p[0] != "Steps" || p[2] != "Result" {
				continue
			}
			gap := resultGap(p[1], steps[p[1]], p[3:])
			if gap == "" {
				continue
			}
			gap = fmt.Sprintf("{{ %s }} rendered as \"\": %s", job.Truncate(p.String(), 256), gap)
			if !slices.Contains(out, gap) {
				if out = append(out, gap); len(out) == maxGaps {
					return out
				}
			}
		}
	}
	return out
}

const (
	maxGaps    = 5
	maxGapKeys = 20
)

// resultGap says what step's result lacks at path, or "" when it has a value there (null
// included: a value the step reported as empty).
func resultGap(step string, result json.RawMessage, path Path) string {
	if len(result) == 0 {
		return fmt.Sprintf("step %s reported no result", step)
	}
	var v any
	if json.Unmarshal(result, &v) != nil {
		return ""
	}
	for i, k := range path {
		where := ""
		if i > 0 {
			where = fmt.Sprintf(" under %q", job.Truncate(strings.Join(path[:i], "."), 256))
		}
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Sprintf("step %s's result%s is not an object", step, where)
		}
		if v, ok = m[k]; !ok {
			keys := slices.Sorted(maps.Keys(m))
			more := ""
			if len(keys) > maxGapKeys {
				more, keys = fmt.Sprintf(" and %d more", len(keys)-maxGapKeys), keys[:maxGapKeys]
			}
			for j, key := range keys {
				keys[j] = job.Truncate(key, 64)
			}
			has := "it has no keys"
			if len(keys) > 0 {
				has = "its keys: " + strings.Join(keys, ", ") + more
			}
			return fmt.Sprintf("step %s's result has no key %q%s (%s)", step, job.Truncate(k, 64), where, has)
		}
	}
	return ""
}

// resultAt renders the value at path in a reported result: a string as it is, a number
// or a boolean as JSON writes it, a mapping or a list as compact JSON; "" for null, or
// where the result has nothing at path.
func resultAt(result json.RawMessage, path Path) string {
	if len(result) == 0 {
		return ""
	}
	var v any
	d := json.NewDecoder(strings.NewReader(string(result)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return ""
	}
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		if v, ok = m[k]; !ok {
			return ""
		}
	}
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return fmt.Sprint(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
