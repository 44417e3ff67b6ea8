package problems

import (
	"encoding/json"

	"google.golang.org/protobuf/types/known/timestamppb"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/store"
)

var difficulties = map[string]codequestv1.Difficulty{
	"easy": codequestv1.Difficulty_DIFFICULTY_EASY, "medium": codequestv1.Difficulty_DIFFICULTY_MEDIUM, "hard": codequestv1.Difficulty_DIFFICULTY_HARD,
}

var statuses = map[string]codequestv1.ProblemStatus{
	"draft": codequestv1.ProblemStatus_PROBLEM_STATUS_DRAFT, "published": codequestv1.ProblemStatus_PROBLEM_STATUS_PUBLISHED,
	"archived": codequestv1.ProblemStatus_PROBLEM_STATUS_ARCHIVED,
}

var visibilities = map[string]codequestv1.Visibility{
	"public": codequestv1.Visibility_VISIBILITY_PUBLIC, "premium": codequestv1.Visibility_VISIBILITY_PREMIUM,
	"organization": codequestv1.Visibility_VISIBILITY_ORGANIZATION,
}

func reverse[E comparable](m map[string]E, e E) string {
	for k, v := range m {
		if v == e {
			return k
		}
	}
	return ""
}

// full is what GetProblem shows: everything but the hints not yet revealed.
func full(p store.Problem, solved bool, revealed int) *codequestv1.Problem {
	out := summary(p, solved)
	out.StatementMarkdown = p.StatementMd
	var samples []sample
	_ = json.Unmarshal(p.Samples, &samples)
	for _, s := range samples {
		out.Samples = append(out.Samples, &codequestv1.Sample{Name: s.Name, Input: s.Input, Output: s.Output})
	}
	revealed = min(revealed, len(p.Hints))
	out.RevealedHints = append([]string{}, p.Hints[:revealed]...)
	return out
}

// summary is what listings show.
func summary(p store.Problem, solved bool) *codequestv1.Problem {
	out := &codequestv1.Problem{
		Id:              p.ID.String(),
		Slug:            p.Slug,
		Title:           p.Title,
		Difficulty:      difficulties[p.Difficulty],
		Status:          statuses[p.Status],
		Visibility:      visibilities[p.Visibility],
		Limits:          &codequestv1.Limits{TimeLimitMs: p.TimeLimitMs, MemoryMib: p.MemoryMib, OutputMib: p.OutputMib},
		Tags:            p.Tags,
		Topics:          p.Topics,
		Languages:       p.Languages,
		HintCount:       int32(len(p.Hints)),
		SubmissionCount: p.SubmissionCount,
		AcceptedCount:   p.AcceptedCount,
		Solved:          solved,
		CreateTime:      timestamppb.New(p.CreatedAt),
		UpdateTime:      timestamppb.New(p.UpdatedAt),
	}
	if p.SubmissionCount > 0 {
		out.AcceptanceRate = float64(p.AcceptedCount) / float64(p.SubmissionCount)
	}
	if p.OrganizationID != nil {
		out.OrganizationId = p.OrganizationID.String()
	}
	if p.AuthorID != nil {
		out.AuthorId = p.AuthorID.String()
	}
	if p.PackageKey != nil {
		out.Package = &codequestv1.PackageInfo{
			TestCount: p.PackageTests, Validation: p.Validation, Verification: p.Verification,
		}
		if p.PackageSha256 != nil {
			out.Package.Sha256 = *p.PackageSha256
		}
		if p.PackageSize != nil {
			out.Package.SizeBytes = *p.PackageSize
		}
		if p.ImportedAt != nil {
			out.Package.ImportTime = timestamppb.New(*p.ImportedAt)
		}
	}
	return out
}

// rowProblem converts a listing row back to a problem.
func rowProblem(r store.ListProblemsRow) store.Problem {
	return store.Problem{
		ID: r.ID, Slug: r.Slug, Title: r.Title, StatementMd: r.StatementMd, Difficulty: r.Difficulty,
		Status: r.Status, Visibility: r.Visibility, OrganizationID: r.OrganizationID, AuthorID: r.AuthorID,
		Tags: r.Tags, Topics: r.Topics, Hints: r.Hints, Languages: r.Languages,
		TimeLimitMs: r.TimeLimitMs, MemoryMib: r.MemoryMib, OutputMib: r.OutputMib, Samples: r.Samples,
		PackageKey: r.PackageKey, PackageSha256: r.PackageSha256, PackageSize: r.PackageSize,
		PackageTests: r.PackageTests, Validation: r.Validation, ImportedAt: r.ImportedAt,
		Verification: r.Verification, SubmissionCount: r.SubmissionCount, AcceptedCount: r.AcceptedCount,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}
