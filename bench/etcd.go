// The etcd peer: etcd's own FIFO lock, client/v3/concurrency.Mutex, on the testenv's etcd (the store
// under every kube-apiserver, so the lock closest to the store's limit). Each candidate has its own
// client and session, as separate processes would.
package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// etcdBench runs the mutex against one etcd endpoint under a prefix of its own.
type etcdBench struct {
	endpoint string
	prefix   string
}

// etcdCandidate is one client with its session (TTL 10 s) and mutex.
type etcdCandidate struct {
	client  *clientv3.Client
	session *concurrency.Session
	mutex   *concurrency.Mutex
}

func (b etcdBench) candidate(lock string) etcdCandidate {
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{b.endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		fail("etcd client for %s: %v", b.endpoint, err)
	}
	session, err := concurrency.NewSession(client, concurrency.WithTTL(10))
	if err != nil {
		fail("etcd session on %s: %v", b.endpoint, err)
	}
	return etcdCandidate{client: client, session: session, mutex: concurrency.NewMutex(session, b.prefix+lock)}
}

func (c etcdCandidate) close() {
	c.session.Close()
	c.client.Close()
}

// queued waits until n keys (holder and waiters) are queued under the lock's prefix, so that a
// release finds every waiter already watching.
func (b etcdBench) queued(c etcdCandidate, lock string, n int64) {
	for {
		resp, err := c.client.Get(context.Background(), b.prefix+lock+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			fail("etcd get: %v", err)
		}
		if resp.Count >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// handoff: A holds, B waits; the time from A's Unlock call to B's Lock returning.
func (b etcdBench) handoff(lock string) time.Duration {
	a, w := b.candidate(lock), b.candidate(lock)
	defer a.close()
	defer w.close()
	ctx := context.Background()
	if err := a.mutex.Lock(ctx); err != nil {
		fail("etcd lock: %v", err)
	}
	led := make(chan time.Time, 1)
	go func() {
		if err := w.mutex.Lock(ctx); err != nil {
			fail("etcd lock: %v", err)
		}
		led <- time.Now()
	}()
	b.queued(a, lock, 2)
	time.Sleep(time.Duration(rand.Int64N(int64(10 * time.Millisecond))))
	released := time.Now()
	if err := a.mutex.Unlock(ctx); err != nil {
		fail("etcd unlock: %v", err)
	}
	took := (<-led).Sub(released)
	if err := w.mutex.Unlock(ctx); err != nil {
		fail("etcd unlock: %v", err)
	}
	return took
}

// contend: a holder holds, n waiters queue; from the holder's Unlock until each waiter has held once
// and released.
func (b etcdBench) contend(lock string, n int) time.Duration {
	holder := b.candidate(lock)
	defer holder.close()
	ctx := context.Background()
	if err := holder.mutex.Lock(ctx); err != nil {
		fail("etcd lock: %v", err)
	}
	done := make(chan struct{}, n)
	for range n {
		c := b.candidate(lock)
		go func() {
			defer c.close()
			if err := c.mutex.Lock(ctx); err != nil {
				fail("etcd lock: %v", err)
			}
			if err := c.mutex.Unlock(ctx); err != nil {
				fail("etcd unlock: %v", err)
			}
			done <- struct{}{}
		}()
	}
	b.queued(holder, lock, int64(n+1))
	released := time.Now()
	if err := holder.mutex.Unlock(ctx); err != nil {
		fail("etcd unlock: %v", err)
	}
	for range n {
		<-done
	}
	return time.Since(released)
}

// runEtcd measures handoffs and contender rounds of the mutex, then deletes its keys.
func runEtcd(endpoint string, handoffs, rounds, contenders int) {
	b := etcdBench{endpoint: endpoint, prefix: fmt.Sprintf("/solo-bench/%08x/", rand.Uint32())}
	fmt.Printf("etcd %s concurrency.Mutex on the testenv's etcd (%s), %d contenders\n", etcdVersion(), endpoint, contenders)
	samples := make([]time.Duration, 0, handoffs)
	for i := range handoffs {
		samples = append(samples, b.handoff(fmt.Sprintf("handoff-%d", i)))
	}
	summary("etcd-mutex", "handoff unlock -> next holder, etcd concurrency.Mutex", samples)
	totals := make([]time.Duration, 0, rounds)
	for i := range rounds {
		totals = append(totals, b.contend(fmt.Sprintf("contenders-%d", i), contenders))
	}
	mean := meanOf(totals)
	fmt.Printf("%-60s n=%-3d mean=%9.2fms (%.2fms per holder)\n",
		fmt.Sprintf("%d contenders each hold once, etcd concurrency.Mutex", contenders), len(totals),
		ms(mean), ms(mean)/float64(contenders))
	fmt.Printf("contenders_mean_ms etcd-mutex %.1f\n", ms(mean))
	cleanup := b.candidate("cleanup")
	defer cleanup.close()
	if _, err := cleanup.client.Delete(context.Background(), b.prefix, clientv3.WithPrefix()); err != nil {
		fail("etcd cleanup: %v", err)
	}
}

// etcdVersion is the version of go.etcd.io/etcd/client/v3 built in.
func etcdVersion() string { return moduleVersion("go.etcd.io/etcd/client/v3") }
