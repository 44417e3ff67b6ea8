package sandbox

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// A private copy (Bind.Copy) is a tmpfs at the bind's target holding a copy
// of the host folder, made by the init before the run starts. Unlike a
// bind mount, it shows no host path in the run's mount table
// (/proc/self/mountinfo names a bind's source folder, which for the judge
// holds the artifact cache's key), and a writable one bounds what the run
// can write to its size: a compile cannot fill the host's disk. What a
// writable copy holds when the run ends is copied back into the host
// folder (copyBack.finish).

// maxCopyEntries bounds the files and folders a private copy hands back.
const maxCopyEntries = 10000

// copyBack is a writable private copy to hand back after the run.
type copyBack struct {
	target string   // inside the run's root
	host   *os.Root // the host folder, opened before pivot_root
	limit  int64
}

// privateCopy mounts a tmpfs at b.Target under root and copies b.Source
// into it. A writable copy belongs to the run's uid and is returned for
// copyBack; a read-only one is sized to its content and remounted
// read-only.
func privateCopy(root string, b Bind, cfg *initConfig) (*copyBack, error) {
	size, err := treeSize(b.Source)
	if err != nil {
		return nil, fmt.Errorf("private copy of %s: %w", b.Target, err)
	}
	limit := cfg.CopySize
	if !b.Writable {
		limit = size + 1<<20
	} else if size > limit {
		return nil, fmt.Errorf("private copy of %s: %d bytes, more than its %d", b.Target, size, limit)
	}
	target := filepath.Join(root, b.Target)
	if err := os.MkdirAll(target, 0o755); err != nil {
		return nil, err
	}
	opts := fmt.Sprintf("size=%d,mode=755", limit)
	if b.Writable {
		opts += fmt.Sprintf(",uid=%d,gid=%d", cfg.UID, cfg.UID)
	}
	if err := unix.Mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return nil, fmt.Errorf("mount private copy of %s: %w", b.Target, err)
	}
	owner := -1
	if b.Writable {
		owner = cfg.UID
	}
	if err := copyTreeIn(b.Source, target, owner); err != nil {
		return nil, fmt.Errorf("private copy of %s: %w", b.Target, err)
	}
	if !b.Writable {
		flags := uintptr(unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV)
		if err := unix.Mount("", target, "", flags, opts); err != nil {
			return nil, fmt.Errorf("remount private copy of %s read-only: %w", b.Target, err)
		}
		return nil, nil
	}
	host, err := os.OpenRoot(b.Source)
	if err != nil {
		return nil, err
	}
	return &copyBack{target: b.Target, host: host, limit: limit}, nil
}

// treeSize is the bytes of the regular files under dir.
func treeSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// copyTreeIn copies the host folder src (the judge's own files) to dst,
// keeping modes and symbolic links; owner >= 0 gets everything.
func copyTreeIn(src, dst string, owner int) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if rel != "." {
				if err := os.Mkdir(out, fi.Mode().Perm()); err != nil {
					return err
				}
			}
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, out); err != nil {
				return err
			}
		case d.Type().IsRegular():
			if err := copyFile(p, out, fi.Mode().Perm()); err != nil {
				return err
			}
		default:
			return nil // sockets, devices: not the judge's
		}
		if owner >= 0 {
			return os.Lchown(out, owner, owner)
		}
		return nil
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// finish copies the run's folder back into the host folder: folders and
// regular files only (a link or a device the run made stays behind), never
// following a link on either side, at most limit bytes and maxCopyEntries
// entries. The run's processes are gone by now (the init reaped them).
func (c *copyBack) finish() error {
	defer c.host.Close()
	run, err := os.OpenRoot(c.target)
	if err != nil {
		return err
	}
	defer run.Close()
	var total int64
	entries := 0
	return fs.WalkDir(run.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if entries++; entries > maxCopyEntries {
			return fmt.Errorf("more than %d files", maxCopyEntries)
		}
		switch {
		case d.IsDir():
			if p == "." {
				return nil
			}
			if err := c.host.Mkdir(p, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			if fi, err := c.host.Lstat(p); err != nil || !fi.IsDir() {
				return fmt.Errorf("%s: not a folder on the host", p)
			}
			return nil
		case !d.Type().IsRegular():
			return nil
		}
		in, err := run.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return err
		}
		defer in.Close()
		fi, err := in.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		if total += fi.Size(); total > c.limit {
			return fmt.Errorf("more than %d bytes", c.limit)
		}
		out, err := c.host.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, fi.Mode().Perm()&0o755)
		if err != nil {
			return err
		}
		if err := out.Chmod(fi.Mode().Perm() & 0o755); err != nil {
			out.Close()
			return err
		}
		if _, err := io.Copy(out, io.LimitReader(in, fi.Size())); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
