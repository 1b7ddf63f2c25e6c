package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientcmd "k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// User is a static-token user of every cluster of the environment.
type User struct {
	Name   string   `json:"name"`
	Token  string   `json:"token"`
	Groups []string `json:"groups"`
}

// defaultUsers are the environment's people: an admin, and two teams (alice and carol in team-a, bob in team-b).
func defaultUsers() ([]User, error) {
	users := []User{
		{Name: "admin", Groups: []string{"system:masters"}},
		{Name: "alice", Groups: []string{"team-a"}},
		{Name: "bob", Groups: []string{"team-b"}},
		{Name: "carol", Groups: []string{"team-a"}},
	}
	for i := range users {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		users[i].Token = hex.EncodeToString(b)
	}
	return users, nil
}

// writePKI writes a CA, a serving certificate for loopback, the service-account key pair and the token file.
func writePKI(dir string, users []User) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "solo-testenv-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("10.96.0.1")},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	files := map[string][]byte{}
	files["ca.crt"] = pemBlock("CERTIFICATE", caDER)
	files["serving.crt"] = pemBlock("CERTIFICATE", srvDER)
	if files["serving.key"], err = ecKeyPEM(srvKey); err != nil {
		return err
	}
	if files["sa.key"], err = ecKeyPEM(saKey); err != nil {
		return err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	files["sa.pub"] = pemBlock("PUBLIC KEY", saPub)
	var tokens strings.Builder
	for _, u := range users {
		fmt.Fprintf(&tokens, "%s,%s,%s,\"%s\"\n", u.Token, u.Name, u.Name, strings.Join(u.Groups, ","))
	}
	files["tokens.csv"] = []byte(tokens.String())
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

func ecKeyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pemBlock("EC PRIVATE KEY", der), nil
}

// writeKubeconfig writes one context per (cluster, user): `cluster-N` for the admin, `alice@cluster-N`, ...
// `kubeconfig` reaches each cluster through its link; `kubeconfig-direct`, the same contexts, bypasses
// the links (for tools and tests that must not see the faults put on them).
func writeKubeconfig(env *Env) error {
	if err := writeKubeconfigTo(env, "kubeconfig", func(c *Cluster) string { return c.Server }); err != nil {
		return err
	}
	return writeKubeconfigTo(env, "kubeconfig-direct", func(c *Cluster) string { return c.direct() })
}

func writeKubeconfigTo(env *Env, file string, server func(*Cluster) string) error {
	ca, err := os.ReadFile(env.path("pki", "ca.crt"))
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	for _, u := range env.Users {
		cfg.AuthInfos[u.Name] = &clientcmdapi.AuthInfo{Token: u.Token}
	}
	for _, c := range env.Clusters {
		cfg.Clusters[c.Name] = &clientcmdapi.Cluster{
			Server:                   server(c),
			CertificateAuthorityData: ca,
		}
		for _, u := range env.Users {
			name := u.Name + "@" + c.Name
			if u.Name == "admin" {
				name = c.Name
			}
			cfg.Contexts[name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: u.Name, Namespace: "default"}
		}
	}
	cfg.CurrentContext = env.Clusters[0].Name
	return clientcmd.WriteToFile(*cfg, env.path(file))
}
