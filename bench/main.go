// Command clientgo-bench is the peer in solo's lock benchmarks: client-go's own leader election
// (k8s.io/client-go/tools/leaderelection with a resourcelock.LeaseLock, one Lease in one cluster), run
// against the same local kube-apiserver as solo's benchmark so that the two can be compared.
//
// It measures, for each timing setting (client-go's defaults 15s/10s/2s and a tuned 2s/1s/0.2s for
// LeaseDuration/RenewDeadline/RetryPeriod):
//
//   - handoff latency: candidate A holds the lease, candidate B waits for it; A releases
//     (ReleaseOnCancel=true, then A's context is cancelled, which is the release time) and the handoff
//     ends when B's OnStartedLeading fires. A waits a random part of B's retry period before releasing,
//     so that B's polling phase is not always the same. Printed as mean, p50 and p99 over the runs.
//   - N contenders: a holder holds; N candidates wait; the holder releases and each candidate, once it
//     leads, releases at once (an empty critical section). The time runs from the holder's release to
//     the last candidate's release. Printed as the mean over the rounds.
//
// Every candidate has its own clientset (its own client-side rate limiter), as separate processes
// would. Besides the human-readable lines it prints machine-readable ones, `<metric> <subject> <value>`,
// e.g. `handoff_p50_ms clientgo-default 1234.5`, that scripts/bench.sh turns into ratios.
//
// With -etcd it also runs etcd's concurrency.Mutex on that etcd (etcd.go), and it always runs the
// floor probe (floor.go): a Lease write by one client seen by another client's watch, then the
// same followed by that client's write (the handoff floor), and with -floor-contexts both in
// several clusters at once.
//
// Usage: clientgo-bench -kubeconfig target/testenv-bench/kubeconfig -context cluster-1 [-etcd URL]
// [-floor-contexts cluster-1,cluster-2,cluster-3] [-peers clientgo,etcd,floor]
// (bench/clientgo.sh builds it; scripts/bench.sh runs it).
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// setting is one LeaseDuration/RenewDeadline/RetryPeriod triple and how many runs to do with it.
type setting struct {
	name                string
	lease, renew, retry time.Duration
	handoffs, rounds    int
}

// bench holds what every candidate needs: the REST config and the namespace of the Leases.
type bench struct {
	config    *rest.Config
	namespace string
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file of the cluster (required)")
	kubecontext := flag.String("context", "cluster-1", "context in the kubeconfig (an admin of the cluster)")
	contenders := flag.Int("contenders", 8, "number of waiting contenders")
	defaultHandoffs := flag.Int("default-handoffs", 30, "handoff runs at client-go's defaults")
	defaultRounds := flag.Int("default-rounds", 3, "contender rounds at client-go's defaults")
	tunedHandoffs := flag.Int("tuned-handoffs", 50, "handoff runs at the tuned setting")
	tunedRounds := flag.Int("tuned-rounds", 5, "contender rounds at the tuned setting")
	etcdEndpoint := flag.String("etcd", "", "client URL of the etcd under the apiservers (for the etcd mutex peer)")
	etcdHandoffs := flag.Int("etcd-handoffs", 50, "handoff runs of the etcd mutex")
	etcdRounds := flag.Int("etcd-rounds", 5, "contender rounds of the etcd mutex")
	floorWrites := flag.Int("floor-writes", 100, "writes of the floor probe")
	floorContexts := flag.String("floor-contexts", "", "contexts (comma-separated) of the clusters the floor probe also steps over at once")
	cpuPids := flag.String("cpu-pids", "", "pids (comma-separated) of the test environment's processes, whose CPU the floor probe counts")
	peers := flag.String("peers", "clientgo,etcd,floor", "which peers to run (comma-separated: clientgo, etcd, floor)")
	flag.Parse()
	// client-go logs each renewal that a release cuts short; these runs cut them short on purpose.
	klog.SetLogger(logr.Discard())
	if *kubeconfig == "" {
		fail("give the cluster's kubeconfig with -kubeconfig FILE")
	}
	namespace := fmt.Sprintf("bench-clientgo-%08x", rand.Uint32())
	b, cleanup := benchIn(*kubeconfig, *kubecontext, namespace)
	defer cleanup()

	run := map[string]bool{}
	for _, p := range strings.Split(*peers, ",") {
		run[strings.TrimSpace(p)] = true
	}
	if run["floor"] {
		var pids []int
		for _, p := range strings.Split(*cpuPids, ",") {
			if p = strings.TrimSpace(p); p != "" {
				pid, err := strconv.Atoi(p)
				if err != nil {
					fail("-cpu-pids: %q is not a pid", p)
				}
				pids = append(pids, pid)
			}
		}
		runFloor(*floorWrites, []bench{b}, pids)
		if *floorContexts != "" {
			var over []bench
			for _, c := range strings.Split(*floorContexts, ",") {
				if c = strings.TrimSpace(c); c == *kubecontext {
					over = append(over, b)
					continue
				}
				other, cleanup := benchIn(*kubeconfig, c, namespace)
				defer cleanup()
				over = append(over, other)
			}
			runFloor(*floorWrites, over, pids)
		}
	}
	if run["etcd"] && *etcdEndpoint != "" {
		runEtcd(*etcdEndpoint, *etcdHandoffs, *etcdRounds, *contenders)
	}
	if !run["clientgo"] {
		return
	}
	settings := []setting{
		{"clientgo-default", 15 * time.Second, 10 * time.Second, 2 * time.Second, *defaultHandoffs, *defaultRounds},
		{"clientgo-tuned", 2 * time.Second, 1 * time.Second, 200 * time.Millisecond, *tunedHandoffs, *tunedRounds},
	}
	fmt.Printf("client-go %s leader election (LeaseLock, 1 cluster), %d contenders\n", clientGoVersion(), *contenders)
	for _, s := range settings {
		label := fmt.Sprintf("%s (%v/%v/%v)", s.name, s.lease, s.renew, s.retry)
		handoffs := make([]time.Duration, 0, s.handoffs)
		for i := range s.handoffs {
			handoffs = append(handoffs, b.handoff(s, fmt.Sprintf("%s-handoff-%d", s.name, i)))
		}
		summary(s.name, "handoff release -> next holder, "+label, handoffs)
		rounds := make([]time.Duration, 0, s.rounds)
		for i := range s.rounds {
			rounds = append(rounds, b.contend(s, fmt.Sprintf("%s-contenders-%d", s.name, i), *contenders))
		}
		mean := meanOf(rounds)
		fmt.Printf("%-60s n=%-3d mean=%9.2fms (%.2fms per holder)\n",
			fmt.Sprintf("%d contenders each hold once, %s", *contenders, label), len(rounds),
			ms(mean), ms(mean)/float64(*contenders))
		fmt.Printf("contenders_mean_ms %s %.1f\n", s.name, ms(mean))
	}
}

// benchIn makes `namespace` in the cluster of `kubecontext`; the cleanup deletes it.
func benchIn(kubeconfig, kubecontext, namespace string) (bench, func()) {
	config, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: kubecontext}).ClientConfig()
	if err != nil {
		fail("cannot load context %q from %s: %v", kubecontext, kubeconfig, err)
	}
	b := bench{config: config, namespace: namespace}
	admin := b.clientset()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := admin.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		fail("cannot create namespace %s in %s: %v", namespace, kubecontext, err)
	}
	return b, func() {
		admin.CoreV1().Namespaces().Delete(context.Background(), namespace, metav1.DeleteOptions{})
	}
}

// handoff measures one handoff: A holds, B waits, A releases; the time from A's release to B's lead.
func (b bench) handoff(s setting, lease string) time.Duration {
	holder := b.start(s, lease, "a", false)
	<-holder.led
	waiter := b.start(s, lease, "b", false)
	b.pause(s)
	released := time.Now()
	holder.cancel()
	led := <-waiter.led
	<-holder.done
	waiter.cancel()
	<-waiter.done
	return led.Sub(released)
}

// contend measures one round: a holder holds, n contenders wait; the time from the holder's release
// until every contender has held once and released.
func (b bench) contend(s setting, lease string, n int) time.Duration {
	holder := b.start(s, lease, "holder", false)
	<-holder.led
	contenders := make([]candidate, n)
	for i := range contenders {
		contenders[i] = b.start(s, lease, fmt.Sprintf("c%d", i), true)
	}
	b.pause(s)
	released := time.Now()
	holder.cancel()
	for _, c := range contenders {
		<-c.done
	}
	<-holder.done
	return time.Since(released)
}

// pause lets the waiters make their first attempt, then waits a random part of their retry period.
func (b bench) pause(s setting) {
	jitter := time.Duration(rand.Int64N(int64(float64(s.retry) * (1 + leaderelection.JitterFactor))))
	time.Sleep(300*time.Millisecond + jitter)
}

// candidate is one running leader election: led receives the time it started leading; cancel makes it
// release; done is closed once it has released.
type candidate struct {
	led    chan time.Time
	cancel context.CancelFunc
	done   chan struct{}
}

// start runs one candidate for the lease with its own clientset. With releaseAtOnce it releases as
// soon as it leads.
func (b bench) start(s setting, lease, id string, releaseAtOnce bool) candidate {
	ctx, cancel := context.WithCancel(context.Background())
	c := candidate{led: make(chan time.Time, 1), cancel: cancel, done: make(chan struct{})}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: b.namespace, Name: lease},
		Client:     b.clientset().CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   s.lease,
		RenewDeadline:   s.renew,
		RetryPeriod:     s.retry,
		ReleaseOnCancel: true,
		Name:            lease,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) {
				c.led <- time.Now()
				if releaseAtOnce {
					cancel()
				}
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		fail("leader election config: %v", err)
	}
	go func() {
		defer close(c.done)
		elector.Run(ctx)
	}()
	return c
}

// clientGoVersion is the version of k8s.io/client-go built in.
func clientGoVersion() string { return moduleVersion("k8s.io/client-go") }

// moduleVersion is the version of a module built in.
func moduleVersion(path string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if m.Path == path {
				return m.Version
			}
		}
	}
	return "(unknown version)"
}

var clientsetMu sync.Mutex

// clientset makes a new clientset (own rate limiter) for one candidate.
func (b bench) clientset() *kubernetes.Clientset {
	clientsetMu.Lock()
	defer clientsetMu.Unlock()
	cs, err := kubernetes.NewForConfig(rest.CopyConfig(b.config))
	if err != nil {
		fail("client: %v", err)
	}
	return cs
}

// summary prints mean, p50 and p99 of the handoff samples, human-readable and machine-readable.
func summary(subject, label string, samples []time.Duration) {
	summaryOf("handoff", subject, label, samples)
}

// summaryOf prints mean, p50 and p99 of the samples as `<metric>_{mean,p50,p99}_ms <subject> <value>`.
func summaryOf(metric, subject, label string, samples []time.Duration) {
	slices.Sort(samples)
	p := func(q float64) time.Duration { return samples[int(float64(len(samples)-1)*q+0.5)] }
	mean := meanOf(samples)
	fmt.Printf("%-60s n=%-3d mean=%9.2fms p50=%9.2fms p99=%9.2fms\n",
		label, len(samples), ms(mean), ms(p(0.5)), ms(p(0.99)))
	fmt.Printf("%s_mean_ms %s %.1f\n", metric, subject, ms(mean))
	fmt.Printf("%s_p50_ms %s %.1f\n", metric, subject, ms(p(0.5)))
	fmt.Printf("%s_p99_ms %s %.1f\n", metric, subject, ms(p(0.99)))
}

func meanOf(samples []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range samples {
		sum += d
	}
	return sum / time.Duration(len(samples))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "clientgo-bench: "+format+"\n", args...)
	os.Exit(1)
}
