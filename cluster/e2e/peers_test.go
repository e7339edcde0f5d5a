package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wsio/wsio/internal/wstest"
)

// The Debian programs the tests run.
const (
	haproxyPath = "/usr/sbin/haproxy"
	nginxPath   = "/usr/sbin/nginx"
	redisPath   = "/usr/bin/redis-server"
)

var (
	installOnce sync.Once
	installErr  error
)

// requireProgram makes sure path is installed, running
// conformance/peers/install.sh once per test binary when it is not. A
// program that cannot be had fails the test, unless WSIO_SKIP_PEERS=1
// asks to skip.
func requireProgram(t *testing.T, path string) {
	t.Helper()
	if os.Getenv("WSIO_SKIP_PEERS") == "1" {
		t.Skipf("WSIO_SKIP_PEERS=1: test needing %s skipped", path)
	}
	if _, err := os.Stat(path); err == nil {
		return
	}
	installOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "bash", filepath.Join("..", "..", "conformance", "peers", "install.sh")).CombinedOutput()
		if err != nil {
			installErr = fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
		}
	})
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing (conformance/peers/install.sh: %v); install it, or set WSIO_SKIP_PEERS=1 to skip", path, installErr)
	}
}

// proc is a program the test started in its own process group.
type proc struct {
	cmd    *exec.Cmd
	out    *wstest.Buffer
	exited chan struct{}
}

// startProc runs argv; the test's cleanup kills its process group.
func startProc(t *testing.T, argv ...string) *proc {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &proc{cmd: cmd, out: &wstest.Buffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", argv[0], err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() && p.out.String() != "" {
			t.Logf("%s output:\n%s", argv[0], p.out.String())
		}
	})
	return p
}

// kill ends the process group and waits for the process.
func (p *proc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
	}
}

// waitListening waits until addr accepts TCP connections, or p exits.
func waitListening(t *testing.T, p *proc, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited before listening on %s:\n%s", p.cmd.Path, addr, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s is not listening on %s:\n%s", p.cmd.Path, addr, p.out.String())
}

func freeAddr(t *testing.T) string {
	return "127.0.0.1:" + strconv.Itoa(wstest.FreePort(t))
}

// natsServer is an embedded nats-server that can be stopped and started
// again on the same port.
type natsServer struct {
	t    *testing.T
	port int
	srv  *server.Server
}

func startNATS(t *testing.T) *natsServer {
	n := &natsServer{t: t, port: wstest.FreePort(t)}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *natsServer) start() {
	n.t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: n.port, NoLog: true, NoSigs: true})
	if err != nil {
		n.t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("nats-server did not start")
	}
	n.srv = s
}

func (n *natsServer) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

func (n *natsServer) url() string { return "nats://127.0.0.1:" + strconv.Itoa(n.port) }

// redisServer is a redis-server process on a free loopback port.
type redisServer struct {
	t    *testing.T
	addr string
	p    *proc
}

func startRedis(t *testing.T) *redisServer {
	requireProgram(t, redisPath)
	r := &redisServer{t: t, addr: freeAddr(t)}
	r.start()
	return r
}

func (r *redisServer) start() {
	_, port, _ := net.SplitHostPort(r.addr)
	r.p = startProc(r.t, redisPath, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", r.t.TempDir(), "--protected-mode", "no")
	waitListening(r.t, r.p, r.addr)
}

func (r *redisServer) stop() { r.p.kill() }

// balancer is HAProxy or nginx in front of the nodes.
type balancer struct {
	addr string // where clients connect
	p    *proc
}

// startHAProxy runs HAProxy in HTTP mode, round-robin over backends, with
// X-Forwarded-For added, quick health checks, and redispatch of a
// connection whose server refuses it.
func startHAProxy(t *testing.T, backends []string) *balancer {
	requireProgram(t, haproxyPath)
	b := &balancer{addr: freeAddr(t)}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global
    maxconn 9000
defaults
    mode http
    option forwardfor
    option redispatch
    retries 3
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout tunnel 1h
frontend fe
    bind %s
    default_backend nodes
backend nodes
    balance roundrobin
`, b.addr)
	for i, be := range backends {
		cfg += fmt.Sprintf("    server n%d %s check inter 200ms fall 1 rise 2\n", i, be)
	}
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	b.p = startProc(t, haproxyPath, "-db", "-f", path)
	waitListening(t, b.p, b.addr)
	return b
}

// startNginx runs nginx as a WebSocket reverse proxy over backends (round
// robin), terminating TLS when cert is given, closing a connection on
// which nothing passed for idle in either direction.
func startNginx(t *testing.T, backends []string, certPEM, keyPEM []byte, idle time.Duration) *balancer {
	requireProgram(t, nginxPath)
	b := &balancer{addr: freeAddr(t)}
	dir := t.TempDir()
	listen := b.addr
	tlsConf := ""
	if certPEM != nil {
		if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		listen += " ssl"
		tlsConf = fmt.Sprintf("ssl_certificate %s/cert.pem;\n        ssl_certificate_key %s/key.pem;", dir, dir)
	}
	ups := ""
	for _, be := range backends {
		ups += "        server " + be + " max_fails=1 fail_timeout=1s;\n"
	}
	secs := int(idle / time.Second)
	cfg := fmt.Sprintf(`daemon off;
master_process off;
user root;
pid %[1]s/nginx.pid;
error_log stderr warn;
worker_rlimit_nofile 20000;
events { worker_connections 16384; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    upstream nodes {
%[2]s    }
    server {
        listen %[3]s;
        %[4]s
        location / {
            proxy_pass http://nodes;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
            proxy_read_timeout %[5]ds;
            proxy_send_timeout %[5]ds;
        }
    }
}
`, dir, ups, listen, tlsConf, secs)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	b.p = startProc(t, nginxPath, "-p", dir, "-c", path, "-e", "stderr")
	waitListening(t, b.p, b.addr)
	return b
}

// pemPair encodes a certificate and its key for nginx.
func pemPair(t *testing.T, der []byte, key any) (certPEM, keyPEM []byte) {
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k})
}
