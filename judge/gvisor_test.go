package judge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// gvisorCaps are the capabilities the judge's container gets under gVisor:
// what docs/judge.md lists for a judge pod's securityContext, measured by
// dropping each in turn (CODEQUEST_GVISOR_CAPS overrides, to measure).
var gvisorCaps = []string{
	"CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SYS_PTRACE",
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER",
}

// TestGVisor runs the static judge binary inside gVisor (runsc run, systrap
// platform, no network) on every labelled submission of the corpus and of
// the judge's own hostile programs (testdata/hostile), plus the daemon
// attack (a double-forked setsid daemon) as an accepted sumbig
// solution (its run must end as soon as the program does) and the fork
// bomb, with a fresh compile cache, while busy loops keep every CPU loaded
// (busyLoops: the contention test inside gVisor). It checks that every
// verdict is the label's and that the isolation report says gVisor and the
// degraded mechanisms it implies.
func TestGVisor(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("TestGVisor needs root (runsc run)")
	}
	corpus := corpusDir(t)
	root := repoRoot(t)
	runsc := buildRunsc(t, root)

	dir := t.TempDir()
	judgeBin := filepath.Join(dir, "judge")
	build := exec.Command("go", "build", "-trimpath", "-o", judgeBin, "./cmd/judge")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the static judge: %v\n%s", err, out)
	}

	// The problems, with only the chosen submissions.
	problems := filepath.Join(dir, "problems")
	var dirs []string
	want := 0
	for _, src := range append(corpusProblems(t, corpus), "testdata/hostile") {
		name := filepath.Base(src)
		dst := filepath.Join(problems, name)
		if err := copyProblem(src, dst, nil); err != nil {
			t.Fatal(err)
		}
		if name == "sumbig" {
			if err := copyFile(filepath.Join(corpus, "attacks", "daemon.py"), filepath.Join(dst, "submissions", "accepted", "daemon.py")); err != nil {
				t.Fatal(err)
			}
			// Forked processes share their pages copy-on-write: counted
			// once (the cgroup's usage), the bomb meets its process limit
			// and spins to TLE, not a false MLE.
			if err := copyFile(filepath.Join(corpus, "attacks", "forkbomb.py"), filepath.Join(dst, "submissions", "time_limit_exceeded", "forkbomb.py")); err != nil {
				t.Fatal(err)
			}
		}
		n, _ := filepath.Glob(filepath.Join(dst, "submissions", "*", "*"))
		want += len(n)
		dirs = append(dirs, dst)
	}
	// The prebuilt caches a judge image carries (judge warm).
	warm := warmDir(t)
	out := filepath.Join(dir, "out")
	cache := filepath.Join(dir, "cache")
	for _, d := range []string{out, cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tc := DefaultToolchains()
	tsPrefix := filepath.Dir(filepath.Dir(filepath.Dir(tc.TSC)))
	sort.Strings(dirs)
	script := fmt.Sprintf("/judge run --json --problem %[1]s/sumbig --source %[1]s/sumbig/submissions/accepted/sum.py > %[2]s/run.json && "+
		"/judge verify --json %[3]s > %[2]s/verify.json; "+
		"for f in /proc/[0-9]*/status; do grep '^Uid:' $f; done > %[2]s/uids.txt 2>/dev/null",
		problems, out, strings.Join(dirs, " "))
	caps := gvisorCaps
	if v := os.Getenv("CODEQUEST_GVISOR_CAPS"); v != "" {
		caps = strings.Split(v, ",")
	}
	binds := []string{"/usr", "/etc/alternatives", "/etc/java-17-openjdk", "/etc/ld.so.cache"}
	for _, p := range []string{tsPrefix, tc.GoRoot, tc.JavaDir} {
		if !strings.HasPrefix(p, "/usr/") {
			binds = append(binds, p)
		}
	}
	bundle := filepath.Join(dir, "bundle")
	if err := writeBundle(bundle, ociBundle{
		Args: []string{"/bin/sh", "-c", script},
		Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root", "CODEQUEST_CACHE=" + cache,
			"CODEQUEST_TSC=" + tc.TSC, "CODEQUEST_WARM=/warm"},
		Caps:     caps,
		ReadOnly: append(binds, problems, judgeBin+":/judge", warm+":/warm"),
		Writable: []string{out, cache},
		// The judge pod's CPU, guaranteed: gVisor counts the time a task
		// was runnable, so a neighbour that delays the sandbox's threads
		// inflates every CPU time (docs/judge.md, "Time under load"). On a
		// node that is the pod's request (whole cores with the static CPU
		// manager); here, busy loops outside any cgroup stand for the
		// neighbours and the container's cgroup gets the highest weight.
		CPUShares: 262144,
	}); err != nil {
		t.Fatal(err)
	}

	busyLoops(t)
	for round := 1; round <= contentionRounds(t); round++ {
		gvisorRound(t, round, runsc, bundle, out, want)
	}
}

// gvisorRound runs the judge's container once and checks what it wrote.
func gvisorRound(t *testing.T, round int, runsc, bundle, out string, want int) {
	t.Helper()
	dir := filepath.Dir(bundle)
	id := fmt.Sprintf("codequest-judge-test-%d", os.Getpid())
	state := filepath.Join(dir, "runsc-state")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, runsc, "--root", state, "--platform=systrap", "--network=none",
		"run", "--bundle", bundle, id)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	start := time.Now()
	err := cmd.Run()
	exec.Command(runsc, "--root", state, "delete", "-force", id).Run()
	// runsc pins its shared empty network namespace in its root folder.
	unix.Unmount(filepath.Join(state, "null-netns"), unix.MNT_DETACH)
	t.Logf("round %d: runsc run: %s", round, time.Since(start).Round(time.Millisecond))
	if err != nil {
		// judge verify exits 1 on a mismatch: the entries below say which.
		t.Errorf("runsc run: %v\n%s", err, logs.String())
	}

	var run Result
	if err := readJSON(filepath.Join(out, "run.json"), &run); err != nil {
		t.Fatalf("judge run inside gVisor: %v\n%s", err, logs.String())
	}
	iso := run.Isolation
	if run.Verdict != Accepted || !iso.GVisor || iso.MemoryLimit != "rss-poll" || iso.MemoryMeasure != "smaps anonymous" ||
		iso.MemoryPollSlack == 0 || !iso.PivotRoot || !iso.Seccomp || len(iso.Namespaces) != 5 {
		t.Errorf("judge run inside gVisor: verdict %s, isolation %+v; want ACCEPTED with gvisor, rss-poll on smaps anonymous, pivot_root, seccomp, 5 namespaces",
			run.Verdict, iso)
	}
	t.Logf("isolation inside gVisor: %+v", iso)

	var entries []VerifyEntry
	if err := readJSON(filepath.Join(out, "verify.json"), &entries); err != nil {
		t.Fatalf("judge verify inside gVisor: %v\n%s", err, logs.String())
	}
	judged := 0
	for _, e := range entries {
		if e.Skipped != "" {
			continue
		}
		judged++
		t.Logf("%-8s %-38s %-4s %-4s %5d ms %7.1f MiB %d re-runs", e.Problem, e.Submission, e.Expected.Short(), e.Got.Short(), e.MaxCPUMillis, float64(e.PeakMemoryKiB)/1024, e.Reruns)
		if !e.Match {
			t.Errorf("round %d: %s %s: got %s, want %s (%s)", round, e.Problem, e.Submission, e.Got, e.Expected, e.Message)
		}
	}
	if judged != want {
		t.Errorf("%d submissions judged inside gVisor, want %d", judged, want)
	}

	// Once the judge is done, no process of a run uid is left in the
	// container (the daemon attack's grandchild included).
	uids, err := os.ReadFile(filepath.Join(out, "uids.txt"))
	if err != nil {
		t.Fatalf("process list inside gVisor: %v", err)
	}
	if !strings.Contains(string(uids), "Uid:") {
		t.Errorf("empty process list from inside gVisor: %q", uids)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(uids)), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] != "0" {
			t.Errorf("a process of uid %s survived its run inside gVisor", f[1])
		}
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("locate the repository root: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// buildRunsc returns runsc's path, building it with hack/runsc.sh when it
// is not in the tool cache yet (minutes, once).
func buildRunsc(t *testing.T, root string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "hack", "runsc.sh"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/runsc.sh: %v\n%s", err, stderr.String())
	}
	path := strings.TrimSpace(string(out))
	if fi, err := os.Stat(path); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("hack/runsc.sh printed %q, not an executable", path)
	}
	return path
}

// copyProblem copies a problem package without its submissions, then the
// listed submissions (every one when subs is nil).
func copyProblem(src, dst string, subs []string) error {
	keep := map[string]bool{}
	for _, s := range subs {
		keep[filepath.Join("submissions", s)] = true
	}
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if subs != nil && strings.HasPrefix(rel, "submissions"+string(filepath.Separator)) && !fi.IsDir() && !keep[rel] {
			return nil
		}
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		}
		return copyFile(p, target)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	o, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, in); err != nil {
		o.Close()
		return err
	}
	return o.Close()
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// ociBundle describes the judge's container: an empty read-only root whose
// /bin, /lib, /lib64 and /sbin are the links of a merged-/usr Debian, with
// host paths bound read-only (ReadOnly, "src" or "src:dst") or writable at
// the same path, a tmpfs /tmp, and the given capabilities.
type ociBundle struct {
	Args, Env, Caps    []string
	ReadOnly, Writable []string
	// CPUShares is the container cgroup's CPU weight (0: the default).
	CPUShares uint64
}

func writeBundle(dir string, b ociBundle) error {
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"proc", "dev", "sys", "tmp", "etc", "usr"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return err
		}
	}
	for _, l := range []string{"bin", "lib", "lib64", "sbin"} {
		if err := os.Symlink("usr/"+l, filepath.Join(rootfs, l)); err != nil {
			return err
		}
	}
	type mount struct {
		Destination string   `json:"destination"`
		Type        string   `json:"type"`
		Source      string   `json:"source"`
		Options     []string `json:"options,omitempty"`
	}
	mounts := []mount{
		{"/proc", "proc", "proc", nil},
		{"/dev", "tmpfs", "tmpfs", []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{"/sys", "sysfs", "sysfs", []string{"nosuid", "noexec", "nodev", "ro"}},
		{"/tmp", "tmpfs", "tmpfs", []string{"nosuid", "nodev", "mode=1777"}},
	}
	bind := func(spec, mode string) error {
		src, dst, ok := strings.Cut(spec, ":")
		if !ok {
			dst = src
		}
		fi, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
		// The mount point must exist in the read-only root.
		mp := filepath.Join(rootfs, dst)
		if fi.IsDir() {
			err = os.MkdirAll(mp, 0o755)
		} else if err = os.MkdirAll(filepath.Dir(mp), 0o755); err == nil {
			err = os.WriteFile(mp, nil, 0o644)
		}
		if err != nil {
			return err
		}
		mounts = append(mounts, mount{dst, "bind", src, []string{"rbind", mode}})
		return nil
	}
	for _, p := range b.ReadOnly {
		if err := bind(p, "ro"); err != nil {
			return err
		}
	}
	for _, p := range b.Writable {
		if err := bind(p, "rw"); err != nil {
			return err
		}
	}
	spec := map[string]any{
		"ociVersion": "1.0.0",
		"process": map[string]any{
			"user": map[string]int{"uid": 0, "gid": 0},
			"args": b.Args, "env": b.Env, "cwd": "/",
			"capabilities": map[string][]string{
				"bounding": b.Caps, "effective": b.Caps, "permitted": b.Caps,
			},
			"rlimits": []map[string]any{{"type": "RLIMIT_NOFILE", "hard": 65536, "soft": 65536}},
		},
		"root":     map[string]any{"path": rootfs, "readonly": true},
		"hostname": "judge",
		"mounts":   mounts,
		"linux": map[string]any{
			"namespaces": []map[string]string{{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}},
		},
	}
	if b.CPUShares > 0 {
		spec["linux"].(map[string]any)["resources"] = map[string]any{"cpu": map[string]any{"shares": b.CPUShares}}
	}
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644)
}
