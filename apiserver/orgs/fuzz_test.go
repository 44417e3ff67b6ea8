package orgs_test

import (
	"strings"
	"testing"

	"connectrpc.com/connect"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/auth"
)

// FuzzCreateOrganization sends arbitrary organizations through the handler
// to a real database: none may panic, and each is created as sent (name
// trimmed), refused as a duplicate slug, or refused with InvalidArgument
// and field violations, never passed on to fail in Postgres.
func FuzzCreateOrganization(f *testing.F) {
	e := newEnv(f)
	f.Add("acme", "Acme", "")
	f.Add("a--z", "  Name\u00a0", "multi\nline\ttext")
	f.Add("ab", "", strings.Repeat("d", 2001))
	f.Add("Acme", "a\x00b", "\xff")
	f.Add(strings.Repeat("z", 40), strings.Repeat("界", 100), strings.Repeat("é", 2000))
	f.Fuzz(func(t *testing.T, slug, name, description string) {
		ctx, _ := e.user(t, auth.RoleBusinessPartner)
		res, err := e.svc.CreateOrganization(ctx, connect.NewRequest(&codequestv1.CreateOrganizationRequest{
			Slug: slug, Name: name, Description: description,
		}))
		switch connect.CodeOf(err) {
		case connect.CodeInvalidArgument:
			if len(fields(t, err)) == 0 {
				t.Fatalf("InvalidArgument without field violations: %v", err)
			}
			return
		case connect.CodeAlreadyExists:
			return
		default:
			if err != nil {
				t.Fatalf("CreateOrganization(%q, %q, %q): %v", slug, name, description, err)
			}
		}
		o := res.Msg.GetOrganization()
		if o.GetSlug() != slug || o.GetName() != strings.TrimSpace(name) || o.GetDescription() != description {
			t.Fatalf("created %v from (%q, %q, %q)", o, slug, name, description)
		}
	})
}
