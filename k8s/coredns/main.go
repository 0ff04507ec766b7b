// CoreDNS with the plugins the test bed's Corefile uses, and no others.
//
// Upstream's main package links every plugin, cloud DNS providers among them,
// which made CoreDNS the slowest of the bed's components to build from cold
// (519 s of `make k8s`'s 1763 s here). The plugins register themselves when
// imported; the order they run in is still CoreDNS's own directive list.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	coremain.Run()
}
