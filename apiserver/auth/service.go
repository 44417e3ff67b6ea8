package auth

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/go-redis/redis_rate/v10"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"google.golang.org/protobuf/types/known/timestamppb"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/api/proto/codequest/v1/codequestv1connect"
	"github.com/codequest-dev/codequest/apiserver/apierr"
	mailer "github.com/codequest-dev/codequest/apiserver/mail"
	"github.com/codequest-dev/codequest/apiserver/store"
)

// Config tunes the AuthService.
type Config struct {
	// PublicURL is the base of links in mail, e.g. https://codequest.example.
	PublicURL        string
	RefreshTTL       time.Duration
	VerifyEmailTTL   time.Duration
	ResetPasswordTTL time.Duration
	// LoginPerIP and LoginPerAccount limit Login attempts.
	LoginPerIP      redis_rate.Limit
	LoginPerAccount redis_rate.Limit
	// MailPerAccount limits verification and reset mails to one address.
	MailPerAccount redis_rate.Limit
}

// DefaultConfig returns production defaults.
func DefaultConfig() Config {
	return Config{
		PublicURL:        "http://127.0.0.1:8080",
		RefreshTTL:       30 * 24 * time.Hour,
		VerifyEmailTTL:   24 * time.Hour,
		ResetPasswordTTL: time.Hour,
		LoginPerIP:       redis_rate.PerMinute(30),
		LoginPerAccount:  redis_rate.Limit{Rate: 10, Burst: 10, Period: 15 * time.Minute},
		MailPerAccount:   redis_rate.Limit{Rate: 5, Burst: 5, Period: time.Hour},
	}
}

// JobInserter enqueues durable jobs in a transaction (a *river.Client).
type JobInserter interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Service implements codequest.v1.AuthService.
type Service struct {
	codequestv1connect.UnimplementedAuthServiceHandler

	cfg     Config
	st      *store.Store
	keys    *Keys
	hasher  Hasher
	limiter *redis_rate.Limiter
	jobs    JobInserter
	// dummyHash is verified against when an account does not exist, so a
	// failed login costs the same either way.
	dummyHash string
}

// NewService returns the AuthService.
func NewService(cfg Config, st *store.Store, keys *Keys, hasher Hasher, limiter *redis_rate.Limiter, jobs JobInserter) (*Service, error) {
	dummy, err := hasher.Hash("not a password of anyone")
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, st: st, keys: keys, hasher: hasher, limiter: limiter, jobs: jobs, dummyHash: dummy}, nil
}

var _ codequestv1connect.AuthServiceHandler = (*Service)(nil)

const (
	purposeVerify = "verify_email"
	purposeReset  = "reset_password"
)

// NormalizeEmail trims and lower-cases an address and checks its shape.
func NormalizeEmail(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len(s) > 254 {
		return s, false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return s, false
	}
	return s, true
}

func validDisplayName(s string) bool {
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	return n >= 1 && n <= 64 && utf8.ValidString(s) && !strings.ContainsAny(s, "\x00\r\n")
}

// validateRegister checks a RegisterRequest and returns the normalized
// address, or a *apierr.Validation naming every bad field.
func validateRegister(m *codequestv1.RegisterRequest) (string, error) {
	email, ok := NormalizeEmail(m.GetEmail())
	v := &apierr.Validation{}
	v.Check(ok, "email", "must be an email address")
	if p := PasswordProblem(m.GetPassword()); p != "" {
		v.Add("password", "%s", p)
	}
	v.Check(validDisplayName(m.GetDisplayName()), "display_name", "must be 1 to 64 characters on one line")
	return email, v.Err()
}

// Register implements AuthService.Register.
func (s *Service) Register(ctx context.Context, req *connect.Request[codequestv1.RegisterRequest]) (*connect.Response[codequestv1.RegisterResponse], error) {
	email, err := validateRegister(req.Msg)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	// Hash first whatever happens, so that known and unknown addresses take
	// the same time.
	hash, err := s.hasher.Hash(req.Msg.GetPassword())
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	if !s.allowMail(ctx, email) {
		return connect.NewResponse(&codequestv1.RegisterResponse{}), nil
	}
	err = s.st.InTx(ctx, func(q *store.Queries, tx pgx.Tx) error {
		existing, err := q.GetUserByEmail(ctx, email)
		switch {
		case err == nil && existing.EmailVerifiedAt == nil:
			return s.mailToken(ctx, q, tx, existing.ID, email, purposeVerify)
		case err == nil:
			_, err := s.jobs.InsertTx(ctx, tx, mailer.SendArgs{
				To:      email,
				Subject: "Someone tried to register with your CodeQuest address",
				Text: "Someone, maybe you, tried to create a CodeQuest account with this address, which already has one.\n\n" +
					"If you forgot your password, reset it at " + s.cfg.PublicURL + "/forgot-password\n",
			}, nil)
			return err
		case !store.IsNoRows(err):
			return err
		}
		u, err := q.CreateUser(ctx, store.CreateUserParams{
			Email: email, DisplayName: strings.TrimSpace(req.Msg.GetDisplayName()), Role: RoleLearner,
		})
		if err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		if err := q.SetPassword(ctx, store.SetPasswordParams{UserID: u.ID, PasswordHash: hash}); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		return s.mailToken(ctx, q, tx, u.ID, email, purposeVerify)
	})
	if err != nil {
		if store.IsUniqueViolation(err, "") {
			// A concurrent registration of the same address won: same answer.
			return connect.NewResponse(&codequestv1.RegisterResponse{}), nil
		}
		return nil, apierr.Connect(ctx, fmt.Errorf("register: %w", err))
	}
	return connect.NewResponse(&codequestv1.RegisterResponse{}), nil
}

// mailToken retires the user's outstanding tokens of purpose, creates a new
// one and enqueues its mail, all in tx.
func (s *Service) mailToken(ctx context.Context, q *store.Queries, tx pgx.Tx, userID uuid.UUID, email, purpose string) error {
	if err := q.ExpireEmailTokens(ctx, store.ExpireEmailTokensParams{UserID: userID, Purpose: purpose}); err != nil {
		return fmt.Errorf("expire tokens: %w", err)
	}
	token, hash := NewOpaqueToken()
	ttl, subject, path, what := s.cfg.VerifyEmailTTL, "Verify your CodeQuest email address", "/verify-email", "verify your email address"
	if purpose == purposeReset {
		ttl, subject, path, what = s.cfg.ResetPasswordTTL, "Reset your CodeQuest password", "/reset-password", "choose a new password"
	}
	if err := q.CreateEmailToken(ctx, store.CreateEmailTokenParams{
		UserID: userID, Purpose: purpose, TokenHash: hash, ExpiresAt: time.Now().Add(ttl),
	}); err != nil {
		return fmt.Errorf("create email token: %w", err)
	}
	text := fmt.Sprintf("Open this link to %s (valid for %s, once):\n\n%s%s?token=%s\n\nIf you did not ask for this, ignore this mail.\n",
		what, ttl, s.cfg.PublicURL, path, token)
	if _, err := s.jobs.InsertTx(ctx, tx, mailer.SendArgs{To: email, Subject: subject, Text: text}, nil); err != nil {
		return fmt.Errorf("enqueue mail: %w", err)
	}
	return nil
}

// allowMail rate-limits mail to one address; over the limit the request
// still succeeds, silently, so the answer reveals nothing.
func (s *Service) allowMail(ctx context.Context, email string) bool {
	res, err := s.limiter.Allow(ctx, "mail:"+email, s.cfg.MailPerAccount)
	return err != nil || res.Allowed > 0 // fail open on Redis errors: mail is idempotent enough
}

var errBadLogin = apierr.New(apierr.ErrUnauthenticated, "invalid email or password")

// Login implements AuthService.Login.
func (s *Service) Login(ctx context.Context, req *connect.Request[codequestv1.LoginRequest]) (*connect.Response[codequestv1.LoginResponse], error) {
	email, _ := NormalizeEmail(req.Msg.GetEmail())
	if err := s.limit(ctx, "login:ip:"+peerHost(req.Peer().Addr), s.cfg.LoginPerIP); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	if err := s.limit(ctx, "login:account:"+email, s.cfg.LoginPerAccount); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	pw := req.Msg.GetPassword()
	if len(pw) > 1024 {
		return nil, apierr.Connect(ctx, errBadLogin)
	}
	u, err := s.st.GetUserByEmail(ctx, email)
	if store.IsNoRows(err) {
		_, _, _ = s.hasher.Verify(pw, s.dummyHash)
		return nil, apierr.Connect(ctx, errBadLogin)
	}
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("login: %w", err))
	}
	encoded, err := s.st.GetPassword(ctx, u.ID)
	if err != nil && !store.IsNoRows(err) {
		return nil, apierr.Connect(ctx, fmt.Errorf("login: %w", err))
	}
	ok, rehash, err := s.hasher.Verify(pw, encoded)
	if err != nil || !ok {
		return nil, apierr.Connect(ctx, errBadLogin)
	}
	if u.EmailVerifiedAt == nil {
		return nil, apierr.Connect(ctx, apierr.New(apierr.ErrFailedPrecondition, "verify your email address first: see the mail we sent, or call ResendVerification"))
	}
	if rehash {
		if h, err := s.hasher.Hash(pw); err == nil {
			if err := s.st.SetPassword(ctx, store.SetPasswordParams{UserID: u.ID, PasswordHash: h}); err != nil {
				return nil, apierr.Connect(ctx, fmt.Errorf("rehash: %w", err))
			}
		}
	}
	tokens, err := s.issue(ctx, s.st.Queries, u, uuid.New())
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.LoginResponse{Tokens: tokens, User: UserProto(u)}), nil
}

func (s *Service) limit(ctx context.Context, key string, l redis_rate.Limit) error {
	res, err := s.limiter.Allow(ctx, key, l)
	if err != nil {
		return fmt.Errorf("rate limit: %w", err)
	}
	if res.Allowed == 0 {
		secs := int(res.RetryAfter.Round(time.Second) / time.Second)
		return &apierr.RetryAfter{Seconds: max(secs, 1), Message: "too many attempts; retry later"}
	}
	return nil
}

// issue creates an access token and a refresh token of family.
func (s *Service) issue(ctx context.Context, q *store.Queries, u store.User, family uuid.UUID) (*codequestv1.Tokens, error) {
	ms, err := q.ListUserMemberships(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("memberships: %w", err)
	}
	orgs := make(map[string]string, len(ms))
	for _, m := range ms {
		orgs[m.OrganizationID.String()] = m.Role
	}
	access, accessExp, err := s.keys.Issue(u.ID, u.Role, orgs)
	if err != nil {
		return nil, err
	}
	refresh, hash := NewOpaqueToken()
	refreshExp := time.Now().Add(s.cfg.RefreshTTL)
	if _, err := q.CreateRefreshToken(ctx, store.CreateRefreshTokenParams{
		UserID: u.ID, FamilyID: family, TokenHash: hash, ExpiresAt: refreshExp,
	}); err != nil {
		return nil, fmt.Errorf("store refresh token: %w", err)
	}
	return &codequestv1.Tokens{
		AccessToken:           access,
		AccessTokenExpiresAt:  timestamppb.New(accessExp),
		RefreshToken:          refresh,
		RefreshTokenExpiresAt: timestamppb.New(refreshExp),
	}, nil
}

var errBadRefresh = apierr.New(apierr.ErrUnauthenticated, "invalid or expired refresh token")

// Refresh implements AuthService.Refresh.
func (s *Service) Refresh(ctx context.Context, req *connect.Request[codequestv1.RefreshRequest]) (*connect.Response[codequestv1.RefreshResponse], error) {
	var tokens *codequestv1.Tokens
	reused := false
	err := s.st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
		reused = false
		rt, err := q.GetRefreshTokenForUpdate(ctx, HashToken(req.Msg.GetRefreshToken()))
		if store.IsNoRows(err) {
			return errBadRefresh
		}
		if err != nil {
			return err
		}
		if rt.RevokedAt != nil || time.Now().After(rt.ExpiresAt) {
			return errBadRefresh
		}
		if rt.UsedAt != nil {
			// Someone presents a token that was already exchanged: either
			// it was stolen or the thief was first. Revoke the family.
			reused = true
			return q.RevokeRefreshFamily(ctx, rt.FamilyID)
		}
		if err := q.MarkRefreshTokenUsed(ctx, rt.ID); err != nil {
			return err
		}
		u, err := q.GetUser(ctx, rt.UserID)
		if err != nil {
			return err
		}
		tokens, err = s.issue(ctx, q, u, rt.FamilyID)
		return err
	})
	if err == nil && reused {
		err = errBadRefresh
	}
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.RefreshResponse{Tokens: tokens}), nil
}

// Logout implements AuthService.Logout.
func (s *Service) Logout(ctx context.Context, req *connect.Request[codequestv1.LogoutRequest]) (*connect.Response[codequestv1.LogoutResponse], error) {
	err := s.st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
		rt, err := q.GetRefreshTokenForUpdate(ctx, HashToken(req.Msg.GetRefreshToken()))
		if store.IsNoRows(err) {
			return nil // nothing to revoke: logging out twice is fine
		}
		if err != nil {
			return err
		}
		return q.RevokeRefreshFamily(ctx, rt.FamilyID)
	})
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("logout: %w", err))
	}
	return connect.NewResponse(&codequestv1.LogoutResponse{}), nil
}

func badToken() error {
	v := &apierr.Validation{}
	v.Add("token", "is invalid, expired or already used")
	return v
}

// VerifyEmail implements AuthService.VerifyEmail.
func (s *Service) VerifyEmail(ctx context.Context, req *connect.Request[codequestv1.VerifyEmailRequest]) (*connect.Response[codequestv1.VerifyEmailResponse], error) {
	err := s.st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
		uid, err := q.ConsumeEmailToken(ctx, store.ConsumeEmailTokenParams{TokenHash: HashToken(req.Msg.GetToken()), Purpose: purposeVerify})
		if store.IsNoRows(err) {
			return badToken()
		}
		if err != nil {
			return err
		}
		return q.MarkEmailVerified(ctx, uid)
	})
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.VerifyEmailResponse{}), nil
}

// ResendVerification implements AuthService.ResendVerification.
func (s *Service) ResendVerification(ctx context.Context, req *connect.Request[codequestv1.ResendVerificationRequest]) (*connect.Response[codequestv1.ResendVerificationResponse], error) {
	if err := s.mailIfExists(ctx, req.Msg.GetEmail(), purposeVerify); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.ResendVerificationResponse{}), nil
}

// ForgotPassword implements AuthService.ForgotPassword.
func (s *Service) ForgotPassword(ctx context.Context, req *connect.Request[codequestv1.ForgotPasswordRequest]) (*connect.Response[codequestv1.ForgotPasswordResponse], error) {
	if err := s.mailIfExists(ctx, req.Msg.GetEmail(), purposeReset); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.ForgotPasswordResponse{}), nil
}

// mailIfExists mails a token of purpose when the address has an account
// (an unverified one, for verification). The caller learns nothing either way.
func (s *Service) mailIfExists(ctx context.Context, raw, purpose string) error {
	email, ok := NormalizeEmail(raw)
	if !ok {
		v := &apierr.Validation{}
		v.Add("email", "must be an email address")
		return v
	}
	if !s.allowMail(ctx, email) {
		return nil
	}
	return s.st.InTx(ctx, func(q *store.Queries, tx pgx.Tx) error {
		u, err := q.GetUserByEmail(ctx, email)
		if store.IsNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if purpose == purposeVerify && u.EmailVerifiedAt != nil {
			return nil
		}
		return s.mailToken(ctx, q, tx, u.ID, email, purpose)
	})
}

// ResetPassword implements AuthService.ResetPassword.
func (s *Service) ResetPassword(ctx context.Context, req *connect.Request[codequestv1.ResetPasswordRequest]) (*connect.Response[codequestv1.ResetPasswordResponse], error) {
	if p := PasswordProblem(req.Msg.GetNewPassword()); p != "" {
		v := &apierr.Validation{}
		v.Add("new_password", "%s", p)
		return nil, apierr.Connect(ctx, v)
	}
	hash, err := s.hasher.Hash(req.Msg.GetNewPassword())
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	err = s.st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
		uid, err := q.ConsumeEmailToken(ctx, store.ConsumeEmailTokenParams{TokenHash: HashToken(req.Msg.GetToken()), Purpose: purposeReset})
		if store.IsNoRows(err) {
			return badToken()
		}
		if err != nil {
			return err
		}
		if err := q.SetPassword(ctx, store.SetPasswordParams{UserID: uid, PasswordHash: hash}); err != nil {
			return err
		}
		// The mail reached its owner: that proves the address too.
		if err := q.MarkEmailVerified(ctx, uid); err != nil {
			return err
		}
		return q.RevokeUserRefreshTokens(ctx, uid)
	})
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.ResetPasswordResponse{}), nil
}

// ChangePassword implements AuthService.ChangePassword.
func (s *Service) ChangePassword(ctx context.Context, req *connect.Request[codequestv1.ChangePasswordRequest]) (*connect.Response[codequestv1.ChangePasswordResponse], error) {
	caller := CallerFrom(ctx)
	if caller == nil {
		return nil, apierr.Connect(ctx, apierr.ErrUnauthenticated)
	}
	v := &apierr.Validation{}
	if p := PasswordProblem(req.Msg.GetNewPassword()); p != "" {
		v.Add("new_password", "%s", p)
	}
	if err := v.Err(); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	encoded, err := s.st.GetPassword(ctx, caller.UserID)
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("change password: %w", err))
	}
	if ok, _, _ := s.hasher.Verify(req.Msg.GetCurrentPassword(), encoded); !ok {
		v.Add("current_password", "is not your current password")
		return nil, apierr.Connect(ctx, v)
	}
	hash, err := s.hasher.Hash(req.Msg.GetNewPassword())
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	err = s.st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
		if err := q.SetPassword(ctx, store.SetPasswordParams{UserID: caller.UserID, PasswordHash: hash}); err != nil {
			return err
		}
		return q.RevokeUserRefreshTokens(ctx, caller.UserID)
	})
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("change password: %w", err))
	}
	return connect.NewResponse(&codequestv1.ChangePasswordResponse{}), nil
}

// UserProto is the account as its owner sees it (without memberships and
// avatar URL, which the UserService adds).
func UserProto(u store.User) *codequestv1.User {
	return &codequestv1.User{
		Id:            u.ID.String(),
		Email:         u.Email,
		EmailVerified: u.EmailVerifiedAt != nil,
		DisplayName:   u.DisplayName,
		Bio:           u.Bio,
		Timezone:      u.Timezone,
		Role:          RoleProto(u.Role),
		Xp:            u.Xp,
		CreateTime:    timestamppb.New(u.CreatedAt),
	}
}

// RoleProto maps a stored role to its enum.
func RoleProto(r string) codequestv1.Role {
	switch r {
	case RoleLearner:
		return codequestv1.Role_ROLE_LEARNER
	case RoleInstructor:
		return codequestv1.Role_ROLE_INSTRUCTOR
	case RoleBusinessPartner:
		return codequestv1.Role_ROLE_BUSINESS_PARTNER
	case RoleAdmin:
		return codequestv1.Role_ROLE_ADMIN
	}
	return codequestv1.Role_ROLE_UNSPECIFIED
}

// RoleFromProto maps an enum to a stored role; ok is false for
// ROLE_UNSPECIFIED and unknown values.
func RoleFromProto(r codequestv1.Role) (string, bool) {
	switch r {
	case codequestv1.Role_ROLE_LEARNER:
		return RoleLearner, true
	case codequestv1.Role_ROLE_INSTRUCTOR:
		return RoleInstructor, true
	case codequestv1.Role_ROLE_BUSINESS_PARTNER:
		return RoleBusinessPartner, true
	case codequestv1.Role_ROLE_ADMIN:
		return RoleAdmin, true
	}
	return "", false
}

func peerHost(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 && !strings.HasSuffix(addr, "]") {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}
