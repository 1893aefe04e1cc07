package awsbatch

import (
	"context"
	"strings"
	"testing"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// TestJobQueues: AWS job queues are Docket's queues: made, described, reprioritized and
// deleted through the face, seen by the store; a submission's jobQueue is its run's
// queue; what a Docket queue cannot be is refused, saying why.
func TestJobQueues(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	ctx := context.Background()
	ok := func(path, body string) map[string]any {
		t.Helper()
		status, typ, out := call(h, post(path, body))
		if status != 200 {
			t.Fatalf("%s %s: %d %s %v", path, body, status, typ, out)
		}
		return out
	}
	refused := func(path, body, msg string) {
		t.Helper()
		status, typ, out := call(h, post(path, body))
		if m, _ := out["message"].(string); status != 400 || typ != "ClientException" || !strings.Contains(m, msg) {
			t.Errorf("%s %s: %d %s %v; want a ClientException with %q", path, body, status, typ, out, msg)
		}
	}
	out := ok("/v1/createjobqueue", `{"jobQueueName": "gpu", "priority": 10, "state": "ENABLED", "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "mine"}]}`)
	if out["jobQueueArn"] != "arn:aws:batch:us-east-1:000000000000:job-queue/gpu" {
		t.Errorf("create: %v", out)
	}
	if q, err := h.opts.Store.QueueGet(ctx, "gpu"); err != nil || q.Priority != 10 || q.MaxRunning != 0 {
		t.Errorf("the Docket queue: %+v, %v", q, err)
	}
	ok("/v1/createjobqueue", `{"jobQueueName": "cpu", "priority": 1}`)
	refused("/v1/createjobqueue", `{"jobQueueName": "gpu", "priority": 1}`, "job queue gpu already exists")
	refused("/v1/createjobqueue", `{"jobQueueName": "default", "priority": 1}`, "Docket's default queue")
	refused("/v1/createjobqueue", `{"jobQueueName": "My_Queue", "priority": 1}`, "is not a Docket queue name")
	refused("/v1/createjobqueue", `{"jobQueueName": "q"}`, "priority: is required")
	refused("/v1/createjobqueue", `{"jobQueueName": "q", "priority": 1001}`, "priority: 1001 is not from 0 to 1000")
	ok("/v1/createjobqueue", `{"jobQueueName": "held", "priority": 1, "state": "DISABLED"}`)
	if q, err := h.opts.Store.QueueGet(ctx, "held"); err != nil || !q.Disabled {
		t.Errorf("a queue created DISABLED: %+v, %v", q, err)
	}
	refused("/v1/createjobqueue", `{"jobQueueName": "q", "priority": 1, "state": "PAUSED"}`, `state: "PAUSED" is not ENABLED or DISABLED`)
	refused("/v1/createjobqueue", `{"jobQueueName": "q", "priority": 1, "schedulingPolicyArn": "arn:x"}`, "schedulingPolicyArn: is not supported")

	// Described: default first, then by name; a page at a time.
	out = ok("/v1/describejobqueues", `{"maxResults": 2}`)
	qs := out["jobQueues"].([]any)
	if len(qs) != 2 || qs[0].(map[string]any)["jobQueueName"] != "default" || qs[1].(map[string]any)["jobQueueName"] != "cpu" || out["nextToken"] == nil {
		t.Fatalf("first page: %v", out)
	}
	out = ok("/v1/describejobqueues", `{"maxResults": 2, "nextToken": "`+out["nextToken"].(string)+`"}`)
	qs = out["jobQueues"].([]any)
	if len(qs) != 2 || out["nextToken"] != nil {
		t.Fatalf("second page: %v", out)
	}
	if q := qs[0].(map[string]any); q["jobQueueName"] != "gpu" || q["priority"] != float64(10) || q["state"] != "ENABLED" {
		t.Errorf("gpu described: %v", q)
	}
	if q := qs[1].(map[string]any); q["jobQueueName"] != "held" || q["state"] != "DISABLED" {
		t.Errorf("held described: %v", q)
	}
	out = ok("/v1/describejobqueues", `{"jobQueues": ["arn:aws:batch:us-east-1:000000000000:job-queue/cpu"]}`)
	if qs := out["jobQueues"].([]any); len(qs) != 1 || qs[0].(map[string]any)["jobQueueName"] != "cpu" {
		t.Errorf("one queue by ARN: %v", out)
	}

	// A new priority, kept by the store; the default queue's cannot change.
	ok("/v1/updatejobqueue", `{"jobQueue": "gpu", "priority": 500}`)
	if q, _ := h.opts.Store.QueueGet(ctx, "gpu"); q.Priority != 500 {
		t.Errorf("after update: priority %d", q.Priority)
	}
	ok("/v1/updatejobqueue", `{"jobQueue": "gpu", "state": "DISABLED"}`)
	if q, _ := h.opts.Store.QueueGet(ctx, "gpu"); !q.Disabled || q.Priority != 500 {
		t.Errorf("after update to DISABLED: %+v", q)
	}
	out = ok("/v1/describejobqueues", `{"jobQueues": ["gpu"]}`)
	if q := out["jobQueues"].([]any)[0].(map[string]any); q["state"] != "DISABLED" {
		t.Errorf("gpu described once disabled: %v", q)
	}
	ok("/v1/updatejobqueue", `{"jobQueue": "gpu", "priority": 400}`)
	if q, _ := h.opts.Store.QueueGet(ctx, "gpu"); !q.Disabled || q.Priority != 400 {
		t.Errorf("an update that names no state changed it: %+v", q)
	}
	ok("/v1/updatejobqueue", `{"jobQueue": "gpu", "state": "ENABLED"}`)
	if q, _ := h.opts.Store.QueueGet(ctx, "gpu"); q.Disabled {
		t.Errorf("after update to ENABLED: %+v", q)
	}
	refused("/v1/updatejobqueue", `{"jobQueue": "default", "state": "DISABLED"}`, "default queue is always enabled")
	refused("/v1/updatejobqueue", `{"jobQueue": "default", "priority": 5}`, "default queue has priority 0")
	refused("/v1/updatejobqueue", `{"jobQueue": "nope", "priority": 5}`, `job queue "nope" does not exist`)

	// A submission's queue is its run's, and its children's.
	ok("/v1/registerjobdefinition", `{"jobDefinitionName": "q", "type": "container", "containerProperties": {"image": "busybox", "vcpus": 1, "memory": 64}}`)
	out = ok("/v1/submitjob", `{"jobName": "j", "jobQueue": "gpu", "jobDefinition": "q", "arrayProperties": {"size": 2}, "schedulingPriorityOverride": 7}`)
	run, err := h.opts.Store.RunGet(ctx, out["jobId"].(string))
	if err != nil || run.Queue != "gpu" || run.Env["AWS_BATCH_JQ_NAME"] != "gpu" || run.Priority != 7 {
		t.Fatalf("the run: %+v, %v", run, err)
	}
	if child, err := h.opts.Store.RunTask(ctx, run.ID, 1); err != nil || child.Queue != "gpu" {
		t.Errorf("the array's child: queue %q, %v", child.Queue, err)
	}
	out = ok("/v1/describejobs", `{"jobs": ["`+run.ID+`"]}`)
	if j := out["jobs"].([]any)[0].(map[string]any); j["jobQueue"] != "arn:aws:batch:us-east-1:000000000000:job-queue/gpu" || j["schedulingPriority"] != float64(7) {
		t.Errorf("the job's queue and priority: %v, %v", j["jobQueue"], j["schedulingPriority"])
	}
	out = ok("/v1/listjobs", `{"jobQueue": "gpu", "jobStatus": "PENDING"}`)
	if l := out["jobSummaryList"].([]any); len(l) != 1 {
		t.Errorf("the gpu queue's PENDING jobs: %v", l)
	}
	out = ok("/v1/listjobs", `{"jobQueue": "cpu", "jobStatus": "PENDING"}`)
	if l := out["jobSummaryList"].([]any); len(l) != 0 {
		t.Errorf("the cpu queue's PENDING jobs: %v", l)
	}
	refused("/v1/submitjob", `{"jobName": "j", "jobQueue": "nope", "jobDefinition": "q"}`, `jobQueue: job queue "nope" does not exist`)
	refused("/v1/submitjob", `{"jobName": "j", "jobQueue": "gpu", "jobDefinition": "q", "schedulingPriorityOverride": 5000}`, "schedulingPriorityOverride: 5000 is not from 0 to 1000")

	// Deleted, unless a Docket job names it or a run is in it; the default queue never.
	if _, _, err := h.opts.Store.DefinitionPut(ctx, job.Spec{Name: "named", Image: "busybox", CPU: "1", Memory: "64Mi", Queue: "cpu", Concurrency: job.ConcurrencyAllow}, testNow); err != nil {
		t.Fatal(err)
	}
	refused("/v1/deletejobqueue", `{"jobQueue": "cpu"}`, "named by job named")
	refused("/v1/deletejobqueue", `{"jobQueue": "default"}`, "cannot be deleted")
	// Nor while a run is in it: the array above, until it and its children end.
	refused("/v1/deletejobqueue", `{"jobQueue": "gpu"}`, "queue gpu still holds unfinished run "+run.ID)
	for _, id := range childIDs(t, h, run.ID, 2) {
		if _, err := h.opts.Store.(store.Store).RunTransition(ctx, job.Transition{RunID: id, To: job.StateCancelled, Time: testNow, Reason: job.ReasonCancelled}); err != nil {
			t.Fatal(err)
		}
	}
	if run, err := h.opts.Store.RunGet(ctx, run.ID); err != nil || !run.State.Terminal() {
		t.Fatalf("the array once its children were cancelled: %s, %v", run.State, err)
	}
	ok("/v1/deletejobqueue", `{"jobQueue": "arn:aws:batch:us-east-1:000000000000:job-queue/gpu"}`)
	if _, err := h.opts.Store.QueueGet(ctx, "gpu"); err == nil {
		t.Error("gpu is still there")
	}
}

// childIDs returns the ids of an array run's first n children.
func childIDs(t *testing.T, h *Handler, parent string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		child, err := h.opts.Store.RunTask(context.Background(), parent, i)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, child.ID)
	}
	return ids
}
