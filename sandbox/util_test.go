package sandbox

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// processesInUIDRange lists host processes whose real uid is in [lo, hi].
func processesInUIDRange(lo, hi int) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
				if uid, _ := strconv.Atoi(f[1]); uid >= lo && uid <= hi {
					out = append(out, e.Name())
				}
			}
		}
	}
	return out
}
