package problems_test

import (
	"context"
	"errors"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/apitest"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

func wantCode(t *testing.T, what string, err error, want connect.Code) {
	t.Helper()
	if err == nil || connect.CodeOf(err) != want {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

// upload imports data as the package of a problem.
func upload(t *testing.T, _ *apitest.Env, c apitest.Clients, problemID string, data []byte) (*codequestv1.Problem, error) {
	t.Helper()
	return apitest.ImportPackage(context.Background(), c, problemID, data)
}

func zipDir(t *testing.T, dir, top string, extra map[string]string) []byte {
	return apitest.ZipDir(t, dir, top, extra)
}

func createProblem(t *testing.T, c apitest.Clients, slug string, mod func(*codequestv1.CreateProblemRequest)) *codequestv1.Problem {
	t.Helper()
	req := &codequestv1.CreateProblemRequest{
		Slug: slug, Title: "Double " + slug, Difficulty: codequestv1.Difficulty_DIFFICULTY_EASY,
		Tags: []string{"math", "Warmup"}, Topics: []string{"arithmetic"}, Hints: []string{"multiply", "by two"},
	}
	if mod != nil {
		mod(req)
	}
	res, err := c.Problems.CreateProblem(context.Background(), connect.NewRequest(req))
	if err != nil {
		t.Fatalf("CreateProblem %s: %v", slug, err)
	}
	return res.Msg.GetProblem()
}

func TestAuthorImportPublishRead(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	instructor := env.NewUser(t, auth.RoleInstructor)
	learner := env.NewUser(t, auth.RoleLearner)
	ic, lc := env.Clients(instructor.Auth()), env.Clients(learner.Auth())

	_, err := lc.Problems.CreateProblem(ctx, connect.NewRequest(&codequestv1.CreateProblemRequest{Slug: "nope", Title: "x", Difficulty: codequestv1.Difficulty_DIFFICULTY_EASY}))
	wantCode(t, "learner creates", err, connect.CodePermissionDenied)

	p := createProblem(t, ic, "double", nil)
	if got := p.GetTags(); len(got) != 2 || got[1] != "warmup" {
		t.Errorf("tags = %v", got)
	}
	_, err = ic.Problems.PublishProblem(ctx, connect.NewRequest(&codequestv1.PublishProblemRequest{ProblemId: p.GetId()}))
	wantCode(t, "publish without a package", err, connect.CodeFailedPrecondition)
	_, err = lc.Problems.GetProblem(ctx, connect.NewRequest(&codequestv1.GetProblemRequest{Problem: "double"}))
	wantCode(t, "learner reads a draft", err, connect.CodeNotFound)

	got, err := upload(t, env, ic, p.GetId(), zipDir(t, "testdata/double", "double", nil))
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if got.GetLimits().GetTimeLimitMs() != 1000 || got.GetLimits().GetMemoryMib() != 128 || got.GetLimits().GetOutputMib() != 4 {
		t.Errorf("limits = %v", got.GetLimits())
	}
	if got.GetPackage().GetTestCount() != 3 || len(got.GetPackage().GetSha256()) != 64 || got.GetPackage().GetVerification() != "verifying" {
		t.Errorf("package = %v", got.GetPackage())
	}
	if len(got.GetSamples()) != 1 || got.GetSamples()[0].GetInput() != "21\n" || got.GetSamples()[0].GetOutput() != "42\n" {
		t.Errorf("samples = %v", got.GetSamples())
	}
	if got.GetStatementMarkdown() == "" {
		t.Error("statement not extracted")
	}

	if _, err := ic.Problems.PublishProblem(ctx, connect.NewRequest(&codequestv1.PublishProblemRequest{ProblemId: p.GetId()})); err != nil {
		t.Fatal(err)
	}
	read, err := lc.Problems.GetProblem(ctx, connect.NewRequest(&codequestv1.GetProblemRequest{Problem: "double"}))
	if err != nil {
		t.Fatalf("learner reads: %v", err)
	}
	if read.Msg.GetProblem().GetHintCount() != 2 || len(read.Msg.GetProblem().GetRevealedHints()) != 0 {
		t.Errorf("hints before reveal: %v", read.Msg.GetProblem())
	}
	for i, want := range []int{1, 2, 2} {
		h, err := lc.Problems.RevealHint(ctx, connect.NewRequest(&codequestv1.RevealHintRequest{ProblemId: p.GetId()}))
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Msg.GetRevealedHints()) != want {
			t.Errorf("reveal %d: %v", i, h.Msg.GetRevealedHints())
		}
	}
	_, err = lc.Problems.UpdateProblem(ctx, connect.NewRequest(&codequestv1.UpdateProblemRequest{ProblemId: p.GetId(), Title: new("Mine now")}))
	wantCode(t, "learner edits", err, connect.CodePermissionDenied)

	if _, err := ic.Problems.ArchiveProblem(ctx, connect.NewRequest(&codequestv1.ArchiveProblemRequest{ProblemId: p.GetId()})); err != nil {
		t.Fatal(err)
	}
	_, err = lc.Problems.GetProblem(ctx, connect.NewRequest(&codequestv1.GetProblemRequest{Problem: p.GetId()}))
	wantCode(t, "learner reads an archived problem", err, connect.CodeNotFound)
}

func TestBadPackages(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ic := env.Clients(env.NewUser(t, auth.RoleInstructor).Auth())
	p := createProblem(t, ic, "bad-packages", nil)
	good := zipDir(t, "testdata/double", "", nil)
	for name, data := range map[string][]byte{
		"not a zip":  []byte("hello"),
		"zip slip":   zipDir(t, "testdata/double", "", map[string]string{"../../evil.txt": "x"}),
		"absolute":   zipDir(t, "testdata/double", "", map[string]string{"/etc/evil": "x"}),
		"no problem": zipDir(t, "testdata/double/data", "", nil),
		"truncated":  good[:len(good)/2],
	} {
		_, err := upload(t, env, ic, p.GetId(), data)
		wantCode(t, name, err, connect.CodeFailedPrecondition)
	}
	// A key outside the problem's prefix is refused before any download.
	_, err := ic.Problems.ImportProblemPackage(context.Background(), connect.NewRequest(&codequestv1.ImportProblemPackageRequest{ProblemId: p.GetId(), ObjectKey: "avatars/x.zip"}))
	wantCode(t, "foreign key", err, connect.CodeInvalidArgument)
	// The zip at the top level (no folder) imports too.
	if _, err := upload(t, env, ic, p.GetId(), good); err != nil {
		t.Errorf("flat zip: %v", err)
	}
}

func TestVisibility(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	admin := env.NewUser(t, auth.RoleAdmin)
	partner := env.NewUser(t, auth.RoleBusinessPartner)
	member := env.NewUser(t, auth.RoleLearner)
	outsider := env.NewUser(t, auth.RoleLearner)
	pc, mc, oc := env.Clients(partner.Auth()), env.Clients(member.Auth()), env.Clients(outsider.Auth())
	org, err := pc.Orgs.CreateOrganization(ctx, connect.NewRequest(&codequestv1.CreateOrganizationRequest{Slug: "school", Name: "School"}))
	if err != nil {
		t.Fatal(err)
	}
	orgID := org.Msg.GetOrganization().GetId()
	env.Join(t, pc, orgID, member, codequestv1.OrganizationRole_ORGANIZATION_ROLE_MEMBER)
	pkg := zipDir(t, "testdata/double", "", nil)
	publish := func(c apitest.Clients, slug string, mod func(*codequestv1.CreateProblemRequest)) string {
		p := createProblem(t, c, slug, mod)
		if _, err := upload(t, env, c, p.GetId(), pkg); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Problems.PublishProblem(ctx, connect.NewRequest(&codequestv1.PublishProblemRequest{ProblemId: p.GetId()})); err != nil {
			t.Fatal(err)
		}
		return p.GetId()
	}
	public := publish(pc, "public-one", nil)
	private := publish(pc, "school-only", func(r *codequestv1.CreateProblemRequest) {
		r.Visibility, r.OrganizationId = codequestv1.Visibility_VISIBILITY_ORGANIZATION, orgID
	})
	premium := publish(env.Clients(admin.Auth()), "premium-one", func(r *codequestv1.CreateProblemRequest) {
		r.Visibility = codequestv1.Visibility_VISIBILITY_PREMIUM
	})
	_, err = oc.Problems.CreateProblem(ctx, connect.NewRequest(&codequestv1.CreateProblemRequest{Slug: "intruder", Title: "x",
		Difficulty: codequestv1.Difficulty_DIFFICULTY_EASY, Visibility: codequestv1.Visibility_VISIBILITY_ORGANIZATION, OrganizationId: orgID}))
	wantCode(t, "outsider creates in the organization", err, connect.CodePermissionDenied)

	sees := func(c apitest.Clients) map[string]bool {
		res, err := c.Problems.ListProblems(ctx, connect.NewRequest(&codequestv1.ListProblemsRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, p := range res.Msg.GetProblems() {
			got[p.GetId()] = true
		}
		for _, id := range []string{public, private, premium} {
			_, err := c.Problems.GetProblem(ctx, connect.NewRequest(&codequestv1.GetProblemRequest{Problem: id}))
			if (err == nil) != got[id] {
				t.Errorf("GetProblem(%s) = %v but listing says %v", id, err, got[id])
			}
		}
		return got
	}
	if got := sees(mc); !got[public] || !got[private] || got[premium] {
		t.Errorf("member sees %v", got)
	}
	if got := sees(oc); !got[public] || got[private] || got[premium] {
		t.Errorf("outsider sees %v", got)
	}
	// Premium comes with a subscription; the cached listing follows.
	if _, err := env.App.Pool.Exec(ctx, `UPDATE users SET premium_until = now() + interval '1 day' WHERE id = $1`, outsider.ID); err != nil {
		t.Fatal(err)
	}
	if got := sees(oc); !got[premium] {
		t.Errorf("premium outsider sees %v", got)
	}
}

func TestListingFiltersPagesAndCache(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	ic := env.Clients(env.NewUser(t, auth.RoleInstructor).Auth())
	pkg := zipDir(t, "testdata/double", "", nil)
	var ids []string
	for i, d := range []codequestv1.Difficulty{codequestv1.Difficulty_DIFFICULTY_EASY, codequestv1.Difficulty_DIFFICULTY_HARD, codequestv1.Difficulty_DIFFICULTY_EASY, codequestv1.Difficulty_DIFFICULTY_MEDIUM, codequestv1.Difficulty_DIFFICULTY_EASY} {
		p := createProblem(t, ic, "list-"+string(rune('a'+i)), func(r *codequestv1.CreateProblemRequest) {
			r.Difficulty = d
			if i%2 == 0 {
				r.Tags = []string{"graphs"}
			}
		})
		if _, err := upload(t, env, ic, p.GetId(), pkg); err != nil {
			t.Fatal(err)
		}
		if _, err := ic.Problems.PublishProblem(ctx, connect.NewRequest(&codequestv1.PublishProblemRequest{ProblemId: p.GetId()})); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.GetId())
	}
	lc := env.Clients(env.NewUser(t, auth.RoleLearner).Auth())
	var seen []string
	token := ""
	for range 10 {
		res, err := lc.Problems.ListProblems(ctx, connect.NewRequest(&codequestv1.ListProblemsRequest{PageSize: 2, PageToken: token}))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range res.Msg.GetProblems() {
			seen = append(seen, p.GetId())
			if p.GetStatementMarkdown() != "" || len(p.GetSamples()) != 0 {
				t.Errorf("listing leaks the statement")
			}
		}
		token = res.Msg.GetNextPageToken()
		if token == "" {
			break
		}
	}
	if len(seen) != 5 || seen[0] != ids[4] || seen[4] != ids[0] {
		t.Errorf("pages = %v, want newest first of %v", seen, ids)
	}
	count := func(r *codequestv1.ListProblemsRequest) int {
		res, err := lc.Problems.ListProblems(ctx, connect.NewRequest(r))
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Msg.GetProblems())
	}
	if n := count(&codequestv1.ListProblemsRequest{Difficulty: codequestv1.Difficulty_DIFFICULTY_EASY}); n != 3 {
		t.Errorf("easy = %d", n)
	}
	if n := count(&codequestv1.ListProblemsRequest{Tag: "graphs"}); n != 3 {
		t.Errorf("tag graphs = %d", n)
	}
	if n := count(&codequestv1.ListProblemsRequest{Query: "list-b"}); n != 1 {
		t.Errorf("query = %d", n)
	}
	if n := count(&codequestv1.ListProblemsRequest{Solved: new(true)}); n != 0 {
		t.Errorf("solved = %d", n)
	}
	// A cached listing is invalidated by a write: a title change shows at once.
	if _, err := ic.Problems.UpdateProblem(ctx, connect.NewRequest(&codequestv1.UpdateProblemRequest{ProblemId: ids[4], Title: new("Renamed")})); err != nil {
		t.Fatal(err)
	}
	res, err := lc.Problems.ListProblems(ctx, connect.NewRequest(&codequestv1.ListProblemsRequest{PageSize: 1}))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Msg.GetProblems()[0].GetTitle(); got != "Renamed" {
		t.Errorf("cached listing after update: %q", got)
	}
	_, err = lc.Problems.ListProblems(ctx, connect.NewRequest(&codequestv1.ListProblemsRequest{PageToken: "garbage"}))
	wantCode(t, "bad page token", err, connect.CodeInvalidArgument)
	var ce *connect.Error
	if errors.As(err, &ce) && len(ce.Details()) == 0 {
		t.Error("no field details")
	}
	_, err = lc.Problems.GetProblem(ctx, connect.NewRequest(&codequestv1.GetProblemRequest{Problem: uuid.NewString()}))
	wantCode(t, "unknown problem", err, connect.CodeNotFound)
}
