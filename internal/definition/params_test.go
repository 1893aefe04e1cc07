package definition

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
)

func TestParams(t *testing.T) {
	t.Parallel()
	base := job.Spec{Name: "train", Image: "python:3.12", CPU: "1", Memory: "1Gi",
		Command: []string{"train", "--lr={{ .Params.lr }}", "{{ .Params.date }}"}, Params: map[string]string{"lr": "0.01", "date": ""}}
	tests := []struct {
		name  string
		edit  func(*job.Spec)
		field string // "" when the spec is good
	}{
		{"good", func(*job.Spec) {}, ""},
		{"template names no param", func(s *job.Spec) { s.Command[1] = "{{ .Params.rate }}" }, "command[1]"},
		{"params is not a value", func(s *job.Spec) { s.Command[1] = "{{ .Params }}" }, "command[1]"},
		{"no params declared", func(s *job.Spec) { s.Params = nil }, "command[1]"},
		{"bad name", func(s *job.Spec) { s.Params["a-b"] = "1" }, "params.a-b"},
		{"NUL in a default", func(s *job.Spec) { s.Params["lr"] = "0\x00" }, "params.lr"},
		{"required with a schedule", func(s *job.Spec) { s.Schedule = "@daily" }, "params.date"},
		{"required with after", func(s *job.Spec) { s.After = []job.After{{Job: "load"}} }, "params.date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			s.Command = append([]string(nil), base.Command...)
			s.Params = map[string]string{"lr": "0.01", "date": ""}
			if tt.name == "no params declared" {
				s.Params = nil
			}
			tt.edit(&s)
			_, err := Normalize(s, DefaultLimits())
			var fe *job.FieldError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("Normalize: %v", err)
			case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
				t.Fatalf("Normalize: %v; want a field error on %s", err, tt.field)
			}
		})
	}

	resolved := []struct {
		name  string
		given map[string]string
		want  map[string]string
		field string
	}{
		{"defaults under given", map[string]string{"date": "2026-11-23"}, map[string]string{"lr": "0.01", "date": "2026-11-23"}, ""},
		{"override a default", map[string]string{"date": "d", "lr": "0.1"}, map[string]string{"lr": "0.1", "date": "d"}, ""},
		{"missing required", map[string]string{"lr": "0.1"}, nil, "params.date"},
		{"unknown", map[string]string{"date": "d", "epochs": "3"}, nil, "params.epochs"},
		{"set empty", map[string]string{"date": ""}, nil, "params.date"},
	}
	for _, tt := range resolved {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveParams("params", base.Params, tt.given)
			var fe *job.FieldError
			if tt.field != "" {
				if !errors.As(err, &fe) || fe.Field != tt.field {
					t.Fatalf("ResolveParams: %v; want a field error on %s", err, tt.field)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); err != nil || diff != "" {
				t.Fatalf("ResolveParams: err %v (-want +got):\n%s", err, diff)
			}
			cmd, err := RenderCommand(base.Command, TemplateData{Params: got})
			if want := []string{"train", "--lr=" + got["lr"], got["date"]}; err != nil || !cmp.Equal(want, cmd) {
				t.Errorf("RenderCommand = %q, %v; want %q", cmd, err, want)
			}
		})
	}
}
