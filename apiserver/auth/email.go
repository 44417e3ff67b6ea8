package auth

import (
	"net/mail"
	"strings"
	"unicode"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// NormalizeEmail returns the one spelling of an address that accounts are
// keyed on, and whether it is an acceptable address at all. It trims and
// lower-cases, folds compatibility characters (NFKC: full-width letters,
// ligatures), converts an internationalized domain to its ASCII form
// (IDNA: Unicode look-alikes become a visibly different xn-- name), and
// refuses a part before the @ that is not ASCII after that, which is where
// look-alike and invisible characters (zero-width spaces and joiners,
// Cyrillic letters that look Latin) would make a second account of what
// reads as the same address.
func NormalizeEmail(s string) (string, bool) {
	s = strings.ToLower(norm.NFKC.String(strings.TrimSpace(s)))
	if s == "" || len(s) > 254 {
		return s, false
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return s, false
	}
	local, domain := s[:at], s[at+1:]
	for _, r := range local {
		if r > unicode.MaxASCII {
			return s, false
		}
	}
	d, err := idna.Lookup.ToASCII(domain)
	if err != nil || d == "" {
		return s, false
	}
	s = local + "@" + strings.ToLower(d)
	if len(s) > 254 {
		return s, false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return s, false
	}
	for _, r := range s {
		if r > unicode.MaxASCII || unicode.IsControl(r) || unicode.IsSpace(r) {
			return s, false
		}
	}
	return s, true
}
