package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// probeScript makes raw system calls from a run (Python's ctypes, as a
// hostile submission would) and prints one "name errno" line for each: 0
// when the call succeeded.
const probeScript = `
import ctypes, ctypes.util, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sys_(name, nr, *args):
    r = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    print(name, 0 if r >= 0 else ctypes.get_errno())
    sys.stdout.flush()
    if r == 0 and name.startswith("clone"):
        os._exit(0)  # the child of a clone that worked
SIGCHLD = 17
sys_("clone-newuser", 56, 0x10000000 | SIGCHLD, 0, 0, 0, 0)
sys_("clone-newnet", 56, 0x40000000 | SIGCHLD, 0, 0, 0, 0)
sys_("clone-newns", 56, 0x20000 | SIGCHLD, 0, 0, 0, 0)
sys_("clone3", 435, 0, 0)
sys_("unshare-user", 272, 0x10000000)
sys_("inotify_init1", 294, 0)
sys_("io_uring_setup", 425, 1, 0)
sys_("personality-no-aslr", 135, 0x0040000)
sys_("keyctl", 250, 0, 0, 0, 0)
sys_("userfaultfd", 323, 0)
sys_("unknown-999", 999)
sys_("x32-read", 0x40000000 | 0, 0, 0, 0)
for name, fam, typ in [("socket-vsock", 40, socket.SOCK_STREAM), ("socket-packet", 17, socket.SOCK_RAW),
                       ("socket-alg", 38, socket.SOCK_SEQPACKET), ("socket-inet", 2, socket.SOCK_STREAM),
                       ("socket-unix", 1, socket.SOCK_STREAM)]:
    try:
        socket.socket(fam, typ).close()
        print(name, 0)
    except OSError as e:
        print(name, e.errno)
try:
    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12).close()  # NETLINK_NETFILTER
    print("netlink-netfilter", 0)
except OSError as e:
    print("netlink-netfilter", e.errno)
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print("fork", 0)
`

// TestSyscallPolicy: what the seccomp allow-list lets a run do. A user
// namespace by clone (the hole of a deny-list that refused only unshare),
// clone3 (ENOSYS: runtimes fall back to clone), socket families that
// network namespaces do not isolate (AF_VSOCK) or that need privileges,
// inotify (host events on the read-only binds), and system calls the
// table does not know.
func TestSyscallPolicy(t *testing.T) {
	s := newTestSandbox(t, Config{})
	if !s.Layers().Seccomp {
		t.Fatalf("no seccomp here: %v", s.Layers().Notes)
	}
	res, err := s.Run(context.Background(), Spec{Args: []string{"/usr/bin/python3", "-I", "-S", "-c", probeScript}, Env: shEnv})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]unix.Errno{}
	for _, line := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
		var name string
		var errno int
		if f := strings.Fields(line); len(f) == 2 {
			name = f[0]
			for _, c := range f[1] {
				errno = errno*10 + int(c-'0')
			}
		}
		got[name] = unix.Errno(errno)
	}
	want := map[string]unix.Errno{
		"clone-newuser": unix.EPERM, "clone-newnet": unix.EPERM, "clone-newns": unix.EPERM,
		"clone3": unix.ENOSYS, "unshare-user": unix.EPERM,
		"inotify_init1": unix.EPERM, "io_uring_setup": unix.EPERM, "personality-no-aslr": unix.EPERM,
		"keyctl": unix.EPERM, "userfaultfd": unix.EPERM, "unknown-999": unix.ENOSYS, "x32-read": unix.ENOSYS,
		"socket-vsock": unix.EAFNOSUPPORT, "socket-packet": unix.EAFNOSUPPORT, "socket-alg": unix.EAFNOSUPPORT,
		"netlink-netfilter": unix.EAFNOSUPPORT,
		"socket-inet":       0, "socket-unix": 0, "fork": 0,
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: no answer (stdout %q, stderr %q)", name, res.Stdout, res.Stderr)
			continue
		}
		if g != w {
			t.Errorf("%s: errno %d (%v), want %d (%v)", name, int(g), g, int(w), w)
		}
	}
}

// TestNoHostPaths: nothing a run can read names a host path, the test it
// runs on or a cache key: its stdin is a sealed private copy, its program
// folder a private copy (no bind source in mountinfo), its cgroup the root
// of its own namespace, the kernel command line empty.
func TestNoHostPaths(t *testing.T) {
	s := newTestSandbox(t, Config{})
	box := filepath.Join(t.TempDir(), "cachekey-4f3a9e")
	if err := os.MkdirAll(filepath.Join(box, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(box, "sub", "prog"), []byte("#!/bin/sh\necho program\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	input := filepath.Join(t.TempDir(), "secret-test-07.in")
	if err := os.WriteFile(input, []byte("1 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(input)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	script := `readlink /proc/self/fd/0; cat; /box/sub/prog; cat /proc/self/mountinfo /proc/1/mountinfo /proc/self/cgroup /proc/cmdline; ls -l /proc/self/fd/;
echo x >> /proc/self/fd/0 2>/dev/null && echo stdin-writable; touch /box/x 2>/dev/null && echo box-writable; true`
	res, err := s.Run(context.Background(), Spec{
		Args: []string{"/bin/sh", "-c", script}, Env: shEnv, Stdin: in,
		Binds: []Bind{{Source: box, Target: "/box", Copy: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := string(res.Stdout)
	if !strings.HasPrefix(out, "/memfd:stdin") || !strings.Contains(out, "1 2\nprogram\n") {
		t.Errorf("stdin or program: %q (stderr %q)", out, res.Stderr)
	}
	for _, leak := range []string{"cachekey-4f3a9e", "secret-test-07", t.TempDir()[:8], "codequest-sandbox", "BOOT_IMAGE", "stdin-writable", "box-writable"} {
		if strings.Contains(out, leak) {
			t.Errorf("a run sees %q:\n%s", leak, out)
		}
	}
	if b, _ := os.ReadFile(input); string(b) != "1 2\n" {
		t.Errorf("the test file changed: %q", b)
	}
}

// TestPrivateCopyBack: a writable private copy (a compile's folder) is
// handed back into its host folder, folders and regular files only, and
// a run that writes more than Limits.Copy gets no copy back.
func TestPrivateCopyBack(t *testing.T) {
	s := newTestSandbox(t, Config{})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.c"), []byte("source"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(context.Background(), Spec{
		Args: []string{"/bin/sh", "-c", "cd /box && cat main.c > copy && mkdir -p out && echo js > out/main.js && chmod 755 copy && ln -s /etc/passwd link && mkfifo fifo"},
		Env:  shEnv, Dir: "/box", Binds: []Bind{{Source: dir, Target: "/box", Writable: true, Copy: true}},
	})
	if err != nil || res.ExitCode != 0 || res.CopyError != "" {
		t.Fatalf("run: %v %+v %s", err, res, res.Stderr)
	}
	for name, want := range map[string]string{"copy": "source", "out/main.js": "js\n", "main.c": "source"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != want {
			t.Errorf("%s: %q %v, want %q", name, b, err, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "copy")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("copy: %v %v, want mode 755", fi, err)
	}
	for _, name := range []string{"link", "fifo"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s was copied back", name)
		}
	}

	big := t.TempDir()
	res, err = s.Run(context.Background(), Spec{
		Args: []string{"/bin/sh", "-c", "head -c 3000000 /dev/zero > /box/big"},
		Env:  shEnv, Binds: []Bind{{Source: big, Target: "/box", Writable: true, Copy: true}},
		Limits: Limits{Copy: 2 << 20},
	})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(big, "big")); err == nil && fi.Size() > 2<<20 {
		t.Errorf("%d bytes copied back past the 2 MiB limit", fi.Size())
	}
	if res.ExitCode == 0 && res.CopyError == "" {
		t.Errorf("3 MB into a 2 MiB copy: exit %d, no copy error", res.ExitCode)
	}
}

// TestUIDBlocks: judges on one host never share run uids (a block each,
// claimed by lock); judge pods of one node neither (a block from their
// pod's IP, above the host's blocks).
func TestUIDBlocks(t *testing.T) {
	a := newTestSandbox(t, Config{})
	b := newTestSandbox(t, Config{})
	if a.cfg.UIDBase == b.cfg.UIDBase {
		t.Errorf("two sandboxes of one host share uid base %d", a.cfg.UIDBase)
	}
	// (A cluster's pod IPs are of one family: the primary one.)
	for _, ips := range [][]string{{"10.244.0.2", "10.244.0.3", "10.244.1.2", "10.244.255.254"}, {"fd00:10:244:1::2", "fd00:10:244:1::3", "fd00:10:244:1::ff02"}} {
		checkPodBlocks(t, ips)
	}
	if _, err := UIDBaseForPod("not an address"); err == nil {
		t.Error("a bad pod IP was accepted")
	}
}

func checkPodBlocks(t *testing.T, ips []string) {
	seen := map[int]string{}
	for _, ip := range ips {
		base, err := UIDBaseForPod(ip)
		if err != nil {
			t.Fatal(err)
		}
		if other, ok := seen[base]; ok {
			t.Errorf("%s and %s get the same uids (%d)", ip, other, base)
		}
		seen[base] = ip
		if base < uidFirst+podBlocks*uidBlockSize || base+uidBlockSize > 1<<31 {
			t.Errorf("%s: base %d outside the pods' blocks", ip, base)
		}
	}
}
