// Command testenv starts real upstream Kubernetes API servers on loopback for solo's tests, demo and
// benchmarks: one embedded etcd, and N kube-apiservers (one per "cluster"), each on its own port with its
// own etcd prefix, RBAC on, self-signed serving certificates and static-token users.
//
// Usage:
//
//	testenv up     --dir D [--clusters N]   start (or restart) the environment in D; idempotent
//	testenv down   --dir D                  stop every process of D and delete D's data
//	testenv stop   --dir D --cluster I      stop cluster I (its data stays in etcd)
//	testenv start  --dir D --cluster I      start cluster I again, on the same port, with the same data
//	testenv status --dir D                  print the environment as JSON
//	testenv link   --dir D --cluster I [--latency 80ms] [--jitter 10ms] [--bandwidth KBps]
//	               [--blackhole] [--reset] [--clear]
//	                                        change the link to cluster I while it runs
//
// Every cluster is reached through its link, a Toxiproxy proxy (the kubeconfig's and env.json's `server`);
// `directServer` in env.json is the apiserver itself.
//
// The subcommands `etcd`, `apiserver` and `links` are internal: `up` and `start` re-execute this binary
// with them.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "up":
		err = cmdUp(os.Args[2:])
	case "down":
		err = cmdDown(os.Args[2:])
	case "stop":
		err = cmdStop(os.Args[2:])
	case "start":
		err = cmdStart(os.Args[2:])
	case "status":
		err = cmdStatus(os.Args[2:])
	case "link":
		err = cmdLink(os.Args[2:])
	case "links":
		err = runLinks(os.Args[2:])
	case "etcd":
		err = runEtcd(os.Args[2:])
	case "apiserver":
		os.Exit(runAPIServer(os.Args[2:]))
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: testenv up|down|stop|start|status|link --dir DIR [--clusters N] [--cluster I] [link faults]")
	os.Exit(2)
}
