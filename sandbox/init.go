package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	initArg0 = "codequest-sandbox-init"
	initEnv  = "CODEQUEST_SANDBOX_INIT"
)

// InitName is the dedicated init binary, cmd/codequest-sandbox-init: a
// few MB that reach Main in about a millisecond. Any binary that calls
// Main can be the init, but a large one pays for its every package's
// initialisation on every run (codequest's: ~15 ms).
const InitName = "codequest-sandbox-init"

// FindInit returns InitName next to the running executable, or "" when it
// is not there. It does not search PATH: the init must come from the same
// build as the judge that runs it.
func FindInit() string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(self), InitName)
	if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return ""
	}
	return p
}

// initProtocol fingerprints what the judge and the init exchange (the
// fields of initConfig and initReport). The judge passes it in initEnv and
// an init built from other sources refuses to run, rather than misread
// its configuration.
var initProtocol = func() string {
	h := fnv.New64a()
	for _, v := range []any{initConfig{}, initReport{}} {
		t := reflect.TypeOf(v)
		for i := range t.NumField() {
			f := t.Field(i)
			fmt.Fprintf(h, "%s %s %s;", f.Name, f.Type, f.Tag)
		}
	}
	return strconv.FormatUint(h.Sum64(), 36)
}()

// initConfig is what the judge sends the run's init on fd 3.
type initConfig struct {
	Root        string        `json:"root"`
	ReadOnly    []string      `json:"read_only"`
	Binds       []Bind        `json:"binds"`
	Work        string        `json:"work"`
	WorkRW      bool          `json:"work_rw"`
	ScratchSize int64         `json:"scratch_size"`
	TmpSize     int64         `json:"tmp_size"`
	Dir         string        `json:"dir"`
	Args        []string      `json:"args"`
	Env         []string      `json:"env"`
	UID         int           `json:"uid"`
	CPU         time.Duration `json:"cpu"`
	Wall        time.Duration `json:"wall"`
	FileSize    int64         `json:"file_size"`
	OpenFiles   int           `json:"open_files"`
	Stack       int64         `json:"stack"`
	NProc       int           `json:"nproc"`
	Seccomp     bool          `json:"seccomp"`
	// JoinNetwork: the init was started in the judge's network namespace
	// and joins the shared one on fd 5 before anything else.
	JoinNetwork bool `json:"join_network"`
	// JoinCgroups: cgroup v1 `tasks` files the init's main thread (which
	// forks the program) moves itself into, before anything else.
	JoinCgroups []string `json:"join_cgroups,omitempty"`
}

// initReport is what the init sends back on fd 4.
type initReport struct {
	Error    string `json:"error,omitempty"`
	Exited   bool   `json:"exited"`
	ExitCode int    `json:"exit_code"`
	Signal   int    `json:"signal"`
	CPUNs    int64  `json:"cpu_ns"`
	MaxRSS   int64  `json:"max_rss"`
}

// Main must be called first thing in main (and in TestMain) of every
// binary that uses a Sandbox: when the process is a run's init it does the
// init's work and exits; otherwise it returns at once.
func Main() {
	if len(os.Args) == 0 || os.Args[0] != initArg0 {
		return
	}
	protocol, ok := os.LookupEnv(initEnv)
	if !ok {
		return
	}
	// Namespaces joined with setns and cgroups joined through `tasks` are
	// the calling thread's: the init joins and forks the program from this
	// one thread.
	runtime.LockOSThread()
	os.Exit(runInit(protocol))
}

func runInit(protocol string) int {
	rep := os.NewFile(4, "report")
	fail := func(err error) int {
		json.NewEncoder(rep).Encode(initReport{Error: err.Error()})
		return 1
	}
	if protocol != initProtocol {
		self, _ := os.Executable()
		return fail(fmt.Errorf("the sandbox init %s was built from other sources than the judge (protocol %s, the judge speaks %s): rebuild them together", self, initProtocol, protocol))
	}
	syscall.CloseOnExec(3)
	syscall.CloseOnExec(4)
	// Anything else inherited by accident must not reach the program. It
	// is marked close-on-exec rather than closed: by now the Go runtime of
	// this init has fds of its own (epoll), numbered after the inherited
	// ones, and closing them kills the init.
	markCloseOnExec(5)

	var cfg initConfig
	cf := os.NewFile(3, "config")
	if err := json.NewDecoder(cf).Decode(&cfg); err != nil {
		return fail(fmt.Errorf("read config: %w", err))
	}
	cf.Close()
	if err := joinCgroups(cfg.JoinCgroups); err != nil {
		return fail(err)
	}
	if cfg.JoinNetwork {
		if err := joinNetwork(5); err != nil {
			return fail(err)
		}
	}
	if err := setupRoot(&cfg); err != nil {
		return fail(err)
	}
	if err := unix.Sethostname([]byte("sandbox")); err != nil {
		return fail(fmt.Errorf("sethostname: %w", err))
	}
	if err := setRlimits(&cfg); err != nil {
		return fail(err)
	}
	syscall.Umask(0o022)
	if cfg.Seccomp {
		if err := loadSeccomp(); err != nil {
			return fail(fmt.Errorf("seccomp: %w", err))
		}
	}
	path, err := lookPath(cfg.Args[0], cfg.Env)
	if err != nil {
		return fail(err)
	}
	pid, err := syscall.ForkExec(path, cfg.Args, &syscall.ProcAttr{
		Dir:   cfg.Dir,
		Env:   cfg.Env,
		Files: []uintptr{0, 1, 2},
		Sys: &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: uint32(cfg.UID), Gid: uint32(cfg.UID), Groups: []uint32{}},
			Setsid:     true,
		},
	})
	if err != nil {
		return fail(fmt.Errorf("start %s: %w", cfg.Args[0], err))
	}
	os.Stdin.Close()
	os.Stdout.Close()
	os.Stderr.Close()
	// A last guard should the judge die: the init stops the run itself.
	go func() {
		time.Sleep(cfg.Wall + 2*time.Second)
		syscall.Kill(-1, syscall.SIGKILL)
	}()

	canKill := hasCapability(unix.CAP_KILL)
	var status syscall.WaitStatus
	for {
		var ws syscall.WaitStatus
		p, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			break
		}
		if p == pid {
			status = ws
			// Everything the program left behind (daemons) goes with it.
			syscall.Kill(-1, syscall.SIGKILL)
			if !canKill {
				// Without CAP_KILL (a judge container that lacks it) the
				// init cannot signal the run's uid: it stops waiting, and
				// its exit tears the PID namespace down, which kills them.
				break
			}
		}
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	r := initReport{
		Exited: status.Exited(),
		CPUNs:  ru.Utime.Nano() + ru.Stime.Nano(),
		MaxRSS: ru.Maxrss << 10,
	}
	if status.Exited() {
		r.ExitCode = status.ExitStatus()
	} else if status.Signaled() {
		r.Signal = int(status.Signal())
	}
	json.NewEncoder(rep).Encode(r)
	return 0
}

func setupRoot(cfg *initConfig) error {
	root := cfg.Root
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=1m,mode=755"); err != nil {
		return fmt.Errorf("mount root tmpfs: %w", err)
	}
	for _, p := range cfg.ReadOnly {
		if err := bindPath(root, p, p, false); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	for _, b := range cfg.Binds {
		if !filepath.IsAbs(b.Source) {
			return fmt.Errorf("bind %s: source is not an absolute path", b.Source)
		}
		if err := bindPath(root, b.Source, b.Target, b.Writable); err != nil {
			return err
		}
	}
	work := filepath.Join(root, "work")
	if cfg.Work != "" {
		if err := bindPath(root, cfg.Work, "/work", cfg.WorkRW); err != nil {
			return err
		}
	} else {
		if err := os.MkdirAll(work, 0o755); err != nil {
			return err
		}
		opts := fmt.Sprintf("size=%d,mode=700,uid=%d,gid=%d", cfg.ScratchSize, cfg.UID, cfg.UID)
		if err := unix.Mount("tmpfs", work, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			return fmt.Errorf("mount scratch: %w", err)
		}
	}
	tmp := filepath.Join(root, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	if cfg.TmpSize > 0 {
		opts := fmt.Sprintf("size=%d,mode=1777", cfg.TmpSize)
		if err := unix.Mount("tmpfs", tmp, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			return fmt.Errorf("mount tmp: %w", err)
		}
	}
	proc := filepath.Join(root, "proc")
	if err := os.MkdirAll(proc, 0o555); err != nil {
		return err
	}
	if err := unix.Mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount proc: %w", err)
	}
	dev := filepath.Join(root, "dev")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		return err
	}
	for _, d := range []string{"null", "zero", "urandom", "random"} {
		if err := bindPath(root, "/dev/"+d, "/dev/"+d, true); err != nil {
			return err
		}
	}
	for name, target := range map[string]string{
		"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
	} {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	old := filepath.Join(root, ".old")
	if err := os.Mkdir(old, 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(root, old); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.old", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := os.Remove("/.old"); err != nil {
		return err
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("remount root read-only: %w", err)
	}
	return nil
}

// bindPath binds host path src at dst inside root. A symbolic link is
// recreated as a link.
func bindPath(root, src, dst string, writable bool) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	target := filepath.Join(root, dst)
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		link, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if _, err := os.Lstat(target); err == nil {
			return nil
		}
		return os.Symlink(link, target)
	}
	if fi.IsDir() {
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
	} else {
		f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		f.Close()
	}
	if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_NOSUID)
	if !writable {
		flags |= unix.MS_RDONLY
	}
	if !strings.HasPrefix(dst, "/dev/") {
		flags |= unix.MS_NODEV
	}
	if err := unix.Mount("", target, "", flags, ""); err != nil {
		return fmt.Errorf("remount %s: %w", dst, err)
	}
	return nil
}

func setRlimits(cfg *initConfig) error {
	cpu := uint64((cfg.CPU + time.Second - 1) / time.Second) // whole seconds, rounded up
	set := []struct {
		res int
		cur uint64
		max uint64
	}{
		{unix.RLIMIT_CPU, cpu + 1, cpu + 2},
		{unix.RLIMIT_FSIZE, uint64(cfg.FileSize), uint64(cfg.FileSize)},
		{unix.RLIMIT_NOFILE, uint64(cfg.OpenFiles), uint64(cfg.OpenFiles)},
		{unix.RLIMIT_STACK, uint64(cfg.Stack), uint64(cfg.Stack)},
		{unix.RLIMIT_CORE, 0, 0},
		{unix.RLIMIT_NPROC, uint64(cfg.NProc), uint64(cfg.NProc)},
	}
	for _, l := range set {
		if err := unix.Setrlimit(l.res, &unix.Rlimit{Cur: l.cur, Max: l.max}); err != nil {
			return fmt.Errorf("setrlimit %d: %w", l.res, err)
		}
	}
	return nil
}

func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := "/usr/local/bin:/usr/bin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH inside the sandbox", name)
}

// markCloseOnExec sets FD_CLOEXEC on every fd from first up.
func markCloseOnExec(first int) {
	if err := unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return
	}
	// Kernels before 5.11 (and sandboxes without the flag): one by one.
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= first {
			syscall.CloseOnExec(fd)
		}
	}
}
