package orgs

import (
	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/policy"
)

var orgRoles = []struct {
	db    string
	proto codequestv1.OrganizationRole
}{
	{policy.OrgRoleMember, codequestv1.OrganizationRole_ORGANIZATION_ROLE_MEMBER},
	{policy.OrgRoleInstructor, codequestv1.OrganizationRole_ORGANIZATION_ROLE_INSTRUCTOR},
	{policy.OrgRoleOwner, codequestv1.OrganizationRole_ORGANIZATION_ROLE_OWNER},
}

// RoleToProto converts a stored organization role ("owner", ...) to its
// enum; unknown roles are ORGANIZATION_ROLE_UNSPECIFIED.
func RoleToProto(role string) codequestv1.OrganizationRole {
	for _, r := range orgRoles {
		if r.db == role {
			return r.proto
		}
	}
	return codequestv1.OrganizationRole_ORGANIZATION_ROLE_UNSPECIFIED
}

// RoleFromProto converts an enum to the stored role; ok is false for
// ORGANIZATION_ROLE_UNSPECIFIED and unknown values.
func RoleFromProto(role codequestv1.OrganizationRole) (string, bool) {
	for _, r := range orgRoles {
		if r.proto == role {
			return r.db, true
		}
	}
	return "", false
}
