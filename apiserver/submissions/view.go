package submissions

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/store"
)

// What a judging shows to whom is decided in this file, and only here.
//
// Every string the judge reports (its messages, the program's output on
// the tests) is untrusted: a program can print a secret test's input, and a
// checker's message can quote the expected answer. So the message a
// learner reads is made here from structured data only (the phase, the
// verdict, the 1-based number of the test it happened on, whether that test
// is a sample, time and memory). A learner sees more only where the data
// is theirs or public: the judge's explanation of a failed sample test,
// the compiler's output of their own program, the output of their own Run.
// The problem's editors (its author, its organization's instructors and
// owners, admins) see the judge's message and the full report as well.

// full is a submission as its problem's editors see it.
func full(r store.Submission) *codequestv1.Submission {
	out := &codequestv1.Submission{
		Id: r.ID.String(), ProblemId: r.ProblemID.String(), UserId: r.UserID.String(), Language: r.Language,
		Phase: phases[r.Phase], CurrentTest: r.CurrentTest, TestsPassed: r.TestsPassed,
		TestsTotal: r.TestsTotal, MaxCpuTimeMs: r.MaxCpuMs, PeakMemoryKib: r.PeakMemoryKib,
		CompilerMessage: r.CompilerMessage, CreateTime: timestamppb.New(r.CreatedAt), XpAwarded: r.XpAwarded,
		JudgeMessage: r.Message,
	}
	if r.Verdict != nil {
		out.Verdict = verdictProto(*r.Verdict)
	}
	if r.FinishedAt != nil {
		out.FinishTime = timestamppb.New(*r.FinishedAt)
	}
	samples := r.SampleTests
	if r.Mode == "run" {
		samples = 1 // the learner's own input
	}
	var tests []testJSON
	_ = json.Unmarshal(r.Tests, &tests)
	for i, t := range tests {
		index := int32(i + 1)
		tr := &codequestv1.TestResult{
			Index: index, Verdict: verdictProto(t.Verdict), CpuTimeMs: t.CPUMillis, MemoryKib: t.MemoryKiB,
			Sample: index <= samples,
		}
		out.Tests = append(out.Tests, tr)
		if out.FailedTest == 0 && tr.Verdict != codequestv1.Verdict_VERDICT_ACCEPTED {
			out.FailedTest = index
		}
	}
	out.Message = summary(out, r.Mode == "run")
	return out
}

// forLearner is s (from full) as a learner sees it.
func forLearner(s *codequestv1.Submission) *codequestv1.Submission {
	out := proto.Clone(s).(*codequestv1.Submission)
	out.JudgeMessage = ""
	if out.Verdict != codequestv1.Verdict_VERDICT_COMPILATION_ERROR {
		out.CompilerMessage = ""
	}
	if f := out.GetFailedTest(); f > 0 && int(f) <= len(out.Tests) && out.Tests[f-1].GetSample() && s.GetJudgeMessage() != "" {
		out.Message += ": " + clip(s.GetJudgeMessage(), 300)
	}
	return out
}

// view is s as the caller sees it: everything for editors.
func view(s *codequestv1.Submission, editor bool) *codequestv1.Submission {
	if editor {
		return s
	}
	return forLearner(s)
}

var verdictWords = map[codequestv1.Verdict]string{
	codequestv1.Verdict_VERDICT_ACCEPTED:              "Accepted",
	codequestv1.Verdict_VERDICT_WRONG_ANSWER:          "Wrong answer",
	codequestv1.Verdict_VERDICT_TIME_LIMIT_EXCEEDED:   "Time limit exceeded",
	codequestv1.Verdict_VERDICT_MEMORY_LIMIT_EXCEEDED: "Memory limit exceeded",
	codequestv1.Verdict_VERDICT_OUTPUT_LIMIT_EXCEEDED: "Output limit exceeded",
	codequestv1.Verdict_VERDICT_RUNTIME_ERROR:         "Runtime error",
	codequestv1.Verdict_VERDICT_COMPILATION_ERROR:     "Compilation failed",
	codequestv1.Verdict_VERDICT_INTERNAL_ERROR:        "Judging failed",
}

// summary is the message of s, from its structured fields only.
func summary(s *codequestv1.Submission, run bool) string {
	switch s.GetPhase() {
	case codequestv1.SubmissionPhase_SUBMISSION_PHASE_QUEUED:
		return "Waiting to be judged"
	case codequestv1.SubmissionPhase_SUBMISSION_PHASE_COMPILING:
		return "Compiling"
	case codequestv1.SubmissionPhase_SUBMISSION_PHASE_RUNNING:
		if s.GetCurrentTest() > 0 && s.GetTestsTotal() > 0 && !run {
			return fmt.Sprintf("Running test %d of %d", s.GetCurrentTest(), s.GetTestsTotal())
		}
		return "Running"
	}
	v := s.GetVerdict()
	words, ok := verdictWords[v]
	if !ok {
		return "Finished"
	}
	switch {
	case v == codequestv1.Verdict_VERDICT_ACCEPTED && run:
		return "Ran to the end on your input"
	case v == codequestv1.Verdict_VERDICT_ACCEPTED:
		return fmt.Sprintf("Accepted: %d of %d tests passed", s.GetTestsPassed(), s.GetTestsTotal())
	case v == codequestv1.Verdict_VERDICT_COMPILATION_ERROR:
		return words
	case v == codequestv1.Verdict_VERDICT_INTERNAL_ERROR:
		return words + "; it was not your program's fault, submit again later"
	case run:
		return words + " on your input"
	}
	f := s.GetFailedTest()
	if f == 0 || int(f) > len(s.GetTests()) {
		return words
	}
	kind := "secret"
	if s.GetTests()[f-1].GetSample() {
		kind = "sample"
	}
	return fmt.Sprintf("%s on test %d (%s)", words, f, kind)
}

// clip cuts s to at most n bytes of whole characters.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// storable makes judge-reported text storable in Postgres: valid UTF-8
// without NUL characters (which a program's output may hold).
func storable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}
