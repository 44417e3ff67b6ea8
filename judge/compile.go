package judge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/codequest-dev/codequest/sandbox"
)

// stage writes src where runs can read it before its check is done (a
// check-only language), and returns it as a program with its cleanup.
func (j *Judge) stage(lang *Language, src []byte) (*compiled, func(), error) {
	dir, err := os.MkdirTemp(filepath.Join(j.cfg.CacheDir, "tmp"), "staged-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	srcName, main := lang.Source(src)
	if err := os.WriteFile(filepath.Join(dir, srcName), src, 0o644); err != nil {
		cleanup()
		return nil, nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		cleanup()
		return nil, nil, err
	}
	return &compiled{lang: lang, Dir: dir, Src: srcName, Main: main, OK: true}, cleanup, nil
}

// compile builds src (and, for validators, the other files of extraDir),
// using the artifact cache keyed by language, toolchain version, compile
// command and source. A compiler stopped by its wall-clock limit, or by
// its CPU limit under gVisor (whose CPU time is the time a task was
// runnable, so a busy node inflates it), is run again with twice the time;
// one that still is gets an error (the judging is retried), never a
// compilation error: that one only an expensive compile earns, by CPU time.
func (j *Judge) compile(ctx context.Context, lang *Language, src []byte, extraDir *string) (*compiled, error) {
	version, err := j.Version(ctx, lang)
	if err != nil {
		return nil, err
	}
	srcName, main := lang.Source(src)
	h := sha256.New()
	// The key holds the compile command too: a changed recipe is a miss.
	fmt.Fprintf(h, "%s\x00%s\x00%q\x00%s\x00%d\x00", lang.ID, version, lang.Compile, srcName, len(src))
	h.Write(src)
	files := map[string][]byte{srcName: src}
	if extraDir != nil {
		entries, err := os.ReadDir(*extraDir)
		if err != nil {
			return nil, fmt.Errorf("read validator: %w", err)
		}
		for _, e := range entries {
			if !e.IsDir() {
				b, err := os.ReadFile(filepath.Join(*extraDir, e.Name()))
				if err != nil {
					return nil, err
				}
				fmt.Fprintf(h, "\x00%s\x00%d\x00", e.Name(), len(b))
				h.Write(b)
				if e.Name() != srcName {
					files[e.Name()] = b
				}
			}
		}
	}
	key := lang.ID + "/" + hex.EncodeToString(h.Sum(nil))[:32]
	if c, ok := j.cache.get(key); ok {
		c.lang = lang
		return c, nil
	}
	dir, err := j.cache.newBuild(lang.ID)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	c := &compiled{lang: lang, Src: srcName, Main: main, OK: true}
	if lang.Compile != nil {
		if err := j.build(ctx, lang, dir, c); err != nil {
			return nil, err
		}
	}
	c, err = j.cache.put(key, dir, c)
	if err != nil {
		return nil, err
	}
	c.lang = lang
	return c, nil
}

// compileAttempts bounds the compiles of one source stopped by the
// machine's load (see compile).
const compileAttempts = 3

// build runs lang's compiler on the source in dir, in a private copy of
// dir (so the compile sees no host path and writes at most
// Config.CompileOutput bytes), and records the outcome in c.
func (j *Judge) build(ctx context.Context, lang *Language, dir string, c *compiled) error {
	uid := j.cfg.Sandbox.CompileUID()
	binds := []sandbox.Bind{{Source: dir, Target: Box, Writable: true, Copy: true}}
	for _, b := range append(append([]string{}, lang.Binds...), lang.CompileBinds...) {
		binds = append(binds, sandbox.Bind{Source: b, Target: b})
	}
	if lang.ID == "cpp" {
		pch, err := j.pch(ctx, lang)
		if err != nil {
			return err
		}
		binds = append(binds, sandbox.Bind{Source: pch, Target: "/pch"})
	}
	if lang.CompileCache {
		gc := filepath.Join(j.cfg.CacheDir, "gocache")
		os.Chown(gc, uid, uid)
		binds = append(binds, sandbox.Bind{Source: gc, Target: "/cache", Writable: true})
		j.goCache.RLock()
		defer j.goCache.RUnlock()
	}
	limits := j.cfg.Compile
	limits.Copy, limits.FileSize = j.cfg.CompileOutput, j.cfg.CompileOutput
	gvisor := j.cfg.Sandbox.Layers().GVisor
	start := time.Now()
	for attempt := 1; ; attempt++ {
		r, err := j.run(ctx, sandbox.Spec{
			Args: expand(lang.Compile, c.Src, c.Main, 0), Env: j.env(lang), Dir: Box,
			Binds: binds, UID: uid, TmpSize: 1 << 30, Limits: limits,
		})
		if err != nil {
			return fmt.Errorf("compile: %w", err)
		}
		stalled := r.WallExceeded && !r.CPUExceeded
		if stalled || (gvisor && r.CPUExceeded) {
			if attempt < compileAttempts {
				limits.WallTime, limits.CPUTime = 2*limits.WallTime, 2*limits.CPUTime
				c.Retries++
				continue
			}
			if stalled {
				return fmt.Errorf("compile: the compiler was stopped by its wall-clock limit %s %d times, with %s of CPU time: the machine is overloaded",
					limits.WallTime/2, attempt, r.CPUTime.Round(time.Millisecond))
			}
		}
		c.Millis = time.Since(start).Milliseconds()
		c.Output = string(r.Stdout) + string(r.Stderr)
		switch {
		case r.CPUExceeded:
			c.OK, c.Output = false, c.Output+fmt.Sprintf("\ncompiler time limit exceeded (%s of CPU time)", limits.CPUTime)
		case r.OOMKilled || r.MemoryExceeded:
			c.OK, c.Output = false, c.Output+"\ncompiler memory limit exceeded"
		case r.CopyError != "" || r.Signal == syscall.SIGXFSZ:
			c.OK, c.Output = false, c.Output+fmt.Sprintf("\ncompiler output too large (at most %d MiB)", j.cfg.CompileOutput>>20)
		case r.ExitCode != 0:
			c.OK = false
			if r.Signal != 0 {
				c.Output += "\ncompiler killed by " + sandbox.SignalName(r.Signal)
			}
		}
		return nil
	}
}

// pch builds the precompiled <bits/stdc++.h> once per g++ version.
func (j *Judge) pch(ctx context.Context, lang *Language) (string, error) {
	version, err := j.Version(ctx, lang)
	if err != nil {
		return "", err
	}
	if warm := j.warmPCH(version); warm != "" {
		return warm, nil
	}
	dir := filepath.Join(j.cfg.CacheDir, "pch", strings.ReplaceAll(version, "/", "_"))
	j.pchOnce.Do(func() {
		gch := filepath.Join(dir, "bits", "stdc++.h.gch")
		if _, err := os.Stat(gch); err == nil {
			return
		}
		headers, _ := filepath.Glob("/usr/include/x86_64-linux-gnu/c++/*/bits/stdc++.h")
		if len(headers) == 0 {
			// No header to precompile: compile without one.
			os.MkdirAll(dir, 0o755)
			return
		}
		sort.Strings(headers)
		tmp, err := os.MkdirTemp(filepath.Dir(dir), "build-")
		if err != nil {
			j.pchErr = err
			return
		}
		defer os.RemoveAll(tmp)
		os.MkdirAll(filepath.Join(tmp, "bits"), 0o755)
		chownTree(tmp, j.cfg.Sandbox.CompileUID())
		limits := j.cfg.Compile
		limits.FileSize = 1 << 30 // the header is ~200 MiB
		r, err := j.run(ctx, sandbox.Spec{
			Args: []string{lang.Compile[0], "-std=gnu++17", "-O2", "-x", "c++-header", headers[len(headers)-1],
				"-o", "/pch/bits/stdc++.h.gch"},
			Env: j.env(lang), Dir: "/pch", UID: j.cfg.Sandbox.CompileUID(), TmpSize: 1 << 30,
			Binds:  []sandbox.Bind{{Source: tmp, Target: "/pch", Writable: true}},
			Limits: limits,
		})
		if err != nil || r.ExitCode != 0 {
			j.pchErr = fmt.Errorf("precompile bits/stdc++.h: %v %s", err, r.Stderr)
			return
		}
		os.RemoveAll(dir)
		os.Chmod(tmp, 0o755)
		j.pchErr = os.Rename(tmp, dir)
	})
	return dir, j.pchErr
}

// compileValidator compiles the validator in dir with the language of its
// main source file (validate.* first).
func (j *Judge) compileValidator(ctx context.Context, dir string) (*compiled, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read validator: %w", err)
	}
	var pick string
	var lang *Language
	for _, e := range entries {
		l, ok := LanguageByExt(j.cfg.Languages, e.Name())
		if !ok || e.IsDir() {
			continue
		}
		if pick == "" || strings.HasPrefix(e.Name(), "validate") {
			pick, lang = e.Name(), l
		}
	}
	if pick == "" {
		return nil, fmt.Errorf("validator %s: no source file in a known language", dir)
	}
	src, err := os.ReadFile(filepath.Join(dir, pick))
	if err != nil {
		return nil, err
	}
	c, err := j.compile(ctx, lang, src, &dir)
	if err != nil {
		return nil, err
	}
	if !c.OK {
		return nil, fmt.Errorf("validator %s does not compile: %s", dir, clip(c.Output, 500))
	}
	return c, nil
}

func expand(args []string, src, main string, memMiB int64) []string {
	out := make([]string, len(args))
	for i, a := range args {
		a = strings.ReplaceAll(a, "{src}", src)
		a = strings.ReplaceAll(a, "{main}", main)
		a = strings.ReplaceAll(a, "{mem}", strconv.FormatInt(memMiB, 10))
		out[i] = a
	}
	return out
}

func chownTree(dir string, uid int) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
}
