package apierr

import (
	"errors"
	"unicode"
	"unicode/utf8"

	"github.com/codequest-dev/codequest/apiserver/store"
)

// CheckText records a violation unless s is valid UTF-8 of at most max
// characters (and at least one when required) without control characters
// other than line breaks and tabs (when multiline). Postgres counts
// characters the same way and cannot store NUL.
func (v *Validation) CheckText(field, s string, required bool, max int, multiline bool) {
	if !utf8.ValidString(s) {
		v.Add(field, "must be valid UTF-8")
		return
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			v.Add(field, "must not contain control characters")
			return
		}
	}
	n := utf8.RuneCountInString(s)
	switch {
	case required && n == 0:
		v.Add(field, "is required")
	case n > max:
		v.Add(field, "must be at most %d characters", max)
	}
}

// Page reads a list request's page_size and page_token, recording a
// violation for either when it is bad.
func (v *Validation) Page(size int32, token string) store.Page {
	p, err := store.ParsePage(size, token)
	switch {
	case errors.Is(err, store.ErrInvalidPageSize):
		v.Add("page_size", "must not be negative")
	case err != nil:
		v.Add("page_token", "is not a token this list returned")
	}
	return p
}
