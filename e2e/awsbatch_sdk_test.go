package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// TestAWSBatchSDK drives the AWS Batch face with aws-sdk-go-v2, which is strict where the
// CLI is lax: every answer must decode into the model's types (times as integers), the
// ListJobs paginator must end, errors must be the model's exceptions.
func TestAWSBatchSDK(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir()+"/data", "--retry-backoff", "100ms")
	ctx := context.Background()
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "x"}, nil
	})
	// The SDK's own retries, as a notebook has them (a ClientException is never retried):
	// once, on a loaded machine, a response's read failed with "use of closed network
	// connection", which a second attempt rides over.
	cfg := aws.Config{Region: "us-west-2", Credentials: creds, RetryMaxAttempts: 3}
	bc := batch.NewFromConfig(cfg, func(o *batch.Options) { o.BaseEndpoint = aws.String(s.URL) })
	lc := cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) { o.BaseEndpoint = aws.String(s.URL) })

	reg, err := bc.RegisterJobDefinition(ctx, &batch.RegisterJobDefinitionInput{
		JobDefinitionName: aws.String("sdk"), Type: types.JobDefinitionTypeContainer,
		Parameters: map[string]string{"word": "default"},
		ContainerProperties: &types.ContainerProperties{Image: aws.String("busybox"), Command: []string{"echo", "Ref::word"},
			ResourceRequirements: []types.ResourceRequirement{{Type: types.ResourceTypeVcpu, Value: aws.String("1")}, {Type: types.ResourceTypeMemory, Value: aws.String("64")}}},
		RetryStrategy: &types.RetryStrategy{Attempts: aws.Int32(1)},
	})
	if err != nil || aws.ToInt32(reg.Revision) != 1 {
		t.Fatalf("RegisterJobDefinition: %+v, %v", reg, err)
	}
	defs, err := bc.DescribeJobDefinitions(ctx, &batch.DescribeJobDefinitionsInput{JobDefinitionName: aws.String("sdk")})
	if err != nil || len(defs.JobDefinitions) != 1 || aws.ToString(defs.JobDefinitions[0].ContainerProperties.Image) != "busybox" {
		t.Fatalf("DescribeJobDefinitions: %+v, %v", defs, err)
	}
	var ids []string
	for i := range 5 {
		sub, err := bc.SubmitJob(ctx, &batch.SubmitJobInput{JobName: aws.String("sdk-" + string(rune('a'+i))), JobQueue: aws.String("default"),
			JobDefinition: reg.JobDefinitionArn, Parameters: map[string]string{"word": "w" + string(rune('a'+i))}})
		if err != nil {
			t.Fatalf("SubmitJob: %v", err)
		}
		ids = append(ids, aws.ToString(sub.JobId))
	}
	var jobs []types.JobDetail
	waitFor(t, 30*time.Second, "the jobs to succeed", func() bool {
		out, err := bc.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: append(ids, "no-such-job")})
		if err != nil {
			t.Fatalf("DescribeJobs: %v", err)
		}
		jobs = out.Jobs
		for _, j := range jobs {
			if j.Status != types.JobStatusSucceeded {
				return false
			}
		}
		return len(jobs) == len(ids)
	})
	j := jobs[0]
	if aws.ToInt64(j.CreatedAt) < 1e12 || aws.ToInt64(j.StoppedAt) < aws.ToInt64(j.StartedAt) || aws.ToInt32(j.Container.ExitCode) != 0 || len(j.Attempts) != 1 {
		t.Errorf("DescribeJobs: %+v", j)
	}
	events, err := lc.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/aws/batch/job"), LogStreamName: j.Container.LogStreamName, StartFromHead: aws.Bool(true)})
	if err != nil || len(events.Events) != 1 || aws.ToString(events.Events[0].Message) != "wa" {
		t.Errorf("GetLogEvents: %+v, %v", events, err)
	}
	filtered, err := lc.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/aws/batch/job"), LogStreamNames: []string{aws.ToString(j.Container.LogStreamName)}})
	if err != nil || len(filtered.Events) != 1 || aws.ToString(filtered.Events[0].LogStreamName) != aws.ToString(j.Container.LogStreamName) {
		t.Errorf("FilterLogEvents: %+v, %v", filtered, err)
	}

	// evaluateOnExit: exit code 3 ends the job at its first attempt, whatever attempts allow.
	sub, err := bc.SubmitJob(ctx, &batch.SubmitJobInput{JobName: aws.String("rules"), JobQueue: aws.String("default"), JobDefinition: aws.String("sdk"),
		ContainerOverrides: &types.ContainerOverrides{Command: []string{"sh", "-c", "exit 3"}},
		RetryStrategy: &types.RetryStrategy{Attempts: aws.Int32(3), EvaluateOnExit: []types.EvaluateOnExit{
			{OnExitCode: aws.String("3"), Action: types.RetryActionExit}, {OnReason: aws.String("*"), Action: types.RetryActionRetry}}}})
	if err != nil {
		t.Fatalf("SubmitJob with evaluateOnExit: %v", err)
	}
	var ruled types.JobDetail
	waitFor(t, 30*time.Second, "the job with retry rules to end", func() bool {
		out, err := bc.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: []string{aws.ToString(sub.JobId)}})
		if err != nil || len(out.Jobs) != 1 {
			t.Fatalf("DescribeJobs: %v", err)
		}
		ruled = out.Jobs[0]
		return ruled.Status == types.JobStatusFailed || ruled.Status == types.JobStatusSucceeded
	})
	if ruled.Status != types.JobStatusFailed || len(ruled.Attempts) != 1 || len(ruled.RetryStrategy.EvaluateOnExit) != 3 {
		t.Errorf("a job whose rule says exit: %s, %d attempts, rules %+v", ruled.Status, len(ruled.Attempts), ruled.RetryStrategy)
	}

	// A retried array child keeps its index: task 1 fails once, then succeeds.
	arr, err := bc.SubmitJob(ctx, &batch.SubmitJobInput{JobName: aws.String("retried"), JobQueue: aws.String("default"), JobDefinition: aws.String("sdk"),
		ArrayProperties: &types.ArrayProperties{Size: aws.Int32(2)}, RetryStrategy: &types.RetryStrategy{Attempts: aws.Int32(2)},
		ContainerOverrides: &types.ContainerOverrides{Command: []string{"sh", "-c",
			`echo $AWS_BATCH_JOB_ARRAY_INDEX $AWS_BATCH_JOB_ATTEMPT; [ "$AWS_BATCH_JOB_ARRAY_INDEX$AWS_BATCH_JOB_ATTEMPT" != 11 ]`}}})
	if err != nil {
		t.Fatalf("SubmitJob of an array: %v", err)
	}
	child := aws.ToString(arr.JobId) + ":1"
	var c types.JobDetail
	waitFor(t, 30*time.Second, "the retried child to end", func() bool {
		out, err := bc.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: []string{child}})
		if err != nil || len(out.Jobs) != 1 {
			t.Fatalf("DescribeJobs %s: %v", child, err)
		}
		c = out.Jobs[0]
		return c.Status == types.JobStatusSucceeded || c.Status == types.JobStatusFailed
	})
	if c.Status != types.JobStatusSucceeded || len(c.Attempts) != 2 || aws.ToInt32(c.ArrayProperties.Index) != 1 {
		t.Errorf("the retried child: %s, %d attempts, index %d", c.Status, len(c.Attempts), aws.ToInt32(c.ArrayProperties.Index))
	}
	last, err := lc.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/aws/batch/job"), LogStreamName: c.Container.LogStreamName, StartFromHead: aws.Bool(true)})
	if err != nil || len(last.Events) != 1 || aws.ToString(last.Events[0].Message) != "1 2" {
		t.Errorf("the second attempt's log: %+v, %v", last, err)
	}

	// The paginator goes through pages of 2 and ends.
	p := batch.NewListJobsPaginator(bc, &batch.ListJobsInput{JobQueue: aws.String("default"), JobStatus: types.JobStatusSucceeded, MaxResults: aws.Int32(2)})
	seen, pages := map[string]bool{}, 0
	for p.HasMorePages() && pages < 10 {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListJobs page %d: %v", pages, err)
		}
		pages++
		for _, s := range page.JobSummaryList {
			seen[aws.ToString(s.JobId)] = true
		}
	}
	// Five jobs and the array: three pages of 2, and perhaps an empty last one (a full
	// page carries a token).
	if len(seen) != 6 || pages < 3 || pages > 4 || p.HasMorePages() {
		t.Errorf("ListJobs paginator: %d jobs in %d pages, more %v; want 6 in 3 or 4", len(seen), pages, p.HasMorePages())
	}

	// Errors are the model's exceptions.
	_, err = bc.SubmitJob(ctx, &batch.SubmitJobInput{JobName: aws.String("x"), JobQueue: aws.String("nope"), JobDefinition: aws.String("sdk")})
	var ce *types.ClientException
	if !errors.As(err, &ce) || !strings.Contains(ce.ErrorMessage(), "does not exist") {
		t.Errorf("SubmitJob to an unknown queue: %v; want a ClientException", err)
	}
	_, err = lc.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/aws/batch/job"), LogStreamName: aws.String("sdk/default/nope")})
	var nf *logtypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("GetLogEvents of a missing stream: %v; want a ResourceNotFoundException", err)
	}
	ce2, err := bc.DescribeComputeEnvironments(ctx, &batch.DescribeComputeEnvironmentsInput{})
	if err != nil || len(ce2.ComputeEnvironments) != 1 || aws.ToString(ce2.ComputeEnvironments[0].ComputeEnvironmentName) != "docket-process" {
		t.Errorf("DescribeComputeEnvironments: %+v, %v", ce2, err)
	}
	q, err := bc.DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{})
	if err != nil || len(q.JobQueues) != 1 {
		t.Errorf("DescribeJobQueues: %+v, %v", q, err)
	}
	// Job queues are Docket's queues; every answer decodes, the paginator ends.
	order := []types.ComputeEnvironmentOrder{{Order: aws.Int32(1), ComputeEnvironment: aws.String("docket-process")}}
	for i, name := range []string{"sdk-a", "sdk-b", "sdk-c"} {
		made, err := bc.CreateJobQueue(ctx, &batch.CreateJobQueueInput{JobQueueName: aws.String(name), Priority: aws.Int32(int32(i)), ComputeEnvironmentOrder: order})
		if err != nil || !strings.HasSuffix(aws.ToString(made.JobQueueArn), ":job-queue/"+name) {
			t.Fatalf("CreateJobQueue %s: %+v, %v", name, made, err)
		}
	}
	if _, err := bc.UpdateJobQueue(ctx, &batch.UpdateJobQueueInput{JobQueue: aws.String("sdk-c"), Priority: aws.Int32(900)}); err != nil {
		t.Errorf("UpdateJobQueue: %v", err)
	}
	if _, err := bc.UpdateJobQueue(ctx, &batch.UpdateJobQueueInput{JobQueue: aws.String("sdk-b"), State: types.JQStateDisabled}); err != nil {
		t.Errorf("UpdateJobQueue to DISABLED: %v", err)
	}
	qp := batch.NewDescribeJobQueuesPaginator(bc, &batch.DescribeJobQueuesInput{MaxResults: aws.Int32(2)})
	var names []string
	priorities, states := map[string]int32{}, map[string]types.JQState{}
	for qp.HasMorePages() && len(names) < 10 {
		page, err := qp.NextPage(ctx)
		if err != nil {
			t.Fatalf("DescribeJobQueues page: %v", err)
		}
		for _, jq := range page.JobQueues {
			names = append(names, aws.ToString(jq.JobQueueName))
			priorities[aws.ToString(jq.JobQueueName)] = aws.ToInt32(jq.Priority)
			states[aws.ToString(jq.JobQueueName)] = jq.State
		}
	}
	if strings.Join(names, " ") != "default sdk-a sdk-b sdk-c" || priorities["sdk-c"] != 900 ||
		states["sdk-b"] != types.JQStateDisabled || states["sdk-c"] != types.JQStateEnabled {
		t.Errorf("DescribeJobQueues paginator: %v, priorities %v, states %v", names, priorities, states)
	}
	queued, err := bc.SubmitJob(ctx, &batch.SubmitJobInput{JobName: aws.String("queued"), JobQueue: aws.String("sdk-c"), JobDefinition: aws.String("sdk"),
		Parameters: map[string]string{"word": "queued"}, SchedulingPriorityOverride: aws.Int32(5)})
	if err != nil {
		t.Fatalf("SubmitJob to sdk-c: %v", err)
	}
	if out, err := bc.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: []string{aws.ToString(queued.JobId)}}); err != nil || len(out.Jobs) != 1 ||
		!strings.HasSuffix(aws.ToString(out.Jobs[0].JobQueue), ":job-queue/sdk-c") || aws.ToInt32(out.Jobs[0].SchedulingPriority) != 5 || out.Jobs[0].Parameters["word"] != "queued" {
		t.Errorf("a job of queue sdk-c: %+v, %v", out, err)
	}
	if _, err := bc.DeleteJobQueue(ctx, &batch.DeleteJobQueueInput{JobQueue: aws.String("sdk-a")}); err != nil {
		t.Errorf("DeleteJobQueue: %v", err)
	}
	if _, err := bc.CancelJob(ctx, &batch.CancelJobInput{JobId: aws.String(ids[0]), Reason: aws.String("done anyway")}); err != nil {
		t.Errorf("CancelJob of an ended job: %v", err)
	}
	// Anonymous requests are taken on an open loopback server.
	anon := batch.NewFromConfig(aws.Config{Region: "us-west-2", Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1}, func(o *batch.Options) { o.BaseEndpoint = aws.String(s.URL) })
	if _, err := anon.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: ids[:1]}); err != nil {
		t.Errorf("anonymous DescribeJobs: %v", err)
	}
	if _, err := bc.DeregisterJobDefinition(ctx, &batch.DeregisterJobDefinitionInput{JobDefinition: aws.String("sdk:1")}); err != nil {
		t.Errorf("DeregisterJobDefinition: %v", err)
	}
	gone, err := bc.DescribeJobDefinitions(ctx, &batch.DescribeJobDefinitionsInput{JobDefinitions: []string{"sdk:1"}})
	if err != nil || len(gone.JobDefinitions) != 1 || aws.ToString(gone.JobDefinitions[0].Status) != "INACTIVE" {
		t.Errorf("a deregistered definition: %+v, %v", gone, err)
	}
}
