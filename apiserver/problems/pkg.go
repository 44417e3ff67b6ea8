package problems

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/codequest-dev/codequest/judge"
)

// Bounds on what an uploaded package may hold, so a hostile zip cannot
// exhaust the server's disk or memory.
const (
	maxPackageBytes  = 256 << 20
	maxUnpackedBytes = 1 << 30
	maxPackageFiles  = 20000
	maxSampleBytes   = 64 << 10
	maxStatement     = 200000
)

// errBadPackage is a package that cannot be imported; its message is for
// the author.
type errBadPackage struct{ msg string }

func (e *errBadPackage) Error() string { return e.msg }

func badPackage(format string, args ...any) error {
	return &errBadPackage{msg: fmt.Sprintf(format, args...)}
}

// spooled is a downloaded package: its bytes on disk and their digest.
type spooled struct {
	path   string
	size   int64
	sha256 string
}

// spool copies r into a file in dir, refusing more than maxPackageBytes.
func spool(dir string, r io.Reader) (*spooled, error) {
	f, err := os.CreateTemp(dir, "package-*.zip")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, maxPackageBytes+1))
	if err != nil {
		return nil, fmt.Errorf("download package: %w", err)
	}
	if n > maxPackageBytes {
		return nil, badPackage("the package is larger than %d MiB", maxPackageBytes>>20)
	}
	return &spooled{path: f.Name(), size: n, sha256: hex.EncodeToString(h.Sum(nil))}, nil
}

// unpack extracts a zip into dest safely: no paths outside dest, no
// symlinks or devices, bounded file count and size. A zip whose entries all
// sit in one top folder is unpacked from inside that folder.
func unpack(zipPath, dest string) (string, error) {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return "", badPackage("the package is not a zip file")
	}
	defer zr.Close()
	if len(zr.File) > maxPackageFiles {
		return "", badPackage("the package has more than %d files", maxPackageFiles)
	}
	var total int64
	tops := map[string]bool{}
	// kinds records every path as a file or a folder (folders implied by
	// the files in them too): a name that is both is refused.
	kinds := map[string]bool{}
	kind := func(name string, dir bool) error {
		if isDir, seen := kinds[name]; seen && isDir != dir {
			return badPackage("the package holds %q both as a file and as a folder", name)
		} else if seen && !dir {
			return badPackage("the package holds %q twice", name)
		}
		kinds[name] = dir
		return nil
	}
	for _, f := range zr.File {
		name := path.Clean(strings.ReplaceAll(f.Name, "\\", "/"))
		if name == "." || strings.HasPrefix(name, "../") || name == ".." || path.IsAbs(name) || !utf8.ValidString(name) ||
			strings.ContainsAny(name, "\x00") {
			return "", badPackage("the package holds an unsafe path %q", strings.ToValidUTF8(strings.ReplaceAll(f.Name, "\x00", ""), "?"))
		}
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if err := kind(dir, true); err != nil {
				return "", err
			}
		}
		if err := kind(name, f.FileInfo().IsDir()); err != nil {
			return "", err
		}
		mode := f.Mode()
		if mode&fs.ModeSymlink != 0 || mode&(fs.ModeDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeCharDevice) != 0 {
			return "", badPackage("the package holds %q, which is not a regular file or folder", f.Name)
		}
		tops[strings.SplitN(name, "/", 2)[0]] = true
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(filepath.Join(dest, name), 0o755); err != nil {
				return "", err
			}
			continue
		}
		total += int64(f.UncompressedSize64)
		if total > maxUnpackedBytes {
			return "", badPackage("the package unpacks to more than %d MiB", maxUnpackedBytes>>20)
		}
		if err := extract(f, filepath.Join(dest, name), maxUnpackedBytes-(total-int64(f.UncompressedSize64))); err != nil {
			return "", err
		}
	}
	root := dest
	if len(tops) == 1 {
		for top := range tops {
			if st, err := os.Stat(filepath.Join(dest, top)); err == nil && st.IsDir() {
				if _, err := os.Stat(filepath.Join(dest, "problem.yaml")); errors.Is(err, fs.ErrNotExist) {
					root = filepath.Join(dest, top)
				}
			}
		}
	}
	return root, nil
}

func extract(f *zip.File, to string, budget int64) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	rc, err := f.Open()
	if err != nil {
		return badPackage("cannot read %q in the package: it is damaged or uses an unsupported compression", f.Name)
	}
	defer rc.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		return badPackage("the package holds %q twice", f.Name)
	}
	defer out.Close()
	// The header's size can lie: count what is really written.
	n, err := io.Copy(out, io.LimitReader(rc, budget+1))
	if err != nil {
		return badPackage("cannot read %q in the package: it is damaged", f.Name)
	}
	if n > budget {
		return badPackage("the package unpacks to more than %d MiB", maxUnpackedBytes>>20)
	}
	return nil
}

// extracted is what an import takes from a package.
type extracted struct {
	problem   *judge.Problem
	statement string
	samples   []sample
	// sampleTests counts the package's sample tests: the first tests the
	// judge runs (data/sample before data/secret).
	sampleTests int
}

type sample struct {
	Name   string `json:"name"`
	Input  string `json:"input"`
	Output string `json:"output"`
}

// inspect reads an unpacked package with the judge's reader and extracts
// the statement and samples.
func inspect(root string) (*extracted, error) {
	p, err := judge.ReadProblem(root)
	if err != nil {
		return nil, badPackage("not a valid problem package: %s", cleanReason(err.Error(), root))
	}
	if len(p.Tests) == 0 {
		return nil, badPackage("the package has no test data")
	}
	if p.TimeLimit <= 0 {
		return nil, badPackage("the package sets no time limit (limits.time_limit or .timelimit)")
	}
	ex := &extracted{problem: p}
	for _, t := range p.Tests {
		if !strings.HasPrefix(t.Name, "sample/") {
			continue
		}
		ex.sampleTests++
		in, err1 := os.ReadFile(t.Input)
		out, err2 := os.ReadFile(t.Answer)
		if err1 != nil || err2 != nil {
			continue // interactive samples may lack .ans
		}
		if len(in) > maxSampleBytes || len(out) > maxSampleBytes || !storableText(in) || !storableText(out) {
			continue // not shown; still judged
		}
		ex.samples = append(ex.samples, sample{Name: t.Name, Input: string(in), Output: string(out)})
	}
	ex.statement = findStatement(root)
	return ex, nil
}

// findStatement returns the package's Markdown statement, English first.
func findStatement(root string) string {
	candidates := []string{"statement.md", "problem.md"}
	for _, dir := range []string{"statement", "problem_statement"} {
		matches, _ := filepath.Glob(filepath.Join(root, dir, "*.md"))
		sort.Slice(matches, func(i, j int) bool {
			return strings.Contains(filepath.Base(matches[i]), ".en.") && !strings.Contains(filepath.Base(matches[j]), ".en.")
		})
		for _, m := range matches {
			rel, _ := filepath.Rel(root, m)
			candidates = append(candidates, rel)
		}
	}
	for _, c := range candidates {
		b, err := os.ReadFile(filepath.Join(root, c))
		if err == nil && utf8.Valid(b) {
			if len(b) > maxStatement {
				b = b[:maxStatement]
			}
			return strings.ReplaceAll(strings.ToValidUTF8(string(b), ""), "\x00", "")
		}
	}
	return ""
}

// judgePackage writes the unpacked package as a deterministic gzip'd tar
// (sorted entries, fixed times and owners): the form the judge fetches.
// Identical packages give identical bytes, so the checksum names content.
func judgePackage(root, out string) (*spooled, error) {
	f, err := os.Create(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(f, h)}
	gz := gzip.NewWriter(cw)
	tw := tar.NewWriter(gz)
	var paths []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	for _, p := range paths {
		st, err := os.Lstat(p)
		if err != nil {
			return nil, err
		}
		rel, _ := filepath.Rel(root, p)
		hdr := &tar.Header{Name: filepath.ToSlash(rel), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		switch {
		case st.IsDir():
			hdr.Typeflag, hdr.Mode, hdr.Name = tar.TypeDir, 0o755, hdr.Name+"/"
		case st.Mode().IsRegular():
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, 0o644, st.Size()
			if st.Mode()&0o111 != 0 {
				hdr.Mode = 0o755
			}
		default:
			continue
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeReg {
			src, err := os.Open(p)
			if err != nil {
				return nil, err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			if err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return &spooled{path: out, size: cw.n, sha256: hex.EncodeToString(h.Sum(nil))}, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ZipDir packs a problem folder as the zip an author uploads, its files
// under the folder top inside the zip ("" for none).
func ZipDir(dir, top string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		w, err := zw.Create(filepath.ToSlash(filepath.Join(top, rel)))
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("zip %s: %w", dir, err)
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// storableText reports whether b can be stored as text (and in jsonb):
// valid UTF-8 without NUL.
func storableText(b []byte) bool {
	return utf8.Valid(b) && !bytes.Contains(b, []byte{0})
}

// goTypeRE matches what Go's decoders say about Go types ("into float64",
// "of type map[string]interface {}").
var goTypeRE = regexp.MustCompile(`(?: into| of type| Go (?:struct field|value of type)) [][*\w.{} ]+`)

// cleanReason makes a reader's error fit for the author: paths relative to
// the package, no Go types.
func cleanReason(msg, root string) string {
	msg = strings.ReplaceAll(msg, root+string(filepath.Separator), "")
	msg = strings.ReplaceAll(msg, root, "the package")
	if tmp := os.TempDir(); tmp != "" {
		msg = regexp.MustCompile(regexp.QuoteMeta(tmp)+`/[^\s:"']*`).ReplaceAllString(msg, "(file)")
	}
	return goTypeRE.ReplaceAllString(msg, "")
}
