package judge

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A warm folder holds what the judge otherwise builds on its first
// compiles of C++ and Go — the precompiled <bits/stdc++.h> (pch/<g++
// version>/) and a Go build cache holding the standard library (gocache/)
// — so that a judge pod, whose cache starts empty, does not spend 10-30 s
// of CPU on them for every submission (under gVisor, with a fraction of a
// core, that was a Go compile stopped at its wall-clock limit). `judge
// warm` makes one; the judge image carries one (CODEQUEST_WARM).

// warmGoSource imports the standard packages solutions use, so that
// their compiled forms are in the warm Go cache.
const warmGoSource = `package main

import (
	"bufio"
	"bytes"
	"container/heap"
	"container/list"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/big"
	"math/bits"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

var _ = []any{bufio.NewReader, bytes.NewBuffer, heap.Init, list.New, errors.New, fmt.Println, io.EOF,
	maps.Keys[map[int]int], math.Abs, big.NewInt, bits.OnesCount, os.Exit, regexp.MustCompile,
	slices.Sort[[]int], sort.Ints, strconv.Itoa, strings.Fields, unicode.IsDigit}

func main() {}
`

// Warm fills the judge's cache folder with what a warm folder holds (the
// precompiled header, the standard library in Go's build cache) by
// compiling for C++ and Go, and removes the rest (compiled programs).
func (j *Judge) Warm(ctx context.Context) error {
	for id, src := range map[string]string{"cpp": "int main() {}\n", "go": warmGoSource} {
		lang, ok := LanguageByID(j.cfg.Languages, id)
		if !ok {
			continue
		}
		c, err := j.compile(ctx, lang, []byte(src), nil)
		if err != nil {
			return fmt.Errorf("warm %s: %w", id, err)
		}
		j.cache.release(c.key)
		if !c.OK {
			return fmt.Errorf("warm %s: %s", id, clip(c.Output, 500))
		}
	}
	for _, d := range []string{"artifacts", "tmp"} {
		if err := os.RemoveAll(filepath.Join(j.cfg.CacheDir, d)); err != nil {
			return err
		}
	}
	return nil
}

// warmPCH is the warm folder's precompiled header folder for g++
// version, or "".
func (j *Judge) warmPCH(version string) string {
	if j.cfg.Warm == "" {
		return ""
	}
	dir := filepath.Join(j.cfg.Warm, "pch", strings.ReplaceAll(version, "/", "_"))
	if _, err := os.Stat(filepath.Join(dir, "bits", "stdc++.h.gch")); err != nil {
		return ""
	}
	return dir
}

// seedGoCache copies the warm folder's Go build cache into an empty
// cache folder (Go's cache must be writable), owned by the compile uid.
func (j *Judge) seedGoCache() error {
	if j.cfg.Warm == "" {
		return nil
	}
	src := filepath.Join(j.cfg.Warm, "gocache")
	dst := filepath.Join(j.cfg.CacheDir, "gocache")
	if _, err := os.Stat(src); err != nil {
		return nil
	}
	if entries, _ := os.ReadDir(dst); len(entries) > 0 {
		return nil
	}
	uid := j.cfg.Sandbox.CompileUID()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return err
			}
		default:
			return nil
		}
		return os.Lchown(out, uid, uid)
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("seed Go's build cache from %s: %w", src, err)
	}
	return nil
}
