// Command etcd is etcd's own server at the version Kubernetes pins, built from its module
// for the test control plane.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
