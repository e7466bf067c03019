// Command etcd is upstream's etcd server, built from go.etcd.io/etcd/server/v3 via the Go module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
