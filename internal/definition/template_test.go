package definition

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"text/template"

	"github.com/google/go-cmp/cmp"
)

// sample is a run's template data for the tests.
var sample = TemplateData{RunID: "01900000-0000-7000-8000-000000000000", Job: "nightly", Attempt: 2,
	ScheduledTime: "2026-11-23T03:00:00-05:00", ScheduledDate: "2026-11-23", ScheduledUnix: 1795420800}

func TestRenderCommand(t *testing.T) {
	t.Parallel()
	got, err := RenderCommand([]string{
		"train", "--date={{ .ScheduledDate }}", "{{.RunID}}/{{.Attempt}}", "{{ .Job }}@{{ .ScheduledUnix }}", "plain {",
		"{{- .ScheduledTime -}}", "a \n{{- .Job -}}\t b", `{{ "{{" }}.Literal{{"}}"}}`, "{{`raw {{ .Job }}`}}", "}} {",
	}, sample)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"train", "--date=2026-11-23", sample.RunID + "/2", "nightly@1795420800", "plain {",
		"2026-11-23T03:00:00-05:00", "anightlyb", "{{.Literal}}", "raw {{ .Job }}", "}} {",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RenderCommand (-want +got):\n%s", diff)
	}
}

// TestRenderCommandStoredBefore renders a definition stored before templates were limited
// to substitutions: the run is refused with what to do, and nothing is executed.
func TestRenderCommandStoredBefore(t *testing.T) {
	t.Parallel()
	_, err := RenderCommand([]string{"echo", "{{ range 100000 }}{{ range 100000 }}x{{ end }}{{ end }}"}, sample)
	if err == nil || !strings.Contains(err.Error(), "command[1]: ") || !strings.Contains(err.Error(), "apply the job again with substitutions only") {
		t.Errorf("RenderCommand of a loop: %v", err)
	}
}

// TestTemplateMessages checks what a refused template says to write instead.
func TestTemplateMessages(t *testing.T) {
	t.Parallel()
	tests := []struct{ arg, want string }{
		{"{{ .Tomorrow }}", "{{ .Tomorrow }} names no value; the values are .Attempt, .Job, .RunID, .ScheduledDate, .ScheduledTime and .ScheduledUnix"},
		{"{{ .Job.Name }}", "{{ .Job.Name }}: .Job is a value with nothing below it; write {{ .Job }}"},
		{"x{{ if .Job }}y{{ end }}", `"{{ if .Job }}" is not a substitution: a command's templates are {{ .Name }}`},
		{"{{ .Job", `"{{ .Job" opens "{{" and never closes it with "}}"`},
		{`{{ "\q" }}`, `"{{ \"\\q\" }}": "\q" is not a valid quoted string`},
		{"{{" + strings.Repeat("x", 1000) + "}}", `"{{xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"... is not a substitution`},
	}
	for _, tt := range tests {
		_, err := checkTemplate(tt.arg, runScope)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("checkTemplate(%q) = %v, want a message starting %q", tt.arg, err, tt.want)
		}
	}
}

// TestScopeGroups checks names below a group, which definitions' later blocks
// (.Params.NAME) add to the scope.
func TestScopeGroups(t *testing.T) {
	t.Parallel()
	scope := Scope{"Job": {MaxLen: 52}, "Params": {Fields: Scope{"lr": {MaxLen: 4}, "epochs": {MaxLen: 3}}}}
	tmpl, err := ParseTemplate("--lr={{ .Params.lr }} --epochs={{.Params.epochs}}")
	if err != nil {
		t.Fatal(err)
	}
	n, err := tmpl.Check(scope)
	if err != nil || n != len("--lr= --epochs=")+4+3 {
		t.Errorf("Check = %d, %v; want %d", n, err, len("--lr= --epochs=")+7)
	}
	if got := tmpl.Render(map[string]string{"Params.lr": "0.01", "Params.epochs": "10"}); got != "--lr=0.01 --epochs=10" {
		t.Errorf("Render = %q", got)
	}
	for arg, want := range map[string]string{
		"{{ .Params }}":        "{{ .Params }} is not a value; name one below it: .Params.epochs and .Params.lr",
		"{{ .Params.batch }}":  "{{ .Params.batch }} names no value; below .Params are .Params.epochs and .Params.lr",
		"{{ .Params.lr.x }}":   "{{ .Params.lr.x }}: .Params.lr is a value with nothing below it; write {{ .Params.lr }}",
		"{{ .Unknown.thing }}": "{{ .Unknown }} names no value; the values are .Job and .Params",
	} {
		tmpl, err := ParseTemplate(arg)
		if err == nil {
			_, err = tmpl.Check(scope)
		}
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", arg, err, want)
		}
	}
}

// FuzzTemplate checks the template checker on any argument: it never panics, an accepted
// template renders within the length it promised, and exactly as Go's text/template
// renders it, which is what Docket ran before templates were limited to substitutions.
func FuzzTemplate(f *testing.F) {
	for _, seed := range []string{
		"plain", "{{ .ScheduledDate }}", "--date={{.ScheduledDate}}-{{ .Attempt }}", "{{- .Job -}}", " {{- .Job }} x",
		`{{ "{{" }}`, "{{`x`}}", "{{ range 3 }}x{{ end }}", "{{ .Job", "{{ .Job.x }}", `{{ "\x00" }}`, "}}{{", "{{-3}}", `{{ "a " }}{{- .Job }}`, "a {{ \"b \" -}} c",
	} {
		f.Add(seed)
	}
	values := sample.values()
	f.Fuzz(func(t *testing.T, arg string) {
		tmpl, err := ParseTemplate(arg)
		if err != nil {
			return
		}
		maxLen, err := tmpl.Check(runScope)
		if err != nil {
			return
		}
		got := tmpl.Render(values)
		if len(got) > maxLen {
			t.Fatalf("%q rendered %d bytes, more than the %d Check promised", arg, len(got), maxLen)
		}
		gt, err := template.New("arg").Option("missingkey=error").Parse(arg)
		if err != nil {
			t.Fatalf("%q is accepted, but text/template does not parse it: %v", arg, err)
		}
		var want strings.Builder
		if err := gt.Execute(&want, sample); err != nil {
			t.Fatalf("%q is accepted, but text/template cannot render it: %v", arg, err)
		}
		if got != want.String() {
			t.Fatalf("%q renders %q; text/template renders %q", arg, got, want.String())
		}
	})
}

// TestResultGaps checks what a run's events say of a step result's substitution that
// renders as "": a misspelt key (with the keys there are), a key under one, a result that
// is not an object there, a step that reported none; a value that is there, null
// included, says nothing, and the list is bounded.
func TestResultGaps(t *testing.T) {
	t.Parallel()
	steps := map[string]json.RawMessage{
		"extract": json.RawMessage(`{"path": "s3://b/k", "rows": 12, "meta": {"by": "ana"}, "gone": null}`),
		"list":    json.RawMessage(`[1, 2]`),
	}
	got := ResultGaps([]string{
		"load", "{{ .Steps.extract.Result.pth }}", "--rows={{ .Steps.extract.Result.rows }}",
		"{{ .Steps.extract.Result.meta.who }}", "{{ .Steps.extract.Result.path.x }}", "{{ .Steps.extract.Result.gone }}",
		"{{ .Steps.list.Result.first }}", "{{ .Steps.train.Result }}", "{{ .Steps.extract.Result.pth }} again",
	}, steps)
	want := []string{
		`{{ .Steps.extract.Result.pth }} rendered as "": step extract's result has no key "pth" (its keys: gone, meta, path, rows)`,
		`{{ .Steps.extract.Result.meta.who }} rendered as "": step extract's result has no key "who" under "meta" (its keys: by)`,
		`{{ .Steps.extract.Result.path.x }} rendered as "": step extract's result under "path" is not an object`,
		`{{ .Steps.list.Result.first }} rendered as "": step list's result is not an object`,
		`{{ .Steps.train.Result }} rendered as "": step train reported no result`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ResultGaps (-want +got):\n%s", diff)
	}

	many := map[string]any{}
	for i := range 30 {
		many[fmt.Sprintf("k%02d", i)] = i
	}
	result, _ := json.Marshal(many)
	var command []string
	for i := range 10 {
		command = append(command, fmt.Sprintf("{{ .Steps.big.Result.missing%d }}", i))
	}
	gaps := ResultGaps(command, map[string]json.RawMessage{"big": result})
	if len(gaps) != maxGaps || !strings.HasSuffix(gaps[0], "k19 and 10 more)") {
		t.Errorf("gaps of a result with 30 keys, 10 missing: %d, first %q; want %d, its keys cut after 20", len(gaps), gaps[0], maxGaps)
	}
}
