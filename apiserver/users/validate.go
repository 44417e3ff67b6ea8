package users

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/apierr"
	"github.com/codequest-dev/codequest/apiserver/store"
)

// Limits, as the users table's CHECK constraints state them.
const (
	maxDisplayNameLen = 64
	maxBioLen         = 500
	maxTimezoneLen    = 64
	maxQueryLen       = 100
)

// checkTimezone records a violation unless tz names an IANA zone.
func checkTimezone(v *apierr.Validation, tz string) {
	const msg = `must be an IANA time zone name such as "Europe/Paris"`
	// LoadLocation maps "" to UTC and "Local" to the server's zone; neither
	// is a name a client means.
	if tz == "" || tz == "Local" || len(tz) > maxTimezoneLen || !utf8.ValidString(tz) || strings.ContainsRune(tz, 0) {
		v.Add("timezone", msg)
		return
	}
	if _, err := time.LoadLocation(tz); err != nil {
		v.Add("timezone", msg)
	}
}

// profileUpdate validates an UpdateProfileRequest into store parameters
// for id: only the fields that are set change, the display name trimmed.
func profileUpdate(id uuid.UUID, m *codequestv1.UpdateProfileRequest) (store.UpdateProfileParams, error) {
	p := store.UpdateProfileParams{ID: id}
	var v apierr.Validation
	if m.DisplayName != nil {
		name := strings.TrimSpace(m.GetDisplayName())
		v.CheckText("display_name", name, true, maxDisplayNameLen, false)
		p.DisplayName = &name
	}
	if m.Bio != nil {
		v.CheckText("bio", m.GetBio(), false, maxBioLen, true)
		p.Bio = m.Bio
	}
	if m.Timezone != nil {
		checkTimezone(&v, m.GetTimezone())
		p.Timezone = m.Timezone
	}
	return p, v.Err()
}

// parseID records a violation unless s is a UUID.
func parseID(v *apierr.Validation, field, s string) uuid.UUID {
	id, err := uuid.Parse(s)
	if err != nil {
		v.Add(field, "must be a UUID")
	}
	return id
}

// likePattern escapes s for use inside an ILIKE pattern (backslash is the
// default escape character), so that % and _ match themselves.
func likePattern(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
