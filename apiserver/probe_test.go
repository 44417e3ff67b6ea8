package apiserver_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/apitest"
	"github.com/codequest-dev/codequest/apiserver/auth"
)

// badValues are what an attacker throws at one field.
func badValues(fd protoreflect.FieldDescriptor, real map[string]string) []protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		vals := []string{"\x00", "a\x00b", strings.Repeat("x", 70000), "../../etc/passwd", "' OR 1=1 --", "%_\\",
			"00000000-0000-0000-0000-000000000000", "\u202e\u200b", "ａｄｍｉｎ@example.com"}
		if v, ok := real[string(fd.Name())]; ok {
			vals = append(vals, v, v+"\x00")
		}
		out := make([]protoreflect.Value, len(vals))
		for i, v := range vals {
			out[i] = protoreflect.ValueOfString(v)
		}
		return out
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return []protoreflect.Value{protoreflect.ValueOfInt32(math.MinInt32), protoreflect.ValueOfInt32(-1), protoreflect.ValueOfInt32(math.MaxInt32)}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return []protoreflect.Value{protoreflect.ValueOfInt64(math.MinInt64), protoreflect.ValueOfInt64(-1), protoreflect.ValueOfInt64(math.MaxInt64)}
	case protoreflect.EnumKind:
		return []protoreflect.Value{protoreflect.ValueOfEnum(999), protoreflect.ValueOfEnum(-1)}
	case protoreflect.BoolKind:
		return []protoreflect.Value{protoreflect.ValueOfBool(true)}
	}
	return nil
}

// probes builds, for one request message, a request per bad value of each
// field, with the other fields set to real values where known.
func probes(md protoreflect.MessageDescriptor, real map[string]string) []string {
	base := func() *dynamicpb.Message {
		m := dynamicpb.NewMessage(md)
		fields := md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if v, ok := real[string(fd.Name())]; ok && fd.Kind() == protoreflect.StringKind && !fd.IsList() && !fd.IsMap() {
				m.Set(fd, protoreflect.ValueOfString(v))
			}
		}
		return m
	}
	var out []string
	add := func(m *dynamicpb.Message) {
		b, err := protojson.Marshal(m)
		if err == nil {
			out = append(out, string(b))
		}
	}
	add(base())
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsMap() || fd.Kind() == protoreflect.MessageKind {
			continue
		}
		for _, v := range badValues(fd, real) {
			m := base()
			if fd.IsList() {
				l := m.Mutable(fd).List()
				l.Append(v)
				l.Append(v)
			} else {
				m.Set(fd, v)
			}
			add(m)
		}
	}
	return out
}

// Whatever a caller sends, no RPC answers internal or unknown: every
// procedure, every scalar field set to NUL-bearing, huge, hostile or
// out-of-range values (the others valid where the probe knows valid ones),
// as an anonymous caller, a learner, an organization owner and an admin.
func TestProbeNoInternal(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	admin := env.NewUser(t, auth.RoleAdmin)
	owner := env.NewUser(t, auth.RoleBusinessPartner)
	learner := env.NewUser(t, auth.RoleLearner)
	org, err := env.Clients(owner.Auth()).Orgs.CreateOrganization(ctx, connect.NewRequest(&codequestv1.CreateOrganizationRequest{Slug: "probed", Name: "Probed"}))
	if err != nil {
		t.Fatal(err)
	}
	prob, err := env.Clients(admin.Auth()).Problems.CreateProblem(ctx, connect.NewRequest(&codequestv1.CreateProblemRequest{
		Slug: "probed-problem", Title: "Probed", Difficulty: codequestv1.Difficulty_DIFFICULTY_EASY}))
	if err != nil {
		t.Fatal(err)
	}
	real := map[string]string{
		"organization_id": org.Msg.GetOrganization().GetId(), "user_id": learner.ID.String(),
		"problem_id": prob.Msg.GetProblem().GetId(), "problem": "probed-problem", "email": learner.Email,
		"password": "Probe-pass-77", "new_password": "Probe-pass-77", "current_password": apitest.Password,
		"language": "python3", "source": "print(1)\n", "slug": "probe-slug", "title": "T", "display_name": "D",
		"object_key": "problems/" + prob.Msg.GetProblem().GetId() + "/packages/x.zip", "timezone": "Europe/Paris",
		"content_type": "image/png", "refresh_token": learner.Tokens.GetRefreshToken(),
	}
	type job struct{ proc, body, token, who string }
	var jobs []job
	protoregistry.GlobalFiles.RangeFilesByPackage("codequest.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				m := sd.Methods().Get(j)
				proc := "/" + string(sd.FullName()) + "/" + string(m.Name())
				for _, body := range probes(m.Input(), real) {
					for who, token := range map[string]string{
						"anonymous": "", "learner": learner.Tokens.GetAccessToken(),
						"owner": owner.Tokens.GetAccessToken(), "admin": admin.Tokens.GetAccessToken(),
					} {
						// Session-ending calls are probed anonymously only,
						// so the signed-in callers keep their sessions.
						if (strings.Contains(proc, "Logout") || strings.Contains(proc, "Refresh") || strings.Contains(proc, "ChangePassword") ||
							strings.Contains(proc, "SetUser")) && who != "anonymous" {
							continue
						}
						jobs = append(jobs, job{proc, body, token, who})
					}
				}
			}
		}
		return true
	})
	if len(jobs) < 500 {
		t.Fatalf("only %d probes", len(jobs))
	}
	var mu sync.Mutex
	bad := map[string]int{}
	work := make(chan job)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				code := call(t, env, j.proc, j.token, j.body)
				if code == "internal" || code == "unknown" {
					mu.Lock()
					key := fmt.Sprintf("%s as %s: %s (%.200s)", j.proc, j.who, code, j.body)
					if bad[key] == 0 {
						t.Errorf("%s", key)
					}
					bad[key]++
					mu.Unlock()
				}
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	t.Logf("%d probes, %d answered internal or unknown", len(jobs), len(bad))
}
