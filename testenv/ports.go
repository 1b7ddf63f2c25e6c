package main

import (
	"fmt"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Ports: an environment's ports must stay free from `up` until its process binds them, and again while
// a stopped cluster (or a closed link) waits to start. A port the kernel picked for `:0` lies in the
// ephemeral range (/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default), where every outgoing
// connection on the machine takes its local port too: one of the many test clients grabbed a proxy's
// port between `up` choosing it and the proxy binding it ("bind: address already in use"). So ports come
// from below that range, where only explicit binds go, and concurrent environments (parallel tests, a
// CI run beside a sandbox) reserve theirs in a shared directory, under a lock, for as long as their
// directory exists.

const (
	portsFirst = 20000
	portsEnd   = 32768 // first port of the default ephemeral range
)

// reservePorts picks n distinct ports that bind now, are below the ephemeral range and are reserved by
// no other live environment, and reserves them for the environment in dir.
func reservePorts(dir string, n int) ([]int, error) {
	first, end := portsFirst, portsEnd
	if low, ok := ephemeralLow(); ok && low < end {
		end = low
	}
	if end-first < 16*n {
		return nil, fmt.Errorf("too few ports below the ephemeral range (%d-%d) for %d", first, end, n)
	}
	registry := filepath.Join(os.TempDir(), "solo-testenv-ports")
	if err := os.MkdirAll(registry, 0o777); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(registry, ".lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("lock %s: %w", registry, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	var ports []int
	for attempts := 0; len(ports) < n; attempts++ {
		if attempts > 100*n {
			return nil, fmt.Errorf("no free port found in %d-%d after %d attempts", first, end, attempts)
		}
		port := first + rand.Intn(end-first)
		if contains(ports, port) || reservedByOther(registry, port, dir) || !bindable(port) {
			continue
		}
		ports = append(ports, port)
	}
	for _, port := range ports {
		if err := os.WriteFile(filepath.Join(registry, strconv.Itoa(port)), []byte(dir), 0o666); err != nil {
			return nil, err
		}
	}
	return ports, nil
}

// reservedByOther says whether port is reserved by an environment other than dir whose directory still
// exists (`down` removes it; a reservation left by a removed environment is free again).
func reservedByOther(registry string, port int, dir string) bool {
	owner, err := os.ReadFile(filepath.Join(registry, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	if string(owner) == dir {
		return false
	}
	_, err = os.Stat(string(owner))
	return err == nil
}

func bindable(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// ephemeralLow is the first port of the kernel's ephemeral range, where known.
func ephemeralLow() (int, bool) {
	raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, false
	}
	fields := strings.Fields(string(raw))
	if len(fields) == 0 {
		return 0, false
	}
	low, err := strconv.Atoi(fields[0])
	return low, err == nil
}

func contains(ports []int, port int) bool {
	for _, p := range ports {
		if p == port {
			return true
		}
	}
	return false
}

// releasePorts drops the reservations of the environment in dir (after `down` removed it, they would be
// free anyway: this only keeps the registry small).
func releasePorts(dir string) {
	registry := filepath.Join(os.TempDir(), "solo-testenv-ports")
	entries, err := os.ReadDir(registry)
	if err != nil {
		return
	}
	for _, e := range entries {
		path := filepath.Join(registry, e.Name())
		if owner, err := os.ReadFile(path); err == nil && string(owner) == dir {
			os.Remove(path)
		}
	}
}
