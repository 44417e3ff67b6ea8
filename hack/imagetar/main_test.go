package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// tree makes a directory with a file, an executable, a hardlink, a symlink
// and a sub-directory, with mtimes and modes that must not leak (or must).
func tree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "usr", "bin"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "usr", "bin", "tool"), []byte("#!/bin/sh\necho hi\n"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "etc"), []byte("data\n"), 0o644))
	must(os.Link(filepath.Join(dir, "usr", "bin", "tool"), filepath.Join(dir, "usr", "bin", "tool2")))
	must(os.Symlink("usr/bin/tool", filepath.Join(dir, "link")))
	must(os.Mkdir(filepath.Join(dir, "tmp"), 0o755))
	must(os.Chmod(filepath.Join(dir, "tmp"), os.ModeSticky|0o777))
	must(os.Chtimes(filepath.Join(dir, "etc"), time.Now(), time.Now()))
	return dir
}

// tarFile writes a small tar layer with an owner and an mtime after the epoch.
func tarFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "layer.tar")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./home/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./home/app", Typeflag: tar.TypeReg, Mode: 0o600, Uid: 65532, Gid: 65532, Uname: "app", Size: 2, ModTime: time.Now()},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("x\n"))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWrite(t *testing.T) {
	dir, layerTar := tree(t), tarFile(t)
	s := spec{
		tag:        "codequest.dev/test:1",
		layers:     []string{dir, layerTar},
		entrypoint: []string{"/usr/bin/tool"},
		cmd:        []string{"run"},
		env:        []string{"PATH=/usr/bin", "A=b"},
		user:       "65532:65532",
		epoch:      time.Unix(1700000000, 0).UTC(),
	}
	out := t.TempDir()
	var sums []string
	for _, o := range []string{"a.tar", "b.tar"} {
		s.out = filepath.Join(out, o)
		if err := write(s); err != nil {
			t.Fatalf("write: %v", err)
		}
		b, err := os.ReadFile(s.out)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		sums = append(sums, hex.EncodeToString(sum[:]))
		// Touch the inputs: mtimes must not change the archive.
		os.Chtimes(filepath.Join(dir, "etc"), time.Now().Add(time.Hour), time.Now().Add(time.Hour))
	}
	if sums[0] != sums[1] {
		t.Errorf("two writes of the same inputs differ: %s != %s", sums[0], sums[1])
	}

	// manifest.json names the tag.
	var manifest []struct{ RepoTags []string }
	if err := json.Unmarshal(member(t, s.out, "manifest.json"), &manifest); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(manifest[0].RepoTags, []string{"codequest.dev/test:1"}); diff != "" {
		t.Errorf("RepoTags (-got +want):\n%s", diff)
	}

	tag, _ := name.NewTag(s.tag)
	img, err := tarball.ImageFromPath(s.out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cfg.Config.Entrypoint, s.entrypoint); diff != "" {
		t.Errorf("Entrypoint (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(cfg.Config.Env, s.env); diff != "" {
		t.Errorf("Env (-got +want):\n%s", diff)
	}
	if got, want := cfg.Config.User, s.user; got != want {
		t.Errorf("User = %q, want %q", got, want)
	}
	if got, want := cfg.Created.Unix(), s.epoch.Unix(); got != want {
		t.Errorf("Created = %d, want %d", got, want)
	}

	// Each layer's diff_id is the sha256 of its uncompressed tar.
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(layers), 2; got != want {
		t.Fatalf("%d layers, want %d", got, want)
	}
	var entries [][]string
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got, want := cfg.RootFS.DiffIDs[i].Hex, hex.EncodeToString(sum[:]); got != want {
			t.Errorf("layer %d: diff_id %s, sha256 of its tar %s", i, got, want)
		}
		entries = append(entries, list(t, b, s.epoch))
	}
	want := [][]string{{
		"etc 0 0 644 0",
		"link 0 0 777 2 usr/bin/tool",
		"tmp/ 0 0 1777 5",
		"usr/ 0 0 755 5",
		"usr/bin/ 0 0 755 5",
		"usr/bin/tool 0 0 755 0",
		"usr/bin/tool2 0 0 755 1 usr/bin/tool",
	}, {
		"home/ 0 0 755 5",
		"home/app 65532 65532 600 0",
	}}
	if diff := cmp.Diff(entries, want); diff != "" {
		t.Errorf("layer entries (-got +want):\n%s", diff)
	}
}

// member returns one file of a tar.
func member(t *testing.T, path, name string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s in %s: %v", name, path, err)
		}
		if h.Name == name {
			b, _ := io.ReadAll(tr)
			return b
		}
	}
}

// list describes a layer's entries as "name uid gid mode type [link]" and
// checks that no entry is newer than epoch or carries names.
func list(t *testing.T, b []byte, epoch time.Time) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.ModTime.After(epoch) || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: mtime %v, owner names %q:%q", h.Name, h.ModTime, h.Uname, h.Gname)
		}
		e := fmt.Sprintf("%s %d %d %o %c", h.Name, h.Uid, h.Gid, h.Mode, h.Typeflag)
		if h.Linkname != "" {
			e += " " + h.Linkname
		}
		out = append(out, e)
	}
}
