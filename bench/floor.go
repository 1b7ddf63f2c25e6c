// The floor probe: what one step of any Lease lock costs on this apiserver, the time from one
// client's Lease write to another client's open watch seeing it. A handoff needs at least one such
// step (the release seen by the next holder) and one more write (its claim). Over several
// clusters (-floor-contexts), one such step in each at once: the step of a lock whose Leases
// are in all of them, on this machine.
package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	coordinationclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
)

// floorProbe is one writer and one watcher of the probe's Lease on one apiserver.
type floorProbe struct {
	writer coordinationclient.LeaseInterface
	lease  *coordinationv1.Lease
	events <-chan watch.Event
	stop   func()
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
	return floorProbe{writer: writer, lease: lease, events: w.ResultChan(), stop: w.Stop}
}

// step writes the Lease and waits for the watch to deliver that very version.
func (p *floorProbe) step(ctx context.Context) {
	now := metav1.NewMicroTime(time.Now())
	p.lease.Spec.RenewTime = &now
	lease, err := p.writer.Update(ctx, p.lease, metav1.UpdateOptions{})
	if err != nil {
		fail("floor probe: update lease: %v", err)
	}
	p.lease = lease
	for {
		ev, ok := <-p.events
		if !ok {
			fail("floor probe: the watch closed")
		}
		if seen, isLease := ev.Object.(*coordinationv1.Lease); ev.Type == watch.Modified && isLease &&
			seen.ResourceVersion == lease.ResourceVersion {
			return
		}
	}
}

// floor writes the probe's Lease n times on each of `benches` (one apiserver each) at once,
// while another client watches each, and returns, per step, the time from the writes' start to
// the last of their events: one step of a lock whose Leases are in all of those clusters.
func floor(n int, benches []bench) []time.Duration {
	ctx := context.Background()
	probes := make([]floorProbe, len(benches))
	for i, b := range benches {
		probes[i] = b.probe(ctx, fmt.Sprintf("floor-probe-%d", len(benches)))
		defer probes[i].stop()
	}
	samples := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		var wg sync.WaitGroup
		for i := range probes {
			wg.Add(1)
			go func() { defer wg.Done(); probes[i].step(ctx) }()
		}
		wg.Wait()
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

// runFloor prints the floor probe's figures.
func runFloor(n int, benches []bench) {
	if len(benches) == 1 {
		fmt.Printf("floor probe: Lease write by one client -> seen by another client's watch, same apiserver\n")
		summaryOf("floor", "lease-write-watch", "Lease write -> other client's watch event", floor(n, benches))
		return
	}
	fmt.Printf("floor probe over %d clusters: one Lease write in each at once -> the last seen by its watch\n", len(benches))
	summaryOf("floor", fmt.Sprintf("lease-write-watch-%dclusters", len(benches)),
		fmt.Sprintf("Lease writes in %d clusters -> last watch event", len(benches)), floor(n, benches))
}
