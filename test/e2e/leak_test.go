package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/apitest"
	"github.com/codequest-dev/codequest/apiserver/auth"
)

// Secret test data never reaches a learner. A learner submits programs that
// pass the sample and then echo their input on standard output and
// standard error and exit with a code made from it (a runtime error), or
// echo it and exit 0 (a wrong answer); every answer and stream message any
// RPC gives the learner is searched for the secret tests' bytes. The
// problem's editor sees the judge's message.
func TestNoSecretTestDataReachesLearners(t *testing.T) {
	p := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	// A package whose secret tests hold unmistakable numbers.
	const secretIn, secretAns = "738291045617", "1476582091234"
	const secretIn2, secretAns2 = "-918273645", "-1836547290"
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../apiserver/problems/testdata/double")); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"data/secret/01.in": secretIn + "\n", "data/secret/01.ans": secretAns + "\n",
		"data/secret/02.in": secretIn2 + "\n", "data/secret/02.ans": secretAns2 + "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// No labelled submissions: nothing to verify before publishing.
	if err := os.RemoveAll(filepath.Join(dir, "submissions")); err != nil {
		t.Fatal(err)
	}
	teacher := p.api.NewUser(t, auth.RoleInstructor)
	tc := p.api.Clients(teacher.Auth())
	created, err := tc.Problems.CreateProblem(ctx, connect.NewRequest(&codequestv1.CreateProblemRequest{
		Slug: "secret-double", Title: "Secret double", Difficulty: codequestv1.Difficulty_DIFFICULTY_EASY,
	}))
	if err != nil {
		t.Fatal(err)
	}
	prob, err := apitest.ImportPackage(ctx, tc, created.Msg.GetProblem().GetId(), apitest.ZipDir(t, dir, "double", nil))
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if _, err := tc.Problems.PublishProblem(ctx, connect.NewRequest(&codequestv1.PublishProblemRequest{ProblemId: prob.GetId()})); err != nil {
		t.Fatal(err)
	}

	learner := p.api.NewUser(t, auth.RoleLearner)
	lc := p.api.Clients(learner.Auth())
	secrets := []string{secretIn, secretAns, secretIn2, secretAns2, "secret/01", "secret/02"}
	var seen []string // every message the learner received, as JSON
	record := func(m proto.Message) {
		b, err := protojson.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, string(b))
	}

	programs := map[string]string{
		"echo and fail": "import sys\ndata = sys.stdin.read()\nn = int(data.split()[0])\nif n == 21:\n    print(42)\n    sys.exit(0)\n" +
			"sys.stdout.write(data * 3)\nsys.stderr.write(data * 3)\nsys.stderr.write('exit %d\\n' % (abs(n) % 200 + 1))\nsys.exit(abs(n) % 200 + 1)\n",
		"echo and pass": "import sys\ndata = sys.stdin.read()\nn = int(data.split()[0])\nif n == 21:\n    print(42)\nelse:\n    sys.stdout.write(data)\n    sys.stderr.write(data)\n",
	}
	var ids []string
	for name, src := range programs {
		res, err := lc.Submissions.Submit(ctx, connect.NewRequest(&codequestv1.SubmitRequest{ProblemId: prob.GetId(), Language: "python3", Source: src}))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		record(res.Msg)
		id := res.Msg.GetSubmission().GetId()
		ids = append(ids, id)
		msgs, err := apitest.Watch(ctx, lc, id)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, m := range msgs {
			record(m)
		}
		last := msgs[len(msgs)-1].GetSubmission()
		// The verdict and where it happened are shown, from structured data.
		if last.GetFailedTest() != 2 || last.GetTests()[1].GetSample() || !last.GetTests()[0].GetSample() {
			t.Errorf("%s: failed test %d, tests %v", name, last.GetFailedTest(), last.GetTests())
		}
		if want := "on test 2 (secret)"; !strings.Contains(last.GetMessage(), want) {
			t.Errorf("%s: message %q lacks %q", name, last.GetMessage(), want)
		}
		got, err := lc.Submissions.GetSubmission(ctx, connect.NewRequest(&codequestv1.GetSubmissionRequest{SubmissionId: id}))
		if err != nil {
			t.Fatal(err)
		}
		record(got.Msg)
		if got.Msg.GetSubmission().GetJudgeMessage() != "" || got.Msg.GetReportUrl() != "" {
			t.Errorf("%s: the learner got the judge's message or report: %v", name, got.Msg)
		}
		code, err := lc.Submissions.GetSubmissionCode(ctx, connect.NewRequest(&codequestv1.GetSubmissionCodeRequest{SubmissionId: id}))
		if err != nil {
			t.Fatal(err)
		}
		record(code.Msg)
	}
	list, err := lc.Submissions.ListSubmissions(ctx, connect.NewRequest(&codequestv1.ListSubmissionsRequest{ProblemId: prob.GetId()}))
	if err != nil {
		t.Fatal(err)
	}
	record(list.Msg)
	// A second replica streams the same, from its own subscription.
	msgs, err := apitest.Watch(ctx, p.replica.Clients(learner.Auth()), ids[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		record(m)
	}
	pr, err := lc.Problems.GetProblem(ctx, connect.NewRequest(&codequestv1.GetProblemRequest{Problem: prob.GetId()}))
	if err != nil {
		t.Fatal(err)
	}
	record(pr.Msg)

	for _, msg := range seen {
		for _, s := range secrets {
			if strings.Contains(msg, s) {
				t.Errorf("a learner's answer holds %q of a secret test: %s", s, msg)
			}
		}
	}
	if len(seen) < 10 {
		t.Errorf("only %d messages searched", len(seen))
	}

	// The problem's editor sees what the judge said, as stored.
	for _, id := range ids {
		got, err := tc.Submissions.GetSubmission(ctx, connect.NewRequest(&codequestv1.GetSubmissionRequest{SubmissionId: id}))
		if err != nil {
			t.Fatalf("the editor's GetSubmission: %v", err)
		}
		var stored string
		if err := p.api.App.Pool.QueryRow(ctx, "SELECT message FROM submissions WHERE id = $1", id).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if got.Msg.GetSubmission().GetJudgeMessage() != stored {
			t.Errorf("the editor sees judge message %q, stored %q", got.Msg.GetSubmission().GetJudgeMessage(), stored)
		}
		t.Logf("%s: the learner reads %q; the editor also %q", id, got.Msg.GetSubmission().GetMessage(), fmt.Sprint(stored))
	}
}
