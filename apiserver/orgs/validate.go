package orgs

import (
	"regexp"

	"github.com/google/uuid"

	"github.com/codequest-dev/codequest/apiserver/apierr"
)

// Limits, as the organizations table's CHECK constraints state them.
const (
	maxNameLen        = 100
	maxDescriptionLen = 2000
)

// slugPattern is the organizations.slug CHECK constraint.
var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$`)

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
