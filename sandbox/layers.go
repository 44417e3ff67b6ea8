package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Mechanisms named in Layers.
const (
	memCgroup  = "cgroup"
	memRSSPoll = "rss-poll"
)

// How the rss-poll measures a run's memory (Layers.MemoryMeasure).
const (
	// measureStatm: resident minus shared pages (/proc/<pid>/statm), the
	// private anonymous memory a memory cgroup would charge. Plain kernel.
	measureStatm = "statm resident-shared"
	// measureSmaps: the "Anonymous:" lines of /proc/<pid>/smaps. gVisor:
	// its statm has no shared pages, so file pages (node's 90 MiB binary)
	// would count. Reading another uid's smaps needs CAP_SYS_PTRACE (inside
	// gVisor that capability is the sentry's, not the host kernel's).
	measureSmaps = "smaps anonymous"
	// measureVmRSS: gVisor without CAP_SYS_PTRACE: the whole resident size,
	// file pages included (a JVM at rest is ~200 MiB there).
	measureVmRSS = "statm resident"
)

// gvisorPollSlack is how far over its memory limit a run may go under
// gVisor before the poll kills it. gVisor backs a private anonymous fault
// with a whole 2 MiB-aligned chunk and reports what it allocated rather
// than what was touched, so sparse memory counts more than on the host: a
// JVM's per-thread malloc arenas count nearly in full (a Java
// StackOverflowError under -Xmx256m peaks at 195-361 MiB of "Anonymous"
// there, 166-336 MiB charged to a cgroup on the host; the judge gives Java
// 192 MiB over the limit on both). A program that exceeds its limit by
// less than this is not caught under gVisor; the note in Layers says so.
const gvisorPollSlack = 64 << 20

// Layers says which isolation layers a Sandbox uses. Every field that is
// weaker than on a plain Linux host comes with a line in Notes.
type Layers struct {
	// Namespaces created for each run.
	Namespaces []string `json:"namespaces"`
	// SharedNetwork: runs given a Network (NewNetwork) share its empty
	// network namespace instead of creating one each; the judge shares
	// one among the runs of one submission.
	SharedNetwork bool `json:"shared_network"`
	// CgroupNamespace: runs get a cgroup namespace rooted at their cgroup,
	// so /proc/self/cgroup names no host cgroup (gVisor offers one only
	// with cgroup v2).
	CgroupNamespace bool `json:"cgroup_namespace"`
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
	// MemoryMeasure says what the rss-poll measures ("statm
	// resident-shared", "smaps anonymous", "statm resident") and
	// MemoryPollSlack how many bytes over the limit it tolerates; empty and
	// 0 with a cgroup limit.
	MemoryMeasure   string `json:"memory_measure,omitempty"`
	MemoryPollSlack int64  `json:"memory_poll_slack,omitempty"`
	// ProcessLimit is "cgroup pids + rlimit nproc" or "rlimit nproc".
	ProcessLimit string `json:"process_limit"`
	// CPUPriority: the runs' cgroup has the highest CPU weight on the
	// host (Config.CPUPriority).
	CPUPriority bool `json:"cpu_priority"`
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
		Seccomp:    seccompSupported(),
		GVisor:     isGVisor(),
	}
	if !l.Seccomp {
		l.Notes = append(l.Notes, "seccomp unavailable: no system-call deny-list")
	}
	l.Notes = append(l.Notes, "no user namespace: runs use an unprivileged uid (judge is root)")
	if !hasCapability(unix.CAP_KILL) {
		l.Notes = append(l.Notes, "no CAP_KILL: a program's leftover processes (daemons) are killed by its PID namespace's teardown when the run's init exits, not by the init")
	}
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
	l.CgroupNamespace = cg != nil && !l.GVisor
	l.CPUPriority = cg != nil && cg.cpuPriority
	if cg != nil && l.GVisor {
		l.Notes = append(l.Notes, "gVisor: no cgroup namespace (it offers one only with cgroup v2): /proc/self/cgroup shows the run's cgroup inside the sandbox")
	}
	if cg != nil && !l.GVisor && !cfg.ForceRSSPoll {
		l.MemoryLimit = memCgroup
		l.ProcessLimit = "cgroup pids + rlimit nproc"
	} else {
		l.MemoryLimit = memRSSPoll
		l.ProcessLimit = "rlimit nproc (per-run uid)"
		l.MemoryMeasure = measureStatm
		switch {
		case l.GVisor:
			l.Notes = append(l.Notes, "gVisor ignores memory and pids cgroup limits: resident memory polled and killed at the limit; processes bounded by RLIMIT_NPROC with a per-run uid")
			l.MemoryPollSlack = gvisorPollSlack
			if hasCapability(unix.CAP_SYS_PTRACE) {
				l.MemoryMeasure = measureSmaps
				l.Notes = append(l.Notes, fmt.Sprintf("gVisor: memory is the runs' private anonymous memory from /proc/<pid>/smaps, or the run cgroup's usage where that is smaller (smaps counts pages forked processes share in each of them), killed at the limit + %d MiB (gVisor counts anonymous memory in 2 MiB chunks, ~2x the host's figure for a JVM); reported peak memory is gVisor's resident size, file pages included", gvisorPollSlack>>20))
			} else {
				l.MemoryMeasure = measureVmRSS
				l.Notes = append(l.Notes, fmt.Sprintf("gVisor without CAP_SYS_PTRACE: another uid's smaps is unreadable, so memory is the whole resident size, file pages included, killed at the limit + %d MiB: Node and Java runs are over-counted by ~90 and ~150 MiB (grant SYS_PTRACE)", gvisorPollSlack>>20))
			}
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

// treePIDs lists pid and its descendant processes (the judge's PID
// namespace view). Only thread-group leaders count: gVisor lists a child
// process's other threads in /proc/<pid>/task/<tid>/children as well, and
// /proc/<tid>/stat of such a thread gives its whole process's figures, so
// counting them would multiply a multithreaded program's CPU time and
// memory by its number of threads. /proc itself lists leaders only.
func treePIDs(pid int) []int {
	leaders := map[int]bool{}
	if entries, err := os.ReadDir("/proc"); err == nil {
		for _, e := range entries {
			if n, err := strconv.Atoi(e.Name()); err == nil {
				leaders[n] = true
			}
		}
	}
	out := []int{pid}
	seen := map[int]bool{pid: true}
	for i := 0; i < len(out); i++ {
		p := strconv.Itoa(out[i])
		tasks, _ := os.ReadDir("/proc/" + p + "/task")
		for _, t := range tasks {
			b, err := os.ReadFile("/proc/" + p + "/task/" + t.Name() + "/children")
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if n, err := strconv.Atoi(f); err == nil && leaders[n] && !seen[n] {
					seen[n] = true
					out = append(out, n)
				}
			}
		}
	}
	return out
}

// treeRSS is the summed resident memory that the run's processes other
// than its init own, in bytes: their private anonymous memory, as a memory
// cgroup would charge it, without file pages shared with the page cache.
//
// On a plain kernel that is statm's resident minus shared (RssAnon).
// gVisor's statm reports no shared pages at all: a file mapping's pages
// live in the sentry's own memory file and count as private, so node's
// resident size is ~105 MiB there against ~40 MiB on the host. Under
// gVisor the "Anonymous:" lines of /proc/<pid>/smaps are summed instead
// (gVisor has no smaps_rollup).
func treeRSS(pid int, measure string) int64 {
	var sum int64
	pageSize := int64(os.Getpagesize())
	for _, p := range treePIDs(pid)[1:] {
		if measure == measureSmaps {
			sum += smapsAnonymous("/proc/" + strconv.Itoa(p) + "/smaps")
			continue
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/statm")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) > 2 {
			res, _ := strconv.ParseInt(f[1], 10, 64)
			shared, _ := strconv.ParseInt(f[2], 10, 64)
			if measure == measureVmRSS {
				shared = 0
			}
			sum += (res - shared) * pageSize
		}
	}
	return sum
}

// hasCapability reports whether the calling process has capability c in
// its effective set.
func hasCapability(c int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[c/32].Effective&(1<<(uint(c)%32)) != 0
}

// smapsAnonymous sums the "Anonymous:" lines of an smaps file, in bytes.
func smapsAnonymous(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	var kib int64
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if rest, ok := bytes.CutPrefix(line, []byte("Anonymous:")); ok {
			f := bytes.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(string(f[0]), 10, 64)
				kib += n
			}
		}
	}
	return kib << 10
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
