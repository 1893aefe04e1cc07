// Package kubetest connects tests to the test control plane that scripts/kube starts (a
// real kube-apiserver, controller-manager and scheduler, with KWOK for nodes). Tests skip
// without one, unless DOCKET_TEST_KUBE=require (CI) makes that a failure.
package kubetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Config returns the client configuration of the cluster DOCKET_TEST_KUBECONFIG names.
func Config(t testing.TB) *rest.Config {
	t.Helper()
	return config(t, kubeconfig(t))
}

// kubeconfig returns DOCKET_TEST_KUBECONFIG, skipping the test without it.
func kubeconfig(t testing.TB) string {
	t.Helper()
	path := os.Getenv("DOCKET_TEST_KUBECONFIG")
	if path == "" {
		missing(t, "DOCKET_TEST_KUBECONFIG is not set; scripts/kube start DIR starts a test control plane")
	}
	return path
}

func config(t testing.TB, path string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("kubeconfig %s: %v", path, err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	return cfg
}

// Client returns a client for the cluster DOCKET_TEST_KUBECONFIG names.
func Client(t testing.TB) kubernetes.Interface {
	t.Helper()
	return client(t, kubeconfig(t))
}

func client(t testing.TB, path string) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(config(t, path))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Discovery().ServerVersion(); err != nil || ctx.Err() != nil {
		missing(t, fmt.Sprintf("the API server in %s does not answer: %v", path, err))
	}
	return c
}

// Namespace creates a namespace of the test's own and deletes it when the test ends.
func Namespace(t testing.TB, c kubernetes.Interface) string {
	t.Helper()
	name := strings.ToLower(fmt.Sprintf("t-%s-%d", sanitize(t.Name()), time.Now().UnixNano()%1_000_000))
	if len(name) > 63 {
		name = name[len(name)-63:]
		name = "t" + strings.TrimLeft(name[1:], "-")
	}
	ctx := context.Background()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() { c.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	return name
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("DOCKET_TEST_KUBE") == "require" {
		t.Fatalf("a test control plane is required (DOCKET_TEST_KUBE=require): %s", why)
	}
	t.Skip(why)
}

// ServeLogs has the test control plane's KWOK serve lines as the output of every pod in
// namespace (stdout, in the CRI log format a kubelet keeps), through the API server's
// pods/log as a kubelet would, until the test ends.
func ServeLogs(t testing.TB, namespace string, lines ...string) {
	t.Helper()
	var cri strings.Builder
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for i, line := range lines {
		fmt.Fprintf(&cri, "%s stdout F %s\n", at.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), line)
	}
	file := filepath.Join(t.TempDir(), "pod.log")
	if err := os.WriteFile(file, []byte(cri.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	dyn := dynamic.NewForConfigOrDie(Config(t))
	gvr := schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "clusterlogs"}
	logs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterLogs",
		"metadata": map[string]any{"name": namespace},
		"spec": map[string]any{
			"selector": map[string]any{"matchNamespaces": []any{namespace}},
			"logs":     []any{map[string]any{"logsFile": file}},
		},
	}}
	ctx := context.Background()
	if _, err := dyn.Resource(gvr).Create(ctx, logs, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ClusterLogs (is KWOK serving logs? scripts/kube start sets it up): %v", err)
	}
	t.Cleanup(func() { dyn.Resource(gvr).Delete(context.Background(), namespace, metav1.DeleteOptions{}) })
}
