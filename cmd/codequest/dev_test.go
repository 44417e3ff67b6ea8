package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/codequest-dev/codequest/test/localsvc"
)

// TestDev runs `codequest dev` as a user does: the built binary on a data
// folder of its own and free ports. Through the HTTP JSON API it registers,
// verifies the mail from mailpit and logs in; Ctrl-C (SIGINT) stops it with
// status 0 and no process left behind; started again on the same folder, the
// account is still there.
func TestDev(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "codequest")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// dev's sandbox runs the judge binary found next to it as its init.
	buildJudge := exec.Command("go", "build", "-o", filepath.Join(filepath.Dir(bin), "judge"), "../judge")
	buildJudge.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := buildJudge.CombinedOutput(); err != nil {
		t.Fatalf("go build judge: %v\n%s", err, out)
	}
	samples, err := filepath.Abs("../../apiserver/problems/testdata")
	if err != nil {
		t.Fatal(err)
	}
	// As root, PostgreSQL runs as the postgres user, which must reach the
	// data folder: t.TempDir's parent is private.
	dataDir, err := os.MkdirTemp("", "codequest-dev-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dataDir) })
	if err := os.Chmod(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ports := make([]int, 7)
	for i := range ports {
		if ports[i], err = localsvc.FreePort(); err != nil {
			t.Fatal(err)
		}
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	api, mailpit := "http://"+addr, "http://127.0.0.1:"+strconv.Itoa(ports[6])
	const seedPassword = "Dev-test-pass1"
	d := devRun{
		bin: bin,
		args: []string{"dev", "--data-dir", dataDir, "--addr", addr,
			"--postgres-port", strconv.Itoa(ports[1]), "--redis-port", strconv.Itoa(ports[2]),
			"--minio-port", strconv.Itoa(ports[3]), "--minio-console-port", strconv.Itoa(ports[4]),
			"--mailpit-smtp-port", strconv.Itoa(ports[5]), "--mailpit-http-port", strconv.Itoa(ports[6]),
			"--samples", samples},
		env: []string{"CODEQUEST_DEV_PASSWORD=" + seedPassword},
		// Every process dev starts inherits the marker: after dev has
		// stopped, none may be left.
		marker: "CODEQUEST_DEV_TEST_MARKER=" + randomHex(),
	}
	const email, password = "dev-test@example.com", "Abcdefg1x"

	t.Run("first", func(t *testing.T) {
		out := d.start(t, api)
		if n := d.survivors(); n < 4 {
			t.Errorf("%d processes carry the marker, want at least Postgres, Redis, MinIO and mailpit", n)
		}
		if !strings.Contains(out.String(), "made now: admin@codequest.dev, instructor@codequest.dev, learner@codequest.dev") {
			t.Errorf("the banner does not say the accounts were made:\n%s", out)
		}
		learner := login(t, api, "learner@codequest.dev", seedPassword, http.StatusOK)
		judgeSample(t, api, learner)

		call(t, api, "AuthService/Register", map[string]string{"email": email, "password": password, "displayName": "Dev Test"}, http.StatusOK)
		login(t, api, email, password, http.StatusUnauthorized) // not verified yet: the answer of a wrong password
		token := verifyToken(t, mailpit, email)
		call(t, api, "AuthService/VerifyEmail", map[string]string{"token": token}, http.StatusOK)
		login(t, api, email, password, http.StatusOK)
		d.stop(t)
	})
	if t.Failed() {
		return
	}
	t.Run("again", func(t *testing.T) {
		out := d.start(t, api)
		if strings.Contains(out.String(), "made now") {
			t.Errorf("the seed accounts were made again:\n%s", out)
		}
		login(t, api, email, password, http.StatusOK)
		login(t, api, "admin@codequest.dev", seedPassword, http.StatusOK)
		d.stop(t)
	})
}

// devRun runs the dev command.
type devRun struct {
	bin    string
	args   []string
	env    []string
	marker string
	cmd    *exec.Cmd
	out    *syncBuffer
	done   chan error
}

// start runs dev and waits until the API is ready; it returns the
// command's output so far, which then holds the banner.
func (d *devRun) start(t *testing.T, api string) *syncBuffer {
	t.Helper()
	d.out = new(syncBuffer)
	d.cmd = exec.Command(d.bin, d.args...)
	d.cmd.Env = append(devEnv(), append(d.env, d.marker)...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.done = make(chan error, 1)
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		// A failed test must not leave dev running.
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-d.done:
			case <-time.After(30 * time.Second):
				_ = d.cmd.Process.Kill()
			}
		}
		if t.Failed() {
			t.Logf("codequest dev output:\n%s", d.out)
		}
	})
	// A cold start builds nothing when `make deps` has run: seconds.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(api + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(d.out.String(), "Ctrl-C stops it") {
				return d.out
			}
		}
		select {
		case err := <-d.done:
			d.done <- err
			t.Fatalf("codequest dev exited before it was ready: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("codequest dev not ready after 2 minutes")
		}
	}
}

// stop sends SIGINT, as Ctrl-C does, and wants a clean exit that leaves no
// process behind.
func (d *devRun) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("codequest dev exited with %v after SIGINT, want status 0", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("codequest dev did not stop within 45 s of SIGINT")
	}
	if n := d.survivors(); n != 0 {
		t.Errorf("%d processes started by codequest dev are still running", n)
	}
}

// survivors counts the running processes whose environment holds the
// marker (zombies excluded).
func (d *devRun) survivors() int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, []byte(d.marker+"\x00")) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		if _, rest, ok := bytes.Cut(stat, []byte(") ")); ok && bytes.HasPrefix(rest, []byte("Z")) {
			continue
		}
		n++
	}
	return n
}

// devEnv is the test's environment without CodeQuest settings, which would
// change what dev does; the tool cache stays.
func devEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CODEQUEST_") && !strings.HasPrefix(kv, "CODEQUEST_CACHE=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// call posts req as Connect JSON to /codequest.v1.PROCEDURE, wants status
// and returns the decoded answer.
func call(t *testing.T, api, procedure string, req any, status int) map[string]any {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(api+"/codequest.v1."+procedure, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", procedure, err)
	}
	defer resp.Body.Close()
	var got map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("%s: decode: %v", procedure, err)
	}
	if resp.StatusCode != status {
		t.Fatalf("%s: %s %v, want status %d", procedure, resp.Status, got, status)
	}
	return got
}

// login logs in and, when that is to succeed, wants an access token.
func login(t *testing.T, api, email, password string, status int) string {
	t.Helper()
	got := call(t, api, "AuthService/Login", map[string]string{"email": email, "password": password}, status)
	if status != http.StatusOK {
		return ""
	}
	tokens, _ := got["tokens"].(map[string]any)
	tok, _ := tokens["accessToken"].(string)
	if tok == "" {
		t.Errorf("Login %s: no access token in %v", email, got)
	}
	return tok
}

// judgeSample waits for the sample problem "double" that dev imported,
// submits a solution and polls it to its verdict: the controllers judge it
// on this machine.
func judgeSample(t *testing.T, api, token string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var problemID string
	for problemID == "" {
		if time.Now().After(deadline) {
			t.Fatal("the sample problem was never imported")
		}
		got, status := authCall(t, api, token, "ProblemService/GetProblem", map[string]string{"problem": "double"})
		if status == http.StatusOK {
			problemID, _ = got["problem"].(map[string]any)["id"].(string)
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	got, status := authCall(t, api, token, "SubmissionService/Submit", map[string]string{
		"problemId": problemID, "language": "python3", "source": "print(2 * int(input()))\n"})
	if status != http.StatusOK {
		t.Fatalf("Submit: %d %v", status, got)
	}
	id, _ := got["submission"].(map[string]any)["id"].(string)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("submission %s never got a verdict", id)
		}
		got, status := authCall(t, api, token, "SubmissionService/GetSubmission", map[string]string{"submissionId": id})
		sub, _ := got["submission"].(map[string]any)
		if status == http.StatusOK && sub["phase"] == "SUBMISSION_PHASE_COMPLETED" {
			if sub["verdict"] != "VERDICT_ACCEPTED" {
				t.Errorf("verdict %v", sub)
			}
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// authCall posts req as Connect JSON with a bearer token and returns the
// answer and its status.
func authCall(t *testing.T, api, token, procedure string, req any) (map[string]any, int) {
	t.Helper()
	body, _ := json.Marshal(req)
	r, _ := http.NewRequest(http.MethodPost, api+"/codequest.v1."+procedure, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s: %v", procedure, err)
	}
	defer resp.Body.Close()
	var got map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&got)
	return got, resp.StatusCode
}

var tokenRE = regexp.MustCompile(`verify-email\?token=([A-Za-z0-9_-]+)`)

// verifyToken waits for the verification mail to email in mailpit and
// returns its token.
func verifyToken(t *testing.T, mailpit, email string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		var search struct {
			Messages []struct{ ID string }
		}
		err := getJSON(ctx, mailpit+"/api/v1/search?"+url.Values{"query": {"to:" + email}}.Encode(), &search)
		if err == nil && len(search.Messages) > 0 {
			var msg struct{ Text string }
			if err := getJSON(ctx, mailpit+"/api/v1/message/"+url.PathEscape(search.Messages[0].ID), &msg); err != nil {
				t.Fatal(err)
			}
			m := tokenRE.FindStringSubmatch(msg.Text)
			if m == nil {
				t.Fatalf("no verification link in the mail:\n%s", msg.Text)
			}
			return m[1]
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no mail to %s in mailpit: %v (last error: %v)", email, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// syncBuffer is a bytes.Buffer that the command writes while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
