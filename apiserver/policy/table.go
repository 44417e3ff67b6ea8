package policy

import (
	"github.com/codequest-dev/codequest/api/proto/codequest/v1/codequestv1connect"
	"github.com/codequest-dev/codequest/apiserver/auth"
)

// Default is CodeQuest's authorization table: every procedure of every
// service, and nothing else.
func Default() Table {
	adminOnly := Rule{Access: RolesOnly}
	public := Rule{Access: Public}
	return Table{
		// AuthService: the credentials are the request.
		codequestv1connect.AuthServiceRegisterProcedure:           public,
		codequestv1connect.AuthServiceLoginProcedure:              public,
		codequestv1connect.AuthServiceRefreshProcedure:            public,
		codequestv1connect.AuthServiceLogoutProcedure:             public,
		codequestv1connect.AuthServiceVerifyEmailProcedure:        public,
		codequestv1connect.AuthServiceResendVerificationProcedure: public,
		codequestv1connect.AuthServiceForgotPasswordProcedure:     public,
		codequestv1connect.AuthServiceResetPasswordProcedure:      public,
		codequestv1connect.AuthServiceChangePasswordProcedure:     {Access: SignedIn, Note: "acts on the caller only"},

		// UserService.
		codequestv1connect.UserServiceGetMeProcedure:              {Access: SignedIn, Note: "the caller's own account"},
		codequestv1connect.UserServiceGetUserProcedure:            {Access: SignedIn, Note: "public profile fields only"},
		codequestv1connect.UserServiceUpdateProfileProcedure:      {Access: SignedIn, Note: "the caller's own profile"},
		codequestv1connect.UserServiceCreateAvatarUploadProcedure: {Access: SignedIn, Note: "object key under the caller's id"},
		codequestv1connect.UserServiceConfirmAvatarProcedure:      {Access: SignedIn, Note: "only keys under the caller's id"},
		codequestv1connect.UserServiceListUsersProcedure:          adminOnly,
		codequestv1connect.UserServiceSetUserRoleProcedure:        adminOnly,
		codequestv1connect.UserServiceSetUserSuspendedProcedure:   adminOnly,

		// OrganizationService.
		codequestv1connect.OrganizationServiceCreateOrganizationProcedure:          {Access: RolesOnly, Roles: []string{auth.RoleBusinessPartner}, Note: "the creator becomes owner"},
		codequestv1connect.OrganizationServiceGetOrganizationProcedure:             {Access: SignedIn, Org: OrgMember},
		codequestv1connect.OrganizationServiceListOrganizationsProcedure:           {Access: SignedIn, Note: "the caller's organizations; admins see all"},
		codequestv1connect.OrganizationServiceUpdateOrganizationProcedure:          {Access: SignedIn, Org: OrgOwner},
		codequestv1connect.OrganizationServiceAddMemberProcedure:                   {Access: SignedIn, Org: OrgInstructor, Note: "changes members' roles only (newcomers are invited); instructors may make instructors members; owners and admins grant any role"},
		codequestv1connect.OrganizationServiceInviteMemberProcedure:                {Access: SignedIn, Org: OrgInstructor, Note: "instructors invite with the member role; owners and admins with any"},
		codequestv1connect.OrganizationServiceListInvitationsProcedure:             {Access: SignedIn, Note: "the caller's own invitations"},
		codequestv1connect.OrganizationServiceListOrganizationInvitationsProcedure: {Access: SignedIn, Org: OrgInstructor},
		codequestv1connect.OrganizationServiceAcceptInvitationProcedure:            {Access: SignedIn, Note: "the invitee only"},
		codequestv1connect.OrganizationServiceDeclineInvitationProcedure:           {Access: SignedIn, Note: "the invitee, or instructors, owners and admins of the organization"},
		codequestv1connect.OrganizationServiceRemoveMemberProcedure:                {Access: SignedIn, Org: OrgMember, Note: "members may remove themselves; owners and admins anyone but the last owner"},
		codequestv1connect.OrganizationServiceListMembersProcedure:                 {Access: SignedIn, Org: OrgMember},

		// ProblemService: visibility and authorship are per problem, checked
		// by the handler (hidden problems answer not_found).
		codequestv1connect.ProblemServiceCreateProblemProcedure:        {Access: SignedIn, Note: "platform instructors, business partners and admins; organization problems need the organization's instructor role"},
		codequestv1connect.ProblemServiceUpdateProblemProcedure:        {Access: SignedIn, Note: "the author, the organization's instructors, admins"},
		codequestv1connect.ProblemServicePublishProblemProcedure:       {Access: SignedIn, Note: "the author, the organization's instructors, admins"},
		codequestv1connect.ProblemServiceArchiveProblemProcedure:       {Access: SignedIn, Note: "the author, the organization's instructors, admins"},
		codequestv1connect.ProblemServiceCreatePackageUploadProcedure:  {Access: SignedIn, Note: "the author, the organization's instructors, admins"},
		codequestv1connect.ProblemServiceImportProblemPackageProcedure: {Access: SignedIn, Note: "the author, the organization's instructors, admins"},
		codequestv1connect.ProblemServiceGetProblemProcedure:           {Access: SignedIn, Note: "published and entitled (premium, organization), or editors"},
		codequestv1connect.ProblemServiceListProblemsProcedure:         {Access: SignedIn, Note: "only what GetProblem would show"},
		codequestv1connect.SubmissionServiceSubmitProcedure:            {Access: SignedIn, Note: "problems the caller may see; 10 per minute"},
		codequestv1connect.SubmissionServiceRunProcedure:               {Access: SignedIn, Note: "problems the caller may see; 20 per minute"},
		codequestv1connect.SubmissionServiceGetSubmissionProcedure:     {Access: SignedIn, Note: "the owner (learner's view), the problem's editors: its author, its organization's instructors, admins (full view)"},
		codequestv1connect.SubmissionServiceListSubmissionsProcedure:   {Access: SignedIn, Note: "the caller's own"},
		codequestv1connect.SubmissionServiceGetSubmissionCodeProcedure: {Access: SignedIn, Note: "the owner and the problem's editors"},
		codequestv1connect.SubmissionServiceWatchSubmissionProcedure:   {Access: SignedIn, Note: "as GetSubmission"},
		codequestv1connect.LeaderboardServiceGetLeaderboardProcedure:   {Access: SignedIn, Note: "an organization's board: its members and admins"},
		codequestv1connect.ProblemServiceRevealHintProcedure:           {Access: SignedIn, Note: "problems the caller may see"},
	}
}
