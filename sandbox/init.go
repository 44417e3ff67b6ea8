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
	ScratchSize int64         `json:"scratch_size"`
	CopySize    int64         `json:"copy_size"`
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
	// forks the program) moves itself into once its root is built (so the
	// private copies are not charged to the run).
	JoinCgroups []string `json:"join_cgroups,omitempty"`
	// CgroupNamespace: the program gets a cgroup namespace rooted at the
	// run's cgroup, so /proc/self/cgroup names no host cgroup.
	CgroupNamespace bool `json:"cgroup_namespace"`
}

// initReport is what the init sends back on fd 4.
type initReport struct {
	Error    string `json:"error,omitempty"`
	Exited   bool   `json:"exited"`
	ExitCode int    `json:"exit_code"`
	Signal   int    `json:"signal"`
	CPUNs    int64  `json:"cpu_ns"`
	UserNs   int64  `json:"user_ns"`
	MaxRSS   int64  `json:"max_rss"`
	// CopyError: a writable private copy could not be handed back (too
	// big, too many files).
	CopyError string `json:"copy_error,omitempty"`
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
	if cfg.JoinNetwork {
		if err := joinNetwork(5); err != nil {
			return fail(err)
		}
	}
	// The cgroups' files are opened now and joined once the root is
	// built: after pivot_root their paths are gone.
	join, err := openCgroups(cfg.JoinCgroups)
	if err != nil {
		return fail(err)
	}
	backs, err := setupRoot(&cfg)
	if err != nil {
		return fail(err)
	}
	if err := join(); err != nil {
		return fail(err)
	}
	if cfg.CgroupNamespace {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fail(fmt.Errorf("cgroup namespace: %w", err))
		}
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
		UserNs: ru.Utime.Nano(),
		MaxRSS: ru.Maxrss << 10,
	}
	for _, b := range backs {
		if err := b.finish(); err != nil && r.CopyError == "" {
			r.CopyError = fmt.Sprintf("%s: %v", b.target, err)
		}
	}
	if status.Exited() {
		r.ExitCode = status.ExitStatus()
	} else if status.Signaled() {
		r.Signal = int(status.Signal())
	}
	json.NewEncoder(rep).Encode(r)
	return 0
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
