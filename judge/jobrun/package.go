package jobrun

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// ErrChecksum is returned when downloaded bytes differ from the expected
// size or SHA-256.
var ErrChecksum = errors.New("checksum mismatch")

// Limits of a package archive.
const (
	maxPackageFiles = 100000
	maxUnpacked     = 4 << 30
)

// Fetch downloads d into memory-bounded temporary storage and returns its
// bytes once size and checksum match.
func Fetch(ctx context.Context, hc *http.Client, d Download) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch: HTTP %s", resp.Status)
	}
	return ReadVerified(resp.Body, d.SHA256, d.Size)
}

// ReadVerified reads r, which must hold exactly size bytes whose SHA-256 is
// sum.
func ReadVerified(r io.Reader, sum string, size int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, size+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if int64(len(b)) != size {
		return nil, fmt.Errorf("%w: got %d bytes, want %d", ErrChecksum, len(b), size)
	}
	h := sha256.Sum256(b)
	if got := hex.EncodeToString(h[:]); got != sum {
		return nil, fmt.Errorf("%w: sha256 %s, want %s", ErrChecksum, got, sum)
	}
	return b, nil
}

// Unpack extracts a gzip-compressed tar of a problem package into dir
// (created) and returns the package root: dir, or its single top-level
// folder when the archive holds one (tar czf p.tgz problem/). Only regular
// files and folders are accepted; paths may not leave dir.
func Unpack(archive io.Reader, dir string) (string, error) {
	zr, err := gzip.NewReader(archive)
	if err != nil {
		return "", fmt.Errorf("unpack: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tr := tar.NewReader(zr)
	var total int64
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("unpack: %w", err)
		}
		if n > maxPackageFiles {
			return "", fmt.Errorf("unpack: more than %d entries", maxPackageFiles)
		}
		name := filepath.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." {
			continue
		}
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return "", fmt.Errorf("unpack: path %q leaves the package", h.Name)
		}
		p := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return "", err
			}
		case tar.TypeReg:
			total += h.Size
			if total > maxUnpacked {
				return "", fmt.Errorf("unpack: package larger than %d bytes", int64(maxUnpacked))
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return "", err
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644|os.FileMode(h.Mode)&0o111)
			if err != nil {
				return "", err
			}
			_, err = io.Copy(f, io.LimitReader(tr, h.Size))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return "", fmt.Errorf("unpack %s: %w", name, err)
			}
		default:
			return "", fmt.Errorf("unpack: %q is neither a file nor a folder", h.Name)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "problem.yaml")); err == nil {
		return dir, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	if len(ents) == 1 && ents[0].IsDir() {
		return filepath.Join(dir, ents[0].Name()), nil
	}
	return dir, nil
}
