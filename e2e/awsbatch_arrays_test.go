package e2e

import (
	"os"
	"testing"
)

// TestAWSBatchArrays: an AWS array job is a Docket array run, one mechanism both ways: a
// job applied with tasks: is an array job to the AWS CLI, and an array submitted with
// arrayProperties whose task failed is resumed by Docket's retry (POST /runs/{id}/retry),
// the new array's children keeping their index, the submission's command and queue.
func TestAWSBatchArrays(t *testing.T) {
	t.Parallel()
	needAWS(t)
	dir := t.TempDir()
	s := startServer(t, dir+"/data", "--parallelism", "3")
	aws := awsClient{t: t, url: s.URL, id: "AKIDEXAMPLE", secret: "x"}

	// A Docket array job, submitted through the AWS CLI.
	yaml := writeFile(t, dir, "fan.yaml", "name: fan\nimage: busybox\ncommand: [\"sh\", \"-c\", \"echo task $DOCKET_TASK_INDEX\"]\ncpu: 250m\nmemory: 32Mi\ntasks: 2\n")
	if _, errOut, code := docket(t, []string{"DOCKET_SERVER=" + s.URL, "DOCKET_CONFIG=" + dir + "/none.yaml"}, "apply", "-f", yaml); code != 0 {
		t.Fatalf("docket apply: %s", errOut)
	}
	fan := aws.submit("--job-name", "fan", "--job-definition", "fan")
	if j := aws.waitStatus(fan, "SUCCEEDED", "FAILED"); j.Status != "SUCCEEDED" || j.ArrayProperties.Size != 2 || j.ArrayProperties.StatusSummary["SUCCEEDED"] != 2 {
		t.Errorf("a Docket array job submitted through the CLI: %+v", j)
	}

	// An AWS array of 3 whose task 1 fails once; Docket's retry runs task 1 again only.
	aws.ok(nil, "batch", "create-job-queue", "--job-queue-name", "batch", "--priority", "3",
		"--compute-environment-order", "order=1,computeEnvironment=docket-process")
	aws.ok(nil, "batch", "register-job-definition", "--job-definition-name", "step", "--type", "container",
		"--container-properties", `{"image":"busybox","vcpus":1,"memory":64,"command":["true"]}`)
	script := `i=$AWS_BATCH_JOB_ARRAY_INDEX; echo "$AWS_BATCH_JOB_ID $AWS_BATCH_JQ_NAME" >> ` + dir + `/ran.$i; ` +
		`if [ "$i" = 1 ] && [ ! -e ` + dir + `/failed ]; then touch ` + dir + `/failed; exit 1; fi`
	arr := aws.submit("--job-queue", "batch", "--job-name", "flaky-fan", "--job-definition", "step", "--array-properties", "size=3",
		"--container-overrides", `{"command":["sh","-c",`+strconvQuote(script)+`]}`)
	if j := aws.waitStatus(arr, "SUCCEEDED", "FAILED"); j.Status != "FAILED" || j.ArrayProperties.StatusSummary["FAILED"] != 1 {
		t.Fatalf("the array with a failing task: %+v", j)
	}
	var resumed struct {
		ID    string
		Queue string
	}
	if status := s.api("POST", "/api/v1/runs/"+arr+"/retry", `{}`, &resumed); status != 201 || resumed.Queue != "batch" {
		t.Fatalf("POST /runs/%s/retry: %d %+v", arr, status, resumed)
	}
	j := aws.waitStatus(resumed.ID, "SUCCEEDED", "FAILED")
	if j.Status != "SUCCEEDED" || j.JobName != "flaky-fan" || j.ArrayProperties.Size != 3 || j.ArrayProperties.StatusSummary["SUCCEEDED"] != 3 {
		t.Errorf("the resumed array: %+v", j)
	}
	if c := aws.describe(resumed.ID + ":1"); c.Status != "SUCCEEDED" || c.ArrayProperties.Index == nil || *c.ArrayProperties.Index != 1 {
		t.Errorf("the resumed array's task 1: %+v", c)
	}
	// Task 1 ran twice, as its array's child each time; tasks 0 and 2 once (carried over).
	ran := func(i string) string {
		b, _ := os.ReadFile(dir + "/ran." + i)
		return string(b)
	}
	if got, want := ran("1"), arr+":1 batch\n"+resumed.ID+":1 batch\n"; got != want {
		t.Errorf("task 1 ran as %q; want %q", got, want)
	}
	if got := ran("0"); got != arr+":0 batch\n" {
		t.Errorf("task 0 ran as %q; want once, in the first array", got)
	}
}
