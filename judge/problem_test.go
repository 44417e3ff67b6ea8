package judge

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestReadProblem(t *testing.T) {
	type summary struct {
		Name           string
		TimeLimit      time.Duration
		TimeMultiplier float64
		MemoryMiB      int64
		OutputMiB      int64
		Validation     Validation
		ValidatorFlags []string
		Validator      string
		Tests          []string
		GroupFlags     map[string][]string
		Submissions    []string
	}
	tests := []struct {
		dir  string
		want summary
	}{
		{"legacy", summary{
			Name: "Legacy Fixture", TimeLimit: 1500 * time.Millisecond, TimeMultiplier: 5,
			MemoryMiB: 64, OutputMiB: 2, Validation: ValidationCustom,
			ValidatorFlags: []string{"float_tolerance", "1e-4"}, Validator: "output_validators/check",
			// sample first; secret files and groups together in name order
			Tests:       []string{"sample/01", "secret/02", "secret/a_group/01", "secret/b_group/01", "secret/c"},
			GroupFlags:  map[string][]string{"secret/b_group/01": {"case_sensitive"}},
			Submissions: []string{"accepted/one.py", "wrong_answer/two.py"},
		}},
		{"draft", summary{
			Name: "Draft Fixture", TimeLimit: 2500 * time.Millisecond, TimeMultiplier: 2,
			MemoryMiB: 512, OutputMiB: 8, Validation: ValidationInteractive,
			Validator:   "output_validator",
			Tests:       []string{"sample/1", "secret/10", "secret/9"},
			GroupFlags:  map[string][]string{},
			Submissions: []string{"accepted/x.cpp"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.dir, func(t *testing.T) {
			dir, _ := filepath.Abs(filepath.Join("testdata", "problems", tc.dir))
			p, err := ReadProblem(dir)
			if err != nil {
				t.Fatal(err)
			}
			got := summary{
				Name: p.Name, TimeLimit: p.TimeLimit, TimeMultiplier: p.TimeMultiplier,
				MemoryMiB: p.Memory >> 20, OutputMiB: p.Output >> 20, Validation: p.Validation,
				ValidatorFlags: p.ValidatorFlags, GroupFlags: map[string][]string{},
			}
			if p.ValidatorDir != "" {
				got.Validator, _ = filepath.Rel(dir, p.ValidatorDir)
			}
			for _, tt := range p.Tests {
				got.Tests = append(got.Tests, tt.Name)
				if tt.ValidatorFlags != nil {
					got.GroupFlags[tt.Name] = tt.ValidatorFlags
				}
			}
			for _, s := range p.Submissions {
				got.Submissions = append(got.Submissions, s.Folder+"/"+filepath.Base(s.Path))
			}
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("ReadProblem(%s) (-got +want):\n%s", tc.dir, diff)
			}
		})
	}
}

func TestReadProblemErrors(t *testing.T) {
	if _, err := ReadProblem(filepath.Join("testdata", "problems", "missing")); err == nil {
		t.Error("ReadProblem of a missing folder: no error")
	}
}

func TestJavaMainClass(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"Main", "public class Main { public static void main(String[] a) {} }", "Main"},
		{"other name", "import java.util.*;\npublic class Solver {\n public static void main(String... args) {}\n}", "Solver"},
		{"helper first", "class Helper { void f() {} }\npublic final class Sol { static public void main(String[] a){} }", "Sol"},
		{"nested public class", "public class Outer { public static class Inner {} public static void main(String[] a){} }", "Outer"},
		{"comment and string", "// public class Fake {}\n/* class X */ public class Real { String s = \"class Nope {\"; public static void main(String[] a){} }", "Real"},
		{"no public", "class A { public static void main(String[] a) {} }", "A"},
		{"nothing", "", "Main"},
	}
	for _, tc := range tests {
		if got := JavaMainClass([]byte(tc.src)); got != tc.want {
			t.Errorf("%s: JavaMainClass = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestMarshalCompact(t *testing.T) {
	r := &Result{Verdict: WrongAnswer, Passed: 3, Total: 500, Message: "WA on secret/004: token 1"}
	for i := 0; i < 500; i++ {
		r.Tests = append(r.Tests, TestResult{Name: "secret/x", Verdict: Accepted, CPUMillis: 1234, MemoryKiB: 123456})
	}
	r.Tests[3].Verdict = WrongAnswer
	b, err := r.MarshalCompact(4000)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 4000 {
		t.Errorf("compact form is %d bytes, want at most 4000", len(b))
	}
	c := r.Compact()
	if c.Verdict != WrongAnswer || c.Failed != "secret/x" || c.Total != 500 {
		t.Errorf("compact %+v", c)
	}
}
