// Package problems is the ProblemService: authoring problems, importing
// their Kattis/ICPC packages from object storage, and reading them with
// per-caller visibility, hints revealed one at a time, and Redis-cached
// listings.
package problems

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"google.golang.org/protobuf/types/known/timestamppb"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/api/proto/codequest/v1/codequestv1connect"
	"github.com/codequest-dev/codequest/apiserver/apierr"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/objects"
	"github.com/codequest-dev/codequest/apiserver/policy"
	"github.com/codequest-dev/codequest/apiserver/store"
	"github.com/codequest-dev/codequest/judge"
)

// Publisher makes an imported problem available to the judge: it creates
// or updates the Problem custom resource pointing at the package.
type Publisher interface {
	PublishProblem(ctx context.Context, p store.Problem) error
}

// Service implements codequestv1connect.ProblemServiceHandler.
type Service struct {
	codequestv1connect.UnimplementedProblemServiceHandler
	st        *store.Store
	obj       *objects.Store
	rdb       *redis.Client
	publisher Publisher
	jobs      JobInserter
	log       *slog.Logger
	// ListTTL bounds how long a cached listing lives; writes invalidate
	// sooner.
	ListTTL time.Duration
}

var _ codequestv1connect.ProblemServiceHandler = (*Service)(nil)

// New returns the ProblemService. publisher may be nil where no
// Kubernetes API is configured; imports then stop at Postgres.
func New(st *store.Store, obj *objects.Store, rdb *redis.Client, publisher Publisher, jobs JobInserter, log *slog.Logger) *Service {
	return &Service{st: st, obj: obj, rdb: rdb, publisher: publisher, jobs: jobs, log: log, ListTTL: time.Minute}
}

var (
	slugRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,58}[a-z0-9]$`)
	tagRE       = regexp.MustCompile(`^[a-z0-9][a-z0-9+#.-]{0,39}$`)
	languageIDs = []string{"python3", "javascript", "typescript", "cpp", "java", "go"}
	errNotFound = apierr.New(apierr.ErrNotFound, "problem not found")
)

const (
	maxHints      = 10
	maxHintLength = 2000
	maxTags       = 20
	packageTTL    = 15 * time.Minute
)

func caller(ctx context.Context) (*auth.Caller, error) {
	c := auth.CallerFrom(ctx)
	if c == nil {
		return nil, apierr.New(apierr.ErrUnauthenticated, "sign in first")
	}
	return c, nil
}

// checkLabels validates a list of tags or topics.
func checkLabels(v *apierr.Validation, field string, labels []string) []string {
	if len(labels) > maxTags {
		v.Add(field, "at most %d", maxTags)
	}
	out := make([]string, 0, len(labels))
	for i, l := range labels {
		l = strings.ToLower(strings.TrimSpace(l))
		if !tagRE.MatchString(l) {
			v.Add(fmt.Sprintf("%s[%d]", field, i), "must be 1 to 40 lower-case letters, digits or +#.-")
			continue
		}
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// oneLabel validates an optional single tag or topic filter.
func oneLabel(v *apierr.Validation, field, label string) *string {
	if label == "" {
		return nil
	}
	l := strings.ToLower(strings.TrimSpace(label))
	if !tagRE.MatchString(l) {
		v.Add(field, "must be 1 to 40 lower-case letters, digits or +#.-")
		return nil
	}
	return &l
}

func checkHints(v *apierr.Validation, hints []string) []string {
	if len(hints) > maxHints {
		v.Add("hints", "at most %d", maxHints)
	}
	out := make([]string, 0, len(hints))
	for i, h := range hints {
		h = strings.TrimSpace(h)
		if h == "" || utf8.RuneCountInString(h) > maxHintLength || !utf8.ValidString(h) {
			v.Add(fmt.Sprintf("hints[%d]", i), "must be 1 to %d characters", maxHintLength)
			continue
		}
		out = append(out, h)
	}
	return out
}

func checkLanguages(v *apierr.Validation, langs []string) []string {
	out := make([]string, 0, len(langs))
	for i, l := range langs {
		if !slices.Contains(languageIDs, l) {
			v.Add(fmt.Sprintf("languages[%d]", i), "must be one of %s", strings.Join(languageIDs, ", "))
			continue
		}
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

func checkTitle(v *apierr.Validation, title string) string {
	title = strings.TrimSpace(title)
	if n := utf8.RuneCountInString(title); n < 1 || n > 200 || !utf8.ValidString(title) {
		v.Add("title", "must be 1 to 200 characters")
	}
	return title
}

// CreateProblem implements ProblemService.CreateProblem.
func (s *Service) CreateProblem(ctx context.Context, req *connect.Request[codequestv1.CreateProblemRequest]) (*connect.Response[codequestv1.CreateProblemResponse], error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	m := req.Msg
	v := &apierr.Validation{}
	v.Check(slugRE.MatchString(m.GetSlug()), "slug", "must be 3 to 60 lower-case letters, digits and dashes")
	title := checkTitle(v, m.GetTitle())
	difficulty := reverse(difficulties, m.GetDifficulty())
	v.Check(difficulty != "", "difficulty", "is required")
	visibility := reverse(visibilities, m.GetVisibility())
	if m.GetVisibility() == codequestv1.Visibility_VISIBILITY_UNSPECIFIED {
		visibility = "public"
	}
	v.Check(visibility != "", "visibility", "is not a known visibility")
	var orgID *uuid.UUID
	if visibility == "organization" {
		id, err := uuid.Parse(m.GetOrganizationId())
		if err != nil {
			v.Add("organization_id", "must be the UUID of an organization for organization problems")
		} else {
			orgID = &id
		}
	} else if m.GetOrganizationId() != "" {
		v.Add("organization_id", "is only for organization problems")
	}
	tags := checkLabels(v, "tags", m.GetTags())
	topics := checkLabels(v, "topics", m.GetTopics())
	hints := checkHints(v, m.GetHints())
	langs := checkLanguages(v, m.GetLanguages())
	v.Check(len(m.GetStatementMarkdown()) <= maxStatement, "statement_markdown", "must be at most %d bytes", maxStatement)
	if err := v.Err(); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	if orgID == nil && c.Role != auth.RoleAdmin && c.Role != auth.RoleInstructor && c.Role != auth.RoleBusinessPartner {
		return nil, apierr.Connect(ctx, apierr.New(apierr.ErrPermission, "only instructors, business partners and admins may add public or premium problems"))
	}
	if orgID != nil && !c.IsAdmin() {
		role, err := s.orgRole(ctx, *orgID, c.UserID)
		if err != nil {
			return nil, apierr.Connect(ctx, err)
		}
		if policy.OrgRoleRank(role) < policy.OrgRoleRank(policy.OrgRoleInstructor) {
			return nil, apierr.Connect(ctx, apierr.New(apierr.ErrPermission, "only instructors of the organization may add its problems"))
		}
	}
	p, err := s.st.CreateProblem(ctx, store.CreateProblemParams{
		Slug: m.GetSlug(), Title: title, StatementMd: m.GetStatementMarkdown(), Difficulty: difficulty,
		Visibility: visibility, OrganizationID: orgID, AuthorID: &c.UserID,
		Tags: tags, Topics: topics, Hints: hints, Languages: langs,
	})
	if store.IsUniqueViolation(err, "") {
		return nil, apierr.Connect(ctx, apierr.New(apierr.ErrAlreadyExists, "a problem with slug %q exists", m.GetSlug()))
	}
	if store.IsForeignKeyViolation(err) {
		return nil, apierr.Connect(ctx, apierr.New(apierr.ErrNotFound, "organization not found"))
	}
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("create problem: %w", err))
	}
	s.invalidate(ctx)
	return connect.NewResponse(&codequestv1.CreateProblemResponse{Problem: full(p, false, len(p.Hints))}), nil
}

func (s *Service) orgRole(ctx context.Context, org, user uuid.UUID) (string, error) {
	m, err := s.st.GetMembership(ctx, store.GetMembershipParams{OrganizationID: org, UserID: user})
	if store.IsNoRows(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("membership: %w", err)
	}
	return m.Role, nil
}

// canEdit: admins, the author, and instructors or owners of the problem's
// organization.
func (s *Service) canEdit(ctx context.Context, c *auth.Caller, p store.Problem) (bool, error) {
	if c.IsAdmin() || (p.AuthorID != nil && *p.AuthorID == c.UserID) {
		return true, nil
	}
	if p.OrganizationID == nil {
		return false, nil
	}
	role, err := s.orgRole(ctx, *p.OrganizationID, c.UserID)
	return policy.OrgRoleRank(role) >= policy.OrgRoleRank(policy.OrgRoleInstructor), err
}

// canSee: editors always; others only published problems they are
// entitled to.
func (s *Service) canSee(ctx context.Context, c *auth.Caller, p store.Problem) (bool, error) {
	if ok, err := s.canEdit(ctx, c, p); ok || err != nil {
		return ok, err
	}
	if p.Status != "published" {
		return false, nil
	}
	switch p.Visibility {
	case "public":
		return true, nil
	case "premium":
		return s.premium(ctx, c)
	case "organization":
		role, err := s.orgRole(ctx, *p.OrganizationID, c.UserID)
		return role != "", err
	}
	return false, nil
}

// premium: premium accounts, and staff who author content.
func (s *Service) premium(ctx context.Context, c *auth.Caller) (bool, error) {
	if c.Role == auth.RoleAdmin || c.Role == auth.RoleInstructor {
		return true, nil
	}
	u, err := s.st.GetUser(ctx, c.UserID)
	if err != nil {
		return false, fmt.Errorf("user: %w", err)
	}
	return u.PremiumUntil != nil && u.PremiumUntil.After(time.Now()), nil
}

// editable loads a problem the caller may edit, or fails with NotFound (for
// problems they cannot see) or PermissionDenied.
func (s *Service) editable(ctx context.Context, rawID string) (*auth.Caller, store.Problem, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, store.Problem{}, err
	}
	id, err := uuid.Parse(rawID)
	if err != nil {
		v := &apierr.Validation{}
		v.Add("problem_id", "must be a UUID")
		return nil, store.Problem{}, v
	}
	p, err := s.st.GetProblem(ctx, id)
	if store.IsNoRows(err) {
		return nil, store.Problem{}, errNotFound
	}
	if err != nil {
		return nil, store.Problem{}, fmt.Errorf("get problem: %w", err)
	}
	ok, err := s.canEdit(ctx, c, p)
	if err != nil {
		return nil, store.Problem{}, err
	}
	if !ok {
		if see, _ := s.canSee(ctx, c, p); !see {
			return nil, store.Problem{}, errNotFound
		}
		return nil, store.Problem{}, apierr.New(apierr.ErrPermission, "only the problem's author, its organization's instructors and admins may change it")
	}
	return c, p, nil
}

// UpdateProblem implements ProblemService.UpdateProblem.
func (s *Service) UpdateProblem(ctx context.Context, req *connect.Request[codequestv1.UpdateProblemRequest]) (*connect.Response[codequestv1.UpdateProblemResponse], error) {
	m := req.Msg
	_, p, err := s.editable(ctx, m.GetProblemId())
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	v := &apierr.Validation{}
	params := store.UpdateProblemParams{ID: p.ID}
	if m.Title != nil {
		t := checkTitle(v, m.GetTitle())
		params.Title = &t
	}
	if m.StatementMarkdown != nil {
		v.Check(len(m.GetStatementMarkdown()) <= maxStatement, "statement_markdown", "must be at most %d bytes", maxStatement)
		params.StatementMd = m.StatementMarkdown
	}
	if d := m.GetDifficulty(); d != codequestv1.Difficulty_DIFFICULTY_UNSPECIFIED {
		ds := reverse(difficulties, d)
		v.Check(ds != "", "difficulty", "is not a known difficulty")
		params.Difficulty = &ds
	}
	if vis := m.GetVisibility(); vis != codequestv1.Visibility_VISIBILITY_UNSPECIFIED {
		vs := reverse(visibilities, vis)
		v.Check(vs != "", "visibility", "is not a known visibility")
		v.Check((vs == "organization") == (p.OrganizationID != nil), "visibility",
			"organization problems stay in their organization; others cannot become organization problems")
		params.Visibility = &vs
	}
	if m.GetReplaceTags() || len(m.GetTags()) > 0 {
		params.Tags = checkLabels(v, "tags", m.GetTags())
	}
	if m.GetReplaceTopics() || len(m.GetTopics()) > 0 {
		params.Topics = checkLabels(v, "topics", m.GetTopics())
	}
	if m.GetReplaceHints() || len(m.GetHints()) > 0 {
		params.Hints = checkHints(v, m.GetHints())
	}
	if m.GetReplaceLanguages() || len(m.GetLanguages()) > 0 {
		params.Languages = checkLanguages(v, m.GetLanguages())
	}
	if err := v.Err(); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	up, err := s.st.UpdateProblem(ctx, params)
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("update problem: %w", err))
	}
	s.invalidate(ctx)
	if up.PackageKey != nil {
		s.publish(ctx, up)
	}
	return connect.NewResponse(&codequestv1.UpdateProblemResponse{Problem: full(up, false, len(up.Hints))}), nil
}

// PublishProblem implements ProblemService.PublishProblem.
func (s *Service) PublishProblem(ctx context.Context, req *connect.Request[codequestv1.PublishProblemRequest]) (*connect.Response[codequestv1.PublishProblemResponse], error) {
	_, p, err := s.editable(ctx, req.Msg.GetProblemId())
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	if p.PackageKey == nil {
		return nil, apierr.Connect(ctx, apierr.New(apierr.ErrFailedPrecondition, "import a problem package before publishing"))
	}
	if p.Verification == "disagreed" {
		return nil, apierr.Connect(ctx, apierr.New(apierr.ErrFailedPrecondition, "the package's labelled submissions do not all get their labels; fix the package first"))
	}
	up, err := s.st.SetProblemStatus(ctx, store.SetProblemStatusParams{ID: p.ID, Status: "published"})
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("publish: %w", err))
	}
	s.invalidate(ctx)
	return connect.NewResponse(&codequestv1.PublishProblemResponse{Problem: full(up, false, len(up.Hints))}), nil
}

// ArchiveProblem implements ProblemService.ArchiveProblem.
func (s *Service) ArchiveProblem(ctx context.Context, req *connect.Request[codequestv1.ArchiveProblemRequest]) (*connect.Response[codequestv1.ArchiveProblemResponse], error) {
	_, p, err := s.editable(ctx, req.Msg.GetProblemId())
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	status := "archived"
	if p.PackageKey == nil {
		// A draft without a package cannot be published later either way;
		// the CHECK constraint keeps it a draft.
		return nil, apierr.Connect(ctx, apierr.New(apierr.ErrFailedPrecondition, "a draft without a package has nothing to archive"))
	}
	up, err := s.st.SetProblemStatus(ctx, store.SetProblemStatusParams{ID: p.ID, Status: status})
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("archive: %w", err))
	}
	s.invalidate(ctx)
	return connect.NewResponse(&codequestv1.ArchiveProblemResponse{Problem: full(up, false, len(up.Hints))}), nil
}

func packagePrefix(id uuid.UUID) string { return "problems/" + id.String() + "/packages/" }

// CreatePackageUpload implements ProblemService.CreatePackageUpload.
func (s *Service) CreatePackageUpload(ctx context.Context, req *connect.Request[codequestv1.CreatePackageUploadRequest]) (*connect.Response[codequestv1.CreatePackageUploadResponse], error) {
	_, p, err := s.editable(ctx, req.Msg.GetProblemId())
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	if n := req.Msg.GetSizeBytes(); n <= 0 || n > maxPackageBytes {
		v := &apierr.Validation{}
		v.Add("size_bytes", "must be 1 to %d", maxPackageBytes)
		return nil, apierr.Connect(ctx, v)
	}
	key := packagePrefix(p.ID) + uuid.NewString() + ".zip"
	u, h, err := s.obj.PresignPut(ctx, key, "application/zip", req.Msg.GetSizeBytes(), packageTTL)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	headers := map[string]string{}
	for k := range h {
		headers[k] = h.Get(k)
	}
	return connect.NewResponse(&codequestv1.CreatePackageUploadResponse{
		UploadUrl: u.String(), Headers: headers, ObjectKey: key, ExpireTime: timestamppb.New(time.Now().Add(packageTTL)),
	}), nil
}

// ImportProblemPackage implements ProblemService.ImportProblemPackage.
func (s *Service) ImportProblemPackage(ctx context.Context, req *connect.Request[codequestv1.ImportProblemPackageRequest]) (*connect.Response[codequestv1.ImportProblemPackageResponse], error) {
	_, p, err := s.editable(ctx, req.Msg.GetProblemId())
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	key := req.Msg.GetObjectKey()
	if !strings.HasPrefix(key, packagePrefix(p.ID)) || strings.Contains(key, "..") {
		v := &apierr.Validation{}
		v.Add("object_key", "must come from CreatePackageUpload for this problem")
		return nil, apierr.Connect(ctx, v)
	}
	up, err := s.importPackage(ctx, p, key)
	var bad *errBadPackage
	if errors.As(err, &bad) {
		return nil, apierr.Connect(ctx, apierr.New(apierr.ErrFailedPrecondition, "%s", bad.msg))
	}
	if errors.Is(err, objects.ErrNotFound) {
		return nil, apierr.Connect(ctx, apierr.New(apierr.ErrFailedPrecondition, "nothing was uploaded at object_key"))
	}
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("import package: %w", err))
	}
	s.invalidate(ctx)
	s.publish(ctx, up)
	return connect.NewResponse(&codequestv1.ImportProblemPackageResponse{Problem: full(up, false, len(up.Hints))}), nil
}

func (s *Service) importPackage(ctx context.Context, p store.Problem, key string) (store.Problem, error) {
	rc, err := s.obj.Get(ctx, key)
	if err != nil {
		return store.Problem{}, err
	}
	defer rc.Close()
	tmp, err := os.MkdirTemp("", "codequest-import-*")
	if err != nil {
		return store.Problem{}, err
	}
	defer os.RemoveAll(tmp)
	sp, err := spool(tmp, rc)
	if err != nil {
		return store.Problem{}, err
	}
	root, err := unpack(sp.path, tmp+"/pkg")
	if err != nil {
		return store.Problem{}, err
	}
	ex, err := inspect(root)
	if err != nil {
		return store.Problem{}, err
	}
	lim, err := packageLimits(ex.problem)
	if err != nil {
		return store.Problem{}, err
	}
	samples, err := json.Marshal(ex.samples)
	if err != nil {
		return store.Problem{}, err
	}
	// The judge fetches a normalized tar.gz; the uploaded zip goes away.
	jp, err := judgePackage(root, tmp+"/judge.tar.gz")
	if err != nil {
		return store.Problem{}, fmt.Errorf("repack: %w", err)
	}
	jf, err := os.Open(jp.path)
	if err != nil {
		return store.Problem{}, err
	}
	defer jf.Close()
	judgeKey := "problems/" + p.ID.String() + "/judge/" + jp.sha256 + ".tar.gz"
	if err := s.obj.Put(ctx, judgeKey, jf, jp.size, "application/gzip"); err != nil {
		return store.Problem{}, err
	}
	if err := s.obj.Delete(ctx, key); err != nil {
		s.log.WarnContext(ctx, "delete uploaded package", "key", key, "error", err)
	}
	verification := ""
	if len(ex.problem.Submissions) > 0 {
		verification = "verifying"
	}
	validation := "default"
	switch ex.problem.Validation {
	case judge.ValidationCustom:
		validation = "custom"
	case judge.ValidationInteractive:
		validation = "interactive"
	}
	up, err := s.st.SetProblemPackage(ctx, store.SetProblemPackageParams{
		ID: p.ID, PackageKey: &judgeKey, PackageSha256: &jp.sha256, PackageSize: &jp.size,
		PackageTests: int32(len(ex.problem.Tests)), SampleTests: int32(ex.sampleTests), Validation: validation,
		TimeLimitMs: lim.timeMillis, MemoryMib: lim.memoryMiB, OutputMib: lim.outputMiB,
		Samples: samples, StatementMd: ex.statement, Verification: verification,
	})
	if err != nil {
		// The row does not point at the package: it goes.
		if derr := s.obj.Delete(context.WithoutCancel(ctx), judgeKey); derr != nil {
			s.log.WarnContext(ctx, "delete the package of a failed import", "key", judgeKey, "error", derr)
		}
		return store.Problem{}, err
	}
	return up, nil
}

// limits are a package's limits in the units and ranges of the problems
// table.
type limits struct {
	timeMillis, memoryMiB, outputMiB int32
}

// packageLimits checks a package's limits against what the database (and
// the judge) accepts, before anything is written.
func packageLimits(p *judge.Problem) (limits, error) {
	mib := func(b int64, def int64) int64 {
		if b <= 0 {
			return def
		}
		return (b + 1<<20 - 1) >> 20
	}
	ms := int64(p.TimeLimit / time.Millisecond)
	mem, out := mib(p.Memory, 256), mib(p.Output, 8)
	switch {
	case ms < 1 || ms > 60000:
		return limits{}, badPackage("the time limit must be between 1 ms and 60 s, not %v", p.TimeLimit)
	case mem < 1 || mem > 8192:
		return limits{}, badPackage("the memory limit must be between 1 MiB and 8 GiB, not %d MiB", mem)
	case out < 1 || out > 1024:
		return limits{}, badPackage("the output limit must be between 1 MiB and 1 GiB, not %d MiB", out)
	case len(p.Tests) > 100000:
		return limits{}, badPackage("the package has more than 100000 tests")
	}
	return limits{timeMillis: int32(ms), memoryMiB: int32(mem), outputMiB: int32(out)}, nil
}

// publish hands the problem to the judge. A failure does not fail the
// request (the row is the truth): a durable job retries it.
func (s *Service) publish(ctx context.Context, p store.Problem) {
	if s.publisher == nil {
		return
	}
	err := s.publisher.PublishProblem(ctx, p)
	if err == nil {
		return
	}
	s.log.WarnContext(ctx, "publish problem resource; retrying in the background", "problem", p.ID, "error", err)
	if s.jobs == nil {
		return
	}
	if _, err := s.jobs.Insert(ctx, PublishArgs{ProblemID: p.ID}, nil); err != nil {
		s.log.ErrorContext(ctx, "enqueue problem publication", "problem", p.ID, "error", err)
	}
}

// JobInserter enqueues durable jobs (a *river.Client).
type JobInserter interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// PublishArgs is the durable retry of a Problem resource's publication.
type PublishArgs struct {
	ProblemID uuid.UUID `json:"problem_id"`
}

// Kind implements river.JobArgs.
func (PublishArgs) Kind() string { return "publish_problem" }

// InsertOpts puts publications on the dispatch queue, deduplicated while
// one is pending.
func (PublishArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: PublishQueue, MaxAttempts: 25, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// PublishQueue is the River queue of publications.
const PublishQueue = "dispatch"

// PublishWorker publishes the current row of a problem.
type PublishWorker struct {
	river.WorkerDefaults[PublishArgs]
	Service *Service
}

// Work implements river.Worker.
func (w *PublishWorker) Work(ctx context.Context, job *river.Job[PublishArgs]) error {
	p, err := w.Service.st.GetProblem(ctx, job.Args.ProblemID)
	if store.IsNoRows(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if p.PackageKey == nil || w.Service.publisher == nil {
		return nil
	}
	return w.Service.publisher.PublishProblem(ctx, p)
}

// lookup finds a problem by id or slug.
func (s *Service) lookup(ctx context.Context, ref string) (store.Problem, error) {
	var p store.Problem
	var err error
	if id, perr := uuid.Parse(ref); perr == nil {
		p, err = s.st.GetProblem(ctx, id)
	} else if slugRE.MatchString(ref) {
		p, err = s.st.GetProblemBySlug(ctx, ref)
	} else {
		v := &apierr.Validation{}
		v.Add("problem", "must be a problem id or slug")
		return p, v
	}
	if store.IsNoRows(err) {
		return p, errNotFound
	}
	return p, err
}

// GetProblem implements ProblemService.GetProblem.
func (s *Service) GetProblem(ctx context.Context, req *connect.Request[codequestv1.GetProblemRequest]) (*connect.Response[codequestv1.GetProblemResponse], error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	p, err := s.lookup(ctx, req.Msg.GetProblem())
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	if ok, err := s.canSee(ctx, c, p); err != nil || !ok {
		if err == nil {
			err = errNotFound // never confirm that a hidden problem exists
		}
		return nil, apierr.Connect(ctx, err)
	}
	solved, revealed := false, 0
	up, err := s.st.GetUserProblem(ctx, store.GetUserProblemParams{UserID: c.UserID, ProblemID: p.ID})
	switch {
	case err == nil:
		solved, revealed = up.SolvedAt != nil, int(up.HintsRevealed)
	case !store.IsNoRows(err):
		return nil, apierr.Connect(ctx, fmt.Errorf("user problem: %w", err))
	}
	if edit, _ := s.canEdit(ctx, c, p); edit {
		revealed = len(p.Hints)
	}
	return connect.NewResponse(&codequestv1.GetProblemResponse{Problem: full(p, solved, revealed)}), nil
}

// RevealHint implements ProblemService.RevealHint.
func (s *Service) RevealHint(ctx context.Context, req *connect.Request[codequestv1.RevealHintRequest]) (*connect.Response[codequestv1.RevealHintResponse], error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	if _, err := uuid.Parse(req.Msg.GetProblemId()); err != nil {
		v := &apierr.Validation{}
		v.Add("problem_id", "must be a UUID")
		return nil, apierr.Connect(ctx, v)
	}
	p, err := s.lookup(ctx, req.Msg.GetProblemId())
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	if ok, err := s.canSee(ctx, c, p); err != nil || !ok {
		if err == nil {
			err = errNotFound
		}
		return nil, apierr.Connect(ctx, err)
	}
	if len(p.Hints) == 0 {
		return nil, apierr.Connect(ctx, apierr.New(apierr.ErrFailedPrecondition, "this problem has no hints"))
	}
	n, err := s.st.RevealHint(ctx, store.RevealHintParams{UserID: c.UserID, ProblemID: p.ID, HintCount: int32(len(p.Hints))})
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("reveal hint: %w", err))
	}
	return connect.NewResponse(&codequestv1.RevealHintResponse{
		RevealedHints: append([]string{}, p.Hints[:n]...), HintCount: int32(len(p.Hints)),
	}), nil
}

// ListProblems implements ProblemService.ListProblems.
func (s *Service) ListProblems(ctx context.Context, req *connect.Request[codequestv1.ListProblemsRequest]) (*connect.Response[codequestv1.ListProblemsResponse], error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	m := req.Msg
	v := &apierr.Validation{}
	page := v.Page(m.GetPageSize(), m.GetPageToken())
	params := store.ListProblemsParams{
		CallerID: c.UserID, IsAdmin: c.IsAdmin(), IncludeUnpublished: m.GetIncludeUnpublished(),
		Solved: m.Solved, BeforeTime: page.AfterTime, BeforeID: page.AfterID, Lim: page.Limit(),
	}
	if d := m.GetDifficulty(); d != codequestv1.Difficulty_DIFFICULTY_UNSPECIFIED {
		ds := reverse(difficulties, d)
		v.Check(ds != "", "difficulty", "is not a known difficulty")
		params.Difficulty = &ds
	}
	params.Tag = oneLabel(v, "tag", m.GetTag())
	params.Topic = oneLabel(v, "topic", m.GetTopic())
	if o := m.GetOrganizationId(); o != "" {
		id, err := uuid.Parse(o)
		v.Check(err == nil, "organization_id", "must be a UUID")
		params.OrganizationID = &id
	}
	if q := strings.TrimSpace(m.GetQuery()); q != "" {
		v.Check(utf8.RuneCountInString(q) <= 100 && utf8.ValidString(q), "query", "must be at most 100 characters")
		q = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(q)
		params.Query = &q
	}
	if err := v.Err(); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	if !c.IsAdmin() {
		if params.Premium, err = s.premium(ctx, c); err != nil {
			return nil, apierr.Connect(ctx, err)
		}
	}
	res, err := s.cachedList(ctx, c, params, page.Size)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(res), nil
}

func (s *Service) list(ctx context.Context, params store.ListProblemsParams, size int32) (*codequestv1.ListProblemsResponse, error) {
	rows, err := s.st.ListProblems(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("list problems: %w", err)
	}
	out := &codequestv1.ListProblemsResponse{Problems: []*codequestv1.Problem{}}
	for i, r := range rows {
		if int32(i) == size {
			last := rows[i-1]
			out.NextPageToken = store.EncodeCursor(last.CreatedAt, last.ID)
			break
		}
		out.Problems = append(out.Problems, summary(rowProblem(r), r.Solved))
	}
	return out, nil
}

// Visible returns the problem with id if the caller may see it (and so
// submit to it), or a not-found error.
func (s *Service) Visible(ctx context.Context, c *auth.Caller, id uuid.UUID) (store.Problem, error) {
	p, err := s.st.GetProblem(ctx, id)
	if store.IsNoRows(err) {
		return p, errNotFound
	}
	if err != nil {
		return p, fmt.Errorf("get problem: %w", err)
	}
	ok, err := s.canSee(ctx, c, p)
	if err != nil {
		return p, err
	}
	if !ok {
		return p, errNotFound
	}
	return p, nil
}

// CanEdit reports whether the caller may edit p (its author, its
// organization's instructors, admins): they may also read its submissions.
func (s *Service) CanEdit(ctx context.Context, c *auth.Caller, p store.Problem) (bool, error) {
	return s.canEdit(ctx, c, p)
}
