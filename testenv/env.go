package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Env is what `up` writes to DIR/env.json: enough to attach to, stop and restart every process.
type Env struct {
	Dir      string     `json:"dir"`
	Etcd     EtcdMember `json:"etcd"`
	Clusters []*Cluster `json:"clusters"`
	Users    []User     `json:"users"`
	// Links is the Toxiproxy server that holds each cluster's link (see link.go).
	Links LinkServer `json:"links"`
	// Kubeconfig is the path of the kubeconfig with a context per (cluster, user).
	Kubeconfig string `json:"kubeconfig"`
}

// EtcdMember is the one embedded etcd that stores every cluster, each under its own prefix.
type EtcdMember struct {
	ClientPort int `json:"clientPort"`
	PeerPort   int `json:"peerPort"`
	Pid        int `json:"pid"`
}

// Cluster is one kube-apiserver of the environment.
type Cluster struct {
	Name string `json:"name"`
	Port int    `json:"port"`
	Pid  int    `json:"pid"`
	// Server is the URL clients use (the kubeconfig's): the cluster's link, a proxy that faults can be
	// put on with `testenv link`.
	Server string `json:"server"`
	// ProxyPort is the port of the link's proxy on 127.0.0.1.
	ProxyPort int `json:"proxyPort"`
	// DirectServer is the apiserver's own URL, for tools that must bypass the link.
	DirectServer string `json:"directServer"`
}

// direct is the URL of the apiserver itself (an environment made before links has only Server).
func (c *Cluster) direct() string {
	if c.DirectServer != "" {
		return c.DirectServer
	}
	return c.Server
}

func (e *Env) path(parts ...string) string {
	return filepath.Join(append([]string{e.Dir}, parts...)...)
}

func (e *Env) cluster(name string) (*Cluster, error) {
	for _, c := range e.Clusters {
		if c.Name == name || strings.TrimPrefix(c.Name, "cluster-") == name {
			return c, nil
		}
	}
	return nil, fmt.Errorf("no cluster %q in %s", name, e.Dir)
}

func (e *Env) save() error {
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	tmp := e.path("env.json.tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, e.path("env.json"))
}

func loadEnv(dir string) (*Env, error) {
	data, err := os.ReadFile(filepath.Join(dir, "env.json"))
	if err != nil {
		return nil, err
	}
	var e Env
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("%s/env.json is damaged (%v); run `testenv down --dir %s` and start again", dir, err, dir)
	}
	return &e, nil
}

func flags(name string, args []string, clusters *int, cluster *string) string {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	dir := fs.String("dir", ".sandbox", "environment directory")
	if clusters != nil {
		fs.IntVar(clusters, "clusters", 2, "number of clusters (1 to 5)")
	}
	if cluster != nil {
		fs.StringVar(cluster, "cluster", "", "cluster name or number")
	}
	_ = fs.Parse(args)
	return absDir(*dir)
}

func absDir(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	return abs
}

func cmdUp(args []string) error {
	n := 2
	dir := flags("up", args, &n, nil)
	if n < 1 || n > 5 {
		return fmt.Errorf("--clusters must be between 1 and 5, not %d", n)
	}
	env, err := loadEnv(dir)
	switch {
	case err == nil:
		if len(env.Clusters) != n {
			fmt.Printf("testenv: %s already holds %d clusters; using them (run `testenv down --dir %s` to change the count)\n", dir, len(env.Clusters), dir)
		}
	case errors.Is(err, os.ErrNotExist):
		if env, err = create(dir, n); err != nil {
			return err
		}
	default:
		return err
	}
	start := time.Now()
	if !alive(env.Etcd.Pid) {
		if err := startEtcd(env); err != nil {
			return err
		}
	}
	if err := startLinks(env); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(env.Clusters))
	for i, c := range env.Clusters {
		if alive(c.Pid) && ready(env, c, time.Second) == nil {
			continue
		}
		wg.Add(1)
		go func(i int, c *Cluster) {
			defer wg.Done()
			errs[i] = startCluster(env, c)
		}(i, c)
	}
	wg.Wait()
	if err := env.save(); err != nil {
		return err
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Printf("testenv: %d clusters ready in %.1fs; kubeconfig: %s\n", len(env.Clusters), time.Since(start).Seconds(), env.Kubeconfig)
	return nil
}

// create lays out a new environment: free ports, certificates, tokens and the kubeconfig.
func create(dir string, n int) (*Env, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ports, err := reservePorts(dir, 3+2*n)
	if err != nil {
		return nil, err
	}
	users, err := defaultUsers()
	if err != nil {
		return nil, err
	}
	env := &Env{Dir: dir, Users: users, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	env.Etcd = EtcdMember{ClientPort: ports[0], PeerPort: ports[1]}
	env.Links = LinkServer{Port: ports[2]}
	for i := 0; i < n; i++ {
		c := &Cluster{Name: fmt.Sprintf("cluster-%d", i+1), Port: ports[3+i], ProxyPort: ports[3+n+i]}
		c.DirectServer = fmt.Sprintf("https://127.0.0.1:%d", c.Port)
		c.Server = fmt.Sprintf("https://127.0.0.1:%d", c.ProxyPort)
		env.Clusters = append(env.Clusters, c)
	}
	if err := writePKI(env.path("pki"), users); err != nil {
		return nil, err
	}
	if err := writeKubeconfig(env); err != nil {
		return nil, err
	}
	return env, env.save()
}

// spawn starts this binary again with args, in its own session, logging to DIR/logs/NAME.log.
func spawn(env *Env, name string, args ...string) (int, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(env.path("logs"), 0o700); err != nil {
		return 0, err
	}
	log, err := os.OpenFile(env.path("logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer log.Close()
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	pid := cmd.Process.Pid
	go func() { _ = cmd.Wait() }()
	return pid, nil
}

func startEtcd(env *Env) error {
	pid, err := spawn(env, "etcd", "etcd", "--data-dir", env.path("etcd"),
		"--client-port", fmt.Sprint(env.Etcd.ClientPort), "--peer-port", fmt.Sprint(env.Etcd.PeerPort))
	if err != nil {
		return err
	}
	env.Etcd.Pid = pid
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return fmt.Errorf("etcd exited at start; see %s", env.path("logs", "etcd.log"))
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/health", env.Etcd.ClientPort))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("etcd not healthy within 60s; see %s", env.path("logs", "etcd.log"))
}

func startCluster(env *Env, c *Cluster) error {
	if err := os.MkdirAll(env.path(c.Name), 0o700); err != nil {
		return err
	}
	pid, err := spawn(env, c.Name, append([]string{"apiserver"}, apiServerArgs(env, c)...)...)
	if err != nil {
		return err
	}
	c.Pid = pid
	fmt.Printf("testenv: starting %s on %s, through its link %s (pid %d)\n", c.Name, c.direct(), c.Server, pid)
	return ready(env, c, 120*time.Second)
}

// ready waits until the cluster answers /readyz with 200, or the process dies, or the timeout passes.
func ready(env *Env, c *Cluster, timeout time.Duration) error {
	client, token, err := adminClient(env)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequest("GET", c.direct()+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if !alive(c.Pid) {
			return fmt.Errorf("%s exited at start; see %s", c.Name, env.path("logs", c.Name+".log"))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s; see %s", c.Name, timeout, env.path("logs", c.Name+".log"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func adminClient(env *Env) (*http.Client, string, error) {
	ca, err := os.ReadFile(env.path("pki", "ca.crt"))
	if err != nil {
		return nil, "", err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	for _, u := range env.Users {
		if u.Name == "admin" {
			return client, u.Token, nil
		}
	}
	return nil, "", fmt.Errorf("no admin user in %s", env.Dir)
}

// alive reports whether pid is a running process (not a zombie).
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(fields) == 0 || fields[0] == "Z" {
		return false
	}
	// A pid recorded before a reboot may now belong to another program.
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil && strings.HasPrefix(filepath.Base(exe), "testenv")
}

// kill stops pid with SIGTERM, then SIGKILL after the grace period, and waits until it is gone.
func kill(pid int, grace time.Duration) {
	if !alive(pid) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for alive(pid) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func cmdDown(args []string) error {
	dir := flags("down", args, nil, nil)
	env, err := loadEnv(dir)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Printf("testenv: nothing runs in %s\n", dir)
		return nil
	}
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, c := range env.Clusters {
		wg.Add(1)
		go func(pid int) { defer wg.Done(); kill(pid, 5*time.Second) }(c.Pid)
	}
	wg.Wait()
	kill(env.Links.Pid, 5*time.Second)
	kill(env.Etcd.Pid, 5*time.Second)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	releasePorts(dir)
	fmt.Printf("testenv: stopped and removed %s\n", dir)
	return nil
}

// loadCluster reads the environment of a stop or start command and finds its --cluster.
func loadCluster(command string, args []string) (*Env, *Cluster, error) {
	var name string
	dir := flags(command, args, nil, &name)
	env, err := loadEnv(dir)
	if err != nil {
		return nil, nil, err
	}
	c, err := env.cluster(name)
	return env, c, err
}

func cmdStop(args []string) error {
	env, c, err := loadCluster("stop", args)
	if err != nil {
		return err
	}
	// A hard stop, like a cluster cut off from the network: in-flight requests fail, and its link is
	// closed so that new connections are refused as they would be without the proxy.
	kill(c.Pid, 0)
	return setLinkEnabled(env, c, false)
}

func cmdStart(args []string) error {
	env, c, err := loadCluster("start", args)
	if err != nil {
		return err
	}
	if !alive(c.Pid) {
		if err := startCluster(env, c); err != nil {
			return err
		}
		if err := env.save(); err != nil {
			return err
		}
	} else if err := ready(env, c, 120*time.Second); err != nil {
		return err
	}
	return setLinkEnabled(env, c, true)
}

func cmdStatus(args []string) error {
	dir := flags("status", args, nil, nil)
	env, err := loadEnv(dir)
	if err != nil {
		return err
	}
	type status struct {
		*Env
		Running map[string]bool `json:"running"`
	}
	s := status{Env: env, Running: map[string]bool{"etcd": alive(env.Etcd.Pid), "links": alive(env.Links.Pid)}}
	for _, c := range env.Clusters {
		s.Running[c.Name] = alive(c.Pid) && ready(env, c, 0) == nil
	}
	out, _ := json.MarshalIndent(s, "", "  ")
	fmt.Println(string(out))
	return nil
}
