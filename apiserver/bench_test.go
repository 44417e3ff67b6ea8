package apiserver_test

// Benchmarks of the identity hot paths through the whole server (HTTP/2,
// Connect, authentication middleware, policy, metrics, handler, pgx) side
// by side with a bare net/http + pgx baseline doing the same essential work
// (same queries, same argon2id verification, same JWT signing). Run with
// `make bench`; see docs/benchmarks.md.

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/apitest"
	"github.com/codequest-dev/codequest/apiserver/auth"
)

// baseline is the least a hand-written server must do for the same calls.
type baseline struct {
	pool   *pgxpool.Pool
	keys   *auth.Keys
	hasher auth.Hasher
}

func (b *baseline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	switch r.URL.Path {
	case "/login":
		var in struct{ Email, Password string }
		if json.NewDecoder(r.Body).Decode(&in) != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		var id uuid.UUID
		var role, hash string
		err := b.pool.QueryRow(ctx, `SELECT u.id, u.role, c.password_hash FROM users u JOIN credentials c ON c.user_id = u.id WHERE u.email = $1`, in.Email).Scan(&id, &role, &hash)
		if err != nil {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		if ok, _, _ := b.hasher.Verify(in.Password, hash); !ok {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		b.issue(w, r, id, role, uuid.New())
	case "/refresh":
		var in struct{ RefreshToken string }
		if json.NewDecoder(r.Body).Decode(&in) != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		tx, err := b.pool.Begin(ctx)
		if err != nil {
			http.Error(w, "db", http.StatusInternalServerError)
			return
		}
		defer tx.Rollback(ctx)
		var tid, uid, fam uuid.UUID
		var role string
		err = tx.QueryRow(ctx, `SELECT t.id, t.user_id, t.family_id, u.role FROM refresh_tokens t JOIN users u ON u.id = t.user_id
			WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.revoked_at IS NULL FOR UPDATE OF t`, auth.HashToken(in.RefreshToken)).Scan(&tid, &uid, &fam, &role)
		if err != nil {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = now() WHERE id = $1`, tid); err != nil {
			http.Error(w, "db", http.StatusInternalServerError)
			return
		}
		tok, hash := auth.NewOpaqueToken()
		if _, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) VALUES ($1, $2, $3, $4)`, uid, fam, hash, time.Now().Add(time.Hour)); err != nil {
			http.Error(w, "db", http.StatusInternalServerError)
			return
		}
		if tx.Commit(ctx) != nil {
			http.Error(w, "db", http.StatusInternalServerError)
			return
		}
		access, _, _ := b.keys.Issue(uid, role, 0, nil)
		_ = json.NewEncoder(w).Encode(map[string]string{"accessToken": access, "refreshToken": tok})
	case "/me":
		c, err := b.keys.Parse(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if err != nil {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		var email, name string
		if err := b.pool.QueryRow(ctx, `SELECT email, display_name FROM users WHERE id = $1`, c.Subject).Scan(&email, &name); err != nil {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"id": c.Subject, "email": email, "displayName": name})
	default:
		http.NotFound(w, r)
	}
}

func (b *baseline) issue(w http.ResponseWriter, r *http.Request, id uuid.UUID, role string, fam uuid.UUID) {
	access, _, _ := b.keys.Issue(id, role, 0, nil)
	tok, hash := auth.NewOpaqueToken()
	if _, err := b.pool.Exec(r.Context(), `INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) VALUES ($1, $2, $3, $4)`, id, fam, hash, time.Now().Add(time.Hour)); err != nil {
		http.Error(w, "db", http.StatusInternalServerError)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"accessToken": access, "refreshToken": tok})
}

func startBaseline(b *testing.B, env *apitest.Env) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: &baseline{pool: env.App.Pool, keys: env.App.Keys, hasher: auth.Hasher{Params: env.Config.Argon2}}}
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv.Protocols = p
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func postJSON(b *testing.B, c *http.Client, url, token string, body any) map[string]string {
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b.Fatalf("%s: status %d", url, res.StatusCode)
	}
	var out map[string]string
	_ = json.NewDecoder(res.Body).Decode(&out)
	return out
}

func BenchmarkLogin(b *testing.B) {
	env := apitest.New(b)
	u := env.NewUser(b, auth.RoleLearner)
	base := startBaseline(b, env)
	b.Run("server=codequest", func(b *testing.B) {
		c := env.Clients()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Auth.Login(context.Background(), connect.NewRequest(&codequestv1.LoginRequest{Email: u.Email, Password: u.Password})); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("server=baseline", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				postJSON(b, env.HTTP, base+"/login", "", map[string]string{"email": u.Email, "password": u.Password})
			}
		})
	})
}

func BenchmarkRefresh(b *testing.B) {
	env := apitest.New(b)
	u := env.NewUser(b, auth.RoleLearner)
	base := startBaseline(b, env)
	b.Run("server=codequest", func(b *testing.B) {
		c := env.Clients()
		b.RunParallel(func(pb *testing.PB) {
			// Each goroutine walks its own family.
			res, err := c.Auth.Login(context.Background(), connect.NewRequest(&codequestv1.LoginRequest{Email: u.Email, Password: u.Password}))
			if err != nil {
				b.Error(err)
				return
			}
			tok := res.Msg.GetTokens().GetRefreshToken()
			for pb.Next() {
				r, err := c.Auth.Refresh(context.Background(), connect.NewRequest(&codequestv1.RefreshRequest{RefreshToken: tok}))
				if err != nil {
					b.Error(err)
					return
				}
				tok = r.Msg.GetTokens().GetRefreshToken()
			}
		})
	})
	b.Run("server=baseline", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			tok := postJSON(b, env.HTTP, base+"/login", "", map[string]string{"email": u.Email, "password": u.Password})["refreshToken"]
			for pb.Next() {
				tok = postJSON(b, env.HTTP, base+"/refresh", "", map[string]string{"refreshToken": tok})["refreshToken"]
			}
		})
	})
}

func BenchmarkGetMe(b *testing.B) {
	env := apitest.New(b)
	u := env.NewUser(b, auth.RoleLearner)
	base := startBaseline(b, env)
	b.Run("server=codequest", func(b *testing.B) {
		c := env.Clients(u.Auth())
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Users.GetMe(context.Background(), connect.NewRequest(&codequestv1.GetMeRequest{})); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("server=baseline", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				postJSON(b, env.HTTP, base+"/me", u.Tokens.GetAccessToken(), map[string]string{})
			}
		})
	})
}
