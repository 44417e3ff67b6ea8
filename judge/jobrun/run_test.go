package jobrun

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/codequest-dev/codequest/judge"
	"github.com/codequest-dev/codequest/sandbox"
)

func TestMain(m *testing.M) {
	sandbox.Main()
	os.Exit(m.Run())
}

// objectServer serves one package and records PUTs.
type objectServer struct {
	mu   sync.Mutex
	pkg  []byte
	puts map[string][]byte
}

func (s *objectServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		w.Write(s.pkg)
	case http.MethodPut:
		b, _ := io.ReadAll(r.Body)
		s.puts[r.URL.Path] = b
	}
}

func tarGz(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, _ := d.Info()
		h, _ := tar.FileInfoHeader(info, "")
		h.Name = "sum/" + filepath.ToSlash(rel)
		if err := tw.WriteHeader(h); err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func writeSpec(t *testing.T, s Spec) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "spec.json")
	b, _ := json.Marshal(s)
	if err := os.WriteFile(p, b, 0o400); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunRefusesABadPackageBeforeJudging(t *testing.T) {
	srv := &objectServer{pkg: tarGz(t, "../../controllers/testdata/sum"), puts: map[string][]byte{}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	src := "print(1)"
	spec := Spec{Language: "python3", Source: &src, Limits: Limits{TimeMillis: 1000, MemoryBytes: 256 << 20},
		Package: Download{URL: ts.URL + "/p.tgz", SHA256: strings.Repeat("0", 64), Size: int64(len(srv.pkg))}}
	term := filepath.Join(t.TempDir(), "termination-log")
	var out, errOut bytes.Buffer
	code := Run(context.Background(), Options{
		SpecPath: writeSpec(t, spec), WorkDir: t.TempDir(), TerminationLog: term, Stdout: &out, Stderr: &errOut,
		NewJudge: func(context.Context, *Spec) (Judger, func(), error) {
			t.Fatal("the judge was made before the package was checked")
			return nil, nil, nil
		},
	})
	if code != ExitPackage {
		t.Fatalf("exit %d, want %d (stderr %s)", code, ExitPackage, errOut.String())
	}
	b, _ := os.ReadFile(term)
	c, err := ParseCompact(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if c.Verdict != judge.InternalError || !strings.Contains(c.Message, "checksum mismatch") {
		t.Errorf("got %+v, want INTERNAL_ERROR about the checksum", c)
	}
}

func TestRunJudgesAndReports(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the judge's sandbox needs root (namespaces, cgroups): run the tests as root")
	}
	srv := &objectServer{pkg: tarGz(t, "../../controllers/testdata/sum"), puts: map[string][]byte{}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	src := "a, b = map(int, input().split())\nprint(a + b)\n"
	spec := Spec{Language: "python3", Source: &src, Limits: Limits{TimeMillis: 2000, MemoryBytes: 256 << 20},
		Package:   Download{URL: ts.URL + "/p.tgz", SHA256: sum(srv.pkg), Size: int64(len(srv.pkg))},
		ReportURL: ts.URL + "/reports/r.json"}
	work := t.TempDir()
	term := filepath.Join(t.TempDir(), "termination-log")
	var out, errOut bytes.Buffer
	code := Run(context.Background(), Options{
		SpecPath: writeSpec(t, spec), WorkDir: work, TerminationLog: term, Stdout: &out, Stderr: &errOut,
		NewJudge: newJudge(work),
	})
	if code != ExitVerdict {
		t.Fatalf("exit %d (stderr %s)", code, errOut.String())
	}
	b, _ := os.ReadFile(term)
	c, err := ParseCompact(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if c.Verdict != judge.Accepted || c.Passed != 3 || c.Total != 3 {
		t.Errorf("compact %+v, want ACCEPTED 3/3", c)
	}
	p, ok := LastProgress(out.String())
	if !ok || p.Phase != "done" {
		t.Errorf("last progress %+v in %q", p, out.String())
	}
	if !strings.Contains(out.String(), `"phase":"running","test":3,"total":3,"verdict":"AC","passed":3`) {
		t.Errorf("no per-test progress line for test 3 in %q", out.String())
	}
	var full judge.Result
	if err := json.Unmarshal(srv.puts["/reports/r.json"], &full); err != nil || len(full.Tests) != 3 {
		t.Errorf("report %q: %v", srv.puts["/reports/r.json"], err)
	}
}

func TestRunModeAcceptsANormalEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the judge's sandbox needs root: run the tests as root")
	}
	dir := t.TempDir()
	root, err := Unpack(bytes.NewReader(tarGz(t, "../../controllers/testdata/sum")), dir)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(context.Background(), sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	j, err := judge.New(judge.Config{Sandbox: sb, CacheDir: filepath.Join(dir, "cache")})
	if err != nil {
		t.Fatal(err)
	}
	in := "7 8\n"
	res, err := Judge(context.Background(), j, Request{ProblemDir: root, Language: "python3",
		Source: []byte("a, b = map(int, input().split())\nprint(a * b)\n"), Input: &in, Scratch: t.TempDir(),
		Limits: Limits{TimeMillis: 2000}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != judge.Accepted || res.Total != 1 {
		t.Errorf("run: %s %d/%d, want ACCEPTED on 1 test", res.Verdict, res.Passed, res.Total)
	}
	if got := res.Compact().Output; got != "56\n" {
		t.Errorf("run output = %q, want %q", got, "56\n")
	}
}

func TestUnpackRefusesEscapes(t *testing.T) {
	for _, name := range []string{"../evil", "/etc/passwd", "a/../../evil"} {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
		tw.Write([]byte("x"))
		tw.Close()
		zw.Close()
		if _, err := Unpack(&buf, t.TempDir()); err == nil {
			t.Errorf("Unpack accepted %q", name)
		}
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "link", Linkname: "/etc/passwd", Typeflag: tar.TypeSymlink})
	tw.Close()
	zw.Close()
	if _, err := Unpack(&buf, t.TempDir()); err == nil {
		t.Error("Unpack accepted a symbolic link")
	}
}

func TestReadVerified(t *testing.T) {
	b := []byte("hello")
	if _, err := ReadVerified(bytes.NewReader(b), sum(b), 5); err != nil {
		t.Error(err)
	}
	if _, err := ReadVerified(bytes.NewReader(b), sum(b), 4); err == nil {
		t.Error("wrong size accepted")
	}
	if _, err := ReadVerified(bytes.NewReader(b), sum([]byte("other")), 5); err == nil {
		t.Error("wrong checksum accepted")
	}
}

// TestRunInterrupted: a judge stopped from outside mid-run (SIGTERM cancels
// its context) exits ExitInterrupted and leaves no verdict behind, so the
// Job's pod failure policy judges the submission again instead of failing
// it.
func TestRunInterrupted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the judge's sandbox needs root (namespaces, cgroups): run the tests as root")
	}
	srv := &objectServer{pkg: tarGz(t, "../../controllers/testdata/sum"), puts: map[string][]byte{}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	src := "import time\ntime.sleep(30)\n"
	spec := Spec{Language: "python3", Source: &src, Limits: Limits{TimeMillis: 2000, MemoryBytes: 256 << 20},
		Package: Download{URL: ts.URL + "/p.tgz", SHA256: sum(srv.pkg), Size: int64(len(srv.pkg))}}
	work := t.TempDir()
	term := filepath.Join(t.TempDir(), "termination-log")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	progress := &watchWriter{w: &out, on: `"phase":"running"`, hit: cancel}
	code := Run(ctx, Options{
		SpecPath: writeSpec(t, spec), WorkDir: work, TerminationLog: term, Stdout: progress, Stderr: &errOut,
		NewJudge: newJudge(work),
	})
	if code != ExitInterrupted {
		t.Fatalf("exit %d, want %d (stdout %s, stderr %s)", code, ExitInterrupted, out.String(), errOut.String())
	}
	if b, err := os.ReadFile(term); err == nil && len(b) > 0 {
		t.Errorf("termination log %q, want none: an interrupted judging has no verdict", b)
	}
}

// watchWriter calls hit once when a write contains on.
type watchWriter struct {
	w   io.Writer
	on  string
	hit func()
}

func (w *watchWriter) Write(p []byte) (int, error) {
	if w.hit != nil && strings.Contains(string(p), w.on) {
		w.hit()
		w.hit = nil
	}
	return w.w.Write(p)
}

// newJudge makes the judge of a Run: a sandbox and a cache in work.
func newJudge(work string) func(context.Context, *Spec) (Judger, func(), error) {
	return func(ctx context.Context, _ *Spec) (Judger, func(), error) {
		sb, err := sandbox.New(ctx, sandbox.Config{})
		if err != nil {
			return nil, nil, err
		}
		j, err := judge.New(judge.Config{Sandbox: sb, CacheDir: filepath.Join(work, "cache")})
		if err != nil {
			sb.Close()
			return nil, nil, err
		}
		return j, func() { sb.Close() }, nil
	}
}
