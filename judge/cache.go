package judge

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// artifactCache holds compiled programs (and compile errors) under
// <CacheDir>/artifacts/<language>/<key>, at most limit bytes: past it, the
// least recently used entries go. An entry in use by a judging of this
// process is never removed, nor one used in the last minute (by another
// process sharing the folder).
type artifactCache struct {
	dir   string
	limit int64

	mu     sync.Mutex
	size   int64 // bytes stored, -1 until measured
	inUse  map[string]int
	recent time.Duration
}

func newArtifactCache(dir string, limit int64) (*artifactCache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("judge cache: %w", err)
	}
	return &artifactCache{dir: dir, limit: limit, size: -1, inUse: map[string]int{}, recent: time.Minute}, nil
}

const resultFile = ".result.json"

// get returns the cached outcome for key, marking it used.
func (c *artifactCache) get(key string) (*compiled, bool) {
	dir := filepath.Join(c.dir, key)
	b, err := os.ReadFile(filepath.Join(dir, resultFile))
	if err != nil {
		return nil, false
	}
	p := &compiled{}
	if json.Unmarshal(b, p) != nil {
		return nil, false
	}
	now := time.Now()
	os.Chtimes(filepath.Join(dir, resultFile), now, now)
	p.Dir, p.Cached, p.key = dir, true, key
	c.acquire(key)
	return p, true
}

// newBuild makes a folder to compile in, beside the entries of lang.
func (c *artifactCache) newBuild(lang string) (string, error) {
	parent := filepath.Join(c.dir, lang)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(parent, "build-")
	if err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, 0o755)
}

// put stores the build folder dir, with p's outcome, as key's entry (or
// takes the entry a concurrent compile of the same source stored first),
// marks it used and makes room.
func (c *artifactCache) put(key, dir string, p *compiled) (*compiled, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, resultFile), b, 0o644); err != nil {
		return nil, err
	}
	size, _ := treeBytes(dir)
	final := filepath.Join(c.dir, key)
	if err := os.Rename(dir, final); err != nil {
		if q, ok := c.get(key); ok {
			return q, nil
		}
		return nil, fmt.Errorf("store compiled program: %w", err)
	}
	p.Dir, p.key = final, key
	c.acquire(key)
	c.mu.Lock()
	if c.size >= 0 {
		c.size += size
	}
	c.mu.Unlock()
	c.evict()
	return p, nil
}

func (c *artifactCache) acquire(key string) {
	c.mu.Lock()
	c.inUse[key]++
	c.mu.Unlock()
}

// release ends a judging's use of key's entry.
func (c *artifactCache) release(key string) {
	if key == "" {
		return
	}
	c.mu.Lock()
	if c.inUse[key]--; c.inUse[key] <= 0 {
		delete(c.inUse, key)
	}
	c.mu.Unlock()
}

// evict removes the least recently used entries while the cache holds more
// than its limit. The size is measured from the folder when unknown and
// whenever it seems over, so other processes' entries count.
func (c *artifactCache) evict() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.size >= 0 && c.size <= c.limit {
		return
	}
	type entry struct {
		key  string
		used time.Time
		size int64
	}
	var entries []entry
	var total int64
	langs, _ := os.ReadDir(c.dir)
	for _, l := range langs {
		if !l.IsDir() {
			continue
		}
		keys, _ := os.ReadDir(filepath.Join(c.dir, l.Name()))
		for _, k := range keys {
			if !k.IsDir() || strings.HasPrefix(k.Name(), "build-") {
				continue
			}
			key := l.Name() + "/" + k.Name()
			size, _ := treeBytes(filepath.Join(c.dir, key))
			total += size
			fi, err := os.Stat(filepath.Join(c.dir, key, resultFile))
			if err != nil {
				continue
			}
			entries = append(entries, entry{key, fi.ModTime(), size})
		}
	}
	c.size = total
	if total <= c.limit {
		return
	}
	sort.Slice(entries, func(a, b int) bool { return entries[a].used.Before(entries[b].used) })
	cutoff := time.Now().Add(-c.recent)
	for _, e := range entries {
		if c.size <= c.limit*9/10 {
			break
		}
		if c.inUse[e.key] > 0 || e.used.After(cutoff) {
			continue
		}
		// Renamed first, so that no reader finds half an entry.
		tmp := filepath.Join(c.dir, filepath.Dir(e.key), "build-evicted-"+filepath.Base(e.key))
		if os.Rename(filepath.Join(c.dir, e.key), tmp) == nil {
			os.RemoveAll(tmp)
			c.size -= e.size
		}
	}
}

// treeBytes is the bytes of the regular files under dir.
func treeBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}

// trimGoCache bounds Go's build cache (shared by Go compiles, which write
// an object for every package they build) to limit bytes: past it, files
// not used for an hour go, oldest first (Go refreshes a used entry's time
// hourly and rebuilds a missing one). It waits for no compile: it runs only
// when no Go compile of this process is running.
func (j *Judge) trimGoCache() {
	if !j.goCache.TryLock() {
		return
	}
	defer j.goCache.Unlock()
	dir := filepath.Join(j.cfg.CacheDir, "gocache")
	type file struct {
		path string
		mod  time.Time
		size int64
	}
	var files []file
	var total int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				files = append(files, file{p, fi.ModTime(), fi.Size()})
				total += fi.Size()
			}
		}
		return nil
	})
	if total <= j.cfg.CacheLimit {
		return
	}
	sort.Slice(files, func(a, b int) bool { return files[a].mod.Before(files[b].mod) })
	cutoff := time.Now().Add(-time.Hour)
	for _, f := range files {
		if total <= j.cfg.CacheLimit*9/10 || f.mod.After(cutoff) {
			break
		}
		if os.Remove(f.path) == nil {
			total -= f.size
		}
	}
}
