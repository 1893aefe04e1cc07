package definition

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"docket.dev/docket/internal/cron"
	"docket.dev/docket/internal/job"
)

// MaxNameLength leaves room in Kubernetes object names for the suffix a run adds.
const MaxNameLength = 52

// reservedPrefix marks labels, annotations and env names that Docket sets itself.
const reservedPrefix = "docket.dev/"

// Limits are the server's bounds on a definition.
type Limits struct {
	// DefaultDeadline applies when a definition sets none.
	DefaultDeadline time.Duration
	// MaxDeadline is the longest deadline a definition may set.
	MaxDeadline time.Duration
	// MaxRetries is the most retries a definition may ask for.
	MaxRetries int
	// MaxSteps is the most steps a workflow may have.
	MaxSteps int
}

// DefaultLimits returns the limits a server uses unless configured otherwise.
func DefaultLimits() Limits {
	return Limits{DefaultDeadline: time.Hour, MaxDeadline: 24 * time.Hour, MaxRetries: 10, MaxSteps: DefaultMaxSteps}
}

// Normalize checks every field of spec and fills in the defaults (timezone UTC,
// concurrency forbid, catchup latest, the server's default deadline). The error is a
// *job.FieldError for the first invalid field in reference order.
func Normalize(spec job.Spec, limits Limits) (job.Spec, error) {
	if spec.Timezone == "" {
		spec.Timezone = "UTC"
	}
	if spec.Concurrency == "" {
		spec.Concurrency = job.ConcurrencyForbid
	}
	if spec.Catchup == "" {
		spec.Catchup = job.CatchupLatest
	}
	if spec.Deadline == 0 {
		spec.Deadline = job.Duration(limits.DefaultDeadline)
	}
	checks := []func(job.Spec, Limits) error{
		checkNUL, checkName, checkImage, checkParams, checkCommand, checkResources, checkGPU, checkSchedule,
		checkPolicies, checkDeadline, checkRetries, checkRetryOn, checkExpectSuccess, checkEnv, checkExecSize,
		checkMetadata, checkKubernetes, checkQueue, checkSteps, checkAfter, checkArray,
	}
	for _, check := range checks {
		if err := check(spec, limits); err != nil {
			return spec, err
		}
	}
	return spec, nil
}

// checkQueue checks the names of the queues the job and its steps name; whether each
// exists is the store's to say.
func checkQueue(s job.Spec, _ Limits) error {
	for i, q := range append([]string{s.Queue}, stepQueueNames(s)...) {
		field := "queue"
		if i > 0 {
			field = fmt.Sprintf("steps[%d].queue", i-1)
		}
		if q != "" && !ValidQueueName(q) {
			return job.Invalid(field, "%q is not a queue name: use lowercase letters, digits and '-', at most %d", q, MaxNameLength)
		}
	}
	return nil
}

func stepQueueNames(s job.Spec) []string {
	out := make([]string, len(s.Steps))
	for i, st := range s.Steps {
		out[i] = st.Queue
	}
	return out
}

// ValidQueueName says whether name may name a queue: a DNS-1123 label of at most
// MaxNameLength characters, as a job's name.
func ValidQueueName(name string) bool { return ValidJobName(name) }

// ValidJobName says whether name may name a job: a DNS-1123 label of at most
// MaxNameLength characters.
func ValidJobName(name string) bool {
	return len(name) <= MaxNameLength && len(validation.IsDNS1123Label(name)) == 0
}

func checkName(s job.Spec, _ Limits) error {
	if s.Name == "" {
		return job.Invalid("name", "is required: a lowercase name such as nightly-train")
	}
	if len(s.Name) > MaxNameLength {
		return job.Invalid("name", "%q is %d characters; the limit is %d", s.Name, len(s.Name), MaxNameLength)
	}
	if errs := validation.IsDNS1123Label(s.Name); len(errs) > 0 {
		return job.Invalid("name", "%q is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit", s.Name)
	}
	return nil
}

func checkImage(s job.Spec, _ Limits) error {
	if s.Image == "" {
		return job.Invalid("image", "is required: a container image such as python:3.12")
	}
	if _, err := name.ParseReference(s.Image); err != nil {
		return job.Invalid("image", "%q is not a valid image reference: %s", s.Image, err)
	}
	return nil
}

// checkNUL refuses a NUL byte in any text of a definition: no program can be given one in
// an argument or a variable, and Kubernetes refuses it in names and annotations.
func checkNUL(s job.Spec, _ Limits) error {
	type text struct{ field, value string }
	texts := []text{{"name", s.Name}, {"image", s.Image}}
	for i, arg := range s.Command {
		texts = append(texts, text{fmt.Sprintf("command[%d]", i), arg})
	}
	texts = append(texts, text{"cpu", s.CPU}, text{"memory", s.Memory}, text{"schedule", s.Schedule},
		text{"timezone", s.Timezone}, text{"concurrency", string(s.Concurrency)}, text{"catchup", string(s.Catchup)})
	for _, m := range []struct {
		field  string
		values map[string]string
	}{{"env", s.Env}, {"labels", s.Labels}, {"annotations", s.Annotations}} {
		for _, k := range slices.Sorted(maps.Keys(m.values)) {
			texts = append(texts, text{m.field + "." + k, k + m.values[k]})
		}
	}
	if k := s.Kubernetes; k != nil {
		texts = append(texts, text{"kubernetes.namespace", k.Namespace})
		for _, key := range slices.Sorted(maps.Keys(k.NodeSelector)) {
			texts = append(texts, text{"kubernetes.node_selector." + key, key + k.NodeSelector[key]})
		}
		for i, t := range k.Tolerations {
			texts = append(texts, text{fmt.Sprintf("kubernetes.tolerations[%d]", i), t})
		}
		texts = append(texts, text{"kubernetes.service_account", k.ServiceAccount}, text{"kubernetes.priority_class", k.PriorityClass})
	}
	for _, t := range texts {
		if strings.ContainsRune(t.value, 0) {
			return job.Invalid(strings.ReplaceAll(t.field, "\x00", `\0`), "contains a NUL byte, which no program can be given; remove it")
		}
	}
	return nil
}

// Limits of what a run's process is given, as Linux counts them when it starts a program:
// each argument and each environment entry (NAME=value) is at most 32 pages with its
// terminating NUL (MAX_ARG_STRLEN), and all of them with a pointer each at most a quarter
// of the stack limit (2 MiB with the usual 8 MiB); a definition may take half of that,
// leaving the rest to the variables Docket and the server's host add.
const (
	maxArgBytes      = 32*4096 - 1
	maxArgvEnvBytes  = 1 << 20
	argOverheadBytes = 1 + 8 // the NUL and the pointer to it
)

func checkCommand(s job.Spec, _ Limits) error { return checkCommandIn(s, jobScope(s)) }

// jobScope is what the job's own command may name: its params, and, as a workflow's
// command is every step's unless the step sets its own, any step's result; each step's
// check then holds it to the steps upstream of it.
func jobScope(s job.Spec) Scope {
	names := make([]string, 0, len(s.Steps))
	for _, st := range s.Steps {
		names = append(names, st.Name)
	}
	return withParams(stepsScope(names), s.Params)
}

// checkCommandIn checks a command's arguments against what its templates may name.
func checkCommandIn(s job.Spec, scope Scope) error {
	for i, arg := range s.Command {
		field := fmt.Sprintf("command[%d]", i)
		n, err := checkTemplate(arg, scope)
		if err != nil {
			return job.Invalid(field, "%s", err)
		}
		if n > maxArgBytes {
			why := "pass large data in a file instead"
			if strings.Contains(arg, ".Result") {
				why = fmt.Sprintf("each step result it names may be %d bytes: name them in arguments of their own, or pass large data in a file", job.MaxResultBytes)
			}
			return job.Invalid(field, "can be %d bytes when a run starts; an argument may be at most %d (Linux's limit): %s", n, maxArgBytes, why)
		}
	}
	if len(s.Command) > 0 && strings.TrimSpace(s.Command[0]) == "" {
		return job.Invalid("command[0]", "is empty; it names the program to run")
	}
	return nil
}

// checkExecSize refuses a command and env that together are more than a program can be
// given; each part was checked on its own already.
func checkExecSize(s job.Spec, _ Limits) error {
	total := 0
	scope := jobScope(s)
	for _, arg := range s.Command {
		n, _ := checkTemplate(arg, scope)
		total += n + argOverheadBytes
	}
	field := "command"
	for k, v := range s.Env {
		total += len(k) + 1 + len(v) + argOverheadBytes
		field = "env"
	}
	for k := range s.Params { // each reaches the run as DOCKET_PARAM_NAME too
		total += len(ParamEnv(k)) + 1 + MaxParamValueBytes + argOverheadBytes
	}
	if total > maxArgvEnvBytes {
		return job.Invalid(field, "the command and env together can be %d bytes when a run starts; the limit is %d: pass large data in a file instead", total, maxArgvEnvBytes)
	}
	return nil
}

// CheckRunEnv refuses env given to one run that, added to its definition's command and env,
// is more than a program can be given; each variable was checked on its own already.
func CheckRunEnv(s job.Spec, env map[string]string) error {
	if len(env) == 0 {
		return nil
	}
	merged := maps.Clone(s.Env)
	if merged == nil {
		merged = make(map[string]string, len(env))
	}
	maps.Copy(merged, env)
	s.Env = merged
	return checkExecSize(s, Limits{})
}

// The most any executor can give one run: no node has more cores or memory, and larger
// values overflow what container engines are told. minMemory is less than any process
// runs in: a memory under it is a unit left out (64 for 64Mi), and no engine would start
// the run, or the kernel would end it at once.
var (
	maxCPU    = resource.MustParse("100k")
	maxMemory = resource.MustParse("1Pi")
	minMemory = resource.MustParse("1Mi")
)

func checkResources(s job.Spec, _ Limits) error {
	for _, r := range []struct {
		field, value, example string
		max                   resource.Quantity
	}{
		{"cpu", s.CPU, `"500m" or "2"`, maxCPU}, {"memory", s.Memory, `"512Mi" or "4Gi"`, maxMemory},
	} {
		if r.value == "" {
			return job.Invalid(r.field, "is required: a Kubernetes quantity such as %s", r.example)
		}
		q, err := resource.ParseQuantity(r.value)
		if err != nil {
			return job.Invalid(r.field, "%q is not a Kubernetes quantity; write one such as %s", r.value, r.example)
		}
		if q.Sign() <= 0 {
			return job.Invalid(r.field, "%q must be more than zero", r.value)
		}
		if q.Cmp(r.max) > 0 {
			return job.Invalid(r.field, "%q is more than any executor can give one run; the most is %s", r.value, r.max.String())
		}
		if r.field == "memory" && q.Cmp(minMemory) < 0 {
			return job.Invalid(r.field, "%q is %s bytes, too little for any process; %s", r.value, q.AsDec().String(), memoryHint(r.value))
		}
	}
	return nil
}

// memoryHint suggests the memory meant by a value too small to be one: the same number
// in MiB, when it is a whole number that could be one (64, 4096; not 1000000, bytes).
func memoryHint(value string) string {
	if n, err := strconv.ParseUint(value, 10, 32); err == nil && n > 0 && n <= 65536 {
		return fmt.Sprintf("write %q for %d MiB", value+"Mi", n)
	}
	return `write a unit, as in "512Mi" or "4Gi"`
}

func checkSchedule(s job.Spec, _ Limits) error {
	if s.Schedule != "" {
		sched, err := cron.Parse(s.Schedule)
		if err != nil {
			return job.Invalid("schedule", "%s", err)
		}
		// Five years from the start of a leap year hold every day of every month and
		// weekday, so a schedule that fires in none of them fires never (31 February).
		if sched.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.UTC).IsZero() {
			return job.Invalid("schedule", "%q never fires: no month has the day it names (February has at most 29 days; April, June, September and November 30); "+
				"for the last day of a month, run on days 28-31 and check the date in the command", s.Schedule)
		}
	}
	if s.Timezone == "Local" {
		return job.Invalid("timezone", "\"Local\" depends on the server; name an IANA zone such as America/New_York or UTC")
	}
	if _, err := time.LoadLocation(s.Timezone); err != nil {
		return job.Invalid("timezone", "%q is not an IANA time zone; use a name such as America/New_York, Europe/Berlin or UTC", s.Timezone)
	}
	return nil
}

func checkPolicies(s job.Spec, _ Limits) error {
	switch s.Concurrency {
	case job.ConcurrencyAllow, job.ConcurrencyForbid, job.ConcurrencyReplace:
	default:
		return job.Invalid("concurrency", "%q is not a policy; use allow, forbid or replace", s.Concurrency)
	}
	switch s.Catchup {
	case job.CatchupNone, job.CatchupLatest, job.CatchupAll:
	default:
		return job.Invalid("catchup", "%q is not a policy; use none, latest or all", s.Catchup)
	}
	return nil
}

func checkDeadline(s job.Spec, l Limits) error {
	d := time.Duration(s.Deadline)
	switch {
	case d < time.Second:
		return job.Invalid("deadline", "%s is too short; a deadline is at least 1s", s.Deadline)
	case d%time.Second != 0:
		return job.Invalid("deadline", "%s is not a whole number of seconds", s.Deadline)
	case l.MaxDeadline > 0 && d > l.MaxDeadline:
		return job.Invalid("deadline", "%s is longer than this server's maximum of %s", s.Deadline, job.Duration(l.MaxDeadline))
	}
	return nil
}

func checkRetries(s job.Spec, l Limits) error {
	if s.Retries < 0 || s.Retries > l.MaxRetries {
		return job.Invalid("retries", "%d is out of range; use 0 to %d", s.Retries, l.MaxRetries)
	}
	return nil
}

func checkExpectSuccess(s job.Spec, _ Limits) error {
	if d := time.Duration(s.ExpectSuccessWithin); d != 0 && d < time.Second {
		return job.Invalid("expect_success_within", "%s is too short; use at least 1s (e.g. 26h for a nightly job), or leave it out", s.ExpectSuccessWithin)
	}
	return nil
}

func checkEnv(s job.Spec, _ Limits) error { return ValidateEnv("env", s.Env) }

// envName is what a POSIX shell accepts as a variable name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidateEnv checks environment variables a user sets, in a definition or a run request;
// field names where they came from. Names are shell identifiers; DOCKET_ is reserved for
// the variables Docket sets on every run.
func ValidateEnv(field string, env map[string]string) error {
	// Sorted, so the first error reported is stable.
	for _, k := range slices.Sorted(maps.Keys(env)) {
		switch {
		case !envName.MatchString(k):
			return job.Invalid(field+"."+k, "%q is not a valid variable name: use letters, digits and '_', not starting with a digit", k)
		case strings.HasPrefix(strings.ToUpper(k), "DOCKET_"):
			return job.Invalid(field+"."+k, "names starting with DOCKET_ are set by Docket for every run")
		case strings.ContainsRune(env[k], 0):
			return job.Invalid(field+"."+k, "contains a NUL byte, which no program can be given; remove it")
		case len(k)+1+len(env[k]) > maxArgBytes:
			return job.Invalid(field+"."+k, "is %d bytes with its name; a variable may be at most %d (Linux's limit): pass large data in a file instead", len(k)+1+len(env[k]), maxArgBytes)
		}
	}
	return nil
}

func checkMetadata(s job.Spec, _ Limits) error {
	for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
		f := "labels." + k
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return job.Invalid(f, "%q is not a Kubernetes label key: %s", k, errs[0])
		}
		if reserved(k) {
			return job.Invalid(f, "keys under %s are set by Docket", reservedPrefix)
		}
		if errs := validation.IsValidLabelValue(s.Labels[k]); len(errs) > 0 {
			return job.Invalid(f, "%q is not a Kubernetes label value: %s", s.Labels[k], errs[0])
		}
	}
	total := 0
	for _, k := range slices.Sorted(maps.Keys(s.Annotations)) {
		f := "annotations." + k
		if errs := validation.IsQualifiedName(strings.ToLower(k)); len(errs) > 0 {
			return job.Invalid(f, "%q is not a Kubernetes annotation key: %s", k, errs[0])
		}
		if reserved(k) {
			return job.Invalid(f, "keys under %s are set by Docket", reservedPrefix)
		}
		total += len(k) + len(s.Annotations[k])
	}
	const limit = 256 << 10
	if total > limit {
		return job.Invalid("annotations", "total %d bytes; Kubernetes allows %d", total, limit)
	}
	return nil
}

// reserved says whether a label or annotation key is under Docket's prefix, in any case:
// DNS names are case-insensitive, so Docket.dev/job is docket.dev/job.
func reserved(key string) bool {
	return strings.HasPrefix(strings.ToLower(key), reservedPrefix)
}

func checkRetryOn(s job.Spec, _ Limits) error { return ValidateRetryOn("retry_on", s.RetryOn) }

// ValidateRetryOn checks retry rules: at most job.MaxRetryRules, each with an action
// (retry or exit) and at least one condition, patterns of at most 512 printable
// characters with * only at their end, exit codes digits.
func ValidateRetryOn(field string, rules []job.RetryRule) error {
	if len(rules) > job.MaxRetryRules {
		return job.Invalid(field, "has %d rules; at most %d", len(rules), job.MaxRetryRules)
	}
	for i, r := range rules {
		f := fmt.Sprintf("%s[%d]", field, i)
		if r.Action != job.RetryActionRetry && r.Action != job.RetryActionExit {
			return job.Invalid(f+".action", "%q is not retry or exit", r.Action)
		}
		if r.ExitCode == "" && r.Reason == "" && r.Message == "" {
			return job.Invalid(f, "needs at least one of exit_code, reason and message")
		}
		for _, c := range []struct{ name, p string }{{"exit_code", r.ExitCode}, {"reason", r.Reason}, {"message", r.Message}} {
			name, p := c.name, c.p
			body := strings.TrimSuffix(p, "*")
			switch {
			case len(p) > 512:
				return job.Invalid(f+"."+name, "is %d characters; at most 512", len(p))
			case strings.Contains(body, "*"):
				return job.Invalid(f+"."+name, "%q may hold * only at its end", p)
			case strings.ContainsFunc(p, func(c rune) bool { return c < ' ' || c == 0x7f }):
				return job.Invalid(f+"."+name, "holds a control character")
			case name == "exit_code" && strings.Trim(body, "0123456789") != "":
				return job.Invalid(f+"."+name, "%q is not an exit code (digits, with * at its end)", p)
			}
		}
	}
	return nil
}

// MaxGPU bounds a definition's gpu.
const MaxGPU = 64

func checkGPU(s job.Spec, _ Limits) error {
	if s.GPU < 0 || s.GPU > MaxGPU {
		return job.Invalid("gpu", "%d is out of range; use 0 to %d whole GPUs", s.GPU, MaxGPU)
	}
	return nil
}
