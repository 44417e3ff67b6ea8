package orgs

import (
	"errors"
	"regexp"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/codequest-dev/codequest/apiserver/apierr"
	"github.com/codequest-dev/codequest/apiserver/store"
)

// Limits, as the organizations table's CHECK constraints state them.
const (
	maxNameLen        = 100
	maxDescriptionLen = 2000
)

// slugPattern is the organizations.slug CHECK constraint.
var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$`)

// checkText records a violation unless s is valid UTF-8 of at most max
// characters (and at least one when required) without control characters
// other than line breaks and tabs (when multiline). Postgres counts
// characters the same way and cannot store NUL.
func checkText(v *apierr.Validation, field, s string, required bool, max int, multiline bool) {
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

func checkSlug(v *apierr.Validation, slug string) {
	if !slugPattern.MatchString(slug) {
		v.Add("slug", "must be 3 to 40 lower-case letters, digits and dashes, starting and ending with a letter or digit")
	}
}

// parseID records a violation unless s is a UUID.
func parseID(v *apierr.Validation, field, s string) uuid.UUID {
	id, err := uuid.Parse(s)
	if err != nil {
		v.Add(field, "must be a UUID")
	}
	return id
}

// parsePage records violations for a bad page_size or page_token.
func parsePage(v *apierr.Validation, size int32, token string) store.Page {
	p, err := store.ParsePage(size, token)
	switch {
	case errors.Is(err, store.ErrInvalidPageSize):
		v.Add("page_size", "must not be negative")
	case err != nil:
		v.Add("page_token", "is not a token this list returned")
	}
	return p
}
