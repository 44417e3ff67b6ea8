package sandbox

import (
	"os"
	"strconv"
	"strings"
	"time"

	seccomp "github.com/elastic/go-seccomp-bpf"
)

// Mechanisms named in Layers.
const (
	memCgroup  = "cgroup"
	memRSSPoll = "rss-poll"
)

// Layers says which isolation layers a Sandbox uses. Every field that is
// weaker than on a plain Linux host comes with a line in Notes.
type Layers struct {
	// Namespaces created for each run.
	Namespaces []string `json:"namespaces"`
	// UserNamespace: runs get a user namespace (false: the judge is root and
	// drops to an unprivileged uid instead).
	UserNamespace bool `json:"user_namespace"`
	PivotRoot     bool `json:"pivot_root"`
	Seccomp       bool `json:"seccomp"`
	// Cgroup is "v1", "v2" or "none".
	Cgroup string `json:"cgroup"`
	// MemoryLimit is "cgroup" or "rss-poll" (resident memory polled and the
	// run killed at the limit).
	MemoryLimit string `json:"memory_limit"`
	// ProcessLimit is "cgroup pids + rlimit nproc" or "rlimit nproc".
	ProcessLimit string `json:"process_limit"`
	// CPUAccounting is "cgroup" or "proc" (polled from /proc).
	CPUAccounting string `json:"cpu_accounting"`
	// GVisor: the judge itself runs under gVisor.
	GVisor bool     `json:"gvisor"`
	Notes  []string `json:"notes,omitempty"`
}

func detectLayers(cfg Config) Layers {
	l := Layers{
		Namespaces: []string{"pid", "mount", "net", "ipc", "uts"},
		PivotRoot:  true,
		Seccomp:    seccomp.Supported(),
		GVisor:     isGVisor(),
	}
	if !l.Seccomp {
		l.Notes = append(l.Notes, "seccomp unavailable: no system-call deny-list")
	}
	l.Notes = append(l.Notes, "no user namespace: runs use an unprivileged uid (judge is root)")
	return l
}

func (l *Layers) fill(cg *cgroupParent, cfg Config) {
	switch {
	case cg == nil:
		l.Cgroup = "none"
	case cg.v2:
		l.Cgroup = "v2"
	default:
		l.Cgroup = "v1"
	}
	if cg != nil && !l.GVisor && !cfg.ForceRSSPoll {
		l.MemoryLimit = memCgroup
		l.ProcessLimit = "cgroup pids + rlimit nproc"
	} else {
		l.MemoryLimit = memRSSPoll
		l.ProcessLimit = "rlimit nproc (per-run uid)"
		switch {
		case l.GVisor:
			l.Notes = append(l.Notes, "gVisor ignores memory and pids cgroup limits: resident memory polled and killed at the limit; processes bounded by RLIMIT_NPROC with a per-run uid")
		case cg == nil:
			l.Notes = append(l.Notes, "no cgroup: resident memory polled and killed at the limit; processes bounded by RLIMIT_NPROC with a per-run uid")
		default:
			l.Notes = append(l.Notes, "memory limit by polling resident memory (forced)")
		}
	}
	if cg != nil {
		l.CPUAccounting = "cgroup"
	} else {
		l.CPUAccounting = "proc"
		l.Notes = append(l.Notes, "no cgroup: CPU time polled from /proc; a run's processes are killed with its PID namespace")
	}
}

// treePIDs lists pid and its descendants (host PID namespace view).
func treePIDs(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		p := strconv.Itoa(out[i])
		tasks, _ := os.ReadDir("/proc/" + p + "/task")
		for _, t := range tasks {
			b, err := os.ReadFile("/proc/" + p + "/task/" + t.Name() + "/children")
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if n, err := strconv.Atoi(f); err == nil {
					out = append(out, n)
				}
			}
		}
	}
	return out
}

// treeRSS is the summed resident memory that the run's processes other
// than its init own (resident minus shared file pages, as a memory cgroup
// would charge it), in bytes.
func treeRSS(pid int) int64 {
	var sum int64
	pageSize := int64(os.Getpagesize())
	for _, p := range treePIDs(pid)[1:] {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/statm")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) > 2 {
			res, _ := strconv.ParseInt(f[1], 10, 64)
			shared, _ := strconv.ParseInt(f[2], 10, 64)
			sum += (res - shared) * pageSize
		}
	}
	return sum
}

// treeCPU is the CPU time of the run's live processes and of the children
// they reaped.
func treeCPU(pid int) time.Duration {
	var ticks int64
	for _, p := range treePIDs(pid) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		// Fields after the command: state is f[0]; utime f[11], stime f[12],
		// cutime f[13], cstime f[14].
		if len(f) > 14 {
			for _, x := range f[11:15] {
				n, _ := strconv.ParseInt(x, 10, 64)
				ticks += n
			}
		}
	}
	return time.Duration(ticks) * (time.Second / 100)
}
