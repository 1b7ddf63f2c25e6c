// The floor probe: what one step of any Lease lock costs on this apiserver, the time from one
// client's Lease write to another client's open watch seeing it. A handoff needs at least one such
// step (the release seen by the next holder) and one more write (its claim): the handoff floor
// is that step followed by the watcher's own write of the Lease it saw. Over several clusters
// (-floor-contexts), each in all of them at once: the steps of a lock whose Leases are in all
// of them, on this machine.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	coordinationclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
)

// floorProbe is one writer and one watcher of the probe's Lease on one apiserver; the watcher
// writes through its own client (the next holder's claim).
type floorProbe struct {
	writer, watcher coordinationclient.LeaseInterface
	lease           *coordinationv1.Lease
	events          <-chan watch.Event
	stop            func()
}

// probe creates the probe's Lease `name` with one clientset and opens a watch of it with another.
func (b bench) probe(ctx context.Context, name string) floorProbe {
	writer := b.unlimited().CoordinationV1().Leases(b.namespace)
	watcher := b.unlimited().CoordinationV1().Leases(b.namespace)
	holder := "floor-writer"
	lease, err := writer.Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder},
	}, metav1.CreateOptions{})
	if err != nil {
		fail("floor probe: create lease: %v", err)
	}
	w, err := watcher.Watch(ctx, metav1.ListOptions{
		FieldSelector:   fields.OneTermEqualSelector("metadata.name", lease.Name).String(),
		ResourceVersion: lease.ResourceVersion,
	})
	if err != nil {
		fail("floor probe: watch: %v", err)
	}
	return floorProbe{writer: writer, watcher: watcher, lease: lease, events: w.ResultChan(), stop: w.Stop}
}

// step writes the Lease and waits for the watch to deliver that very version.
func (p *floorProbe) step(ctx context.Context) {
	now := metav1.NewMicroTime(time.Now())
	p.lease.Spec.RenewTime = &now
	lease, err := p.writer.Update(ctx, p.lease, metav1.UpdateOptions{})
	if err != nil {
		fail("floor probe: update lease: %v", err)
	}
	for {
		ev, ok := <-p.events
		if !ok {
			fail("floor probe: the watch closed")
		}
		if seen, isLease := ev.Object.(*coordinationv1.Lease); ev.Type == watch.Modified && isLease &&
			seen.ResourceVersion == lease.ResourceVersion {
			p.lease = seen
			return
		}
	}
}

// claim is the watcher's write of the version its watch delivered, as a next holder's claim.
func (p *floorProbe) claim(ctx context.Context) {
	holder := "floor-watcher"
	p.lease.Spec.HolderIdentity = &holder
	lease, err := p.watcher.Update(ctx, p.lease, metav1.UpdateOptions{})
	if err != nil {
		fail("floor probe: the watcher's write: %v", err)
	}
	p.lease = lease
}

// inParallel runs f on every probe at once and returns when all have.
func inParallel(probes []floorProbe, f func(p *floorProbe)) {
	var wg sync.WaitGroup
	for i := range probes {
		wg.Add(1)
		go func() { defer wg.Done(); f(&probes[i]) }()
	}
	wg.Wait()
}

// floor writes the probe's Lease n times on each of `benches` (one apiserver each) at once,
// while another client watches each, and returns, per step, the time from the writes' start to
// the last of their events: one step of a lock whose Leases are in all of those clusters. With
// `handoff`, once every event is in, the watcher writes each Lease it saw, and the step ends
// when the last of those writes is answered: a release seen by the next holder, then its claim.
func floor(n int, benches []bench, handoff bool) []time.Duration {
	ctx := context.Background()
	probes := make([]floorProbe, len(benches))
	name := fmt.Sprintf("floor-probe-%d", len(benches))
	if handoff {
		name = fmt.Sprintf("floor-probe-handoff-%d", len(benches))
	}
	for i, b := range benches {
		probes[i] = b.probe(ctx, name)
		defer probes[i].stop()
	}
	samples := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		inParallel(probes, func(p *floorProbe) { p.step(ctx) })
		if handoff {
			inParallel(probes, func(p *floorProbe) { p.claim(ctx) })
		}
		samples = append(samples, time.Since(start))
	}
	return samples
}

// unlimited makes a clientset without client-go's client-side rate limit (5 requests per second by
// default), which would otherwise be what the probe measures.
func (b bench) unlimited() *kubernetes.Clientset {
	config := rest.CopyConfig(b.config)
	config.QPS, config.Burst = 1e6, 1e6
	cs, err := kubernetes.NewForConfig(config)
	if err != nil {
		fail("client: %v", err)
	}
	return cs
}

// runFloor prints the floor probe's figures: the step, then the handoff floor (the step and the
// watcher's write), each with the CPU that it cost (the probe's and that of the processes `pids`:
// the test environment's etcd, apiservers and links).
func runFloor(n int, benches []bench, pids []int) {
	if len(benches) == 1 {
		fmt.Printf("floor probe: Lease write by one client -> seen by another client's watch, same apiserver\n")
		measure("lease-write-watch", "Lease write -> other client's watch event", n, pids,
			func() []time.Duration { return floor(n, benches, false) })
		measure("lease-write-watch-write", "... -> that client's write of it answered", n, pids,
			func() []time.Duration { return floor(n, benches, true) })
		return
	}
	fmt.Printf("floor probe over %d clusters: one Lease write in each at once -> the last seen by its watch\n", len(benches))
	measure(fmt.Sprintf("lease-write-watch-%dclusters", len(benches)),
		fmt.Sprintf("Lease writes in %d clusters -> last watch event", len(benches)), n, pids,
		func() []time.Duration { return floor(n, benches, false) })
	measure(fmt.Sprintf("lease-write-watch-write-%dclusters", len(benches)),
		"... -> the watcher's writes of them answered", n, pids, func() []time.Duration { return floor(n, benches, true) })
}

// measure prints the steps' times and, given the test environment's `pids`, the CPU time that
// those processes and this one spent per step.
func measure(subject, label string, n int, pids []int, steps func() []time.Duration) {
	before := cpuMillis(pids)
	samples := steps()
	cpu := (cpuMillis(pids) - before) / float64(n)
	summaryOf("floor", subject, label, samples)
	if len(pids) > 0 {
		fmt.Printf("%-60s %.2f ms of CPU per step (%d cores)\n", "", cpu, runtime.NumCPU())
		fmt.Printf("floor_cpu_ms %s %.2f\n", subject, cpu)
	}
}

// cpuMillis is the CPU time (user and system) that the processes `pids` and this one have used, in
// milliseconds.
func cpuMillis(pids []int) float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		fail("floor probe: getrusage: %v", err)
	}
	total := float64(usage.Utime.Nano()+usage.Stime.Nano()) / 1e6
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			fail("floor probe: the test environment's process %d: %v", pid, err)
		}
		// The command name (field 2) may hold spaces: count the fields after its closing ')'.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		for _, f := range fields[11:13] { // utime and stime, fields 14 and 15 of proc(5)
			ticks, err := strconv.ParseFloat(f, 64)
			if err != nil {
				fail("floor probe: /proc/%d/stat: %v", pid, err)
			}
			// USER_HZ, which /proc counts in, is 100 on every Linux architecture Go builds for.
			total += ticks * 10
		}
	}
	return total
}
