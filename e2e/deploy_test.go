package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"docket.dev/docket/internal/execute/kube/kubetest"
	"docket.dev/docket/internal/job"
)

// TestDeployRBAC installs deploy/kubernetes/rbac.yaml in a namespace of its own, then runs
// a Docket server as that service account: runs succeed and cancel with exactly these
// permissions, and the account may do nothing else it should not.
func TestDeployRBAC(t *testing.T) {
	t.Parallel()
	admin := kubetest.Client(t)
	ns := kubetest.Namespace(t, admin)
	ctx := context.Background()
	suffix := ns // cluster-wide names must not clash with other tests' installs
	for _, obj := range readManifests(t, "../deploy/kubernetes/rbac.yaml") {
		var err error
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			_, err = admin.CoreV1().ServiceAccounts(ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.Role:
			_, err = admin.RbacV1().Roles(ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			_, err = admin.RbacV1().RoleBindings(ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRole:
			o.Name += "-" + suffix
			_, err = admin.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
			t.Cleanup(func() { admin.RbacV1().ClusterRoles().Delete(ctx, o.Name, metav1.DeleteOptions{}) })
		case *rbacv1.ClusterRoleBinding:
			o.Name += "-" + suffix
			o.RoleRef.Name += "-" + suffix
			o.Subjects[0].Namespace = ns
			_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
			t.Cleanup(func() { admin.RbacV1().ClusterRoleBindings().Delete(ctx, o.Name, metav1.DeleteOptions{}) })
		default:
			t.Fatalf("rbac.yaml holds an unexpected %T", obj)
		}
		if err != nil {
			t.Fatalf("install %T: %v", obj, err)
		}
	}

	// A kubeconfig with the service account's token, as the pod would have.
	tok, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "docket", &authv1.TokenRequest{
		Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	adminCfg, err := clientcmd.LoadFromFile(os.Getenv("DOCKET_TEST_KUBECONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	cluster := adminCfg.Clusters[adminCfg.Contexts[adminCfg.CurrentContext].Cluster]
	saCfg := clientcmdapi.NewConfig()
	saCfg.Clusters["test"] = cluster
	saCfg.AuthInfos["docket"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	saCfg.Contexts["docket"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "docket", Namespace: ns}
	saCfg.CurrentContext = "docket"
	dir := t.TempDir()
	kubeconfig := dir + "/docket.kubeconfig"
	if err := clientcmd.WriteToFile(*saCfg, kubeconfig); err != nil {
		t.Fatal(err)
	}

	// What the account may and may not do.
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	sa := kubernetes.NewForConfigOrDie(rc)
	for _, c := range []struct {
		verb, resource, sub, namespace string
		allowed                        bool
	}{
		{"create", "jobs", "", ns, true}, {"delete", "jobs", "", ns, true}, {"watch", "pods", "", ns, true},
		{"get", "pods", "log", ns, true}, {"list", "nodes", "", "", true},
		{"get", "serviceaccounts", "", ns, true}, {"get", "priorityclasses", "", "", true},
		{"create", "serviceaccounts", "", ns, false}, {"create", "priorityclasses", "", "", false},
		{"create", "jobs", "", "default", false}, {"get", "secrets", "", ns, false}, {"delete", "pods", "", ns, true},
		{"create", "pods", "", ns, false}, {"delete", "nodes", "", "", false}, {"create", "persistentvolumeclaims", "", ns, false},
	} {
		group := map[string]string{"jobs": "batch", "priorityclasses": "scheduling.k8s.io"}[c.resource]
		review, err := sa.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authzv1.SelfSubjectAccessReview{
			Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authzv1.ResourceAttributes{
				Namespace: c.namespace, Verb: c.verb, Group: group, Resource: c.resource, Subresource: c.sub}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if review.Status.Allowed != c.allowed {
			t.Errorf("may %s %s/%s in %q: %v, want %v", c.verb, c.resource, c.sub, c.namespace, review.Status.Allowed, c.allowed)
		}
	}

	// A server with only these permissions runs and cancels jobs.
	srv := startServer(t, dir+"/data", "--executor", "kubernetes", "--kubeconfig", kubeconfig, "--namespace", ns)
	file := writeFile(t, dir, "jobs.yaml", `name: quick
image: 127.0.0.1:1/ds/quick:1
command: ["true"]
cpu: 100m
memory: 64Mi
---
name: long
image: busybox:1.36
command: ["sleep", "300"]
cpu: 100m
memory: 64Mi
annotations: {kwok.docket.dev/run-for: 300s}
`)
	// An image whose registry does not answer is applied with a warning.
	if _, stderr, code := srv.cli("apply", "-f", file); code != 0 || !strings.Contains(stderr, "warning: "+file+" (document 1): could not check that image 127.0.0.1:1/ds/quick:1 exists") {
		t.Fatalf("apply: exit %d %s", code, stderr)
	}
	if out, stderr, code := srv.cli("run", "quick", "--wait"); code != 0 {
		t.Errorf("run quick: exit %d %s %s", code, out, stderr)
	}
	long := srv.submit("long")
	waitFor(t, 30*time.Second, "long to run", func() bool { return srv.run(long.ID).State == job.StateRunning })
	if _, stderr, code := srv.cli("cancel", long.ID); code != 0 {
		t.Fatalf("cancel: %s", stderr)
	}
	if r := srv.waitTerminal(long.ID, 30*time.Second); r.State != job.StateCancelled {
		t.Errorf("long after cancel: %s %s", r.State, r.Message)
	}
	// One task of an array (an Indexed Job) is cancelled by deleting its pod.
	var array job.Run
	if code := srv.api("POST", "/api/v1/jobs/long/runs", `{"tasks": 2}`, &array); code != 201 {
		t.Fatalf("submit an array: %d", code)
	}
	var task job.Run
	waitFor(t, 30*time.Second, "a task of the array to run", func() bool {
		for _, r := range srv.allRuns("parent=" + array.ID) {
			if r.State == job.StateRunning {
				task = r
				return true
			}
		}
		return false
	})
	if _, stderr, code := srv.cli("cancel", task.ID); code != 0 {
		t.Fatalf("cancel a task: %s", stderr)
	}
	if r := srv.waitTerminal(task.ID, 30*time.Second); r.State != job.StateCancelled {
		t.Errorf("the task after cancel: %s %s", r.State, r.Message)
	}
	srv.cli("cancel", array.ID)
	// Requests no node can take are refused when applied; the account may read nodes.
	huge := writeFile(t, dir, "huge.yaml", "name: huge\nimage: busybox:1.36\ncpu: \"64\"\nmemory: 1Gi\n")
	if _, stderr, code := srv.cli("apply", "-f", huge); code == 0 || !strings.Contains(stderr, "requests cpu 64 and memory 1Gi, but no node has that much allocatable; the largest (kwok-node-") {
		t.Errorf("apply of a job no node fits: exit %d %s", code, stderr)
	}
	// A definition's placement: a service account that does not exist is refused; one
	// that does runs, and so does a priority class the cluster has.
	nobody := writeFile(t, dir, "nobody.yaml", "name: nobody\nimage: busybox:1.36\ncpu: 100m\nmemory: 64Mi\nkubernetes: {service_account: nobody}\n")
	if _, stderr, code := srv.cli("apply", "-f", nobody); code == 0 || !strings.Contains(stderr, `kubernetes.service_account: no ServiceAccount "nobody" in namespace `+ns) {
		t.Errorf("apply of a job with a missing service account: exit %d %s", code, stderr)
	}
	placed := writeFile(t, dir, "placed.yaml", "name: placed\nimage: busybox:1.36\ncpu: 100m\nmemory: 64Mi\n"+
		"kubernetes: {service_account: docket, priority_class: system-cluster-critical, node_selector: {kubernetes.io/hostname: kwok-node-1}}\n")
	if _, stderr, code := srv.cli("apply", "-f", placed); code != 0 {
		t.Fatalf("apply placed: %s", stderr)
	}
	if out, stderr, code := srv.cli("run", "placed", "--wait"); code != 0 {
		t.Errorf("run placed: exit %d %s %s", code, out, stderr)
	}
	pods, err := admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "docket.dev/job=placed"})
	if err != nil || len(pods.Items) != 1 || pods.Items[0].Spec.ServiceAccountName != "docket" || pods.Items[0].Spec.NodeName != "kwok-node-1" {
		t.Errorf("the placed run's pod: %v %+v", err, pods)
	}
	if strings.Contains(srv.Log(), "forbidden") {
		t.Errorf("the server was refused something:\n%s", srv.Log())
	}
}

// readManifests decodes a multi-document YAML file of Kubernetes objects.
func readManifests(t *testing.T, path string) []runtime.Object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []runtime.Object
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := reader.Read()
		if err != nil {
			break
		}
		if strings.TrimSpace(string(doc)) == "" {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, fmt.Errorf("decode: %w", err))
		}
		out = append(out, obj)
	}
	return out
}

func ptr[T any](v T) *T { return &v }
