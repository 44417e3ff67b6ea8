package sandbox

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// loop runs f b.N times and reports the median time of one iteration
// (the mean is skewed by the slow outliers of a loaded machine).
func loop(b *testing.B, f func()) {
	var d []time.Duration
	for b.Loop() {
		start := time.Now()
		f()
		d = append(d, time.Since(start))
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2])/1e6, "median-ms")
}

// staticHello builds a static C hello world into a temporary folder.
func staticHello(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	src := filepath.Join(dir, "hello.c")
	if err := os.WriteFile(src, []byte("#include <stdio.h>\nint main(void){puts(\"hello\");return 0;}\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(dir, "hello")
	if out, err := exec.Command("gcc", "-static", "-O2", "-o", bin, src).CombinedOutput(); err != nil {
		tb.Fatalf("gcc -static (install gcc and libc6-dev): %v\n%s", err, out)
	}
	os.Chmod(dir, 0o755)
	return bin
}

func benchCommands(b *testing.B, hello string) map[string][]string {
	return map[string][]string{
		"static-hello": {hello},
		"python3-pass": {"/usr/bin/python3", "-c", "pass"},
	}
}

// BenchmarkBare is the cost of fork+exec alone.
func BenchmarkBare(b *testing.B) {
	hello := staticHello(b)
	for name, args := range benchCommands(b, hello) {
		b.Run(name, func(b *testing.B) {
			loop(b, func() {
				cmd := exec.Command(args[0], args[1:]...)
				if err := cmd.Run(); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkBubblewrap is Debian's bwrap with comparable isolation.
func BenchmarkBubblewrap(b *testing.B) {
	hello := staticHello(b)
	for name, args := range benchCommands(b, hello) {
		b.Run(name, func(b *testing.B) {
			bw := []string{"--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
				"--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
				"--tmpfs", "/tmp", "--ro-bind", filepath.Dir(hello), filepath.Dir(hello),
				"--proc", "/proc", "--dev", "/dev", "--uid", "65534", "--gid", "65534", "--"}
			loop(b, func() {
				cmd := exec.Command("/usr/bin/bwrap", append(bw, args...)...)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, out)
				}
			})
		})
	}
}

// BenchmarkSandbox is one Sandbox.Run per iteration: fresh namespaces,
// root, cgroup, rlimits and seccomp each time.
func BenchmarkSandbox(b *testing.B) {
	hello := staticHello(b)
	s := newTestSandbox(b, Config{})
	for name, args := range benchCommands(b, hello) {
		b.Run(name, func(b *testing.B) {
			spec := Spec{Args: args, Binds: []Bind{{Source: filepath.Dir(hello), Target: filepath.Dir(hello)}}}
			loop(b, func() {
				res, err := s.Run(context.Background(), spec)
				if err != nil || res.ExitCode != 0 {
					b.Fatalf("%v %+v %s", err, res, res.Stderr)
				}
			})
		})
	}
}
