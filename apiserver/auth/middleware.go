package auth

import (
	"errors"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"github.com/google/uuid"
)

// Middleware authenticates requests before their bodies are decoded. A
// request with no Authorization header continues anonymously (the policy
// decides whether that is allowed); a request with a bad bearer token is
// refused with CodeUnauthenticated.
func Middleware(keys *Keys, next http.Handler) http.Handler {
	errw := connect.NewErrorWriter()
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
			if errw.IsSupported(r) {
				_ = errw.Write(w, r, connect.NewError(connect.CodeUnauthenticated, errors.New("invalid or expired access token")))
			} else {
				http.Error(w, "invalid or expired access token", http.StatusUnauthorized)
			}
			return
		}
		id := uuid.MustParse(claims.Subject) // Parse checked it
		ctx := WithCaller(r.Context(), &Caller{UserID: id, Role: claims.Role})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
