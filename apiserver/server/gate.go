package server

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
)

// anonymousAuth are the procedures anyone may call that do real work per
// call (a password hash, database writes, mail): a flood of them from many
// addresses passes every per-client limit, so they also share a few places
// per replica.
var anonymousAuth = []string{
	"/codequest.v1.AuthService/Register",
	"/codequest.v1.AuthService/Login",
	"/codequest.v1.AuthService/ResetPassword",
	"/codequest.v1.AuthService/ForgotPassword",
	"/codequest.v1.AuthService/ResendVerification",
	"/codequest.v1.AuthService/VerifyEmail",
	"/codequest.v1.AuthService/Refresh",
}

// withAuthGate lets at most places of those calls run at once; the others
// wait up to wait, then get resource_exhausted with Retry-After, before
// their bodies are read. Everyone else's calls never wait for it.
func withAuthGate(places int, wait time.Duration, next http.Handler) http.Handler {
	if places <= 0 {
		return next
	}
	slots := make(chan struct{}, places)
	errw := connect.NewErrorWriter()
	gated := map[string]bool{}
	for _, p := range anonymousAuth {
		gated[p] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !gated[strings.TrimSuffix(r.URL.Path, "/")] {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			t := time.NewTimer(wait)
			select {
			case slots <- struct{}{}:
				t.Stop()
			case <-t.C:
				w.Header().Set("Retry-After", "1")
				err := connect.NewError(connect.CodeResourceExhausted, errors.New("too many sign-in requests at once; retry in a moment"))
				err.Meta().Set("Retry-After", "1")
				if errw.IsSupported(r) {
					_ = errw.Write(w, r, err)
				} else {
					http.Error(w, err.Message(), http.StatusTooManyRequests)
				}
				return
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		defer func() { <-slots }()
		next.ServeHTTP(w, r)
	})
}
