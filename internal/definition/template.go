package definition

import (
	"fmt"
	"strings"
	"text/template"
)

// TemplateData is what a command's templates may use, as {{ .ScheduledDate }} and so on.
// For runs started on demand the scheduled time is the time the run was created.
type TemplateData struct {
	RunID         string
	Job           string
	Attempt       int
	ScheduledTime string // RFC 3339 in the job's zone
	ScheduledDate string // YYYY-MM-DD in the job's zone
	ScheduledUnix int64
}

// RenderCommand expands the templates in each argument of command. Normalize has
// rendered every argument with sample data, so an error here means a stored definition
// predates a change to TemplateData.
func RenderCommand(command []string, data TemplateData) ([]string, error) {
	out := make([]string, len(command))
	for i, arg := range command {
		s, err := renderArg(arg, data)
		if err != nil {
			return nil, fmt.Errorf("command[%d]: %w", i, err)
		}
		out[i] = s
	}
	return out, nil
}

// renderArg expands one argument; arguments without "{{" are returned as they are.
func renderArg(arg string, data TemplateData) (string, error) {
	if !strings.Contains(arg, "{{") {
		return arg, nil
	}
	t, err := template.New("arg").Option("missingkey=error").Parse(arg)
	if err != nil {
		return "", fmt.Errorf("template %q: %s", arg, strings.TrimPrefix(err.Error(), "template: arg:"))
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("template %q: %s; the variables are .RunID, .Job, .Attempt, .ScheduledTime, .ScheduledDate and .ScheduledUnix",
			arg, strings.TrimPrefix(err.Error(), "template: arg:"))
	}
	return b.String(), nil
}
