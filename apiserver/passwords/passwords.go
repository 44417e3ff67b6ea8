// Package passwords holds the password policy (length, character classes,
// not one of the most common passwords, not the account's address) and the
// cap on password hashes computed at once.
package passwords

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// common.txt.gz is the 10,000 most common passwords of the list zxcvbn
// ships (npm @zxcvbn-ts/language-common 4.1.3, src/passwords.json, MIT
// licence: see NOTICE), lower-cased, one a line, most common first.
//
//go:embed common.txt.gz
var commonGz []byte

// commonSet is the embedded list as a set, read once.
var commonSet = sync.OnceValue(func() map[string]struct{} {
	zr, err := gzip.NewReader(bytes.NewReader(commonGz))
	if err != nil {
		panic("passwords: embedded list: " + err.Error())
	}
	set := make(map[string]struct{}, 10000)
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if w := sc.Text(); w != "" {
			set[w] = struct{}{}
		}
	}
	if err := sc.Err(); err != nil {
		panic("passwords: embedded list: " + err.Error())
	}
	return set
})

// Common reports whether pw is one of the most common passwords, ignoring
// case and what people add at the end to pass composition rules
// ("Password1!" is "password").
func Common(pw string) bool {
	set := commonSet()
	low := strings.ToLower(pw)
	if _, ok := set[low]; ok {
		return true
	}
	trimmed := strings.TrimRightFunc(low, func(r rune) bool { return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) })
	if utf8.RuneCountInString(trimmed) < 4 {
		return false
	}
	_, ok := set[trimmed]
	return ok
}

// Problem says what is wrong with a new password for the account of email
// (normalized; "" when not known), or "" when it meets the policy: 8 to 128
// characters with an upper-case letter, a lower-case letter and a digit,
// not one of the most common passwords, and not containing the address or
// its part before the @.
func Problem(pw, email string) string {
	n := utf8.RuneCountInString(pw)
	if n < 8 {
		return "must be at least 8 characters"
	}
	if n > 128 {
		return "must be at most 128 characters"
	}
	var upper, lower, digit bool
	for _, r := range pw {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		}
	}
	if !upper || !lower || !digit {
		return "must contain an upper-case letter, a lower-case letter and a digit"
	}
	if Common(pw) {
		return "is one of the most common passwords; choose another"
	}
	if email != "" {
		low := strings.ToLower(pw)
		local, _, _ := strings.Cut(strings.ToLower(email), "@")
		if strings.Contains(low, strings.ToLower(email)) || (utf8.RuneCountInString(local) >= 3 && strings.Contains(low, local)) {
			return "must not contain your email address"
		}
	}
	return ""
}
