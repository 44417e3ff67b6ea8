package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupParent is the judge's own cgroup folder (per controller on v1)
// under which each run gets a child.
type cgroupParent struct {
	v2 bool
	// v1: controller -> folder; v2: "" -> folder.
	dirs map[string]string
	// cpuPriority: the folder's CPU weight is the highest (see
	// Config.CPUPriority).
	cpuPriority bool
}

// Highest CPU weights: v1 cpu.shares, v2 cpu.weight.
const (
	maxCPUShares = "262144"
	maxCPUWeight = "10000"
)

// cgroupRun is one run's cgroup.
type cgroupRun struct {
	v2   bool
	dirs map[string]string
}

var v1Controllers = []string{"memory", "pids", "cpuacct"}

// newCgroupParent creates the judge's cgroup folders below the cgroups the
// judge itself is in. With cpuPriority, and where the cpu controller is
// there, the folder gets the highest CPU weight.
func newCgroupParent(name string, cpuPriority bool) (*cgroupParent, error) {
	own, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	// cgroup v1 with all three controllers: this machine's case.
	p := &cgroupParent{dirs: map[string]string{}}
	v1ok := true
	for _, c := range v1Controllers {
		m, ok := mounts[c]
		if !ok {
			v1ok = false
			break
		}
		p.dirs[c] = filepath.Join(m, own[c], name)
	}
	if v1ok {
		cpuDir := ""
		if m, ok := mounts["cpu"]; ok && cpuPriority {
			cpuDir = filepath.Join(m, own["cpu"], name)
			if m != mounts["cpuacct"] {
				p.dirs["cpu"] = cpuDir // runs get a child there too
			}
		}
		for c, d := range p.dirs {
			if err := os.Mkdir(d, 0o755); err != nil {
				p.remove()
				return nil, fmt.Errorf("create %s cgroup: %w", c, err)
			}
		}
		if cpuDir != "" {
			p.cpuPriority = os.WriteFile(filepath.Join(cpuDir, "cpu.shares"), []byte(maxCPUShares), 0) == nil
		}
		return p, nil
	}
	// cgroup v2.
	m, ok := mounts["cgroup2"]
	if !ok {
		return nil, errors.New("neither cgroup v1 memory+pids+cpuacct nor cgroup v2 is mounted")
	}
	ctrls, _ := os.ReadFile(filepath.Join(m, "cgroup.controllers"))
	for _, c := range []string{"memory", "pids"} {
		if !strings.Contains(string(ctrls), c) {
			return nil, fmt.Errorf("cgroup v2 at %s lacks the %s controller", m, c)
		}
	}
	base := filepath.Join(m, own[""])
	if err := enableV2(base); err != nil {
		return nil, err
	}
	d := filepath.Join(base, name)
	if err := os.Mkdir(d, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	if err := os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte("+memory +pids +cpu"), 0); err != nil {
		os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte("+memory +pids"), 0)
	}
	p = &cgroupParent{v2: true, dirs: map[string]string{"": d}}
	if cpuPriority {
		p.cpuPriority = os.WriteFile(filepath.Join(d, "cpu.weight"), []byte(maxCPUWeight), 0) == nil
	}
	return p, nil
}

// enableV2 turns on memory and pids for base's children. A v2 cgroup with
// processes cannot have controllers for its children, so the judge's own
// processes move to a leaf "judge" first (what a container's init does).
func enableV2(base string) error {
	sub, _ := os.ReadFile(filepath.Join(base, "cgroup.subtree_control"))
	if strings.Contains(string(sub), "memory") && strings.Contains(string(sub), "pids") {
		return nil
	}
	procs, _ := os.ReadFile(filepath.Join(base, "cgroup.procs"))
	if len(strings.TrimSpace(string(procs))) > 0 {
		leaf := filepath.Join(base, "judge")
		if err := os.MkdirAll(leaf, 0o755); err != nil {
			return fmt.Errorf("create leaf cgroup: %w", err)
		}
		for _, pid := range strings.Fields(string(procs)) {
			os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(pid), 0)
		}
	}
	if err := os.WriteFile(filepath.Join(base, "cgroup.subtree_control"), []byte("+memory +pids"), 0); err != nil {
		return fmt.Errorf("enable memory and pids controllers: %w", err)
	}
	os.WriteFile(filepath.Join(base, "cgroup.subtree_control"), []byte("+cpu"), 0)
	return nil
}

func (p *cgroupParent) remove() error {
	var errs []error
	for _, d := range p.dirs {
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p *cgroupParent) newRun(name string, lim Limits, limitMemory bool) (*cgroupRun, error) {
	r := &cgroupRun{v2: p.v2, dirs: map[string]string{}}
	for c, d := range p.dirs {
		r.dirs[c] = filepath.Join(d, name)
		if err := os.Mkdir(r.dirs[c], 0o755); err != nil {
			r.remove()
			return nil, fmt.Errorf("create cgroup: %w", err)
		}
	}
	// The cgroup limit has slack for the init and the page cache; the
	// verdict compares peak RSS with the exact limit.
	mem := strconv.FormatInt(lim.Memory+memorySlack, 10)
	pids := strconv.Itoa(lim.Processes + 2)
	var writes [][2]string
	if p.v2 {
		d := r.dirs[""]
		if limitMemory {
			writes = append(writes, [2]string{filepath.Join(d, "memory.max"), mem},
				[2]string{filepath.Join(d, "memory.swap.max"), "0"})
		}
		writes = append(writes, [2]string{filepath.Join(d, "pids.max"), pids})
	} else {
		if limitMemory {
			writes = append(writes, [2]string{filepath.Join(r.dirs["memory"], "memory.limit_in_bytes"), mem},
				[2]string{filepath.Join(r.dirs["memory"], "memory.memsw.limit_in_bytes"), mem})
		}
		writes = append(writes, [2]string{filepath.Join(r.dirs["pids"], "pids.max"), pids})
	}
	for _, w := range writes {
		if err := os.WriteFile(w[0], []byte(w[1]), 0); err != nil && !strings.HasSuffix(w[0], "swap.max") && !strings.Contains(w[0], "memsw") {
			r.remove()
			return nil, fmt.Errorf("set %s: %w", filepath.Base(w[0]), err)
		}
	}
	return r, nil
}

// memorySlack is what the cgroup allows above the run's memory limit.
const memorySlack = 8 << 20

// taskFiles are the v1 `tasks` files through which a thread moves itself
// into the run's cgroups (nil on v2, whose domain cgroups take whole
// processes only).
func (r *cgroupRun) taskFiles() []string {
	if r.v2 {
		return nil
	}
	var files []string
	for _, d := range r.dirs {
		files = append(files, filepath.Join(d, "tasks"))
	}
	return files
}

// openCgroups opens the v1 `tasks` files of a run's cgroups and returns
// the function that moves the calling thread into them (writing "0"). A
// thread moving itself is the one migration the kernel makes without
// taking cgroup_threadgroup_rwsem for writing, which every fork on the
// machine takes for reading: moving the init by pid (add) cost ~0.2 ms on
// a quiet machine and 1-2 ms a run with three runs starting at once.
func openCgroups(files []string) (join func() error, err error) {
	var fs []*os.File
	for _, name := range files {
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("open cgroup %s: %w", filepath.Dir(name), err)
		}
		fs = append(fs, f)
	}
	return func() error {
		for _, f := range fs {
			_, err := f.Write([]byte("0"))
			f.Close()
			if err != nil {
				return fmt.Errorf("join cgroup %s: %w", filepath.Dir(f.Name()), err)
			}
		}
		return nil
	}, nil
}

// add moves process pid into the run's cgroups.
func (r *cgroupRun) add(pid int) error {
	for _, d := range r.dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return err
		}
	}
	return nil
}

func (r *cgroupRun) procsDir() string {
	if r.v2 {
		return r.dirs[""]
	}
	return r.dirs["pids"]
}

func (r *cgroupRun) pids() []int {
	b, _ := os.ReadFile(filepath.Join(r.procsDir(), "cgroup.procs"))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// killAll kills every process in the cgroup.
func (r *cgroupRun) killAll() {
	if r.v2 {
		if os.WriteFile(filepath.Join(r.dirs[""], "cgroup.kill"), []byte("1"), 0) == nil {
			return
		}
	}
	for _, pid := range r.pids() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func (r *cgroupRun) waitEmpty(max time.Duration) {
	deadline := time.Now().Add(max)
	for len(r.pids()) > 0 && time.Now().Before(deadline) {
		r.killAll()
		time.Sleep(time.Millisecond)
	}
}

func (r *cgroupRun) cpuUsage() time.Duration {
	if r.v2 {
		v := readKey(filepath.Join(r.dirs[""], "cpu.stat"), "usage_usec")
		return time.Duration(v) * time.Microsecond
	}
	return time.Duration(readInt(filepath.Join(r.dirs["cpuacct"], "cpuacct.usage")))
}

func (r *cgroupRun) oomKills() int64 {
	if r.v2 {
		return readKey(filepath.Join(r.dirs[""], "memory.events"), "oom_kill")
	}
	return readKey(filepath.Join(r.dirs["memory"], "memory.oom_control"), "oom_kill")
}

func (r *cgroupRun) peak() int64 {
	if r.v2 {
		return readInt(filepath.Join(r.dirs[""], "memory.peak"))
	}
	return readInt(filepath.Join(r.dirs["memory"], "memory.max_usage_in_bytes"))
}

// usage is the memory charged to the run's cgroup now, 0 if unknown.
// gVisor keeps this account (it ignores the limit): a page shared
// copy-on-write by forked processes is charged once there, where each
// process's smaps counts it again.
func (r *cgroupRun) usage() int64 {
	if r.v2 {
		return readInt(filepath.Join(r.dirs[""], "memory.current"))
	}
	return readInt(filepath.Join(r.dirs["memory"], "memory.usage_in_bytes"))
}

func (r *cgroupRun) remove() {
	for i := 0; i < 100; i++ {
		left := false
		for _, d := range r.dirs {
			if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
				left = true
			}
		}
		if !left {
			return
		}
		r.killAll()
		time.Sleep(2 * time.Millisecond)
	}
}

func readInt(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

func readKey(path, key string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// ownCgroups maps controller ("" for v2) to the judge's cgroup path.
func ownCgroups() (map[string]string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroups: %w", err)
	}
	own := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			own[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			own[c] = parts[2]
		}
	}
	return own, nil
}

// cgroupMounts maps v1 controller names, and "cgroup2", to mount points.
func cgroupMounts() (map[string]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, x := range fields {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+4 {
			continue
		}
		fstype, point, opts := fields[sep+1], fields[4], fields[sep+3]
		switch fstype {
		case "cgroup2":
			if _, ok := m["cgroup2"]; !ok {
				m["cgroup2"] = point
			}
		case "cgroup":
			for _, o := range strings.Split(opts, ",") {
				if _, ok := m[o]; !ok {
					m[o] = point
				}
			}
		}
	}
	return m, sc.Err()
}
