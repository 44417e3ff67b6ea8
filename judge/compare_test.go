package judge

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCompare(t *testing.T) {
	floats := CompareOptions{AbsTolerance: 1e-6, RelTolerance: 1e-6}
	tests := []struct {
		name         string
		answer, team string
		opts         CompareOptions
		want         bool
	}{
		{"equal", "1 2 3\n", "1 2 3\n", CompareOptions{}, true},
		{"whitespace kinds", "a b\nc\n", "a\tb\r\n\n c  ", CompareOptions{}, true},
		{"no final newline", "x\n", "x", CompareOptions{}, true},
		{"case-insensitive", "Impossible", "IMPOSSIBLE", CompareOptions{}, true},
		{"case-sensitive", "Impossible", "IMPOSSIBLE", CompareOptions{CaseSensitive: true}, false},
		{"glued", "a b", "ab", CompareOptions{}, false},
		{"missing token", "1 2", "1", CompareOptions{}, false},
		{"trailing token", "1", "1 2", CompareOptions{}, false},
		{"empty both", "", "\n\n", CompareOptions{}, true},
		{"number as string without tolerance", "1.0", "1", CompareOptions{}, false},
		{"float within abs", "3.14159265", "3.1415930", floats, true},
		{"float scientific", "15", "1.5e+01", floats, true},
		{"java double style", "49990000.5", "4.99900005E7", floats, true},
		{"float relative on big", "1e12", "1000000000100", floats, true},
		{"float too far", "3.14159265", "3.14", floats, false},
		{"float expected number got word", "1.5", "abc", floats, false},
		{"word token under float flags", "Impossible", "impossible", floats, true},
		{"hex is not a strtod token here", "1", "0x1", floats, false},
		{"abs only", "100", "100.5", CompareOptions{AbsTolerance: 1}, true},
		{"rel only", "100", "100.5", CompareOptions{RelTolerance: 0.01}, true},
		{"rel only too far", "1", "1.5", CompareOptions{RelTolerance: 0.01}, false},
		{"space change sensitive same", "a b\n", "a b\n", CompareOptions{SpaceChangeSensitive: true}, true},
		{"space change sensitive differs", "a b\n", "a  b\n", CompareOptions{SpaceChangeSensitive: true}, false},
		{"space change sensitive newline", "a b\n", "a b", CompareOptions{SpaceChangeSensitive: true}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, msg := Compare([]byte(tc.answer), []byte(tc.team), tc.opts)
			if got != tc.want {
				t.Errorf("Compare(%q, %q) = %v (%s), want %v", tc.answer, tc.team, got, msg, tc.want)
			}
			if !got && msg == "" {
				t.Errorf("rejection without a message")
			}
		})
	}
}

func TestParseValidatorFlags(t *testing.T) {
	tests := []struct {
		flags   string
		want    CompareOptions
		wantErr bool
	}{
		{"", CompareOptions{}, false},
		{"case_sensitive space_change_sensitive", CompareOptions{CaseSensitive: true, SpaceChangeSensitive: true}, false},
		{"float_tolerance 1e-6", CompareOptions{AbsTolerance: 1e-6, RelTolerance: 1e-6}, false},
		{"float_absolute_tolerance 0.5 float_relative_tolerance 0.25", CompareOptions{AbsTolerance: 0.5, RelTolerance: 0.25}, false},
		{"float_tolerance", CompareOptions{}, true},
		{"bogus", CompareOptions{}, true},
	}
	for _, tc := range tests {
		got, err := ParseValidatorFlags(strings.Fields(tc.flags))
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseValidatorFlags(%q) error %v, want error %v", tc.flags, err, tc.wantErr)
			continue
		}
		if err == nil {
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("ParseValidatorFlags(%q) (-got +want):\n%s", tc.flags, diff)
			}
		}
	}
}

// FuzzCompare checks invariants: output equal to the answer is accepted,
// reflowing its whitespace is accepted unless space changes count, and
// Compare never panics.
func FuzzCompare(f *testing.F) {
	f.Add([]byte("1 2 3\n"), []byte("1 2 3"), uint8(0))
	f.Add([]byte("3.5e+01\n"), []byte("35.0000001"), uint8(4))
	f.Add([]byte("Impossible\r\n"), []byte("impossible"), uint8(1))
	f.Add([]byte(""), []byte(" \t\n"), uint8(2))
	f.Fuzz(func(t *testing.T, answer, team []byte, mode uint8) {
		o := CompareOptions{CaseSensitive: mode&1 != 0, SpaceChangeSensitive: mode&2 != 0}
		if mode&4 != 0 {
			o.AbsTolerance, o.RelTolerance = 1e-6, 1e-6
		}
		Compare(answer, team, o)
		if ok, msg := Compare(answer, answer, o); !ok {
			t.Fatalf("answer %q rejected against itself: %s", answer, msg)
		}
		if !o.SpaceChangeSensitive {
			reflowed := bytes.Join(bytes.Fields(answer), []byte("\n\t "))
			if ok, msg := Compare(answer, reflowed, o); !ok {
				t.Fatalf("reflowed %q rejected: %s", reflowed, msg)
			}
		}
	})
}

// FuzzParseNumber: whatever parses as a number compares equal to itself
// under float tolerance.
func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"1", "-2.5", "1e308", "1e999", "nan", "inf", ".5", "1.", "0x10", "1_0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := parseNumber(s)
		if ok && !floatClose(v, v, CompareOptions{AbsTolerance: 1e-9}) {
			t.Fatalf("%q = %v not close to itself", s, v)
		}
	})
}
