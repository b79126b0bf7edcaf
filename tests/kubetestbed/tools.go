//go:build tools

// Package kubetestbed pins the programs the test control plane is built from.
package kubetestbed

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
