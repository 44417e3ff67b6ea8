package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// maskedProc are the /proc entries a run sees empty: the kernel command
// line, kernel memory and symbols, keyrings, timers and scheduler
// internals, hardware and driver trees, and host-wide activity counters
// that are timing side channels (interrupts, disk and pressure stats).
// Runtimes read /proc/self/*, meminfo, cpuinfo, stat and /proc/sys, which
// stay. Entries the kernel (or gVisor) lacks are skipped.
var maskedProc = []string{
	"cmdline", "kcore", "kallsyms", "kmsg", "keys", "key-users", "modules", "config.gz",
	"timer_list", "timer_stats", "sched_debug", "schedstat", "latency_stats", "sysrq-trigger",
	"interrupts", "softirqs", "diskstats", "pressure",
	"acpi", "asound", "scsi", "irq", "bus", "fs", "driver", "tty",
}

// setupRoot builds the run's root under cfg.Root and pivots into it. It
// returns the private copies to hand back after the run (writable Copy
// binds), still open on their host folders.
func setupRoot(cfg *initConfig) ([]copyBack, error) {
	root := cfg.Root
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return nil, fmt.Errorf("make mounts private: %w", err)
	}
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=1m,mode=755"); err != nil {
		return nil, fmt.Errorf("mount root tmpfs: %w", err)
	}
	for _, p := range cfg.ReadOnly {
		if err := bindPath(root, p, p, false); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	var backs []copyBack
	for _, b := range cfg.Binds {
		if !filepath.IsAbs(b.Source) {
			return nil, fmt.Errorf("bind %s: source is not an absolute path", b.Source)
		}
		if b.Copy {
			back, err := privateCopy(root, b, cfg)
			if err != nil {
				return nil, err
			}
			if back != nil {
				backs = append(backs, *back)
			}
			continue
		}
		if err := bindPath(root, b.Source, b.Target, b.Writable); err != nil {
			return nil, err
		}
	}
	work := filepath.Join(root, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	opts := fmt.Sprintf("size=%d,mode=700,uid=%d,gid=%d", cfg.ScratchSize, cfg.UID, cfg.UID)
	if err := unix.Mount("tmpfs", work, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return nil, fmt.Errorf("mount scratch: %w", err)
	}
	tmp := filepath.Join(root, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	if cfg.TmpSize > 0 {
		opts := fmt.Sprintf("size=%d,mode=1777", cfg.TmpSize)
		if err := unix.Mount("tmpfs", tmp, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			return nil, fmt.Errorf("mount tmp: %w", err)
		}
	}
	if err := mountProc(root); err != nil {
		return nil, err
	}
	if err := makeDev(root); err != nil {
		return nil, err
	}
	old := filepath.Join(root, ".old")
	if err := os.Mkdir(old, 0o700); err != nil {
		return nil, err
	}
	if err := unix.PivotRoot(root, old); err != nil {
		return nil, fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return nil, err
	}
	if err := unix.Unmount("/.old", unix.MNT_DETACH); err != nil {
		return nil, fmt.Errorf("detach old root: %w", err)
	}
	if err := os.Remove("/.old"); err != nil {
		return nil, err
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return nil, fmt.Errorf("remount root read-only: %w", err)
	}
	return backs, nil
}

// mountProc mounts the PID namespace's /proc and masks maskedProc.
func mountProc(root string) error {
	proc := filepath.Join(root, "proc")
	if err := os.MkdirAll(proc, 0o555); err != nil {
		return err
	}
	if err := unix.Mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount proc: %w", err)
	}
	for _, name := range maskedProc {
		p := filepath.Join(proc, name)
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&fs.ModeSymlink != 0 {
			continue
		}
		if fi.IsDir() {
			err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=4k,mode=555")
		} else {
			err = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("mask /proc/%s: %w", name, err)
		}
	}
	return nil
}

// makeDev gives the run null, zero, random and urandom, and the fd links.
func makeDev(root string) error {
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
