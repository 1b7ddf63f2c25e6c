// The floor probe: what one step of any Lease lock costs on this apiserver, the time from one
// client's Lease write to another client's open watch seeing it. A handoff needs at least one such
// step (the release seen by the next holder) and one more write (its claim).
package main

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// floor writes one Lease n times with one clientset while another watches it (resumed from the
// version it last saw), and returns, per write, the time from the write's start to the event.
func (b bench) floor(n int) []time.Duration {
	ctx := context.Background()
	writer := b.unlimited().CoordinationV1().Leases(b.namespace)
	watcher := b.unlimited().CoordinationV1().Leases(b.namespace)
	holder := "floor-writer"
	lease, err := writer.Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "floor-probe"},
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
	defer w.Stop()
	samples := make([]time.Duration, 0, n)
	for range n {
		now := metav1.NewMicroTime(time.Now())
		lease.Spec.RenewTime = &now
		start := time.Now()
		lease, err = writer.Update(ctx, lease, metav1.UpdateOptions{})
		if err != nil {
			fail("floor probe: update lease: %v", err)
		}
		for {
			ev, ok := <-w.ResultChan()
			if !ok {
				fail("floor probe: the watch closed")
			}
			if seen, isLease := ev.Object.(*coordinationv1.Lease); ev.Type == watch.Modified && isLease &&
				seen.ResourceVersion == lease.ResourceVersion {
				samples = append(samples, time.Since(start))
				break
			}
		}
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
func (b bench) runFloor(n int) {
	fmt.Printf("floor probe: Lease write by one client -> seen by another client's watch, same apiserver\n")
	summaryOf("floor", "lease-write-watch", "Lease write -> other client's watch event", b.floor(n))
}
