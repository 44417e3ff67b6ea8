package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/codequest-dev/codequest/apiserver/session"
)

// States reads an account's current authorization state (a
// *session.Store).
type States interface {
	Get(ctx context.Context, id uuid.UUID) (session.State, error)
}

// Middleware authenticates requests before their bodies are decoded. A
// request with no Authorization header continues anonymously (the policy
// decides whether that is allowed). A bearer token must verify, belong to
// an account that exists and is not suspended, and be of the account's
// current session epoch; otherwise the request is refused with
// CodeUnauthenticated. The caller's role is the account's role now, read
// through states, never the token's claim.
func Middleware(keys *Keys, states States, next http.Handler) http.Handler {
	errw := connect.NewErrorWriter()
	refuse := func(w http.ResponseWriter, r *http.Request, code connect.Code, msg string) {
		if errw.IsSupported(r) {
			_ = errw.Write(w, r, connect.NewError(code, errors.New(msg)))
			return
		}
		status := http.StatusUnauthorized
		if code == connect.CodeUnavailable {
			status = http.StatusServiceUnavailable
		}
		http.Error(w, msg, status)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			next.ServeHTTP(w, r)
			return
		}
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			token, ok = strings.CutPrefix(h, "bearer ")
		}
		var claims *Claims
		var err error
		if !ok {
			err = errors.New("authorization header is not a bearer token")
		} else {
			claims, err = keys.Parse(strings.TrimSpace(token))
		}
		if err != nil {
			refuse(w, r, connect.CodeUnauthenticated, "invalid or expired access token")
			return
		}
		id := uuid.MustParse(claims.Subject) // Parse checked it
		st, err := states.Get(r.Context(), id)
		switch {
		case errors.Is(err, session.ErrNoAccount):
			refuse(w, r, connect.CodeUnauthenticated, "invalid or expired access token")
			return
		case err != nil:
			slog.ErrorContext(r.Context(), "read session state", "user", id, "error", err)
			refuse(w, r, connect.CodeUnavailable, "cannot check the session now; retry")
			return
		case st.Suspended:
			refuse(w, r, connect.CodeUnauthenticated, "this account is suspended")
			return
		case claims.Epoch != st.Epoch:
			refuse(w, r, connect.CodeUnauthenticated, "this session has ended; sign in again")
			return
		}
		ctx := WithCaller(r.Context(), &Caller{UserID: id, Role: st.Role})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
