package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// awsCLI is Debian's AWS CLI v2; the pip one that may come first on PATH is another.
const awsCLI = "/usr/bin/aws"

// needAWS skips a test without Debian's awscli, unless DOCKET_TEST_AWS=require.
func needAWS(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(awsCLI); err != nil {
		if os.Getenv("DOCKET_TEST_AWS") == "require" {
			t.Fatalf("%s is required (DOCKET_TEST_AWS=require): %v", awsCLI, err)
		}
		t.Skipf("%s not installed (Debian's awscli); scripts/test installs it", awsCLI)
	}
}

// awsClient runs /usr/bin/aws against a server with a key pair.
type awsClient struct {
	t          *testing.T
	url        string
	id, secret string
}

func (c awsClient) run(args ...string) (string, string, int) {
	c.t.Helper()
	cmd := exec.Command(awsCLI, append([]string{"--endpoint-url", c.url, "--output", "json"}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_PAGER=", "AWS_MAX_ATTEMPTS=1", "AWS_DEFAULT_REGION=eu-west-3",
		"AWS_ACCESS_KEY_ID="+c.id, "AWS_SECRET_ACCESS_KEY="+c.secret, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("aws %v: %v", args, err)
	}
	return out.String(), errb.String(), 0
}

// ok runs the CLI, fails the test unless it exits 0, and decodes its JSON into v.
func (c awsClient) ok(v any, args ...string) {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("aws %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			c.t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

type awsJob struct {
	JobID        string
	JobName      string
	Status       string
	StatusReason string
	CreatedAt    int64
	StartedAt    int64
	StoppedAt    int64
	IsCancelled  bool
	IsTerminated bool
	Container    struct {
		ExitCode      *int
		LogStreamName string
		Command       []string
	}
	Attempts        []struct{ StatusReason string }
	Timeout         struct{ AttemptDurationSeconds int }
	ArrayProperties struct {
		Size          int
		Index         *int
		StatusSummary map[string]int
	}
}

func (c awsClient) describe(id string) awsJob {
	c.t.Helper()
	var out struct{ Jobs []awsJob }
	c.ok(&out, "batch", "describe-jobs", "--jobs", id)
	if len(out.Jobs) != 1 {
		c.t.Fatalf("describe-jobs %s: %d jobs", id, len(out.Jobs))
	}
	return out.Jobs[0]
}

// waitStatus polls describe-jobs (AWS has no waiter for jobs) until the job is in one of
// statuses.
func (c awsClient) waitStatus(id string, statuses ...string) awsJob {
	c.t.Helper()
	var j awsJob
	waitFor(c.t, 30*time.Second, "job "+id+" "+strings.Join(statuses, "|"), func() bool {
		j = c.describe(id)
		for _, s := range statuses {
			if j.Status == s {
				return true
			}
		}
		return false
	})
	return j
}

func (c awsClient) submit(args ...string) string {
	c.t.Helper()
	var out struct{ JobID string }
	c.ok(&out, append([]string{"batch", "submit-job", "--job-queue", "default"}, args...)...)
	return out.JobID
}

// TestAWSBatchCLI drives the AWS Batch face with the real AWS CLI: definitions and their
// revisions, submissions with parameters, retries, an array, listings with their filters
// and pages, the logs, a timeout, cancel and terminate, on SQLite and PostgreSQL.
func TestAWSBatchCLI(t *testing.T) {
	needAWS(t)
	forEachStore(t, func(t *testing.T, storeFlags []string) {
		dir := t.TempDir()
		s := startServer(t, dir+"/data", append([]string{"--retry-backoff", "100ms", "--parallelism", "2"}, storeFlags...)...)
		aws := awsClient{t: t, url: s.URL, id: "AKIDEXAMPLE", secret: "x"}

		// Two registrations of a changed definition are revisions 1 and 2.
		var reg struct {
			JobDefinitionArn string
			Revision         int
		}
		props := `{"image":"busybox","vcpus":1,"memory":64,"command":["sh","-c","echo first"]}`
		aws.ok(&reg, "batch", "register-job-definition", "--job-definition-name", "greet", "--type", "container", "--container-properties", props)
		if reg.Revision != 1 {
			t.Fatalf("first registration: revision %d", reg.Revision)
		}
		props = `{"image":"busybox","resourceRequirements":[{"type":"VCPU","value":"0.5"},{"type":"MEMORY","value":"64"}],"command":["sh","-c","echo hello $0 attempt=$AWS_BATCH_JOB_ATTEMPT queue=$AWS_BATCH_JQ_NAME","Ref::who"]}`
		aws.ok(&reg, "batch", "register-job-definition", "--job-definition-name", "greet", "--type", "container", "--container-properties", props, "--parameters", "who=world")
		if reg.Revision != 2 || !strings.HasSuffix(reg.JobDefinitionArn, ":eu-west-3:000000000000:job-definition/greet:2") && !strings.HasSuffix(reg.JobDefinitionArn, ":job-definition/greet:2") {
			t.Fatalf("second registration: %+v", reg)
		}
		// A job applied with Docket's YAML is a job definition too.
		yaml := writeFile(t, dir, "native.yaml", "name: native\nimage: busybox\ncommand: [\"echo\", \"native\"]\ncpu: 250m\nmemory: 32Mi\n")
		if _, errOut, code := docket(t, []string{"DOCKET_SERVER=" + s.URL, "DOCKET_CONFIG=" + dir + "/none.yaml"}, "apply", "-f", yaml); code != 0 {
			t.Fatalf("docket apply: %s", errOut)
		}
		var defs struct {
			JobDefinitions []struct {
				JobDefinitionName string
				Revision          int
				Status            string
			}
		}
		aws.ok(&defs, "batch", "describe-job-definitions", "--job-definition-name", "greet")
		if len(defs.JobDefinitions) != 2 || defs.JobDefinitions[0].Revision != 2 || defs.JobDefinitions[1].Revision != 1 {
			t.Errorf("describe-job-definitions greet: %+v", defs.JobDefinitions)
		}
		aws.ok(&defs, "batch", "describe-job-definitions", "--job-definitions", "native")
		if len(defs.JobDefinitions) != 1 || defs.JobDefinitions[0].Status != "ACTIVE" {
			t.Errorf("describe-job-definitions native: %+v", defs.JobDefinitions)
		}

		// A submission with a parameter, followed to its end.
		id := aws.submit("--job-name", "hi-ana", "--job-definition", "greet", "--parameters", "who=ana")
		j := aws.waitStatus(id, "SUCCEEDED", "FAILED")
		if j.Status != "SUCCEEDED" || j.Container.ExitCode == nil || *j.Container.ExitCode != 0 || len(j.Attempts) != 1 ||
			j.CreatedAt < 1e12 || j.StoppedAt < j.StartedAt || j.Container.LogStreamName != "greet/default/"+id || j.JobName != "hi-ana" {
			t.Errorf("the job as described: %+v", j)
		}
		var logs struct{ Events []struct{ Message string } }
		aws.ok(&logs, "logs", "get-log-events", "--log-group-name", "/aws/batch/job", "--log-stream-name", j.Container.LogStreamName, "--start-from-head")
		if len(logs.Events) != 1 || logs.Events[0].Message != "hello ana attempt=1 queue=default" {
			t.Errorf("get-log-events: %+v", logs.Events)
		}
		if out, errOut, code := aws.run("logs", "tail", "/aws/batch/job", "--log-stream-names", j.Container.LogStreamName, "--since", "1h"); code != 0 ||
			!strings.Contains(out, j.Container.LogStreamName+" hello ana attempt=1 queue=default") {
			t.Errorf("logs tail: exit %d %s %s", code, out, errOut)
		}

		// Two attempts of a failing command, then FAILED.
		failing := aws.submit("--job-name", "flaky", "--job-definition", "greet:1", "--retry-strategy", "attempts=2",
			"--container-overrides", `{"command":["sh","-c","echo try $AWS_BATCH_JOB_ATTEMPT; exit 3"]}`)
		j = aws.waitStatus(failing, "SUCCEEDED", "FAILED")
		if j.Status != "FAILED" || len(j.Attempts) != 2 || j.Container.ExitCode == nil || *j.Container.ExitCode != 3 {
			t.Errorf("a failing job with 2 attempts: %+v", j)
		}

		// An array of 3: its children by PARENT:INDEX, the parent's summary.
		arr := aws.submit("--job-name", "fan", "--job-definition", "greet:1", "--array-properties", "size=3",
			"--container-overrides", `{"command":["sh","-c","echo $AWS_BATCH_JOB_ARRAY_INDEX"]}`)
		j = aws.waitStatus(arr, "SUCCEEDED", "FAILED")
		if j.Status != "SUCCEEDED" || j.ArrayProperties.Size != 3 || j.ArrayProperties.StatusSummary["SUCCEEDED"] != 3 {
			t.Errorf("the array: %+v", j)
		}
		if c := aws.describe(arr + ":2"); c.Status != "SUCCEEDED" || c.ArrayProperties.Index == nil || *c.ArrayProperties.Index != 2 {
			t.Errorf("child 2: %+v", c)
		}
		aws.ok(&logs, "logs", "get-log-events", "--log-group-name", "/aws/batch/job", "--log-stream-name", aws.describe(arr+":2").Container.LogStreamName)
		if len(logs.Events) != 1 || logs.Events[0].Message != "2" {
			t.Errorf("child 2's log: %+v", logs.Events)
		}
		type list struct {
			JobSummaryList []struct{ JobID, JobName, Status string }
			NextToken      string
		}
		var l list
		aws.ok(&l, "batch", "list-jobs", "--array-job-id", arr, "--job-status", "SUCCEEDED")
		if len(l.JobSummaryList) != 3 || l.JobSummaryList[0].JobID != arr+":2" {
			t.Errorf("list-jobs --array-job-id: %+v", l)
		}

		if storeFlags != nil {
			return // the rest reads through the same store calls; once, on SQLite, keeps this test short
		}

		// A timeout is kept as the run's deadline; cancel and terminate. Two sleepers fill
		// the server's two slots, so a third waits RUNNABLE.
		sleeper := aws.submit("--job-name", "sleeper", "--job-definition", "greet:1", "--timeout", "attemptDurationSeconds=60",
			"--container-overrides", `{"command":["sleep","300"]}`)
		other := aws.submit("--job-name", "sleeper-2", "--job-definition", "greet:1", "--container-overrides", `{"command":["sleep","300"]}`)
		aws.waitStatus(sleeper, "RUNNING")
		aws.waitStatus(other, "RUNNING")
		if j := aws.describe(sleeper); j.Timeout.AttemptDurationSeconds != 60 {
			t.Errorf("the timeout: %+v", j.Timeout)
		}
		waiting := aws.submit("--job-name", "waiting", "--job-definition", "greet:1")
		if j := aws.describe(waiting); j.Status != "RUNNABLE" {
			t.Errorf("a job with no slot free: %s", j.Status)
		}
		// list-jobs without a status: RUNNING only.
		aws.ok(&l, "batch", "list-jobs", "--job-queue", "default")
		if len(l.JobSummaryList) != 2 || l.JobSummaryList[0].Status != "RUNNING" || l.JobSummaryList[1].Status != "RUNNING" {
			t.Errorf("list-jobs default: %+v", l)
		}
		// Cancel leaves a RUNNING job be; terminate stops it.
		aws.ok(nil, "batch", "cancel-job", "--job-id", other, "--reason", "not that one")
		aws.ok(nil, "batch", "cancel-job", "--job-id", waiting, "--reason", "changed my mind")
		if j := aws.waitStatus(waiting, "FAILED"); !j.IsCancelled || !strings.Contains(j.StatusReason, "changed my mind") {
			t.Errorf("the cancelled job: %+v", j)
		}
		if j := aws.describe(other); j.Status != "RUNNING" {
			t.Errorf("cancel-job of a RUNNING job: %s", j.Status)
		}
		aws.ok(nil, "batch", "terminate-job", "--job-id", sleeper, "--reason", "enough")
		aws.ok(nil, "batch", "terminate-job", "--job-id", other, "--reason", "enough")
		if j := aws.waitStatus(sleeper, "FAILED"); !j.IsTerminated {
			t.Errorf("the terminated job: %+v", j)
		}
		aws.waitStatus(other, "FAILED")

		// Filters list every status; pages of 2, followed by the CLI and one by one.
		aws.ok(&l, "batch", "list-jobs", "--job-queue", "default", "--filters", "name=JOB_NAME,values=sleeper*")
		if len(l.JobSummaryList) != 2 || l.JobSummaryList[0].JobName != "sleeper-2" || l.JobSummaryList[1].JobName != "sleeper" {
			t.Errorf("list-jobs JOB_NAME sleeper*: %+v", l)
		}
		aws.ok(&l, "batch", "list-jobs", "--job-queue", "default", "--job-status", "FAILED", "--page-size", "2")
		if len(l.JobSummaryList) != 4 || l.NextToken != "" {
			t.Errorf("list-jobs FAILED by pages of 2: %d jobs, token %q; want 4 (flaky, sleeper, sleeper-2, waiting)", len(l.JobSummaryList), l.NextToken)
		}
		aws.ok(&l, "batch", "list-jobs", "--job-queue", "default", "--job-status", "FAILED", "--max-results", "2", "--no-paginate")
		if len(l.JobSummaryList) != 2 || l.NextToken == "" {
			t.Errorf("list-jobs --no-paginate: %d jobs, token %q", len(l.JobSummaryList), l.NextToken)
		}
		var rest list
		aws.ok(&rest, "batch", "list-jobs", "--job-queue", "default", "--job-status", "FAILED", "--max-results", "2", "--next-token", l.NextToken, "--no-paginate")
		if len(rest.JobSummaryList) != 2 || rest.JobSummaryList[0].JobID == l.JobSummaryList[0].JobID {
			t.Errorf("the second page: %+v", rest)
		}

		// Client mistakes: the CLI's exit 254 and the ClientException's sentence.
		_, errOut, code := aws.run("batch", "submit-job", "--job-name", "x", "--job-queue", "nope", "--job-definition", "greet")
		if code != 254 || !strings.Contains(errOut, "(ClientException)") || !strings.Contains(errOut, `job queue "nope" does not exist`) {
			t.Errorf("unknown queue: exit %d %s", code, errOut)
		}
		_, errOut, code = aws.run("batch", "register-job-definition", "--job-definition-name", "gpu", "--type", "container", "--container-properties",
			`{"image":"busybox","vcpus":1,"memory":64,"resourceRequirements":[{"type":"GPU","value":"1"}]}`)
		if code != 254 || !strings.Contains(errOut, "gpu: asks for 1 GPUs, but this server's executor cannot give GPUs") {
			t.Errorf("a GPU: exit %d %s", code, errOut)
		}
		_, errOut, code = aws.run("logs", "get-log-events", "--log-group-name", "/aws/batch/job", "--log-stream-name", "greet/default/nope")
		if code != 254 || !strings.Contains(errOut, "ResourceNotFoundException") {
			t.Errorf("a missing stream: exit %d %s", code, errOut)
		}
		// Unsigned requests are taken too on an open loopback server.
		if _, errOut, code := aws.run("--no-sign-request", "batch", "describe-job-queues"); code != 0 {
			t.Errorf("unsigned on an open server: exit %d %s", code, errOut)
		}
	})
}

// TestAWSBatchKeys: with a tokens file, every request must be signed by a key pair made
// by docket token new --aws, with a role strong enough.
func TestAWSBatchKeys(t *testing.T) {
	t.Parallel()
	needAWS(t)
	dir := t.TempDir()
	type key struct {
		Name               string
		AWSAccessKeyID     string `json:"aws_access_key_id"`
		AWSSecretAccessKey string `json:"aws_secret_access_key"`
	}
	keys := map[string]key{}
	file := "tokens:\n"
	for _, role := range []string{"viewer", "editor"} {
		out, errOut, code := docket(t, nil, "token", "new", "--name", "ana-"+role, "--role", role, "--aws", "-o", "json")
		var k key
		if code != 0 || json.Unmarshal([]byte(out), &k) != nil || k.AWSAccessKeyID == "" {
			t.Fatalf("token new --aws: exit %d %s %s", code, out, errOut)
		}
		keys[role] = k
		file += "  - {name: ana-" + role + ", role: " + role + ", aws_access_key_id: " + k.AWSAccessKeyID + ", aws_secret_access_key: \"" + k.AWSSecretAccessKey + "\"}\n"
	}
	s := startServer(t, dir+"/data", "--tokens-file", writeFile(t, dir, "tokens.yaml", file))
	editor := awsClient{t: t, url: s.URL, id: keys["editor"].AWSAccessKeyID, secret: keys["editor"].AWSSecretAccessKey}
	viewer := awsClient{t: t, url: s.URL, id: keys["viewer"].AWSAccessKeyID, secret: keys["viewer"].AWSSecretAccessKey}
	props := `{"image":"busybox","vcpus":1,"memory":64,"command":["echo","hi"]}`
	editor.ok(nil, "batch", "register-job-definition", "--job-definition-name", "hi", "--type", "container", "--container-properties", props)
	id := editor.submit("--job-name", "hi", "--job-definition", "hi")
	if j := editor.waitStatus(id, "SUCCEEDED", "FAILED"); j.Status != "SUCCEEDED" {
		t.Errorf("a signed submission: %+v", j)
	}
	if _, errOut, code := viewer.run("batch", "submit-job", "--job-name", "x", "--job-queue", "default", "--job-definition", "hi"); code != 254 || !strings.Contains(errOut, "AccessDeniedException") {
		t.Errorf("submit as viewer: exit %d %s", code, errOut)
	}
	viewer.ok(nil, "batch", "describe-jobs", "--jobs", id)
	wrong := editor
	wrong.secret = "not-the-secret-at-all-0000000000000000000"
	if _, errOut, code := wrong.run("batch", "describe-jobs", "--jobs", id); code != 254 || !strings.Contains(errOut, "InvalidSignatureException") {
		t.Errorf("a wrong secret: exit %d %s", code, errOut)
	}
	unknown := editor
	unknown.id = "AKDKNOSUCHKEYATALL00"
	if _, errOut, code := unknown.run("batch", "describe-jobs", "--jobs", id); code != 254 || !strings.Contains(errOut, "UnrecognizedClientException") {
		t.Errorf("an unknown key: exit %d %s", code, errOut)
	}
	if _, errOut, code := editor.run("--no-sign-request", "batch", "describe-jobs", "--jobs", id); code != 254 || !strings.Contains(errOut, "MissingAuthenticationTokenException") {
		t.Errorf("unsigned with tokens: exit %d %s", code, errOut)
	}
}

// TestAWSBatchDependsOn: dependsOn between submissions through the CLI: a job waits
// PENDING for the one it depends on and runs once it succeeded; a failed dependency fails
// the dependent, and what depends on that; N_TO_N pairs two arrays' children, SEQUENTIAL
// runs an array's children one after the other; a PENDING job can be cancelled.
func TestAWSBatchDependsOn(t *testing.T) {
	t.Parallel()
	needAWS(t)
	s := startServer(t, t.TempDir()+"/data", "--parallelism", "4")
	aws := awsClient{t: t, url: s.URL, id: "AKIDEXAMPLE", secret: "x"}
	aws.ok(nil, "batch", "register-job-definition", "--job-definition-name", "step", "--type", "container",
		"--container-properties", `{"image":"busybox","vcpus":1,"memory":64,"command":["sh","-c","echo step"]}`)
	cmd := func(c string) string { return `{"command":["sh","-c",` + strconvQuote(c) + `]}` }

	// first runs until the gate opens, after the next four calls (each takes the CLI a
	// second or more).
	gate := filepath.Join(t.TempDir(), "gate")
	first := aws.submit("--job-name", "first", "--job-definition", "step", "--container-overrides",
		cmd("while [ ! -e "+gate+" ]; do sleep 0.1; done"))
	second := aws.submit("--job-name", "second", "--job-definition", "step", "--depends-on", "jobId="+first)
	cancelled := aws.submit("--job-name", "cancelled", "--job-definition", "step", "--depends-on", "jobId="+first)
	aws.ok(nil, "batch", "cancel-job", "--job-id", cancelled, "--reason", "not needed")
	if j := aws.describe(second); j.Status != "PENDING" {
		t.Errorf("a job whose dependency runs: %s", j.Status)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := aws.submit("--job-name", "bad", "--job-definition", "step", "--container-overrides", cmd("exit 1"))
	after := aws.submit("--job-name", "after-bad", "--job-definition", "step", "--depends-on", "jobId="+bad)
	afterAfter := aws.submit("--job-name", "after-after", "--job-definition", "step", "--depends-on", "jobId="+after)

	j := aws.waitStatus(second, "SUCCEEDED", "FAILED")
	f := aws.describe(first)
	if j.Status != "SUCCEEDED" || j.StartedAt < f.StoppedAt {
		t.Errorf("the dependent started at %d, its dependency stopped at %d: %+v", j.StartedAt, f.StoppedAt, j)
	}
	for _, id := range []string{after, afterAfter} {
		if j := aws.waitStatus(id, "SUCCEEDED", "FAILED"); j.Status != "FAILED" || !strings.Contains(j.StatusReason, "depends on") || len(j.Attempts) != 0 {
			t.Errorf("a job depending on a failed one: %+v", j)
		}
	}
	if j := aws.waitStatus(cancelled, "FAILED"); !j.IsCancelled {
		t.Errorf("a PENDING job cancelled: %+v", j)
	}

	// N_TO_N: child i of b waits for child i of a. SEQUENTIAL: c's children in turn.
	a := aws.submit("--job-name", "a", "--job-definition", "step", "--array-properties", "size=2",
		"--container-overrides", cmd(`[ "$AWS_BATCH_JOB_ARRAY_INDEX" = 1 ] && exit 1; exit 0`))
	b := aws.submit("--job-name", "b", "--job-definition", "step", "--array-properties", "size=2", "--depends-on", "jobId="+a+",type=N_TO_N")
	c := aws.submit("--job-name", "c", "--job-definition", "step", "--array-properties", "size=3", "--depends-on", "type=SEQUENTIAL",
		"--container-overrides", cmd("sleep 0.3"))
	aws.waitStatus(b, "SUCCEEDED", "FAILED")
	if b0, b1 := aws.describe(b+":0"), aws.describe(b+":1"); b0.Status != "SUCCEEDED" || b1.Status != "FAILED" || !strings.Contains(b1.StatusReason, "depends on") {
		t.Errorf("b's children: %s, %s %q", b0.Status, b1.Status, b1.StatusReason)
	}
	aws.waitStatus(c, "SUCCEEDED", "FAILED")
	prev := aws.describe(c + ":0")
	for i := 1; i < 3; i++ {
		cur := aws.describe(c + ":" + string(rune('0'+i)))
		if cur.Status != "SUCCEEDED" || cur.StartedAt < prev.StoppedAt {
			t.Errorf("SEQUENTIAL child %d started at %d, child %d stopped at %d", i, cur.StartedAt, i-1, prev.StoppedAt)
		}
		prev = cur
	}
	_, errOut, code := aws.run("batch", "submit-job", "--job-queue", "default", "--job-name", "x", "--job-definition", "step", "--depends-on", "jobId="+first+",type=N_TO_N")
	if code != 254 || !strings.Contains(errOut, "N_TO_N dependencies are for array jobs") {
		t.Errorf("N_TO_N on a plain job: exit %d %s", code, errOut)
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
