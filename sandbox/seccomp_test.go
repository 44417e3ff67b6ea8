package sandbox

import (
	"testing"

	"github.com/codequest-dev/codequest/sandbox/internal/seccompfilter"
)

// The committed table is what the assembler makes of the deny-list now
// (`make generate` rewrites it).
func TestSeccompFilterGenerated(t *testing.T) {
	raw, err := seccompfilter.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != len(seccompFilter) {
		t.Fatalf("seccomp_filter.go has %d instructions, the assembler makes %d: run make generate", len(seccompFilter), len(raw))
	}
	for i, r := range raw {
		f := seccompFilter[i]
		if f.Code != r.Op || f.Jt != r.Jt || f.Jf != r.Jf || f.K != r.K {
			t.Fatalf("instruction %d is %+v, the assembler makes %+v: run make generate", i, f, r)
		}
	}
}
