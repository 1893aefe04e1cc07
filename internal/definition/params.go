package definition

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"docket.dev/docket/internal/job"
)

// Bounds on a job's params: how many, and how long a value may be (a template's size is
// known when the job is applied).
const (
	MaxParams          = 50
	MaxParamValueBytes = 4096
)

// paramName is what a param may be called: a template path part, and the tail of a
// DOCKET_PARAM_ variable.
var paramName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// ValidParamName says whether name may name a param.
func ValidParamName(name string) bool { return paramName.MatchString(name) }

func checkParams(s job.Spec, _ Limits) error {
	if len(s.Params) > MaxParams {
		return job.Invalid("params", "has %d params; the limit is %d", len(s.Params), MaxParams)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Params)) {
		if err := checkParam("params."+k, k, s.Params[k]); err != nil {
			return err
		}
	}
	if req := Required(s.Params); len(req) > 0 {
		switch {
		case s.Schedule != "":
			return job.Invalid("params."+req[0], "has no default, so a scheduled run could not set it; give it a default, or leave schedule out")
		case len(s.After) > 0:
			return job.Invalid("params."+req[0], "has no default, so a run started by after: could not set it; give it a default, or leave after out")
		}
	}
	return nil
}

func checkParam(field, name, value string) error {
	switch {
	case !paramName.MatchString(name):
		return job.Invalid(field, "%q is not a valid param name: use letters, digits and '_' (at most 63), not starting with a digit", name)
	case strings.ContainsRune(value, 0):
		return job.Invalid(field, "contains a NUL byte, which no program can be given; remove it")
	case len(value) > MaxParamValueBytes:
		return job.Invalid(field, "is %d bytes; a param's value may be at most %d", len(value), MaxParamValueBytes)
	}
	return nil
}

// Required returns the params that have no default, by name.
func Required(params map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if params[k] == "" {
			out = append(out, k)
		}
	}
	return out
}

// Defaults returns the params' defaults as a run's values (nil when there are none).
func Defaults(params map[string]string) map[string]string {
	if len(params) == 0 {
		return nil
	}
	return maps.Clone(params)
}

// ResolveParams returns the values a run of a job with declared params runs with: each
// given value over the default. An unknown param, a required one not given, or a bad
// value is a field error under field ("params").
func ResolveParams(field string, declared, given map[string]string) (map[string]string, error) {
	if len(given) > MaxParams {
		return nil, job.Invalid(field, "has %d params; a job has at most %d", len(given), MaxParams)
	}
	for _, k := range slices.Sorted(maps.Keys(given)) {
		if _, ok := declared[k]; !ok {
			if len(declared) == 0 {
				return nil, job.Invalid(field+"."+k, "is not a param of this job; it declares none")
			}
			return nil, job.Invalid(field+"."+k, "is not a param of this job; its params are %s", strings.Join(slices.Sorted(maps.Keys(declared)), ", "))
		}
		if err := checkParam(field+"."+k, k, given[k]); err != nil {
			return nil, err
		}
	}
	out := Defaults(declared)
	for k, v := range given {
		out[k] = v
	}
	for _, k := range slices.Sorted(maps.Keys(out)) {
		if out[k] == "" {
			return nil, job.Invalid(field+"."+k, "is required: this job's param %s has no default; set it (docket run --param %s=VALUE)", k, k)
		}
	}
	return out, nil
}

// ParamEnv is the variable a param reaches a run's process as: DOCKET_PARAM_ and its
// name in capitals.
func ParamEnv(name string) string { return "DOCKET_PARAM_" + strings.ToUpper(name) }

// withParams is scope and, under .Params, a job's params.
func withParams(scope Scope, params map[string]string) Scope {
	if len(params) == 0 {
		return scope
	}
	scope = maps.Clone(scope)
	fields := Scope{}
	for k := range params {
		fields[k] = Var{MaxLen: MaxParamValueBytes}
	}
	scope["Params"] = Var{Fields: fields}
	return scope
}

// paramValues are a run's params as template values ("Params.lr").
func paramValues(params map[string]string) map[string]string {
	out := make(map[string]string, len(params))
	for k, v := range params {
		out[fmt.Sprintf("Params.%s", k)] = v
	}
	return out
}
