package judge

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Validation is how a problem's output is checked.
type Validation string

// Validation kinds.
const (
	ValidationDefault     Validation = "default"
	ValidationCustom      Validation = "custom"
	ValidationInteractive Validation = "interactive"
)

// Problem is a problem package in the Kattis / ICPC format.
type Problem struct {
	Dir  string
	Name string
	// TimeLimit is the CPU time per test; zero when the package does not
	// fix it (the legacy format derives it from the accepted submissions,
	// see TimeMultiplier).
	TimeLimit      time.Duration
	TimeMultiplier float64
	// TimeLimitFrom says where TimeLimit comes from: "problem.yaml",
	// ".timelimit", or what DeriveTimeLimit derived it from.
	TimeLimitFrom  string
	Memory         int64 // bytes
	Output         int64 // bytes
	Validation     Validation
	ValidatorFlags []string
	// ValidatorDir holds the custom or interactive validator's source.
	ValidatorDir string
	Tests        []Test
	Submissions  []Submission
}

// Test is one test case.
type Test struct {
	Name   string // below data/, without extension: "sample/01"
	Input  string
	Answer string
	// ValidatorFlags from the test's group (testdata.yaml), if any.
	ValidatorFlags []string
}

// Submission is a labelled reference submission.
type Submission struct {
	Path string
	// Folder is the submissions/ folder it sits in (accepted, wrong_answer...).
	Folder string
}

// problemYAML covers the legacy format and 2023-07-draft.
type problemYAML struct {
	Name                 any       `json:"name"`
	ProblemFormatVersion string    `json:"problem_format_version"`
	Type                 any       `json:"type"`
	Validation           string    `json:"validation"`
	ValidatorFlags       any       `json:"validator_flags"`
	Limits               yamlLimit `json:"limits"`
}

type yamlLimit struct {
	TimeLimit       *float64 `json:"time_limit"`
	TimeMultiplier  *float64 `json:"time_multiplier"`
	TimeMultipliers *struct {
		ACToTimeLimit *float64 `json:"ac_to_time_limit"`
	} `json:"time_multipliers"`
	Memory *float64 `json:"memory"`
	Output *float64 `json:"output"`
}

// ReadProblem reads the package in dir.
func ReadProblem(dir string) (*Problem, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "problem.yaml"))
	if err != nil {
		return nil, fmt.Errorf("read problem package: %w", err)
	}
	var y problemYAML
	if err := yaml.Unmarshal(b, &y); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, "problem.yaml"), err)
	}
	p := &Problem{
		Dir:            dir,
		Name:           yamlName(y.Name, filepath.Base(dir)),
		TimeMultiplier: 5,
		Memory:         2048 << 20,
		Output:         8 << 20,
		Validation:     ValidationDefault,
	}
	l := y.Limits
	if l.TimeLimit != nil {
		p.TimeLimit = seconds(*l.TimeLimit)
		p.TimeLimitFrom = "problem.yaml"
	}
	if l.TimeMultiplier != nil {
		p.TimeMultiplier = *l.TimeMultiplier
	}
	if l.TimeMultipliers != nil && l.TimeMultipliers.ACToTimeLimit != nil {
		p.TimeMultiplier = *l.TimeMultipliers.ACToTimeLimit
	}
	if l.Memory != nil {
		p.Memory = int64(*l.Memory * (1 << 20))
	}
	if l.Output != nil {
		p.Output = int64(*l.Output * (1 << 20))
	}
	if p.TimeLimit == 0 {
		if b, err := os.ReadFile(filepath.Join(dir, ".timelimit")); err == nil {
			if v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64); err == nil {
				p.TimeLimit = seconds(v)
				p.TimeLimitFrom = ".timelimit"
			}
		}
	}

	// Validation: legacy "validation: custom [interactive]", or the newer
	// "type: pass-fail | interactive | ...".
	words := strings.Fields(y.Validation)
	words = append(words, typeWords(y.Type)...)
	for _, w := range words {
		switch w {
		case "custom":
			if p.Validation == ValidationDefault {
				p.Validation = ValidationCustom
			}
		case "interactive":
			p.Validation = ValidationInteractive
		}
	}
	p.ValidatorFlags = flagWords(y.ValidatorFlags)
	if p.Validation != ValidationDefault {
		p.ValidatorDir, err = findValidator(dir)
		if err != nil {
			return nil, err
		}
	} else if v, err := findValidator(dir); err == nil && y.ProblemFormatVersion != "" {
		// Newer formats: an output_validator/ folder means a custom validator.
		p.Validation, p.ValidatorDir = ValidationCustom, v
	}

	for _, group := range []string{"sample", "secret"} {
		tests, err := readTests(filepath.Join(dir, "data", group), group, nil)
		if err != nil {
			return nil, err
		}
		p.Tests = append(p.Tests, tests...)
	}
	if len(p.Tests) == 0 {
		return nil, fmt.Errorf("problem %s: no test data in data/sample or data/secret", dir)
	}
	p.Submissions, err = readSubmissions(filepath.Join(dir, "submissions"))
	if err != nil {
		return nil, err
	}
	return p, nil
}

func seconds(v float64) time.Duration {
	return time.Duration(math.Round(v * float64(time.Second)))
}

func yamlName(v any, fallback string) string {
	switch n := v.(type) {
	case string:
		return n
	case map[string]any: // 2023-07-draft: name per language
		if s, ok := n["en"].(string); ok {
			return s
		}
		keys := make([]string, 0, len(n))
		for k := range n {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if s, ok := n[k].(string); ok {
				return s
			}
		}
	}
	return fallback
}

func typeWords(v any) []string {
	switch t := v.(type) {
	case string:
		return strings.Fields(t)
	case []any:
		var out []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func flagWords(v any) []string {
	switch t := v.(type) {
	case string:
		return strings.Fields(t)
	case []any:
		var out []string
		for _, x := range t {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

// findValidator returns output_validators/<first> or output_validator/.
func findValidator(dir string) (string, error) {
	single := filepath.Join(dir, "output_validator")
	if fi, err := os.Stat(single); err == nil && fi.IsDir() {
		return single, nil
	}
	multi := filepath.Join(dir, "output_validators")
	entries, err := os.ReadDir(multi)
	if err != nil {
		return "", fmt.Errorf("problem %s needs an output validator: %w", dir, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			return filepath.Join(multi, e.Name()), nil
		}
	}
	// Files directly in output_validators/.
	if len(entries) > 0 {
		return multi, nil
	}
	return "", fmt.Errorf("problem %s: output_validators/ is empty", dir)
}

// readTests walks one data folder: test files and sub-groups together in
// lexicographic order of their names, as the format says.
func readTests(dir, name string, flags []string) ([]Test, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read test data: %w", err)
	}
	if f, ok := groupFlags(dir); ok {
		flags = f
	}
	type item struct {
		key   string
		group bool
	}
	var items []item
	for _, e := range entries {
		full := filepath.Join(dir, e.Name())
		fi, err := os.Stat(full) // follows symlinked tests and groups
		if err != nil {
			continue
		}
		if fi.IsDir() {
			items = append(items, item{e.Name(), true})
		} else if base, ok := strings.CutSuffix(e.Name(), ".in"); ok {
			items = append(items, item{base, false})
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].key < items[j].key })
	var tests []Test
	for _, it := range items {
		if it.group {
			sub, err := readTests(filepath.Join(dir, it.key), name+"/"+it.key, flags)
			if err != nil {
				return nil, err
			}
			tests = append(tests, sub...)
			continue
		}
		ans := filepath.Join(dir, it.key+".ans")
		if _, err := os.Stat(ans); err != nil {
			return nil, fmt.Errorf("test %s/%s: no .ans file", name, it.key)
		}
		tests = append(tests, Test{
			Name: name + "/" + it.key, Input: filepath.Join(dir, it.key+".in"), Answer: ans,
			ValidatorFlags: flags,
		})
	}
	return tests, nil
}

// groupFlags reads output_validator_flags from a group's testdata.yaml.
func groupFlags(dir string) ([]string, bool) {
	for _, name := range []string{"testdata.yaml", "test_group.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		var y struct {
			OutputValidatorFlags any `json:"output_validator_flags"`
			OutputValidatorArgs  any `json:"output_validator_args"`
		}
		if yaml.Unmarshal(b, &y) != nil {
			continue
		}
		if y.OutputValidatorFlags != nil {
			return flagWords(y.OutputValidatorFlags), true
		}
		if y.OutputValidatorArgs != nil {
			return flagWords(y.OutputValidatorArgs), true
		}
	}
	return nil, false
}

func readSubmissions(dir string) ([]Submission, error) {
	folders, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read submissions: %w", err)
	}
	var subs []Submission
	for _, f := range folders {
		if !f.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, f.Name()))
		if err != nil {
			return nil, fmt.Errorf("read submissions: %w", err)
		}
		for _, s := range files {
			if s.IsDir() || strings.HasPrefix(s.Name(), ".") {
				continue
			}
			subs = append(subs, Submission{Path: filepath.Join(dir, f.Name(), s.Name()), Folder: f.Name()})
		}
	}
	return subs, nil
}

// WallLimit is the default wall-clock limit for a CPU limit: 3 × cpu + 5 s.
func WallLimit(cpu time.Duration) time.Duration { return 3*cpu + 5*time.Second }
