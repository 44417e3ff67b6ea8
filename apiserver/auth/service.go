package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	"github.com/codequest-dev/codequest/apiserver/clientip"
	mailer "github.com/codequest-dev/codequest/apiserver/mail"
	"github.com/codequest-dev/codequest/apiserver/passwords"
	"github.com/codequest-dev/codequest/apiserver/session"
	"github.com/codequest-dev/codequest/apiserver/store"
)

// Config tunes the AuthService.
type Config struct {
	// PublicURL is the base of links in mail, e.g. https://codequest.example.
	PublicURL        string
	RefreshTTL       time.Duration
	VerifyEmailTTL   time.Duration
	ResetPasswordTTL time.Duration
	// LoginPerIP limits every Login attempt of one client address.
	LoginPerIP redis_rate.Limit
	// LoginFailuresPerClient limits failed Logins to one account from one
	// client address; LoginFailuresPerAccount, looser, failed Logins to one
	// account from every address together. A password reset (a proof from
	// the owner's mailbox) clears both for the account.
	LoginFailuresPerClient  redis_rate.Limit
	LoginFailuresPerAccount redis_rate.Limit
	// RegisterPerIP and RegisterPerAddress limit registrations from one
	// client address and of one email address.
	RegisterPerIP      redis_rate.Limit
	RegisterPerAddress redis_rate.Limit
	// RegisterGlobal limits registrations from everywhere together: each
	// sends a mail, and many addresses pass every per-client limit.
	RegisterGlobal redis_rate.Limit
	// ResetPerIP limits ResetPassword calls from one client address.
	ResetPerIP redis_rate.Limit
	// ChangePasswordFailures limits wrong current passwords given to
	// ChangePassword by one account.
	ChangePasswordFailures redis_rate.Limit
	// MailPerAccount limits verification and reset mails to one address.
	MailPerAccount redis_rate.Limit
}

// DefaultConfig returns production defaults.
func DefaultConfig() Config {
	return Config{
		PublicURL:               "http://127.0.0.1:8080",
		RefreshTTL:              30 * 24 * time.Hour,
		VerifyEmailTTL:          24 * time.Hour,
		ResetPasswordTTL:        time.Hour,
		LoginPerIP:              redis_rate.PerMinute(30),
		LoginFailuresPerClient:  redis_rate.Limit{Rate: 10, Burst: 10, Period: 15 * time.Minute},
		LoginFailuresPerAccount: redis_rate.Limit{Rate: 100, Burst: 100, Period: time.Hour},
		RegisterPerIP:           redis_rate.Limit{Rate: 20, Burst: 20, Period: time.Hour},
		RegisterPerAddress:      redis_rate.Limit{Rate: 3, Burst: 3, Period: time.Hour},
		RegisterGlobal:          redis_rate.PerMinute(60),
		ResetPerIP:              redis_rate.Limit{Rate: 30, Burst: 30, Period: time.Hour},
		ChangePasswordFailures:  redis_rate.Limit{Rate: 5, Burst: 5, Period: 15 * time.Minute},
		MailPerAccount:          redis_rate.Limit{Rate: 5, Burst: 5, Period: time.Hour},
	}
}

// JobInserter enqueues durable jobs in a transaction (a *river.Client).
type JobInserter interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Sessions records the state a committed change of an account wrote (a
// *session.Store).
type Sessions interface {
	Publish(ctx context.Context, id uuid.UUID, st session.State)
}

// Service implements codequest.v1.AuthService.
type Service struct {
	codequestv1connect.UnimplementedAuthServiceHandler

	cfg      Config
	st       *store.Store
	keys     *Keys
	hasher   Hasher
	hashes   *passwords.Limiter
	limiter  *redis_rate.Limiter
	jobs     JobInserter
	sessions Sessions
	// dummyHash is verified against when an account does not exist (or
	// has no password yet), so a failed login costs the same either way.
	dummyHash string
}

// NewService returns the AuthService. hashes caps the password hashes
// computed at once (shared with nothing else).
func NewService(cfg Config, st *store.Store, keys *Keys, hasher Hasher, hashes *passwords.Limiter, limiter *redis_rate.Limiter, jobs JobInserter, sessions Sessions) (*Service, error) {
	dummy, err := hasher.Hash("not a password of anyone")
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, st: st, keys: keys, hasher: hasher, hashes: hashes, limiter: limiter, jobs: jobs,
		sessions: sessions, dummyHash: dummy}, nil
}

var _ codequestv1connect.AuthServiceHandler = (*Service)(nil)

const (
	purposeVerify = "verify_email"
	purposeReset  = "reset_password"
)

var errHashBusy = &apierr.RetryAfter{Seconds: 1, Message: "the server is busy checking passwords; retry in a moment"}

// hash computes a password hash in one of the limited hashing slots.
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	var h string
	var herr error
	if err := s.hashes.Do(ctx, func() { h, herr = s.hasher.Hash(pw) }); err != nil {
		if errors.Is(err, passwords.ErrBusy) {
			return "", errHashBusy
		}
		return "", err
	}
	return h, herr
}

// verify checks a password in one of the limited hashing slots.
func (s *Service) verify(ctx context.Context, pw, encoded string) (ok, rehash bool, err error) {
	if derr := s.hashes.Do(ctx, func() { ok, rehash, err = s.hasher.Verify(pw, encoded) }); derr != nil {
		if errors.Is(derr, passwords.ErrBusy) {
			return false, false, errHashBusy
		}
		return false, false, derr
	}
	return ok, rehash, err
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
	v.Check(ok, "email", "must be an email address (its part before the @ in ASCII)")
	if !ok {
		email = ""
	}
	if p := PasswordProblem(m.GetPassword(), email); p != "" {
		v.Add("password", "%s", p)
	}
	v.Check(validDisplayName(m.GetDisplayName()), "display_name", "must be 1 to 64 characters on one line")
	return email, v.Err()
}

// Register implements AuthService.Register. Nothing an account can use
// exists until the owner of the address follows the mailed link: the link
// carries this registration's password, and following it sets that
// password and ends any session the account had. An address that has an
// account already gets a notice instead; the answer is the same.
func (s *Service) Register(ctx context.Context, req *connect.Request[codequestv1.RegisterRequest]) (*connect.Response[codequestv1.RegisterResponse], error) {
	email, err := validateRegister(req.Msg)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	if err := s.limit(ctx, "register:ip:"+clientip.Key(ctx), s.cfg.RegisterPerIP); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	if err := s.limit(ctx, "register:address:"+email, s.cfg.RegisterPerAddress); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	if err := s.limit(ctx, "register:all", s.cfg.RegisterGlobal); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	// Hash whatever happens, so that known and unknown addresses take the
	// same time.
	hash, err := s.hash(ctx, req.Msg.GetPassword())
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	if !s.allowMail(ctx, email) {
		return connect.NewResponse(&codequestv1.RegisterResponse{}), nil
	}
	name := strings.TrimSpace(req.Msg.GetDisplayName())
	err = s.st.InTx(ctx, func(q *store.Queries, tx pgx.Tx) error {
		existing, err := q.GetUserByEmail(ctx, email)
		switch {
		case err == nil && existing.EmailVerifiedAt == nil:
			return s.mailToken(ctx, q, tx, existing.ID, email, purposeVerify, &hash, &name)
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
		// An account without a password until its address is verified.
		u, err := q.CreateUser(ctx, store.CreateUserParams{Email: email, DisplayName: name, Role: RoleLearner})
		if err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		return s.mailToken(ctx, q, tx, u.ID, email, purposeVerify, &hash, &name)
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
// one (a verification token with the password hash and display name of its
// registration) and enqueues its mail, all in tx.
func (s *Service) mailToken(ctx context.Context, q *store.Queries, tx pgx.Tx, userID uuid.UUID, email, purpose string, pwHash, name *string) error {
	if err := q.ExpireEmailTokens(ctx, store.ExpireEmailTokensParams{UserID: userID, Purpose: purpose}); err != nil {
		return fmt.Errorf("expire tokens: %w", err)
	}
	token, hash := NewOpaqueToken()
	ttl, subject, path, what := s.cfg.VerifyEmailTTL, "Verify your CodeQuest email address", "/verify-email", "verify your email address and activate your account"
	if purpose == purposeReset {
		ttl, subject, path, what = s.cfg.ResetPasswordTTL, "Reset your CodeQuest password", "/reset-password", "choose a new password"
	}
	if err := q.CreateEmailToken(ctx, store.CreateEmailTokenParams{
		UserID: userID, Purpose: purpose, TokenHash: hash, ExpiresAt: time.Now().Add(ttl),
		PasswordHash: pwHash, DisplayName: name,
	}); err != nil {
		return fmt.Errorf("create email token: %w", err)
	}
	text := fmt.Sprintf("Open this link to %s (valid for %s, once):\n\n%s%s?token=%s\n\nIf you did not ask for this, ignore this mail.\n",
		what, ttl, s.cfg.PublicURL, path, token)
	if purpose == purposeVerify {
		text += "Following the link sets the password chosen when registering; if someone else registered your address, do not follow it: register again, or reset the password.\n"
	}
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

var errBadLogin = apierr.New(apierr.ErrUnauthenticated, "invalid email or password (a new account must verify its address first)")

func loginClientKey(email, client string) string { return "login:fail:" + email + ":" + client }
func loginAccountKey(email string) string        { return "login:fail:" + email }

// Login implements AuthService.Login. Every attempt counts against the
// client address; failures count against the account from that address
// and, more loosely, from everywhere. The answer for an unknown address,
// an unverified account and a wrong password is the same, and costs the
// same.
func (s *Service) Login(ctx context.Context, req *connect.Request[codequestv1.LoginRequest]) (*connect.Response[codequestv1.LoginResponse], error) {
	email, valid := NormalizeEmail(req.Msg.GetEmail())
	client := clientip.Key(ctx)
	if err := s.limit(ctx, "login:ip:"+client, s.cfg.LoginPerIP); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	pw := req.Msg.GetPassword()
	if !valid || len(pw) > 1024 {
		return nil, apierr.Connect(ctx, errBadLogin)
	}
	if err := s.check(ctx, loginClientKey(email, client), s.cfg.LoginFailuresPerClient); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	if err := s.check(ctx, loginAccountKey(email), s.cfg.LoginFailuresPerAccount); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	fail := func() error {
		s.fail(ctx, loginClientKey(email, client), s.cfg.LoginFailuresPerClient)
		s.fail(ctx, loginAccountKey(email), s.cfg.LoginFailuresPerAccount)
		return apierr.Connect(ctx, errBadLogin)
	}
	u, err := s.st.GetUserByEmail(ctx, email)
	if err != nil && !store.IsNoRows(err) {
		return nil, apierr.Connect(ctx, fmt.Errorf("login: %w", err))
	}
	encoded := s.dummyHash
	known := err == nil && u.EmailVerifiedAt != nil
	if known {
		switch h, err := s.st.GetPassword(ctx, u.ID); {
		case err == nil:
			encoded = h
		case store.IsNoRows(err):
			known = false
		default:
			return nil, apierr.Connect(ctx, fmt.Errorf("login: %w", err))
		}
	}
	ok, rehash, err := s.verify(ctx, pw, encoded)
	if errors.Is(err, errHashBusy) {
		return nil, apierr.Connect(ctx, err)
	}
	if err != nil || !ok || !known {
		return nil, fail()
	}
	if u.SuspendedAt != nil {
		return nil, apierr.Connect(ctx, apierr.New(apierr.ErrPermission, "this account is suspended"))
	}
	if err := s.limiter.Reset(ctx, loginClientKey(email, client)); err != nil {
		slog.WarnContext(ctx, "reset login failures", "error", err)
	}
	if rehash {
		if h, err := s.hash(ctx, pw); err == nil {
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

// limit counts one event against key and refuses it over the limit.
func (s *Service) limit(ctx context.Context, key string, l redis_rate.Limit) error {
	res, err := s.limiter.Allow(ctx, key, l)
	if err != nil {
		return fmt.Errorf("rate limit: %w", err)
	}
	if res.Allowed == 0 {
		return retryAfter(res.RetryAfter)
	}
	return nil
}

// check refuses when key has no event left, without counting one.
func (s *Service) check(ctx context.Context, key string, l redis_rate.Limit) error {
	res, err := s.limiter.AllowN(ctx, key, l, 0)
	if err != nil {
		return fmt.Errorf("rate limit: %w", err)
	}
	if res.Remaining < 1 {
		return retryAfter(l.Period / time.Duration(max(l.Rate, 1)))
	}
	return nil
}

// fail counts one failure against key.
func (s *Service) fail(ctx context.Context, key string, l redis_rate.Limit) {
	if _, err := s.limiter.Allow(ctx, key, l); err != nil {
		slog.WarnContext(ctx, "count failure", "error", err)
	}
}

func retryAfter(d time.Duration) error {
	secs := int((d + time.Second - 1) / time.Second)
	return &apierr.RetryAfter{Seconds: max(secs, 1), Message: "too many attempts; retry later"}
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
	access, accessExp, err := s.keys.Issue(u.ID, u.Role, u.SessionEpoch, orgs)
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

// Refresh implements AuthService.Refresh. A refresh token presented twice
// revokes its family and ends the access tokens of the account.
func (s *Service) Refresh(ctx context.Context, req *connect.Request[codequestv1.RefreshRequest]) (*connect.Response[codequestv1.RefreshResponse], error) {
	var tokens *codequestv1.Tokens
	var ended *session.State
	var userID uuid.UUID
	err := s.st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
		ended = nil
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
		userID = rt.UserID
		if rt.UsedAt != nil {
			// Someone presents a token that was already exchanged: either
			// it was stolen or the thief was first. Revoke the family and
			// end the access tokens it may have given.
			if err := q.RevokeRefreshFamily(ctx, rt.FamilyID); err != nil {
				return err
			}
			st, err := session.Bump(ctx, q, rt.UserID)
			if err != nil {
				return err
			}
			ended = &st
			return nil
		}
		u, err := q.GetUser(ctx, rt.UserID)
		if err != nil {
			return err
		}
		if u.SuspendedAt != nil {
			return errBadRefresh
		}
		if err := q.MarkRefreshTokenUsed(ctx, rt.ID); err != nil {
			return err
		}
		tokens, err = s.issue(ctx, q, u, rt.FamilyID)
		return err
	})
	if err == nil && ended != nil {
		s.sessions.Publish(ctx, userID, *ended)
		err = errBadRefresh
	}
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.RefreshResponse{Tokens: tokens}), nil
}

// Logout implements AuthService.Logout: the refresh token's family is
// revoked and every access token of the account stops working at once
// (other sessions get new ones with their refresh tokens).
func (s *Service) Logout(ctx context.Context, req *connect.Request[codequestv1.LogoutRequest]) (*connect.Response[codequestv1.LogoutResponse], error) {
	var ended *session.State
	var userID uuid.UUID
	err := s.st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
		ended = nil
		rt, err := q.GetRefreshTokenForUpdate(ctx, HashToken(req.Msg.GetRefreshToken()))
		if store.IsNoRows(err) || err == nil && rt.RevokedAt != nil {
			return nil // nothing to revoke: logging out twice is fine
		}
		if err != nil {
			return err
		}
		if err := q.RevokeRefreshFamily(ctx, rt.FamilyID); err != nil {
			return err
		}
		st, err := session.Bump(ctx, q, rt.UserID)
		if err != nil {
			return err
		}
		ended, userID = &st, rt.UserID
		return nil
	})
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("logout: %w", err))
	}
	if ended != nil {
		s.sessions.Publish(ctx, userID, *ended)
	}
	return connect.NewResponse(&codequestv1.LogoutResponse{}), nil
}

func badToken() error {
	v := &apierr.Validation{}
	v.Add("token", "is invalid, expired or already used")
	return v
}

// VerifyEmail implements AuthService.VerifyEmail: the account becomes
// usable with the password (and display name) of the registration whose
// link this is, and every session it may have had ends.
func (s *Service) VerifyEmail(ctx context.Context, req *connect.Request[codequestv1.VerifyEmailRequest]) (*connect.Response[codequestv1.VerifyEmailResponse], error) {
	var ended *session.State
	var userID uuid.UUID
	err := s.st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
		ended = nil
		tok, err := q.ConsumeEmailToken(ctx, store.ConsumeEmailTokenParams{TokenHash: HashToken(req.Msg.GetToken()), Purpose: purposeVerify})
		if store.IsNoRows(err) {
			return badToken()
		}
		if err != nil {
			return err
		}
		u, err := q.GetUser(ctx, tok.UserID)
		if err != nil {
			return err
		}
		if u.EmailVerifiedAt != nil {
			return nil // verified meanwhile (a reset, say): nothing to change
		}
		if err := q.MarkEmailVerified(ctx, u.ID); err != nil {
			return err
		}
		if tok.PasswordHash != nil {
			err = q.SetPassword(ctx, store.SetPasswordParams{UserID: u.ID, PasswordHash: *tok.PasswordHash})
		} else {
			// A link without a registration's password: the owner
			// chooses one with ForgotPassword.
			err = q.DeletePassword(ctx, u.ID)
		}
		if err != nil {
			return err
		}
		if tok.DisplayName != nil {
			if err := q.SetDisplayName(ctx, store.SetDisplayNameParams{ID: u.ID, DisplayName: *tok.DisplayName}); err != nil {
				return err
			}
		}
		if err := q.ExpireEmailTokens(ctx, store.ExpireEmailTokensParams{UserID: u.ID, Purpose: purposeVerify}); err != nil {
			return err
		}
		st, err := session.End(ctx, q, u.ID)
		if err != nil {
			return err
		}
		ended, userID = &st, u.ID
		return nil
	})
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	if ended != nil {
		s.sessions.Publish(ctx, userID, *ended)
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
// (an unverified one, for verification: the link of its latest
// registration again). The caller learns nothing either way.
func (s *Service) mailIfExists(ctx context.Context, raw, purpose string) error {
	email, ok := NormalizeEmail(raw)
	if !ok {
		v := &apierr.Validation{}
		v.Add("email", "must be an email address (its part before the @ in ASCII)")
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
		if purpose == purposeReset {
			return s.mailToken(ctx, q, tx, u.ID, email, purpose, nil, nil)
		}
		if u.EmailVerifiedAt != nil {
			return nil
		}
		reg, err := q.LatestRegistration(ctx, u.ID)
		if err != nil && !store.IsNoRows(err) {
			return err
		}
		return s.mailToken(ctx, q, tx, u.ID, email, purpose, reg.PasswordHash, reg.DisplayName)
	})
}

// ResetPassword implements AuthService.ResetPassword. The token is checked
// before the new password is hashed; a reset ends every session of the
// account and clears its failed sign-ins (the mailbox proved the owner).
func (s *Service) ResetPassword(ctx context.Context, req *connect.Request[codequestv1.ResetPasswordRequest]) (*connect.Response[codequestv1.ResetPasswordResponse], error) {
	if err := s.limit(ctx, "reset:ip:"+clientip.Key(ctx), s.cfg.ResetPerIP); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	if n := len(req.Msg.GetNewPassword()); n == 0 || n > 1024 {
		v := &apierr.Validation{}
		v.Add("new_password", "%s", PasswordProblem(req.Msg.GetNewPassword(), ""))
		return nil, apierr.Connect(ctx, v)
	}
	tokenHash := HashToken(req.Msg.GetToken())
	uid, err := s.st.PeekEmailToken(ctx, store.PeekEmailTokenParams{TokenHash: tokenHash, Purpose: purposeReset})
	if store.IsNoRows(err) {
		return nil, apierr.Connect(ctx, badToken())
	}
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("reset password: %w", err))
	}
	u, err := s.st.GetUser(ctx, uid)
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("reset password: %w", err))
	}
	if p := PasswordProblem(req.Msg.GetNewPassword(), u.Email); p != "" {
		v := &apierr.Validation{}
		v.Add("new_password", "%s", p)
		return nil, apierr.Connect(ctx, v)
	}
	hash, err := s.hash(ctx, req.Msg.GetNewPassword())
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	var st session.State
	err = s.st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
		tok, err := q.ConsumeEmailToken(ctx, store.ConsumeEmailTokenParams{TokenHash: tokenHash, Purpose: purposeReset})
		if store.IsNoRows(err) {
			return badToken()
		}
		if err != nil {
			return err
		}
		if err := q.SetPassword(ctx, store.SetPasswordParams{UserID: tok.UserID, PasswordHash: hash}); err != nil {
			return err
		}
		// The mail reached its owner: that proves the address too.
		if err := q.MarkEmailVerified(ctx, tok.UserID); err != nil {
			return err
		}
		st, err = session.End(ctx, q, tok.UserID)
		return err
	})
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	s.sessions.Publish(ctx, u.ID, st)
	if err := s.limiter.Reset(ctx, loginAccountKey(u.Email)); err != nil {
		slog.WarnContext(ctx, "reset login failures", "error", err)
	}
	return connect.NewResponse(&codequestv1.ResetPasswordResponse{}), nil
}

// ChangePassword implements AuthService.ChangePassword: every session of
// the account ends, and the caller's continues with the new tokens in the
// answer.
func (s *Service) ChangePassword(ctx context.Context, req *connect.Request[codequestv1.ChangePasswordRequest]) (*connect.Response[codequestv1.ChangePasswordResponse], error) {
	caller := CallerFrom(ctx)
	if caller == nil {
		return nil, apierr.Connect(ctx, apierr.ErrUnauthenticated)
	}
	u, err := s.st.GetUser(ctx, caller.UserID)
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("change password: %w", err))
	}
	v := &apierr.Validation{}
	if p := PasswordProblem(req.Msg.GetNewPassword(), u.Email); p != "" {
		v.Add("new_password", "%s", p)
	}
	if len(req.Msg.GetCurrentPassword()) > 1024 {
		v.Add("current_password", "is not your current password")
	}
	if err := v.Err(); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	failures := "password:fail:" + caller.UserID.String()
	if err := s.check(ctx, failures, s.cfg.ChangePasswordFailures); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	encoded, err := s.st.GetPassword(ctx, caller.UserID)
	if err != nil && !store.IsNoRows(err) {
		return nil, apierr.Connect(ctx, fmt.Errorf("change password: %w", err))
	}
	if err != nil {
		encoded = s.dummyHash
	}
	ok, _, err := s.verify(ctx, req.Msg.GetCurrentPassword(), encoded)
	if errors.Is(err, errHashBusy) {
		return nil, apierr.Connect(ctx, err)
	}
	if !ok || encoded == s.dummyHash {
		s.fail(ctx, failures, s.cfg.ChangePasswordFailures)
		v.Add("current_password", "is not your current password")
		return nil, apierr.Connect(ctx, v)
	}
	hash, err := s.hash(ctx, req.Msg.GetNewPassword())
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	var st session.State
	var tokens *codequestv1.Tokens
	err = s.st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
		if err := q.SetPassword(ctx, store.SetPasswordParams{UserID: caller.UserID, PasswordHash: hash}); err != nil {
			return err
		}
		st, err = session.End(ctx, q, caller.UserID)
		if err != nil {
			return err
		}
		u.SessionEpoch = st.Epoch
		tokens, err = s.issue(ctx, q, u, uuid.New())
		return err
	})
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("change password: %w", err))
	}
	s.sessions.Publish(ctx, caller.UserID, st)
	return connect.NewResponse(&codequestv1.ChangePasswordResponse{Tokens: tokens}), nil
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
		Suspended:     u.SuspendedAt != nil,
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
