package awsbatch

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
)

// AWS Batch's parameters are Docket's params. A registered definition's parameters are
// the job's params with their defaults, and each command argument Ref::NAME is the
// template {{ .Params.NAME }}, so a run renders it from its params as Docket's own runs
// do, and a job applied with Docket's YAML shows its params to AWS clients as Ref::NAME.
// A Ref::NAME with no default in parameters gets the default "Ref::NAME": a run that
// does not set it keeps the argument as written, as AWS Batch leaves it. SubmitJob's
// parameters are the run's params.

// maxParameters caps the parameters of a definition or a submission (AWS's own cap).
const maxParameters = 100

// refPrefix marks an argument that is a parameter in AWS Batch.
const refPrefix = "Ref::"

// paramTemplate is the template an argument Ref::NAME becomes.
func paramTemplate(name string) string { return "{{ .Params." + name + " }}" }

// paramArg matches an argument that is exactly one param's template.
var paramArg = regexp.MustCompile(`^\{\{\s*\.Params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$`)

// checkParameter refuses a parameter name that cannot be a Docket param.
func checkParameter(field, name string) error {
	if !definition.ValidParamName(name) {
		return clientErr("%s: %q cannot be a Docket param: use letters, digits and '_', not starting with a digit (at most 63)", field, job.Truncate(name, 100))
	}
	return nil
}

// registeredParams maps a definition's command and parameters onto a job's command and
// params.
func registeredParams(command []string, parameters map[string]string) ([]string, map[string]string, error) {
	if len(parameters) > maxParameters {
		return nil, nil, clientErr("parameters: %d given; at most %d", len(parameters), maxParameters)
	}
	params := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(parameters)) {
		if err := checkParameter("parameters", k); err != nil {
			return nil, nil, err
		}
		params[k] = parameters[k]
	}
	out := make([]string, len(command))
	for i, arg := range command {
		name, ok := strings.CutPrefix(arg, refPrefix)
		if !ok {
			out[i] = arg
			continue
		}
		if err := checkParameter(fmt.Sprintf("containerProperties.command[%d]", i), name); err != nil {
			return nil, nil, err
		}
		if _, given := params[name]; !given {
			params[name] = arg
		}
		out[i] = paramTemplate(name)
	}
	if len(params) == 0 {
		params = nil
	}
	return out, params, nil
}

// awsCommand is a command as AWS shows it: each argument that is one param's template
// as Ref::NAME.
func awsCommand(command []string) []string {
	out := make([]string, len(command))
	for i, arg := range command {
		if m := paramArg.FindStringSubmatch(arg); m != nil {
			arg = refPrefix + m[1]
		}
		out[i] = arg
	}
	return out
}

// runCommand is a run's command as AWS shows a job's: each argument that is one param's
// template replaced by the run's value (Ref::NAME when it has none).
func runCommand(command []string, params map[string]string) []string {
	out := awsCommand(command)
	for i, arg := range out {
		if name, ok := strings.CutPrefix(arg, refPrefix); ok && command[i] != arg {
			if v, found := params[name]; found {
				out[i] = v
			}
		}
	}
	return out
}

// awsParameters are params as AWS shows parameters: their values, leaving out a
// default that is its own Ref::NAME and a param with none (a run must set it).
func awsParameters(params map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range params {
		if v != "" && v != refPrefix+k {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// submittedParams resolves a submission's parameters against the definition: those the
// job declares are the run's params (over their defaults); in an overriding command,
// Ref::NAME of a declared param is its template, and of one only the submission gives
// is replaced by its value, as AWS Batch does. A parameter that is neither is refused,
// naming the definition's.
func submittedParams(def job.Definition, command []string, given map[string]string) ([]string, map[string]string, error) {
	if len(given) > maxParameters {
		return nil, nil, clientErr("parameters: %d given; at most %d", len(given), maxParameters)
	}
	used := map[string]bool{}
	var out []string
	if command != nil {
		out = make([]string, len(command))
		for i, arg := range command {
			name, ok := strings.CutPrefix(arg, refPrefix)
			_, declared := def.Params[name]
			v, byValue := given[name]
			switch {
			case ok && declared:
				arg = paramTemplate(name)
			case ok && byValue:
				arg, used[name] = v, true
			}
			out[i] = arg
		}
	}
	declared := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(given)) {
		if _, ok := def.Params[k]; ok {
			declared[k] = given[k]
			continue
		}
		if !used[k] {
			names := "none"
			if len(def.Params) > 0 {
				names = strings.Join(slices.Sorted(maps.Keys(def.Params)), ", ")
			}
			return nil, nil, clientErr("parameters.%s: job definition %s:%d has no parameter %s, and the command does not name it (its parameters: %s)",
				job.Truncate(k, 100), def.Name, def.Revision, job.Truncate(k, 100), names)
		}
	}
	params, err := definition.ResolveParams("parameters", def.Params, declared)
	if err != nil {
		return nil, nil, err
	}
	return out, params, nil
}
