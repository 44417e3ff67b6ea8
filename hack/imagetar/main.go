// Command imagetar writes a container image as a docker-archive tar (the
// format of `docker save`, loaded by `ctr -n k8s.io images import`, `kind
// load image-archive` and `docker load`) from layers on disk, without a
// Docker engine or a registry:
//
//	go run ./hack/imagetar -o OUT.tar -tag REF [-layer DIR_OR_TAR]...
//	    [-entrypoint ARG]... [-cmd ARG]... [-env K=V]... [-workdir DIR]
//	    [-user UID[:GID]] [-label K=V]...
//
// Each -layer is one layer, in order. A directory is packed in sorted order
// with owner 0:0 and every mtime set to SOURCE_DATE_EPOCH (default 0),
// keeping modes, symlinks and hardlinks. A tar (plain or gzip) is rewritten
// entry by entry in its own order, keeping types, modes, ownership, links
// and xattrs, dropping user and group names and atime/ctime, and clamping
// mtimes to SOURCE_DATE_EPOCH. The same inputs give a byte-identical archive.
package main

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// listFlag collects a repeated flag in order.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// spec is what the command line asks for.
type spec struct {
	out, tag, workdir, user string
	layers, entrypoint, cmd []string
	env, labels             []string
	epoch                   time.Time
}

func main() {
	var s spec
	var layers, entrypoint, cmd, env, labels listFlag
	flag.StringVar(&s.out, "o", "", "output `file` (docker-archive tar)")
	flag.StringVar(&s.tag, "tag", "", "image `reference` recorded in the archive, e.g. codequest.dev/pause:1")
	flag.Var(&layers, "layer", "a layer: a `directory` or a .tar/.tar.gz (repeat, in order)")
	flag.Var(&entrypoint, "entrypoint", "one entrypoint `argument` (repeat)")
	flag.Var(&cmd, "cmd", "one cmd `argument` (repeat)")
	flag.Var(&env, "env", "an environment variable `K=V` (repeat)")
	flag.StringVar(&s.workdir, "workdir", "", "working `directory`")
	flag.StringVar(&s.user, "user", "", "`UID[:GID]` the container runs as")
	flag.Var(&labels, "label", "a label `K=V` (repeat)")
	flag.Parse()
	if s.out == "" || s.tag == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	s.layers, s.entrypoint, s.cmd, s.env, s.labels = layers, entrypoint, cmd, env, labels
	epoch, err := sourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "imagetar:", err)
		os.Exit(2)
	}
	s.epoch = epoch
	if err := write(s); err != nil {
		fmt.Fprintln(os.Stderr, "imagetar:", err)
		os.Exit(1)
	}
}

// sourceDateEpoch parses SOURCE_DATE_EPOCH (seconds since 1970; empty is 0).
func sourceDateEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

// write builds the image of s and writes it to s.out. The layers' tars are
// staged next to the output and removed afterwards.
func write(s spec) error {
	ref, err := name.NewTag(s.tag)
	if err != nil {
		return fmt.Errorf("tag: %w", err)
	}
	cfg, err := config(s)
	if err != nil {
		return err
	}
	stage, err := os.MkdirTemp(filepath.Dir(s.out), ".imagetar-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)

	adds := make([]mutate.Addendum, 0, len(s.layers))
	for i, src := range s.layers {
		staged := filepath.Join(stage, fmt.Sprintf("layer%d.tar", i))
		if err := stageLayer(staged, src, s.epoch); err != nil {
			return fmt.Errorf("layer %s: %w", src, err)
		}
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return os.Open(staged) })
		if err != nil {
			return fmt.Errorf("layer %s: %w", src, err)
		}
		adds = append(adds, mutate.Addendum{
			Layer:   l,
			History: v1.History{CreatedBy: fmt.Sprintf("imagetar -layer #%d", i+1)},
		})
	}

	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return err
	}
	if img, err = mutate.Append(img, adds...); err != nil {
		return err
	}
	if img, err = mutate.Time(img, s.epoch); err != nil {
		return err
	}
	tmp := filepath.Join(stage, "image.tar")
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	return os.Rename(tmp, s.out)
}

// config is the image configuration of s, for this machine's platform.
func config(s spec) (*v1.ConfigFile, error) {
	labels := map[string]string{}
	for _, kv := range s.labels {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-label %q: want K=V", kv)
		}
		labels[k] = v
	}
	for _, kv := range s.env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("-env %q: want K=V", kv)
		}
	}
	c := v1.Config{
		Entrypoint: s.entrypoint,
		Cmd:        s.cmd,
		Env:        s.env,
		WorkingDir: s.workdir,
		User:       s.user,
	}
	if len(labels) > 0 {
		c.Labels = labels
	}
	return &v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Config:       c,
		RootFS:       v1.RootFS{Type: "layers"},
	}, nil
}

// stageLayer writes the normalised tar of src (a directory or a tar) to dst.
func stageLayer(dst, src string, epoch time.Time) (err error) {
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	tw := tar.NewWriter(f)
	if info.IsDir() {
		err = packDir(tw, src, epoch)
	} else {
		err = copyTar(tw, src, epoch)
	}
	if err != nil {
		return err
	}
	return tw.Close()
}

// packDir writes the tree under root, in sorted order, as owned by 0:0 with
// every mtime at epoch. A file with more than one link is written once and
// then as hardlinks to its first name.
func packDir(tw *tar.Writer, root string, epoch time.Time) error {
	type inode struct{ dev, ino uint64 }
	first := map[inode]string{}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && info.Mode().IsRegular() && st.Nlink > 1 {
			key := inode{uint64(st.Dev), st.Ino}
			if name, seen := first[key]; seen {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, name, 0
			} else {
				first[key] = hdr.Name
			}
		}
		hdr.Uid, hdr.Gid = 0, 0
		normalise(hdr)
		hdr.ModTime = epoch
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
}

// copyTar rewrites the tar (or gzip-compressed tar) at src into tw.
func copyTar(tw *tar.Writer, src string, epoch time.Time) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	magic := make([]byte, 2)
	if _, err := io.ReadFull(f, magic); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		hdr.Name = cleanName(hdr.Name)
		if hdr.Name == "" {
			continue // the root itself
		}
		if hdr.Typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		if hdr.Typeflag == tar.TypeLink {
			hdr.Linkname = cleanName(hdr.Linkname)
		}
		normalise(hdr)
		if hdr.ModTime.After(epoch) {
			hdr.ModTime = epoch
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// normalise drops what varies between equal trees: user and group names,
// atime and ctime, sub-second mtimes, PAX records other than xattrs, and
// the original archive's format.
func normalise(hdr *tar.Header) {
	hdr.Uname, hdr.Gname = "", ""
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	hdr.ModTime = hdr.ModTime.Truncate(time.Second).UTC()
	hdr.Format = tar.FormatUnknown
	var pax map[string]string
	for k, v := range hdr.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			if pax == nil {
				pax = map[string]string{}
			}
			pax[k] = v
		}
	}
	hdr.PAXRecords = pax
}

// cleanName makes a tar entry name relative and clean: "./usr/bin/" and
// "/usr/bin" are both "usr/bin"; the root is "".
func cleanName(n string) string {
	return strings.TrimPrefix(filepath.ToSlash(filepath.Clean("/"+n)), "/")
}
