package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Links: every cluster's API endpoint in the kubeconfig is a Toxiproxy proxy in front of the apiserver,
// so a test (or a person) can make the link between solo and that cluster slow, black-holed or resetting
// while everything runs. One Toxiproxy server per environment holds every cluster's proxy.

// LinkServer is the Toxiproxy server of an environment: its API port and its process.
type LinkServer struct {
	Port int `json:"port"`
	Pid  int `json:"pid"`
}

func (e *Env) linkClient() (*toxiclient.Client, error) {
	if e.Links.Port == 0 {
		return nil, fmt.Errorf("%s was made before links existed; run `testenv down --dir %s` and `up` again", e.Dir, e.Dir)
	}
	return toxiclient.NewClient(fmt.Sprintf("127.0.0.1:%d", e.Links.Port)), nil
}

// runLinks runs the Toxiproxy server of an environment until SIGTERM or SIGINT.
func runLinks(args []string) error {
	fs := flag.NewFlagSet("links", flag.ExitOnError)
	port := fs.Int("port", 0, "API port on 127.0.0.1")
	_ = fs.Parse(args)
	logger := zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), logger)
	go server.Listen("127.0.0.1", strconv.Itoa(*port))
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	return nil
}

// startLinks starts the environment's Toxiproxy server if it is not running and (re)creates a proxy per
// cluster, enabled, without toxics.
func startLinks(env *Env) error {
	client, err := env.linkClient()
	if err != nil {
		return nil // an environment made before links: its kubeconfig points at the apiservers directly
	}
	if !alive(env.Links.Pid) {
		pid, err := spawn(env, "links", "links", "--port", strconv.Itoa(env.Links.Port))
		if err != nil {
			return err
		}
		env.Links.Pid = pid
		if err := waitPort(env.Links.Port, pid, 30*time.Second); err != nil {
			return fmt.Errorf("the link proxy %v; see %s", err, env.path("logs", "links.log"))
		}
	}
	var proxies []toxiclient.Proxy
	for _, c := range env.Clusters {
		proxies = append(proxies, toxiclient.Proxy{
			Name:     c.Name,
			Listen:   fmt.Sprintf("127.0.0.1:%d", c.ProxyPort),
			Upstream: fmt.Sprintf("127.0.0.1:%d", c.Port),
			Enabled:  true,
		})
	}
	if _, err := client.Populate(proxies); err != nil {
		return fmt.Errorf("create the link proxies: %w", err)
	}
	// Populate keeps a proxy that exists already as it is, and a link closed by `stop` stays closed;
	// `up` starts every cluster, so open them all.
	for _, c := range env.Clusters {
		if err := setLinkEnabled(env, c, true); err != nil {
			return err
		}
	}
	return nil
}

// waitPort waits until something listens on 127.0.0.1:port, or the process dies, or the timeout passes.
func waitPort(port, pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if !alive(pid) {
			return errors.New("exited at start")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("did not listen within %s", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// setLinkEnabled opens or closes a cluster's proxy (closed: new connections are refused, open ones cut).
func setLinkEnabled(env *Env, c *Cluster, enabled bool) error {
	client, err := env.linkClient()
	if err != nil {
		return nil
	}
	proxy, err := client.Proxy(c.Name)
	if err != nil {
		return fmt.Errorf("the link of %s: %w", c.Name, err)
	}
	if proxy.Enabled == enabled {
		return nil
	}
	if enabled {
		return proxy.Enable()
	}
	return proxy.Disable()
}

// cmdLink changes the link between solo and one cluster while the environment runs.
func cmdLink(args []string) error {
	fs := flag.NewFlagSet("link", flag.ExitOnError)
	dir := fs.String("dir", ".sandbox", "environment directory")
	name := fs.String("cluster", "", "cluster name or number")
	latency := fs.Duration("latency", 0, "added round-trip time, half on each direction (e.g. 80ms)")
	jitter := fs.Duration("jitter", 0, "random variation of the round-trip time (e.g. 10ms)")
	blackhole := fs.Bool("blackhole", false, "accept connections and data, never answer")
	reset := fs.Bool("reset", false, "reset every connection as soon as it sends data")
	bandwidth := fs.Int("bandwidth", 0, "limit each direction to this many KB/s")
	clear := fs.Bool("clear", false, "remove every fault first (alone: a plain link again)")
	_ = fs.Parse(args)
	env, err := loadEnv(absDir(*dir))
	if err != nil {
		return err
	}
	c, err := env.cluster(*name)
	if err != nil {
		return err
	}
	if *latency == 0 && *jitter == 0 && !*blackhole && !*reset && *bandwidth == 0 && !*clear {
		return errors.New("link needs at least one of --latency, --jitter, --blackhole, --reset, --bandwidth, --clear")
	}
	client, err := env.linkClient()
	if err != nil {
		return err
	}
	proxy, err := client.Proxy(c.Name)
	if err != nil {
		return fmt.Errorf("the link of %s: %w", c.Name, err)
	}
	if *clear {
		toxics, err := proxy.Toxics()
		if err != nil {
			return err
		}
		for _, t := range toxics {
			if err := proxy.RemoveToxic(t.Name); err != nil {
				return err
			}
		}
	}
	for _, stream := range []string{"upstream", "downstream"} {
		if *latency > 0 || *jitter > 0 {
			attrs := toxiclient.Attributes{"latency": latency.Milliseconds() / 2, "jitter": jitter.Milliseconds() / 2}
			if err := replaceToxic(proxy, "latency_"+stream, "latency", stream, attrs); err != nil {
				return err
			}
		}
		if *bandwidth > 0 {
			if err := replaceToxic(proxy, "bandwidth_"+stream, "bandwidth", stream, toxiclient.Attributes{"rate": *bandwidth}); err != nil {
				return err
			}
		}
		if *blackhole {
			if err := replaceToxic(proxy, "blackhole_"+stream, "timeout", stream, toxiclient.Attributes{"timeout": 0}); err != nil {
				return err
			}
		}
	}
	if *reset {
		if err := replaceToxic(proxy, "reset", "reset_peer", "upstream", toxiclient.Attributes{"timeout": 0}); err != nil {
			return err
		}
	}
	return nil
}

// replaceToxic adds a toxic under a name, replacing one of the same name.
func replaceToxic(proxy *toxiclient.Proxy, name, kind, stream string, attrs toxiclient.Attributes) error {
	toxics, err := proxy.Toxics()
	if err != nil {
		return err
	}
	for _, t := range toxics {
		if t.Name == name {
			if err := proxy.RemoveToxic(name); err != nil {
				return err
			}
		}
	}
	_, err = proxy.AddToxic(name, kind, stream, 1, attrs)
	return err
}
