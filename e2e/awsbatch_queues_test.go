package e2e

import (
	"os"
	"strings"
	"testing"
)

// TestAWSBatchQueuesParams: through the real AWS CLI, job queues are Docket's queues
// (created, described, reprioritized, disabled and enabled, deleted; a higher priority
// starts first) and a
// definition's parameters Docket's params (Ref::NAME rendered from the run's params,
// which Docket's API shows); registering the same body again answers the same revision.
func TestAWSBatchQueuesParams(t *testing.T) {
	t.Parallel()
	needAWS(t)
	dir := t.TempDir()
	s := startServer(t, dir+"/data", "--parallelism", "1")
	aws := awsClient{t: t, url: s.URL, id: "AKIDEXAMPLE", secret: "x"}

	var reg struct{ Revision int }
	props := `{"image":"busybox","vcpus":1,"memory":64,"command":["echo","hello","Ref::who","Ref::unset"]}`
	for i := 0; i < 2; i++ {
		aws.ok(&reg, "batch", "register-job-definition", "--job-definition-name", "greet", "--type", "container",
			"--container-properties", props, "--parameters", "who=world")
		if reg.Revision != 1 {
			t.Fatalf("registration %d of the same body: revision %d; want 1", i+1, reg.Revision)
		}
	}
	// The job is a Docket job with params; a Docket job's params read as parameters.
	var native struct {
		Params  map[string]string
		Command []string
	}
	s.api("GET", "/api/v1/jobs/greet", "", &native)
	if native.Params["who"] != "world" || native.Command[2] != "{{ .Params.who }}" {
		t.Errorf("the Docket job: %+v", native)
	}
	yaml := writeFile(t, dir, "native.yaml", "name: native\nimage: busybox\ncommand: [\"echo\", \"{{ .Params.day }}\"]\ncpu: 250m\nmemory: 32Mi\nparams: {day: mon}\n")
	if _, errOut, code := docket(t, []string{"DOCKET_SERVER=" + s.URL, "DOCKET_CONFIG=" + dir + "/none.yaml"}, "apply", "-f", yaml); code != 0 {
		t.Fatalf("docket apply: %s", errOut)
	}
	var defs struct {
		JobDefinitions []struct {
			Parameters          map[string]string
			ContainerProperties struct{ Command []string }
		}
	}
	aws.ok(&defs, "batch", "describe-job-definitions", "--job-definitions", "native")
	if len(defs.JobDefinitions) != 1 || defs.JobDefinitions[0].Parameters["day"] != "mon" || strings.Join(defs.JobDefinitions[0].ContainerProperties.Command, " ") != "echo Ref::day" {
		t.Errorf("a Docket job with params as a job definition: %+v", defs.JobDefinitions)
	}

	// Queues: made, described, reprioritized; what Docket cannot do is a ClientException.
	aws.ok(nil, "batch", "create-job-queue", "--job-queue-name", "lo", "--priority", "1",
		"--compute-environment-order", "order=1,computeEnvironment=docket-process")
	aws.ok(nil, "batch", "create-job-queue", "--job-queue-name", "hi", "--priority", "5", "--state", "ENABLED",
		"--compute-environment-order", "order=1,computeEnvironment=docket-process")
	aws.ok(nil, "batch", "update-job-queue", "--job-queue", "hi", "--priority", "100")
	var queues struct {
		JobQueues []struct {
			JobQueueName string
			Priority     int
			State        string
		}
	}
	aws.ok(&queues, "batch", "describe-job-queues", "--page-size", "1")
	if len(queues.JobQueues) != 3 || queues.JobQueues[0].JobQueueName != "default" || queues.JobQueues[1].JobQueueName != "hi" ||
		queues.JobQueues[1].Priority != 100 || queues.JobQueues[2].JobQueueName != "lo" || queues.JobQueues[2].State != "ENABLED" {
		t.Errorf("describe-job-queues, a page of one at a time: %+v", queues.JobQueues)
	}
	var docketQueue struct{ Priority int }
	if s.api("GET", "/api/v1/queues/hi", "", &docketQueue); docketQueue.Priority != 100 {
		t.Errorf("Docket's queue hi: priority %d", docketQueue.Priority)
	}
	// A queue's state is the Docket queue's: DISABLED, read back, and ENABLED again.
	aws.ok(nil, "batch", "update-job-queue", "--job-queue", "lo", "--state", "DISABLED")
	aws.ok(&queues, "batch", "describe-job-queues", "--job-queues", "lo")
	if len(queues.JobQueues) != 1 || queues.JobQueues[0].State != "DISABLED" || queues.JobQueues[0].Priority != 1 {
		t.Errorf("describe-job-queues after update-job-queue --state DISABLED: %+v", queues.JobQueues)
	}
	var docketLo struct{ Disabled bool }
	if s.api("GET", "/api/v1/queues/lo", "", &docketLo); !docketLo.Disabled {
		t.Error("Docket's queue lo is not disabled after update-job-queue --state DISABLED")
	}
	aws.ok(nil, "batch", "update-job-queue", "--job-queue", "lo", "--state", "ENABLED")
	aws.ok(&queues, "batch", "describe-job-queues", "--job-queues", "lo")
	if len(queues.JobQueues) != 1 || queues.JobQueues[0].State != "ENABLED" {
		t.Errorf("describe-job-queues after update-job-queue --state ENABLED: %+v", queues.JobQueues)
	}
	if _, errOut, code := aws.run("batch", "update-job-queue", "--job-queue", "default", "--state", "DISABLED"); code != 254 ||
		!strings.Contains(errOut, "(ClientException)") || !strings.Contains(errOut, "always enabled") {
		t.Errorf("update-job-queue default --state DISABLED: exit %d %s", code, errOut)
	}

	// With one run at a time: while a job runs until the test opens its gate, lo's job is
	// submitted before hi's; hi's starts first. Parameters are the runs' params.
	gate := dir + "/open"
	sleeper := aws.submit("--job-name", "sleeper", "--job-definition", "greet", "--container-overrides",
		`{"command":["sh","-c","i=0; while [ ! -e `+gate+` ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"]}`)
	aws.waitStatus(sleeper, "RUNNING", "SUCCEEDED")
	var low, high struct{ JobID string }
	aws.ok(&low, "batch", "submit-job", "--job-queue", "lo", "--job-name", "low", "--job-definition", "greet:1", "--parameters", "who=lo")
	aws.ok(&high, "batch", "submit-job", "--job-queue", "arn:aws:batch:eu-west-3:000000000000:job-queue/hi", "--job-name", "high",
		"--job-definition", "greet", "--parameters", "who=hi")
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l, h := aws.waitStatus(low.JobID, "SUCCEEDED", "FAILED"), aws.waitStatus(high.JobID, "SUCCEEDED", "FAILED")
	if l.Status != "SUCCEEDED" || h.Status != "SUCCEEDED" || h.StartedAt > l.StartedAt {
		t.Errorf("hi's job started at %d (%s), lo's at %d (%s): want hi's first", h.StartedAt, h.Status, l.StartedAt, l.Status)
	}
	if got := strings.TrimSpace(s.logs(high.JobID)); got != "hello hi Ref::unset" {
		t.Errorf("hi's job printed %q", got)
	}
	if got := strings.Join(h.Container.Command, " "); got != "echo hello hi Ref::unset" {
		t.Errorf("hi's job's command as described: %q", got)
	}
	if r := s.run(high.JobID); r.Queue != "hi" || r.Params["who"] != "hi" {
		t.Errorf("Docket's run of hi's job: queue %q, params %v", r.Queue, r.Params)
	}
	if _, errOut, code := aws.run("batch", "submit-job", "--job-queue", "hi", "--job-name", "x", "--job-definition", "greet", "--parameters", "nope=1"); code != 254 ||
		!strings.Contains(errOut, "parameters.nope") {
		t.Errorf("an unknown parameter: exit %d %s", code, errOut)
	}

	// Deleted: gone for Docket too, and for submissions.
	aws.ok(nil, "batch", "delete-job-queue", "--job-queue", "lo")
	if status := s.api("GET", "/api/v1/queues/lo", "", nil); status != 404 {
		t.Errorf("Docket's queue lo after delete-job-queue: %d", status)
	}
	if _, errOut, code := aws.run("batch", "submit-job", "--job-queue", "lo", "--job-name", "x", "--job-definition", "greet"); code != 254 ||
		!strings.Contains(errOut, `job queue "lo" does not exist`) {
		t.Errorf("a submission to a deleted queue: exit %d %s", code, errOut)
	}
}
