package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"docket.dev/docket/internal/execute/kube/kubetest"
	"docket.dev/docket/internal/job"
)

// TestAWSBatchKubernetes submits through the AWS Batch face to the Kubernetes executor
// on the test control plane: a job with overrides (its Job carries the command, the
// resources and AWS Batch's env), an array of 2 and a job depending on it.
func TestAWSBatchKubernetes(t *testing.T) {
	t.Parallel()
	kubeClient := kubetest.Client(t)
	namespace := kubetest.Namespace(t, kubeClient)
	s := startServer(t, t.TempDir(), "--executor", "kubernetes", "--kubeconfig", os.Getenv("DOCKET_TEST_KUBECONFIG"), "--namespace", namespace)
	ctx := context.Background()
	bc := batch.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1},
		func(o *batch.Options) { o.BaseEndpoint = aws.String(s.URL) })
	if _, err := bc.RegisterJobDefinition(ctx, &batch.RegisterJobDefinitionInput{
		JobDefinitionName: aws.String("kube"), Type: types.JobDefinitionTypeContainer,
		ContainerProperties: &types.ContainerProperties{Image: aws.String("busybox:1.36"), Command: []string{"echo", "hi"},
			Vcpus: aws.Int32(1), Memory: aws.Int32(128)},
	}); err != nil {
		t.Fatalf("RegisterJobDefinition: %v", err)
	}
	submit := func(in *batch.SubmitJobInput) string {
		in.JobQueue, in.JobDefinition = aws.String("default"), aws.String("kube")
		out, err := bc.SubmitJob(ctx, in)
		if err != nil {
			t.Fatalf("SubmitJob %s: %v", aws.ToString(in.JobName), err)
		}
		return aws.ToString(out.JobId)
	}
	plain := submit(&batch.SubmitJobInput{JobName: aws.String("plain"), ContainerOverrides: &types.ContainerOverrides{
		Command:              []string{"echo", "overridden"},
		ResourceRequirements: []types.ResourceRequirement{{Type: types.ResourceTypeVcpu, Value: aws.String("0.5")}, {Type: types.ResourceTypeMemory, Value: aws.String("256")}},
	}})
	arr := submit(&batch.SubmitJobInput{JobName: aws.String("arr"), ArrayProperties: &types.ArrayProperties{Size: aws.Int32(2)}})
	after := submit(&batch.SubmitJobInput{JobName: aws.String("after"), DependsOn: []types.JobDependency{{JobId: aws.String(arr)}}})

	var jobs []types.JobDetail
	waitFor(t, 90*time.Second, "the jobs to end", func() bool {
		out, err := bc.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: []string{plain, arr, after}})
		if err != nil {
			t.Fatalf("DescribeJobs: %v", err)
		}
		jobs = out.Jobs
		for _, j := range jobs {
			if j.Status != types.JobStatusSucceeded && j.Status != types.JobStatusFailed {
				return false
			}
		}
		return len(jobs) == 3
	})
	for _, j := range jobs {
		if j.Status != types.JobStatusSucceeded {
			t.Errorf("%s: %s %s", aws.ToString(j.JobName), j.Status, aws.ToString(j.StatusReason))
		}
	}
	// The pods' times are whole seconds: the order is read from the server's events.
	var released time.Time
	for _, ev := range s.events(after) {
		if ev.State == job.StateQueued && ev.Reason == job.ReasonReady {
			released = ev.Time
		}
	}
	if ended := s.run(arr).FinishedAt; ended == nil || released.Before(*ended) {
		t.Errorf("the dependent was queued at %v, the array ended at %v", released, ended)
	}
	list, err := kubeClient.BatchV1().Jobs(namespace).List(ctx, metav1.ListOptions{LabelSelector: "docket.dev/run=" + plain})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("the Job of %s: %v, %d Jobs", plain, err, len(list.Items))
	}
	c := list.Items[0].Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if got := c.Resources.Requests.Cpu().String(); got != "500m" || c.Resources.Limits.Memory().String() != "256Mi" ||
		len(c.Command)+len(c.Args) == 0 || env["AWS_BATCH_JOB_ID"] != plain || env["AWS_BATCH_JOB_ATTEMPT"] != "1" || env["AWS_BATCH_JQ_NAME"] != "default" {
		t.Errorf("the Job's container: command %v args %v, cpu %s memory %s, env %v", c.Command, c.Args, got, c.Resources.Limits.Memory(), env)
	}
}
