// Command coredns is CoreDNS (github.com/coredns/coredns, pinned in go.mod) with only the plugins the
// test node's cluster DNS uses: kubernetes (Services and pods of cluster.local), errors, log, health,
// ready, cache, loadbalance and bind. Built by scripts/deps/node.sh; the node's Corefile is written by
// tests/k8s/node.sh. The plugins register themselves in their init functions; CoreDNS orders them by
// its own directive list, so the import order here does not matter.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	coremain.Run()
}
