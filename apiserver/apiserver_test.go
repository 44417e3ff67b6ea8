package apiserver_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver"
	"github.com/codequest-dev/codequest/apiserver/apitest"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/policy"
	"github.com/codequest-dev/codequest/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// procedures lists every RPC of package codequest.v1 from the compiled
// descriptors, so a new RPC cannot escape the authorization test.
func procedures(t *testing.T) []string {
	t.Helper()
	var procs []string
	protoregistry.GlobalFiles.RangeFilesByPackage("codequest.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				procs = append(procs, "/"+string(sd.FullName())+"/"+string(sd.Methods().Get(j).Name()))
			}
		}
		return true
	})
	if len(procs) == 0 {
		t.Fatal("no codequest.v1 services registered")
	}
	slices.Sort(procs)
	return procs
}

// streaming lists the server-streaming procedures of codequest.v1.
func streaming() map[string]bool {
	out := map[string]bool{}
	protoregistry.GlobalFiles.RangeFilesByPackage("codequest.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				if m := sd.Methods().Get(j); m.IsStreamingServer() {
					out["/"+string(sd.FullName())+"/"+string(m.Name())] = true
				}
			}
		}
		return true
	})
	return out
}

// call posts a Connect JSON request and returns the Connect code ("" for
// OK). Streaming procedures get an enveloped request and answer with an
// end-of-stream message.
func call(t *testing.T, env *apitest.Env, proc, token, body string) string {
	t.Helper()
	if streaming()[proc] {
		return callStream(t, env, proc, token, body)
	}
	req, _ := http.NewRequest(http.MethodPost, env.URL+proc, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := env.HTTP1.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", proc, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK {
		return ""
	}
	var e struct{ Code string }
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%s: status %d, body %q", proc, res.StatusCode, b)
	}
	return e.Code
}

// Every procedure is in the policy table, and every non-public one refuses
// anonymous callers, callers without the role, and callers from another
// organization, before the handler runs.
func TestAuthorizationTable(t *testing.T) {
	t.Parallel()
	table := policy.Default()
	procs := procedures(t)
	for _, p := range procs {
		if _, ok := table[p]; !ok {
			t.Errorf("%s is not in the policy table", p)
		}
	}
	for p := range table {
		if !slices.Contains(procs, p) {
			t.Errorf("policy table names %s, which does not exist", p)
		}
	}

	env := apitest.New(t)
	ctx := context.Background()
	learner := env.NewUser(t, auth.RoleLearner)
	partnerA := env.NewUser(t, auth.RoleBusinessPartner)
	partnerB := env.NewUser(t, auth.RoleBusinessPartner)
	orgA, err := env.Clients(partnerA.Auth()).Orgs.CreateOrganization(ctx, connect.NewRequest(&codequestv1.CreateOrganizationRequest{Slug: "org-a", Name: "A"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Clients(partnerB.Auth()).Orgs.CreateOrganization(ctx, connect.NewRequest(&codequestv1.CreateOrganizationRequest{Slug: "org-b", Name: "B"})); err != nil {
		t.Fatal(err)
	}
	// partnerB's token was issued before it owned org B; its access is
	// decided from the database, not the token.
	body := `{"organizationId":"` + orgA.Msg.GetOrganization().GetId() + `","userId":"` + learner.ID.String() + `"}`

	checked := 0
	for _, p := range procs {
		rule := table[p]
		if rule.Access == policy.Public {
			continue
		}
		if got := call(t, env, p, "", body); got != "unauthenticated" {
			t.Errorf("%s anonymous: got %q, want unauthenticated", p, got)
		}
		if got := call(t, env, p, "not-a-token", body); got != "unauthenticated" {
			t.Errorf("%s with a forged token: got %q, want unauthenticated", p, got)
		}
		if rule.Access == policy.RolesOnly && !slices.Contains(rule.Roles, auth.RoleLearner) {
			if got := call(t, env, p, learner.Tokens.GetAccessToken(), body); got != "permission_denied" {
				t.Errorf("%s as learner: got %q, want permission_denied", p, got)
			}
		}
		if rule.Org != policy.NoOrg {
			if got := call(t, env, p, partnerB.Tokens.GetAccessToken(), body); got != "permission_denied" {
				t.Errorf("%s from another organization: got %q, want permission_denied", p, got)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no protected procedure checked")
	}
}

func TestHealthReflectionMetrics(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	for _, path := range []string{"/healthz", "/readyz"} {
		res, err := env.HTTP.Get(env.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s: %d %s", path, res.StatusCode, b)
		}
		if path == "/readyz" && (!strings.Contains(string(b), "postgres: ok") || !strings.Contains(string(b), "redis: ok")) {
			t.Errorf("/readyz = %q", b)
		}
	}

	res, err := healthCheck(ctx, env, "codequest.v1.AuthService")
	if err != nil || res != "SERVING_STATUS_SERVING" {
		t.Errorf("health of AuthService = %q, %v", res, err)
	}

	rc := grpcreflect.NewClient(env.HTTP, env.URL, connect.WithGRPC())
	stream := rc.NewStream(ctx)
	names, err := stream.ListServices()
	if err != nil {
		t.Fatalf("reflection: %v", err)
	}
	_, _ = stream.Close()
	for _, want := range []protoreflect.FullName{"codequest.v1.AuthService", "codequest.v1.UserService", "codequest.v1.OrganizationService"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}

	// One refused call shows up in the metrics by procedure and code, on
	// the metrics listener, not on the API's port.
	_ = call(t, env, "/codequest.v1.UserService/GetMe", "", "{}")
	if res, err := env.HTTP.Get(env.URL + "/metrics"); err != nil || res.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the API port: %v %v", res.StatusCode, err)
	}
	rec := httptest.NewRecorder()
	env.App.Server.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	mb := rec.Body.Bytes()
	if !strings.Contains(string(mb), `codequest_rpc_requests_total{code="unauthenticated",procedure="/codequest.v1.UserService/GetMe"} 1`) {
		t.Errorf("metrics lack the GetMe call:\n%s", grep(string(mb), "codequest_rpc"))
	}
}

func healthCheck(ctx context.Context, env *apitest.Env, service string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, env.URL+"/grpc.health.v1.Health/Check", strings.NewReader(`{"service":"`+service+`"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := env.HTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var out struct{ Status string }
	err = json.NewDecoder(res.Body).Decode(&out)
	return out.Status, err
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestEdge(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, func(c *apiserver.Config) {
		c.HTTP.CORSOrigins = []string{"https://app.example"}
		c.HTTP.MaxRequestBytes = 1 << 10
	})
	post := func(body string, hdr map[string]string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, env.URL+"/codequest.v1.AuthService/Login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := env.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	for name, tc := range map[string]struct{ body, code string }{
		"malformed json": {`{"email":`, "invalid_argument"},
		"wrong type":     {`{"email":42}`, "invalid_argument"},
		"oversized":      {`{"email":"` + strings.Repeat("a", 4<<10) + `"}`, "resource_exhausted"},
	} {
		res, b := post(tc.body, nil)
		if !strings.Contains(b, `"code":"`+tc.code+`"`) {
			t.Errorf("%s: %d %s; want %s", name, res.StatusCode, b, tc.code)
		}
	}
	res, _ := post(`{}`, map[string]string{"X-Request-Id": "trace-abcdef12"})
	if got := res.Header.Get("X-Request-Id"); got != "trace-abcdef12" {
		t.Errorf("X-Request-Id = %q", got)
	}
	res, _ = post(`{}`, map[string]string{"X-Request-Id": "bad id!"})
	if got := res.Header.Get("X-Request-Id"); len(got) != 24 {
		t.Errorf("generated X-Request-Id = %q", got)
	}

	pre, _ := http.NewRequest(http.MethodOptions, env.URL+"/codequest.v1.AuthService/Login", nil)
	pre.Header.Set("Origin", "https://app.example")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	pre.Header.Set("Access-Control-Request-Headers", "authorization,connect-protocol-version,content-type")
	pres, err := env.HTTP.Do(pre)
	if err != nil {
		t.Fatal(err)
	}
	pres.Body.Close()
	if got := pres.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("CORS preflight allowed origin = %q", got)
	}
	pre.Header.Set("Origin", "https://evil.example")
	pres, err = env.HTTP.Do(pre)
	if err != nil {
		t.Fatal(err)
	}
	pres.Body.Close()
	if got := pres.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("CORS allowed a foreign origin: %q", got)
	}
}

func callStream(t *testing.T, env *apitest.Env, proc, token, body string) string {
	t.Helper()
	frame := make([]byte, 5+len(body))
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(body)))
	copy(frame[5:], body)
	req, _ := http.NewRequest(http.MethodPost, env.URL+proc, bytes.NewReader(frame))
	req.Header.Set("Content-Type", "application/connect+json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := env.HTTP1.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", proc, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for len(b) >= 5 {
		n := binary.BigEndian.Uint32(b[1:5])
		if int(n) > len(b)-5 {
			break
		}
		if b[0]&2 != 0 {
			var end struct{ Error *struct{ Code string } }
			if err := json.Unmarshal(b[5:5+n], &end); err != nil {
				t.Fatalf("%s: end of stream %q", proc, b[5:5+n])
			}
			if end.Error == nil {
				return ""
			}
			return end.Error.Code
		}
		b = b[5+n:]
	}
	t.Fatalf("%s: status %d, no end of stream in %q", proc, res.StatusCode, b)
	return ""
}
