// Package kube connects the API server to the Kubernetes API: it creates
// Problem and Submission custom resources from Postgres rows, and watches
// their status back into the database. Postgres stays the truth; the
// resources are work in flight.
package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/apiserver/store"
	"github.com/codequest-dev/codequest/apiserver/submissions"
)

// Judge creates resources in one namespace of one cluster.
type Judge struct {
	client    client.Client
	cfg       *rest.Config
	scheme    *runtime.Scheme
	namespace string
	bucket    string
	log       *slog.Logger
}

// New returns a Judge for the cluster of cfg. bucket is where problem
// packages live.
func New(cfg *rest.Config, namespace, bucket string, log *slog.Logger) (*Judge, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &Judge{client: c, cfg: cfg, scheme: scheme, namespace: namespace, bucket: bucket, log: log}, nil
}

// PublishProblem creates or updates the Problem resource of a row that has
// a package (problems.Publisher).
func (j *Judge) PublishProblem(ctx context.Context, p store.Problem) error {
	if p.PackageKey == nil || p.PackageSha256 == nil || p.PackageSize == nil {
		return errors.New("problem has no package")
	}
	cr := &v1alpha1.Problem{ObjectMeta: metav1.ObjectMeta{Name: p.ID.String(), Namespace: j.namespace}}
	_, err := controllerutil.CreateOrUpdate(ctx, j.client, cr, func() error {
		if cr.Labels == nil {
			cr.Labels = map[string]string{}
		}
		if p.OrganizationID != nil {
			cr.Labels[v1alpha1.OrganizationLabel] = p.OrganizationID.String()
		}
		cr.Labels["codequest.dev/slug"] = p.Slug
		output := resource.MustParse(fmt.Sprintf("%dMi", p.OutputMib))
		cr.Spec = v1alpha1.ProblemSpec{
			Title: p.Title,
			Limits: v1alpha1.ProblemLimits{
				TimeMillis: p.TimeLimitMs,
				Memory:     resource.MustParse(fmt.Sprintf("%dMi", p.MemoryMib)),
				Output:     &output,
			},
			Package: v1alpha1.ObjectReference{
				Bucket: j.bucket, Key: *p.PackageKey, SHA256: *p.PackageSha256, Size: *p.PackageSize,
			},
			Validation: v1alpha1.ValidationMode(p.Validation),
		}
		for _, l := range p.Languages {
			cr.Spec.Languages = append(cr.Spec.Languages, v1alpha1.Language(l))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create or update problem %s: %w", p.ID, err)
	}
	return nil
}

// Dispatch creates a submission's resource (submissions.Dispatcher); one
// that exists already is success.
func (j *Judge) Dispatch(ctx context.Context, s store.Submission, p store.Problem) error {
	cr := &v1alpha1.Submission{
		ObjectMeta: metav1.ObjectMeta{
			Name: s.ID.String(), Namespace: j.namespace,
			Labels: map[string]string{v1alpha1.UserLabel: s.UserID.String()},
		},
		Spec: v1alpha1.SubmissionSpec{
			ProblemRef: v1alpha1.ProblemReference{Name: p.ID.String()},
			Language:   v1alpha1.Language(s.Language),
			Mode:       v1alpha1.Mode(s.Mode),
			Source:     v1alpha1.Source{Inline: &s.Source},
			Input:      s.Input,
		},
	}
	if s.OrganizationID != nil {
		cr.Labels[v1alpha1.OrganizationLabel] = s.OrganizationID.String()
	}
	err := j.client.Create(ctx, cr)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create submission %s: %w", s.ID, err)
	}
	return nil
}

// Applier takes submission status into the database.
type Applier interface {
	Apply(ctx context.Context, u submissions.Update) (bool, error)
}

// VerificationSink records a Problem's package verification.
type VerificationSink interface {
	SetProblemVerification(ctx context.Context, arg store.SetProblemVerificationParams) error
}

// Watch feeds every Submission's status to apply, and every Problem's
// verification to sink, until ctx ends. Starting lists everything, so a
// restarted API server catches up on what it missed; Apply ignores what it
// has already seen.
func (j *Judge) Watch(ctx context.Context, apply Applier, sink VerificationSink) error {
	c, err := cache.New(j.cfg, cache.Options{
		Scheme:            j.scheme,
		DefaultNamespaces: map[string]cache.Config{j.namespace: {}},
	})
	if err != nil {
		return fmt.Errorf("watch cache: %w", err)
	}
	subs, err := c.GetInformer(ctx, &v1alpha1.Submission{})
	if err != nil {
		return err
	}
	onSub := func(obj any) {
		s, ok := obj.(*v1alpha1.Submission)
		if !ok {
			return
		}
		u, ok := UpdateFrom(s)
		if !ok {
			return
		}
		// An update under way finishes even when the watch is stopping:
		// a half-applied verdict would only wait for the next resync.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := apply.Apply(actx, u); err != nil {
			j.log.ErrorContext(ctx, "apply submission status", "submission", s.Name, "error", err)
		}
	}
	if _, err := subs.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    onSub,
		UpdateFunc: func(_, obj any) { onSub(obj) },
	}); err != nil {
		return err
	}
	probs, err := c.GetInformer(ctx, &v1alpha1.Problem{})
	if err != nil {
		return err
	}
	onProb := func(obj any) {
		p, ok := obj.(*v1alpha1.Problem)
		if !ok {
			return
		}
		id, state, ok := verification(p)
		if !ok {
			return
		}
		if err := sink.SetProblemVerification(ctx, store.SetProblemVerificationParams{ID: id, Verification: state}); err != nil {
			j.log.ErrorContext(ctx, "record problem verification", "problem", p.Name, "error", err)
		}
	}
	if _, err := probs.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    onProb,
		UpdateFunc: func(_, obj any) { onProb(obj) },
	}); err != nil {
		return err
	}
	return c.Start(ctx)
}
