//go:build tools

// Package chaosmeshrun pins Chaos Mesh's controller manager and daemon for the testbed node.
package chaosmeshrun

import (
	_ "github.com/chaos-mesh/chaos-mesh/cmd/chaos-controller-manager"
	_ "github.com/chaos-mesh/chaos-mesh/cmd/chaos-daemon"
)
