package judge

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// CompareOptions are the Kattis default output validator's flags.
type CompareOptions struct {
	CaseSensitive        bool
	SpaceChangeSensitive bool
	// AbsTolerance and RelTolerance apply to tokens of the answer that are
	// numbers; a number matches if it is within either (0: not in force).
	AbsTolerance float64
	RelTolerance float64
}

// ParseValidatorFlags reads validator_flags as Kattis' default validator
// does: case_sensitive, space_change_sensitive, float_tolerance E,
// float_absolute_tolerance E, float_relative_tolerance E.
func ParseValidatorFlags(flags []string) (CompareOptions, error) {
	var o CompareOptions
	for i := 0; i < len(flags); i++ {
		f := flags[i]
		num := func() (float64, error) {
			if i+1 >= len(flags) {
				return 0, fmt.Errorf("validator flag %s needs a value", f)
			}
			i++
			v, err := strconv.ParseFloat(flags[i], 64)
			if err != nil {
				return 0, fmt.Errorf("validator flag %s: %w", f, err)
			}
			return v, nil
		}
		var err error
		switch f {
		case "case_sensitive":
			o.CaseSensitive = true
		case "space_change_sensitive":
			o.SpaceChangeSensitive = true
		case "float_tolerance":
			var v float64
			v, err = num()
			o.AbsTolerance, o.RelTolerance = v, v
		case "float_absolute_tolerance":
			o.AbsTolerance, err = num()
		case "float_relative_tolerance":
			o.RelTolerance, err = num()
		default:
			return o, fmt.Errorf("unknown validator flag %q", f)
		}
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

func (o CompareOptions) floats() bool { return o.AbsTolerance > 0 || o.RelTolerance > 0 }

// Compare checks team output against the judge's answer with Kattis'
// default validator semantics. It returns whether the output is accepted
// and, if not, a short reason.
func Compare(answer, team []byte, o CompareOptions) (bool, string) {
	a := newScanner(answer, o.SpaceChangeSensitive)
	t := newScanner(team, o.SpaceChangeSensitive)
	for n := 1; ; n++ {
		aTok, aOK := a.next()
		tTok, tOK := t.next()
		if !aOK && !tOK {
			return true, ""
		}
		if !aOK {
			return false, fmt.Sprintf("trailing output: token %d %s", n, quote(tTok))
		}
		if !tOK {
			return false, fmt.Sprintf("output ended before token %d, expected %s", n, quote(aTok))
		}
		if o.SpaceChangeSensitive {
			aSpace, tSpace := isSpace(aTok[0]), isSpace(tTok[0])
			if aSpace || tSpace {
				if aTok != tTok {
					return false, fmt.Sprintf("space change at token %d: expected %s, got %s", n, quote(aTok), quote(tTok))
				}
				continue
			}
		}
		if ok, why := compareToken(aTok, tTok, o); !ok {
			return false, fmt.Sprintf("token %d: %s", n, why)
		}
	}
}

func compareToken(a, t string, o CompareOptions) (bool, string) {
	if o.floats() {
		if av, ok := parseNumber(a); ok {
			tv, ok := parseNumber(t)
			if !ok {
				return false, fmt.Sprintf("expected a number near %s, got %s", quote(a), quote(t))
			}
			if floatClose(av, tv, o) {
				return true, ""
			}
			return false, fmt.Sprintf("expected %s, got %s (difference %g)", quote(a), quote(t), math.Abs(av-tv))
		}
	}
	if o.CaseSensitive {
		if a == t {
			return true, ""
		}
	} else if equalFoldASCII(a, t) {
		return true, ""
	}
	return false, fmt.Sprintf("expected %s, got %s", quote(a), quote(t))
}

func floatClose(a, t float64, o CompareOptions) bool {
	if math.IsNaN(a) || math.IsNaN(t) {
		return math.IsNaN(a) && math.IsNaN(t)
	}
	if math.IsInf(a, 0) || math.IsInf(t, 0) {
		return a == t
	}
	d := math.Abs(a - t)
	return d <= o.AbsTolerance || d <= o.RelTolerance*math.Abs(a)
}

// parseNumber accepts what C's strtod accepts as a whole token (decimal,
// exponent, inf, nan), not Go's extensions (underscores, hex with p).
func parseNumber(s string) (float64, bool) {
	if s == "" || strings.ContainsAny(s, "_xXpP") {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var ne *strconv.NumError
		if ok := asNumError(err, &ne); ok && ne.Err == strconv.ErrRange {
			return v, true
		}
		return 0, false
	}
	return v, true
}

func asNumError(err error, target **strconv.NumError) bool {
	ne, ok := err.(*strconv.NumError)
	if ok {
		*target = ne
	}
	return ok
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return strconv.Quote(s)
}

// scanner yields tokens; with spaces set it also yields each run of
// whitespace as a token of its own.
type scanner struct {
	b      []byte
	i      int
	spaces bool
}

func newScanner(b []byte, spaces bool) *scanner { return &scanner{b: b, spaces: spaces} }

func (s *scanner) next() (string, bool) {
	if !s.spaces {
		for s.i < len(s.b) && isSpace(s.b[s.i]) {
			s.i++
		}
	}
	if s.i >= len(s.b) {
		return "", false
	}
	start := s.i
	sp := isSpace(s.b[s.i])
	for s.i < len(s.b) && isSpace(s.b[s.i]) == sp {
		s.i++
	}
	return string(s.b[start:s.i]), true
}
