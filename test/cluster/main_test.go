//go:build cluster

// Package cluster is the end-to-end suite against a real cluster: the Helm
// chart installed into it, judging in real pods (under gVisor where the
// node has it), everything checked through the public API and kubectl.
//
// It does not make the cluster: hack/test-cluster.sh (a single-node cluster
// on this machine) and hack/kind-e2e.sh (kind) bring one up, load the
// images and run it with:
//
//	KUBECONFIG                kubeconfig of the cluster (admin)
//	CODEQUEST_E2E_VALUES      the chart's values file for that cluster
//	CODEQUEST_IMAGE           the codequest image (repository:tag)
//	CODEQUEST_JUDGE_IMAGE     the judge image (repository:tag)
//	CODEQUEST_E2E_HOST        address of this machine the cluster's pods reach:
//	                          Postgres, Redis, MinIO and mailpit listen there
//	CODEQUEST_E2E_KUBE_API    host:port of the Kubernetes API for the
//	                          platform pods (a cluster without kube-proxy)
//	CODEQUEST_E2E_OBJECTS_PORT  MinIO's port (default: a free one)
//	CODEQUEST_E2E_API_URL     the API's URL (default: kubectl port-forward)
//	CODEQUEST_CORPUS          the problem corpus (default ../shared/corpus)
//
// Postgres, Redis, MinIO and mailpit run as processes of this machine
// (test/localsvc), as external services the chart points at.
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/codequest-dev/codequest/api/proto/codequest/v1/codequestv1connect"
	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/apiserver/apitest"
	"github.com/codequest-dev/codequest/test/harness"
	"github.com/codequest-dev/codequest/test/localsvc"
)

const (
	release   = "codequest"
	namespace = "codequest-system"
	// adminPassword is the password of the administrator the suite makes
	// with `codequest admin` inside the API server's pod.
	adminEmail    = "admin@e2e.codequest.test"
	adminPassword = "Cluster-Ops-7731"
)

// suite is what every test shares: the installed platform.
type suite struct {
	root, corpus      string
	kubectl, helm     string
	judgeNS           string
	apiURL            string
	http              *http.Client
	mail              *harness.Mailbox
	kube              client.Client
	stopPortForward   func()
	stopServices      func()
	helmInstallTook   time.Duration
	servicesStartTook time.Duration
}

var s suite

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster suite:", err)
		code = 1
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	for _, k := range []string{"KUBECONFIG", "CODEQUEST_E2E_VALUES", "CODEQUEST_IMAGE", "CODEQUEST_JUDGE_IMAGE", "CODEQUEST_E2E_HOST"} {
		if os.Getenv(k) == "" {
			return 0, fmt.Errorf("%s is not set: run hack/test-cluster.sh (or hack/kind-e2e.sh), which bring a cluster up and set it", k)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	root, err := localsvc.FindRoot(".")
	if err != nil {
		return 0, err
	}
	s.root = root
	s.corpus = os.Getenv("CODEQUEST_CORPUS")
	if s.corpus == "" {
		s.corpus = filepath.Join(root, "..", "shared", "corpus")
	}
	if _, err := os.Stat(filepath.Join(s.corpus, "sumbig", "problem.yaml")); err != nil {
		return 0, fmt.Errorf("corpus: %w (set CODEQUEST_CORPUS)", err)
	}
	tools := localsvc.Tools{Root: root}
	if s.helm, err = tools.Path(ctx, "helm"); err != nil {
		return 0, err
	}
	if s.kubectl, err = exec.LookPath("kubectl"); err != nil {
		out, err := exec.CommandContext(ctx, filepath.Join(root, "hack", "kube.sh"), "path", "kubectl").Output()
		if err != nil {
			return 0, fmt.Errorf("kubectl: %w", err)
		}
		s.kubectl = strings.TrimSpace(string(out))
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		return 0, err
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	if s.kube, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return 0, err
	}
	s.judgeNS = "codequest-judge"
	h2c := new(http.Protocols) // gRPC needs HTTP/2; the API speaks it without TLS
	h2c.SetUnencryptedHTTP2(true)
	s.http = &http.Client{Transport: &http.Transport{Protocols: h2c}}

	began := time.Now()
	svc, err := startServices(ctx, tools, os.Getenv("CODEQUEST_E2E_HOST"))
	if err != nil {
		return 0, err
	}
	s.stopServices = svc.stop
	defer s.stopServices()
	s.servicesStartTook = time.Since(began)
	s.mail = svc.mail

	began = time.Now()
	if err := install(ctx, svc); err != nil {
		dumpState()
		return 0, err
	}
	s.helmInstallTook = time.Since(began)
	defer uninstall()
	fmt.Fprintf(os.Stderr, "cluster suite: services in %v, helm install in %v\n",
		s.servicesStartTook.Round(time.Millisecond), s.helmInstallTook.Round(time.Millisecond))

	if s.apiURL = os.Getenv("CODEQUEST_E2E_API_URL"); s.apiURL == "" {
		url, stop, err := portForward(ctx)
		if err != nil {
			dumpState()
			return 0, err
		}
		s.apiURL, s.stopPortForward = url, stop
		defer stop()
	}
	if err := waitReady(ctx, s.apiURL+"/readyz"); err != nil {
		dumpState()
		return 0, err
	}
	if err := makeAdmin(ctx); err != nil {
		dumpState()
		return 0, err
	}
	code := m.Run()
	if code != 0 {
		dumpState()
	}
	return code, nil
}

// services are the external services of the installation.
type services struct {
	pg     *localsvc.Postgres
	redis  *localsvc.Redis
	minio  *localsvc.MinIO
	mail   *harness.Mailbox
	mailpt *localsvc.Mailpit
	dir    string
	keyPEM string
}

func (v *services) stop() {
	ctx := context.Background()
	if v.mailpt != nil {
		_ = v.mailpt.Stop(ctx)
	}
	if v.minio != nil {
		_ = v.minio.Stop(ctx)
	}
	if v.redis != nil {
		_ = v.redis.Stop(ctx)
	}
	if v.pg != nil {
		_ = v.pg.Stop(ctx)
	}
	os.RemoveAll(v.dir)
}

// startServices starts Postgres, Redis, MinIO and mailpit listening on
// host, makes the database and a JWT signing key.
func startServices(ctx context.Context, tools localsvc.Tools, host string) (_ *services, err error) {
	dir, err := os.MkdirTemp("", "codequest-cluster-e2e-")
	if err != nil {
		return nil, err
	}
	// The postgres user must reach its data folder.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	v := &services{dir: dir}
	defer func() {
		if err != nil {
			v.stop()
		}
	}()
	spec := func(name string) localsvc.Spec { return localsvc.Spec{Dir: filepath.Join(dir, name), Host: host} }
	if v.pg, err = localsvc.StartPostgres(ctx, spec("postgres")); err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, v.pg.URL("postgres"))
	if err != nil {
		return nil, err
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE codequest")
	conn.Close(ctx)
	if err != nil {
		return nil, err
	}
	if v.redis, err = localsvc.StartRedis(ctx, localsvc.RedisSpec{Spec: spec("redis")}); err != nil {
		return nil, err
	}
	minioBin, err := tools.Path(ctx, "minio")
	if err != nil {
		return nil, err
	}
	// The port judge pods may reach (a local cluster's firewall opens only
	// that one on the host).
	minioSpec := spec("minio")
	if p := os.Getenv("CODEQUEST_E2E_OBJECTS_PORT"); p != "" {
		if _, err := fmt.Sscan(p, &minioSpec.Port); err != nil {
			return nil, fmt.Errorf("CODEQUEST_E2E_OBJECTS_PORT: %w", err)
		}
	}
	if v.minio, err = localsvc.StartMinIO(ctx, localsvc.MinIOSpec{Spec: minioSpec, Binary: minioBin,
		AccessKey: "codequest", SecretKey: "codequest-e2e-secret"}); err != nil {
		return nil, err
	}
	mailpitBin, err := tools.Path(ctx, "mailpit")
	if err != nil {
		return nil, err
	}
	if v.mailpt, err = localsvc.StartMailpit(ctx, localsvc.MailpitSpec{Spec: spec("mailpit"), Binary: mailpitBin}); err != nil {
		return nil, err
	}
	host, port, _ := strings.Cut(v.mailpt.SMTPAddr, ":")
	var p int
	fmt.Sscan(port, &p)
	v.mail = &harness.Mailbox{SMTPHost: host, SMTPPort: p, APIURL: v.mailpt.URL}

	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	v.keyPEM = filepath.Join(dir, "jwt.pem")
	if err := os.WriteFile(v.keyPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return v, nil
}

// splitRef splits repository:tag.
func splitRef(ref string) (repo, tag string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ref, "latest"
	}
	return ref[:i], ref[i+1:]
}

// install runs helm upgrade --install with the cluster's values file and
// this run's services, and waits for the rollout.
func install(ctx context.Context, v *services) error {
	repo, tag := splitRef(os.Getenv("CODEQUEST_IMAGE"))
	jrepo, jtag := splitRef(os.Getenv("CODEQUEST_JUDGE_IMAGE"))
	smtpHost, smtpPort, _ := strings.Cut(v.mail.SMTPAddr(), ":")
	set := []string{
		"image.repository=" + repo, "image.tag=" + tag,
		"judge.image.repository=" + jrepo, "judge.image.tag=" + jtag,
		"database.url=" + strings.ReplaceAll(v.pg.URL("codequest"), ",", `\,`),
		"redis.url=" + v.redis.URL(0),
		"objectStorage.endpoint=" + v.minio.Endpoint,
		"networkPolicy.objectStorage.port=" + v.minio.Endpoint[strings.LastIndex(v.minio.Endpoint, ":")+1:],
		"objectStorage.accessKey=codequest", "objectStorage.secretKey=codequest-e2e-secret",
		"smtp.host=" + smtpHost, "smtp.port=" + smtpPort, "smtp.startTLS=false",
		"log.format=text",
	}
	if api := os.Getenv("CODEQUEST_E2E_KUBE_API"); api != "" {
		h, p, _ := strings.Cut(api, ":")
		set = append(set, "kubernetesAPI.host="+h, "kubernetesAPI.port="+p)
	}
	args := []string{"upgrade", "--install", release, filepath.Join(s.root, "charts", "codequest"),
		"--namespace", namespace, "--create-namespace", "--values", os.Getenv("CODEQUEST_E2E_VALUES"),
		"--set-file", "jwt.signingKey=" + v.keyPEM,
		"--wait", "--timeout", "10m"}
	for _, kv := range set {
		args = append(args, "--set", kv)
	}
	cmd := exec.CommandContext(ctx, s.helm, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("helm install: %w", err)
	}
	// helm --wait counts a Deployment ready at replicas - maxUnavailable
	// (0 for one replica on host networking); rollout status waits for
	// every replica.
	for _, d := range []string{"deploy/codequest-apiserver", "deploy/codequest-controller"} {
		cmd := exec.CommandContext(ctx, s.kubectl, "--namespace", namespace, "rollout", "status", d, "--timeout=5m")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", d, err)
		}
	}
	return nil
}

func uninstall() {
	if os.Getenv("CODEQUEST_E2E_KEEP") != "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.helm, "uninstall", release, "--namespace", namespace, "--wait", "--timeout", "3m")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "cluster suite: helm uninstall:", err)
	}
}

var forwarding = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+)`)

// portForward forwards a local port to the API server's Service.
func portForward(ctx context.Context) (string, func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, s.kubectl, "--namespace", namespace, "port-forward", "service/codequest-apiserver", ":http")
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		cancel()
		return "", nil, err
	}
	stop := func() { cancel(); _ = cmd.Wait() }
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := forwarding.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, out)
			return "http://127.0.0.1:" + m[1], stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("kubectl port-forward ended before forwarding")
}

func waitReady(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s", res.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %v", url, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// makeAdmin runs `codequest admin` in the API server's pod, as an operator
// does on a fresh installation.
func makeAdmin(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, s.kubectl, "--namespace", namespace, "exec", "-i", "deploy/codequest-apiserver", "--",
		"codequest", "admin", "--email", adminEmail)
	cmd.Stdin = strings.NewReader(adminPassword + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("codequest admin in the API server's pod: %w: %s", err, out)
	}
	return nil
}

// kubectl runs kubectl and returns its standard output.
func kubectl(t testing.TB, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(s.kubectl, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// dumpState prints what helps to see why a run failed.
func dumpState() {
	for _, args := range [][]string{
		{"get", "nodes", "-o", "wide"},
		{"get", "pods", "-A", "-o", "wide"},
		{"get", "problems,submissions,jobs", "-n", "codequest-judge"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		{"logs", "-n", namespace, "deploy/codequest-apiserver", "--tail=60"},
		{"logs", "-n", namespace, "deploy/codequest-controller", "--tail=60"},
	} {
		cmd := exec.Command(s.kubectl, args...)
		out, _ := cmd.CombinedOutput()
		fmt.Fprintf(os.Stderr, "--- kubectl %s\n%s", strings.Join(args, " "), out)
	}
}

// clients returns API clients with the given options (a bearer token, a
// protocol).
func clients(opts ...connect.ClientOption) apitest.Clients {
	u := s.apiURL
	return apitest.Clients{
		Auth:        codequestv1connect.NewAuthServiceClient(s.http, u, opts...),
		Users:       codequestv1connect.NewUserServiceClient(s.http, u, opts...),
		Orgs:        codequestv1connect.NewOrganizationServiceClient(s.http, u, opts...),
		Problems:    codequestv1connect.NewProblemServiceClient(s.http, u, opts...),
		Submissions: codequestv1connect.NewSubmissionServiceClient(s.http, u, opts...),
		Leaderboard: codequestv1connect.NewLeaderboardServiceClient(s.http, u, opts...),
	}
}
