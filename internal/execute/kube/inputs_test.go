package kube

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"docket.dev/docket/internal/job"
)

// TestInputsRefused: a run with input files fails InputsUnavailable at once, naming the
// file, and no Job is created: the executor places no files yet, and a run must not start
// without them.
func TestInputsRefused(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{})
	id := job.NewRunID(time.Now())
	x := job.Execution{
		Run: job.Run{ID: id, Job: "nightly", Attempt: 1}, Image: "busybox", Command: []string{"true"},
		CPU: "100m", Memory: "64Mi", Deadline: time.Minute, Env: map[string]string{"DOCKET_RUN_ID": id},
		Inputs: []job.File{{Path: "data/a.csv", SHA256: "ab", Size: 1}},
	}
	if err := f.e.Start(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	f.waitReason(id, string(job.ReasonInputsUnavailable))
	if f.jobExists(Name(id)) {
		t.Errorf("Job %s was created for a run whose files were not placed", Name(id))
	}
}

// TestInputsInitContainer: a run with input files gets an init container running
// Docket's own image that fetches them with the run's token into an emptyDir, mounted as
// the job container's working directory.
func TestInputsInitContainer(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{Pod: PodDefaults{HelperImage: "registry.example.com/docket:1.0"}})
	id := job.NewRunID(time.Now())
	x := job.Execution{
		Run: job.Run{ID: id, Job: "nightly", Attempt: 1}, Image: "busybox", Command: []string{"true"},
		CPU: "100m", Memory: "64Mi", Deadline: time.Minute,
		Env:    map[string]string{"DOCKET_RUN_ID": id, "DOCKET_API": "http://docket:8080", "DOCKET_TOKEN": "run-token", "MODE": "x"},
		Inputs: []job.File{{Path: "data/a.csv", SHA256: "ab", Size: 1}},
	}
	if err := f.e.Start(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	f.waitFor("the Job", 30*time.Second, func() bool { return f.jobExists(Name(id)) })
	j, err := f.client.BatchV1().Jobs(f.ns).Get(context.Background(), Name(id), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := j.Spec.Template.Spec
	if len(pod.InitContainers) != 1 || len(pod.Volumes) != 1 || pod.Volumes[0].EmptyDir == nil {
		t.Fatalf("pod: %d init containers, volumes %+v; want one init container and an emptyDir", len(pod.InitContainers), pod.Volumes)
	}
	init, main := pod.InitContainers[0], pod.Containers[0]
	got := fmt.Sprintf("%s %v %s %s", init.Image, init.Command, init.VolumeMounts[0].MountPath, main.WorkingDir)
	if want := "registry.example.com/docket:1.0 [/docket inputs fetch --dir /docket/inputs] /docket/inputs /docket/inputs"; got != want {
		t.Errorf("got %s; want %s", got, want)
	}
	env := map[string]string{}
	for _, e := range init.Env {
		env[e.Name] = e.Value
	}
	if env["DOCKET_TOKEN"] != "run-token" || env["DOCKET_API"] != "http://docket:8080" || env["DOCKET_RUN_ID"] != id || env["MODE"] != "" {
		t.Errorf("init container env %v; want the run's API, token and id only", env)
	}
	if len(main.VolumeMounts) != 1 || main.VolumeMounts[0].MountPath != InputsDir {
		t.Errorf("job container mounts %+v", main.VolumeMounts)
	}
}
