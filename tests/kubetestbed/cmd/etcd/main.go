// Command etcd is the etcd server at the version kube-apiserver itself requires
// (go.etcd.io/etcd/server/v3), built for the Kubernetes test control plane.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
