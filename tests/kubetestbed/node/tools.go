//go:build tools

// Package node pins the programs of the testbed's node: the kubelet, the scheduler and
// kube-proxy, from the same k8s.io/kubernetes release as the control plane (../go.mod).
package node

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
