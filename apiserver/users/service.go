// Package users is the UserService: the caller's account and profile,
// avatars uploaded through presigned object-store URLs, public profiles,
// and the admins' user list and role changes.
package users

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/api/proto/codequest/v1/codequestv1connect"
	"github.com/codequest-dev/codequest/apiserver/apierr"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/objects"
	"github.com/codequest-dev/codequest/apiserver/orgs"
	"github.com/codequest-dev/codequest/apiserver/session"
	"github.com/codequest-dev/codequest/apiserver/store"
)

// Avatars.
const (
	maxAvatarBytes  = 2 << 20
	avatarUploadTTL = 10 * time.Minute
	avatarURLTTL    = time.Hour
	avatarPrefix    = "avatars/"
)

func avatarType(contentType string) bool {
	switch contentType {
	case "image/png", "image/jpeg", "image/webp":
		return true
	}
	return false
}

// Sessions records the state a committed change of an account wrote (a
// *session.Store).
type Sessions interface {
	Publish(ctx context.Context, id uuid.UUID, st session.State)
}

// Service implements codequestv1connect.UserServiceHandler.
type Service struct {
	codequestv1connect.UnimplementedUserServiceHandler
	st       *store.Store
	obj      *objects.Store
	sessions Sessions
}

var _ codequestv1connect.UserServiceHandler = (*Service)(nil)

// New returns a Service on st, keeping avatars in obj; sessions learns of
// role changes and suspensions.
func New(st *store.Store, obj *objects.Store, sessions Sessions) *Service {
	return &Service{st: st, obj: obj, sessions: sessions}
}

func signedIn(ctx context.Context) (*auth.Caller, error) {
	c := auth.CallerFrom(ctx)
	if c == nil {
		return nil, apierr.New(apierr.ErrUnauthenticated, "sign in first")
	}
	return c, nil
}

func admin(ctx context.Context) (*auth.Caller, error) {
	c, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	if !c.IsAdmin() {
		return nil, apierr.New(apierr.ErrPermission, "only admins may do this")
	}
	return c, nil
}

var errUserNotFound = apierr.New(apierr.ErrNotFound, "user not found")

// GetMe returns the caller's account with their memberships.
func (s *Service) GetMe(ctx context.Context, _ *connect.Request[codequestv1.GetMeRequest]) (*connect.Response[codequestv1.GetMeResponse], error) {
	u, err := s.getMe(ctx)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.GetMeResponse{User: u}), nil
}

func (s *Service) getMe(ctx context.Context) (*codequestv1.User, error) {
	c, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.st.GetUser(ctx, c.UserID)
	if store.IsNoRows(err) {
		return nil, apierr.New(apierr.ErrNotFound, "your account no longer exists")
	}
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	return s.fullUser(ctx, u)
}

// fullUser is u with its memberships, as its owner and admins see it.
func (s *Service) fullUser(ctx context.Context, u store.User) (*codequestv1.User, error) {
	out, err := s.userProto(ctx, u)
	if err != nil {
		return nil, err
	}
	ms, err := s.st.ListUserMemberships(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("list memberships: %w", err)
	}
	for _, m := range ms {
		out.Memberships = append(out.Memberships, &codequestv1.Membership{
			OrganizationId:   m.OrganizationID.String(),
			OrganizationName: m.OrganizationName,
			Role:             orgs.RoleToProto(m.Role),
		})
	}
	return out, nil
}

// GetUser returns anyone's public profile.
func (s *Service) GetUser(ctx context.Context, req *connect.Request[codequestv1.GetUserRequest]) (*connect.Response[codequestv1.GetUserResponse], error) {
	p, err := s.getUser(ctx, req.Msg)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.GetUserResponse{Profile: p}), nil
}

func (s *Service) getUser(ctx context.Context, m *codequestv1.GetUserRequest) (*codequestv1.Profile, error) {
	if _, err := signedIn(ctx); err != nil {
		return nil, err
	}
	var v apierr.Validation
	id := parseID(&v, "user_id", m.GetUserId())
	if err := v.Err(); err != nil {
		return nil, err
	}
	u, err := s.st.GetUser(ctx, id)
	if store.IsNoRows(err) {
		return nil, errUserNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	avatar, err := s.avatarURL(ctx, u.AvatarKey)
	if err != nil {
		return nil, err
	}
	return &codequestv1.Profile{
		Id:          u.ID.String(),
		DisplayName: u.DisplayName,
		Bio:         u.Bio,
		AvatarUrl:   avatar,
		Xp:          u.Xp,
		Role:        auth.RoleProto(u.Role),
		CreateTime:  timestamppb.New(u.CreatedAt),
	}, nil
}

// UpdateProfile changes the fields of the caller's profile that are set.
func (s *Service) UpdateProfile(ctx context.Context, req *connect.Request[codequestv1.UpdateProfileRequest]) (*connect.Response[codequestv1.UpdateProfileResponse], error) {
	u, err := s.updateProfile(ctx, req.Msg)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.UpdateProfileResponse{User: u}), nil
}

func (s *Service) updateProfile(ctx context.Context, m *codequestv1.UpdateProfileRequest) (*codequestv1.User, error) {
	c, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	params, err := profileUpdate(c.UserID, m)
	if err != nil {
		return nil, err
	}
	u, err := s.st.UpdateProfile(ctx, params)
	if store.IsNoRows(err) {
		return nil, apierr.New(apierr.ErrNotFound, "your account no longer exists")
	}
	if err != nil {
		return nil, fmt.Errorf("update profile: %w", err)
	}
	return s.fullUser(ctx, u)
}

// CreateAvatarUpload returns a presigned URL the caller PUTs an image to.
func (s *Service) CreateAvatarUpload(ctx context.Context, req *connect.Request[codequestv1.CreateAvatarUploadRequest]) (*connect.Response[codequestv1.CreateAvatarUploadResponse], error) {
	res, err := s.createAvatarUpload(ctx, req.Msg)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(res), nil
}

func (s *Service) createAvatarUpload(ctx context.Context, m *codequestv1.CreateAvatarUploadRequest) (*codequestv1.CreateAvatarUploadResponse, error) {
	c, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	var v apierr.Validation
	v.Check(avatarType(m.GetContentType()), "content_type", "must be image/png, image/jpeg or image/webp")
	v.Check(m.GetSizeBytes() >= 1 && m.GetSizeBytes() <= maxAvatarBytes, "size_bytes", "must be between 1 and %d bytes", maxAvatarBytes)
	if err := v.Err(); err != nil {
		return nil, err
	}
	key := avatarKeyPrefix(c.UserID) + rand.Text()
	expires := time.Now().Add(avatarUploadTTL)
	u, h, err := s.obj.PresignPut(ctx, key, m.GetContentType(), m.GetSizeBytes(), avatarUploadTTL)
	if err != nil {
		return nil, err
	}
	res := &codequestv1.CreateAvatarUploadResponse{
		UploadUrl:  u.String(),
		Headers:    map[string]string{},
		ObjectKey:  key,
		ExpireTime: timestamppb.New(expires),
	}
	for name := range h {
		res.Headers[name] = h.Get(name)
	}
	return res, nil
}

func avatarKeyPrefix(id uuid.UUID) string { return avatarPrefix + id.String() + "/" }

// checkAvatarKey returns an error unless key is an avatar key of the
// caller's, as CreateAvatarUpload makes them.
func checkAvatarKey(caller uuid.UUID, key string) error {
	var v apierr.Validation
	rest, ok := strings.CutPrefix(key, avatarPrefix)
	owner, name, ok2 := strings.Cut(rest, "/")
	id, err := uuid.Parse(owner)
	if !ok || !ok2 || err != nil || id.String() != owner || !validObjectName(name) {
		v.Add("object_key", "must be a key returned by CreateAvatarUpload")
		return v.Err()
	}
	if id != caller {
		return apierr.New(apierr.ErrPermission, "the object key belongs to another user")
	}
	return nil
}

func validObjectName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

// ConfirmAvatar checks the uploaded object and makes it the caller's avatar.
func (s *Service) ConfirmAvatar(ctx context.Context, req *connect.Request[codequestv1.ConfirmAvatarRequest]) (*connect.Response[codequestv1.ConfirmAvatarResponse], error) {
	u, err := s.confirmAvatar(ctx, req.Msg)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.ConfirmAvatarResponse{User: u}), nil
}

func (s *Service) confirmAvatar(ctx context.Context, m *codequestv1.ConfirmAvatarRequest) (*codequestv1.User, error) {
	c, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	key := m.GetObjectKey()
	if err := checkAvatarKey(c.UserID, key); err != nil {
		return nil, err
	}
	info, err := s.obj.Stat(ctx, key)
	if errors.Is(err, objects.ErrNotFound) {
		return nil, apierr.New(apierr.ErrFailedPrecondition, "nothing was uploaded at object_key; PUT the image to the upload URL first")
	}
	if err != nil {
		return nil, err
	}
	mediaType, _, _ := mime.ParseMediaType(info.ContentType)
	if !avatarType(mediaType) || info.Size < 1 || info.Size > maxAvatarBytes {
		s.deleteObject(ctx, key)
		return nil, apierr.New(apierr.ErrFailedPrecondition,
			"the uploaded object must be a PNG, JPEG or WebP image of at most %d bytes; upload again", maxAvatarBytes)
	}
	old, err := s.st.GetUser(ctx, c.UserID)
	if store.IsNoRows(err) {
		return nil, apierr.New(apierr.ErrNotFound, "your account no longer exists")
	}
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	u, err := s.st.SetAvatarKey(ctx, store.SetAvatarKeyParams{ID: c.UserID, AvatarKey: &key})
	if err != nil {
		return nil, fmt.Errorf("set avatar: %w", err)
	}
	if old.AvatarKey != nil && *old.AvatarKey != key {
		s.deleteObject(ctx, *old.AvatarKey)
	}
	return s.fullUser(ctx, u)
}

// deleteObject removes an object that is no longer referenced; failing
// that only wastes space, so it is logged, not returned.
func (s *Service) deleteObject(ctx context.Context, key string) {
	if err := s.obj.Delete(ctx, key); err != nil {
		slog.WarnContext(ctx, "Could not delete unused avatar", "key", key, "error", err)
	}
}

// ListUsers pages through accounts, optionally filtered (admins only).
// Memberships are left out; GetMe and SetUserRole include them.
func (s *Service) ListUsers(ctx context.Context, req *connect.Request[codequestv1.ListUsersRequest]) (*connect.Response[codequestv1.ListUsersResponse], error) {
	res, err := s.listUsers(ctx, req.Msg)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(res), nil
}

func (s *Service) listUsers(ctx context.Context, m *codequestv1.ListUsersRequest) (*codequestv1.ListUsersResponse, error) {
	if _, err := admin(ctx); err != nil {
		return nil, err
	}
	var v apierr.Validation
	page := v.Page(m.GetPageSize(), m.GetPageToken())
	params := store.ListUsersParams{AfterTime: page.AfterTime, AfterID: page.AfterID, Lim: page.Limit()}
	if m.GetRole() != codequestv1.Role_ROLE_UNSPECIFIED {
		role, ok := auth.RoleFromProto(m.GetRole())
		v.Check(ok, "role", "is not a known role")
		params.Role = &role
	}
	if m.GetOrganizationId() != "" {
		id := parseID(&v, "organization_id", m.GetOrganizationId())
		params.OrganizationID = &id
	}
	if q := strings.TrimSpace(m.GetQuery()); q != "" {
		v.CheckText("query", q, false, maxQueryLen, false)
		pattern := likePattern(q)
		params.Query = &pattern
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	rows, err := s.st.ListUsers(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	res := &codequestv1.ListUsersResponse{}
	if len(rows) > int(page.Size) {
		rows = rows[:page.Size]
		last := rows[len(rows)-1]
		res.NextPageToken = store.EncodeCursor(last.CreatedAt, last.ID)
	}
	for _, u := range rows {
		pu, err := s.userProto(ctx, u)
		if err != nil {
			return nil, err
		}
		res.Users = append(res.Users, pu)
	}
	return res, nil
}

// SetUserRole changes an account's platform role (admins only). Admins
// cannot demote themselves, so the platform keeps the admin who acts.
func (s *Service) SetUserRole(ctx context.Context, req *connect.Request[codequestv1.SetUserRoleRequest]) (*connect.Response[codequestv1.SetUserRoleResponse], error) {
	u, err := s.setUserRole(ctx, req.Msg)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.SetUserRoleResponse{User: u}), nil
}

func (s *Service) setUserRole(ctx context.Context, m *codequestv1.SetUserRoleRequest) (*codequestv1.User, error) {
	c, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	var v apierr.Validation
	id := parseID(&v, "user_id", m.GetUserId())
	role, ok := auth.RoleFromProto(m.GetRole())
	v.Check(ok, "role", "must be ROLE_LEARNER, ROLE_INSTRUCTOR, ROLE_BUSINESS_PARTNER or ROLE_ADMIN")
	if err := v.Err(); err != nil {
		return nil, err
	}
	if id == c.UserID && role != auth.RoleAdmin {
		return nil, apierr.New(apierr.ErrFailedPrecondition, "you cannot remove your own admin role; ask another admin")
	}
	return s.changeAccount(ctx, id, func(q *store.Queries) (store.User, error) {
		return q.SetUserRole(ctx, store.SetUserRoleParams{ID: id, Role: role})
	})
}

// changeAccount applies change to an account and ends its sessions in one
// transaction: the next call of any of its tokens is refused, on every
// replica, and it signs in again under its new role or suspension.
func (s *Service) changeAccount(ctx context.Context, id uuid.UUID, change func(q *store.Queries) (store.User, error)) (*codequestv1.User, error) {
	var u store.User
	var st session.State
	err := s.st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
		var err error
		if u, err = change(q); store.IsNoRows(err) {
			return errUserNotFound
		} else if err != nil {
			return fmt.Errorf("change account: %w", err)
		}
		st, err = session.End(ctx, q, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.sessions.Publish(ctx, id, st)
	u.SessionEpoch = st.Epoch
	return s.fullUser(ctx, u)
}

// SetUserSuspended suspends an account or lifts its suspension (admins
// only); admins cannot suspend themselves.
func (s *Service) SetUserSuspended(ctx context.Context, req *connect.Request[codequestv1.SetUserSuspendedRequest]) (*connect.Response[codequestv1.SetUserSuspendedResponse], error) {
	u, err := s.setUserSuspended(ctx, req.Msg)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.SetUserSuspendedResponse{User: u}), nil
}

func (s *Service) setUserSuspended(ctx context.Context, m *codequestv1.SetUserSuspendedRequest) (*codequestv1.User, error) {
	c, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	var v apierr.Validation
	id := parseID(&v, "user_id", m.GetUserId())
	if err := v.Err(); err != nil {
		return nil, err
	}
	if id == c.UserID && m.GetSuspended() {
		return nil, apierr.New(apierr.ErrFailedPrecondition, "you cannot suspend yourself; ask another admin")
	}
	return s.changeAccount(ctx, id, func(q *store.Queries) (store.User, error) {
		return q.SetUserSuspended(ctx, store.SetUserSuspendedParams{ID: id, Suspended: m.GetSuspended()})
	})
}

// userProto is u as its owner and admins see it, without memberships.
func (s *Service) userProto(ctx context.Context, u store.User) (*codequestv1.User, error) {
	avatar, err := s.avatarURL(ctx, u.AvatarKey)
	if err != nil {
		return nil, err
	}
	out := auth.UserProto(u)
	out.AvatarUrl = avatar
	return out, nil
}

// avatarURL presigns a GET of the avatar, or returns "" when none is set.
func (s *Service) avatarURL(ctx context.Context, key *string) (string, error) {
	if key == nil || *key == "" {
		return "", nil
	}
	u, err := s.obj.PresignGet(ctx, *key, avatarURLTTL)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}
