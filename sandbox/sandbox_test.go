package sandbox

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var shEnv = []string{"PATH=/usr/bin:/bin"}

func run(t *testing.T, s *Sandbox, script string, lim Limits, binds ...Bind) *Result {
	t.Helper()
	res, err := s.Run(context.Background(), Spec{Args: []string{"/bin/sh", "-c", script}, Env: shEnv, Limits: lim, Binds: binds})
	if err != nil {
		t.Fatalf("run %q: %v", script, err)
	}
	return res
}

func TestExitAndSignal(t *testing.T) {
	s := newTestSandbox(t, Config{})
	tests := []struct {
		script     string
		wantCode   int
		wantSignal syscall.Signal
		wantOut    string
	}{
		{"echo hello", 0, 0, "hello\n"},
		{"exit 3", 3, 0, ""},
		{"kill -SEGV $$", -1, syscall.SIGSEGV, ""},
		{"test $$ != 1 && echo notinit", 0, 0, "notinit\n"}, // the init is PID 1; the program is not
	}
	for _, tc := range tests {
		t.Run(tc.script, func(t *testing.T) {
			res := run(t, s, tc.script, Limits{})
			if res.ExitCode != tc.wantCode || res.Signal != tc.wantSignal || string(res.Stdout) != tc.wantOut {
				t.Errorf("got exit %d signal %v out %q, want exit %d signal %v out %q",
					res.ExitCode, res.Signal, res.Stdout, tc.wantCode, tc.wantSignal, tc.wantOut)
			}
		})
	}
}

// TestIsolation checks what a run can see and do.
func TestIsolation(t *testing.T) {
	secret := t.TempDir()
	if err := os.WriteFile(filepath.Join(secret, "x.ans"), []byte("42"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newTestSandbox(t, Config{})
	tests := []struct {
		name, script, want string
	}{
		{"unprivileged uid", "id -u", "not0"},
		{"hostname", "hostname", "sandbox\n"},
		{"no network but loopback down", "cat /proc/net/dev | grep -c ':' ; cat /sys/class/net/lo/operstate 2>/dev/null || echo nosys", "1\nnosys\n"},
		{"host files invisible", "ls " + secret + " 2>&1 >/dev/null | grep -c 'No such file'", "1\n"},
		{"shadow unreadable", "cat /etc/shadow 2>/dev/null || echo denied", "denied\n"},
		{"root read-only", "touch /x 2>/dev/null || echo denied", "denied\n"},
		{"usr read-only", "touch /usr/x 2>/dev/null || echo denied", "denied\n"},
		{"tmp read-only by default", "touch /tmp/x 2>/dev/null || echo denied", "denied\n"},
		{"scratch writable", "cd /work && echo hi > f && cat f", "hi\n"},
		{"only own processes", "ls /proc | grep -c '^[0-9]'", "small"},
		{"mount denied", "mount -t tmpfs none /work 2>/dev/null || echo denied", "denied\n"},
		// An unprivileged user namespace is the kernel's to give; the
		// seccomp filter refuses it.
		{"user namespace denied", "unshare -U true 2>/dev/null || echo denied", "denied\n"},
		{"fds closed", "ls /proc/self/fd | wc -l", "4\n"}, // 0,1,2 and the one ls opens
	}
	network, err := s.NewNetwork()
	if err != nil || network == nil {
		t.Fatalf("NewNetwork: %v %v (%v)", network, err, s.Layers().Notes)
	}
	defer network.Close()
	for _, tc := range tests {
		// A run alone and a run in a shared network namespace (the
		// judge's tests) are isolated alike.
		for _, net := range []*Network{nil, network} {
			name := tc.name
			if net != nil {
				name += "/shared network"
			}
			t.Run(name, func(t *testing.T) {
				res, err := s.Run(context.Background(), Spec{Args: []string{"/bin/sh", "-c", tc.script}, Env: shEnv, Network: net})
				if err != nil {
					t.Fatal(err)
				}
				checkIsolation(t, tc.want, res)
			})
		}
	}
}

func checkIsolation(t *testing.T, want string, res *Result) {
	got := string(res.Stdout)
	switch want {
	case "not0":
		if strings.TrimSpace(got) == "0" || got == "" {
			t.Errorf("uid %q, want non-root", got)
		}
	case "small":
		if got == "" || strings.TrimSpace(got) > "9" && len(strings.TrimSpace(got)) > 1 {
			t.Errorf("%q processes visible, want only the run's", got)
		}
	default:
		if got != want {
			t.Errorf("got %q (stderr %q), want %q", got, res.Stderr, want)
		}
	}
}

// Runs given one Network share its namespace; other runs, other Networks
// and the host each have their own.
func TestSharedNetwork(t *testing.T) {
	s := newTestSandbox(t, Config{})
	a, err := s.NewNetwork()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := s.NewNetwork()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ns := func(n *Network) string {
		t.Helper()
		res, err := s.Run(context.Background(), Spec{Args: []string{"/bin/readlink", "/proc/self/ns/net"}, Network: n})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("%v %+v", err, res)
		}
		return string(res.Stdout)
	}
	host, _ := os.Readlink("/proc/self/ns/net")
	a1, a2, b1, fresh1, fresh2 := ns(a), ns(a), ns(b), ns(nil), ns(nil)
	if a1 != a2 {
		t.Errorf("two runs in one Network: %q and %q", a1, a2)
	}
	seen := map[string]bool{host + "\n": true}
	for _, n := range []string{a1, b1, fresh1, fresh2} {
		if seen[n] {
			t.Errorf("namespace %q shared where it must not be (host %s, a %s, b %s, fresh %s %s)", n, host, a1, b1, fresh1, fresh2)
		}
		seen[n] = true
	}
}

func TestLimits(t *testing.T) {
	s := newTestSandbox(t, Config{})
	t.Run("cpu", func(t *testing.T) {
		res := run(t, s, "while :; do :; done", Limits{CPUTime: 300 * time.Millisecond})
		if !res.CPUExceeded || res.CPUTime < 300*time.Millisecond {
			t.Errorf("CPUExceeded %v after %s, want true after at least 300ms", res.CPUExceeded, res.CPUTime)
		}
	})
	t.Run("wall", func(t *testing.T) {
		res := run(t, s, "sleep 30", Limits{CPUTime: time.Second, WallTime: 300 * time.Millisecond})
		if !res.WallExceeded || res.WallTime > 5*time.Second {
			t.Errorf("WallExceeded %v after %s, want true soon after 300ms", res.WallExceeded, res.WallTime)
		}
	})
	t.Run("memory", func(t *testing.T) {
		res := run(t, s, "/usr/bin/python3 -c 'x = bytearray(200 << 20); print(len(x))'", Limits{Memory: 64 << 20})
		if !res.OOMKilled {
			t.Errorf("OOMKilled false (exit %d signal %v peak %d), want true", res.ExitCode, res.Signal, res.PeakMemory)
		}
	})
	t.Run("output", func(t *testing.T) {
		res := run(t, s, "yes", Limits{Output: 1 << 20})
		if !res.OutputExceeded || len(res.Stdout) != 1<<20 {
			t.Errorf("OutputExceeded %v with %d bytes, want true with 1 MiB", res.OutputExceeded, len(res.Stdout))
		}
	})
	t.Run("processes", func(t *testing.T) {
		res := run(t, s, "for i in $(seq 40); do sleep 5 & done; wait; echo done", Limits{Processes: 10, WallTime: 20 * time.Second})
		if !strings.Contains(string(res.Stderr), "fork") && !strings.Contains(string(res.Stderr), "Resource") {
			t.Errorf("40 background processes under a limit of 10: stderr %q, want fork failures", res.Stderr)
		}
	})
	t.Run("file size", func(t *testing.T) {
		res := run(t, s, "head -c 2000000 /dev/zero > /work/f; echo $?", Limits{FileSize: 1 << 20})
		if res.Signal != syscall.SIGXFSZ && !strings.HasPrefix(string(res.Stdout), "1") && res.ExitCode == 0 && !strings.Contains(string(res.Stdout), "153") {
			t.Errorf("writing 2 MB under a 1 MiB limit: stdout %q signal %v", res.Stdout, res.Signal)
		}
	})
}

// TestNoLeftovers: a daemon that double-forks and ignores signals dies
// with its run, and no cgroup or mount stays behind.
func TestNoLeftovers(t *testing.T) {
	s := newTestSandbox(t, Config{})
	start := time.Now()
	res := run(t, s, "(setsid sh -c 'trap \"\" HUP TERM; sleep 600' &) ; echo started", Limits{})
	if string(res.Stdout) != "started\n" || time.Since(start) > 5*time.Second {
		t.Fatalf("got %q after %s", res.Stdout, time.Since(start))
	}
	if pids := processesInUIDRange(s.cfg.UIDBase, s.cfg.UIDBase+999); len(pids) > 0 {
		t.Errorf("daemon %v survived its run", pids)
	}
	if s.cgroups != nil {
		for _, d := range s.cgroups.dirs {
			entries, _ := os.ReadDir(d)
			for _, e := range entries {
				if e.IsDir() {
					t.Errorf("cgroup %s left", filepath.Join(d, e.Name()))
				}
			}
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), s.root) {
		t.Errorf("a mount of the run's root is visible on the host")
	}
	dirs := s.cgroups.dirs
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s left after Close", d)
		}
	}
	s.cgroups = nil
	s.ownsDir = false
}

// TestDegraded runs with the mechanisms used inside gVisor (no cgroup:
// memory polled, processes by RLIMIT_NPROC) and checks they still hold.
func TestDegraded(t *testing.T) {
	s := newTestSandbox(t, Config{ForceNoCgroup: true})
	l := s.Layers()
	if l.Cgroup != "none" || l.MemoryLimit != memRSSPoll || len(l.Notes) < 2 {
		t.Fatalf("layers %+v, want no cgroup, rss-poll and notes saying so", l)
	}
	res := run(t, s, "/usr/bin/python3 -c 'x = bytearray(300 << 20); import time; time.sleep(5)'", Limits{Memory: 64 << 20})
	if !res.MemoryExceeded {
		t.Errorf("MemoryExceeded false (peak %d MiB), want true", res.PeakMemory>>20)
	}
	res = run(t, s, "while :; do :; done", Limits{CPUTime: 300 * time.Millisecond})
	if !res.CPUExceeded {
		t.Errorf("CPUExceeded false after %s", res.CPUTime)
	}
	res = run(t, s, "for i in $(seq 40); do sleep 5 & done; wait; echo done", Limits{Processes: 10, WallTime: 20 * time.Second})
	if !strings.Contains(string(res.Stderr), "fork") && !strings.Contains(string(res.Stderr), "Resource") {
		t.Errorf("40 processes under RLIMIT_NPROC 10: stderr %q, want fork failures", res.Stderr)
	}
}

// TestPollMeasures checks the rss-poll's measures on a host process tree:
// a shell holding a python3 child with 96 MiB of written anonymous memory
// and four threads. statm's resident-minus-shared and smaps' Anonymous
// lines (gVisor's measure) both see the 96 MiB once (threads are not
// counted as processes), statm's whole resident size a little more.
func TestPollMeasures(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", `/usr/bin/python3 -c '
import threading, time, sys
x = bytearray(96 << 20)
for i in range(0, len(x), 4096): x[i] = 1
ts = [threading.Thread(target=time.sleep, args=(30,), daemon=True) for _ in range(4)]
for th in ts: th.start()
print("ready", flush=True)
time.sleep(30)
'`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Process.Kill(); cmd.Wait() }()
	buf := make([]byte, 6)
	if _, err := io.ReadFull(out, buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("child not ready: %q %v", buf, err)
	}
	if n := len(treePIDs(cmd.Process.Pid)); n != 2 {
		t.Errorf("treePIDs lists %d processes, want 2 (shell and python3, not its threads)", n)
	}
	for _, m := range []string{measureStatm, measureSmaps, measureVmRSS} {
		got := treeRSS(cmd.Process.Pid, m) >> 20
		if got < 96 || got > 140 {
			t.Errorf("%s: %d MiB, want 96 to 140", m, got)
		}
	}
}

// Making network namespaces must not end the threads it borrows: a child
// started with Pdeathsig from such a thread earlier (the harness's
// services, `codequest dev`'s) would be killed with it. Go ends a thread
// only when a goroutine exits locked to it, so no thread may disappear.
func TestNetworkKeepsThreads(t *testing.T) {
	s := newTestSandbox(t, Config{})
	threads := func() map[string]bool {
		entries, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, e := range entries {
			m[e.Name()] = true
		}
		return m
	}
	before := threads()
	for range 50 {
		n, err := s.NewNetwork()
		if err != nil {
			t.Fatal(err)
		}
		n.Close()
	}
	after := threads()
	for tid := range before {
		if !after[tid] {
			t.Fatalf("thread %s ended while network namespaces were made (before %v, after %v)", tid, before, after)
		}
	}
	// And every thread is back in this process's namespace.
	self, _ := os.Readlink("/proc/self/ns/net")
	for tid := range after {
		if ns, err := os.Readlink("/proc/self/task/" + tid + "/ns/net"); err == nil && ns != self {
			t.Errorf("thread %s is left in %s, not %s", tid, ns, self)
		}
	}
}

// The program runs in the run's own cgroups (the init's main thread joins
// them before it forks the program, or the init is moved there by pid),
// and sees them as the root of its cgroup namespace: no host cgroup path.
func TestRunCgroup(t *testing.T) {
	s := newTestSandbox(t, Config{})
	if s.Layers().Cgroup == "none" || !s.Layers().CgroupNamespace {
		t.Fatalf("no cgroups or no cgroup namespace on this host: %+v", s.Layers())
	}
	done := make(chan *Result, 1)
	go func() { done <- run(t, s, "cat /proc/self/cgroup; exec sleep 2", Limits{}) }()
	// From the host: a process named sleep in every run cgroup of the
	// sandbox.
	for c, dir := range s.cgroups.dirs {
		found := false
		for deadline := time.Now().Add(10 * time.Second); !found && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			procs, _ := filepath.Glob(filepath.Join(dir, "run-*", "cgroup.procs"))
			for _, f := range procs {
				b, _ := os.ReadFile(f)
				for _, pid := range strings.Fields(string(b)) {
					if comm, _ := os.ReadFile("/proc/" + pid + "/comm"); strings.TrimSpace(string(comm)) == "sleep" {
						found = true
					}
				}
			}
		}
		if !found {
			t.Errorf("the program is in no run cgroup of %s (%s)", c, dir)
		}
	}
	res := <-done
	for _, line := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			t.Fatalf("cgroup line %q", line)
		}
		if f[2] != "/" {
			t.Errorf("the program sees cgroup %q, want / (a cgroup namespace at its run's cgroup)", line)
		}
	}
}
