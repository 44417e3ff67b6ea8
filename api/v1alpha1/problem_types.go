package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ValidationMode is how a problem's outputs are checked.
// +kubebuilder:validation:Enum=default;custom;interactive
type ValidationMode string

// The validation modes (Kattis problem.yaml `validation`).
const (
	ValidationDefault     ValidationMode = "default"
	ValidationCustom      ValidationMode = "custom"
	ValidationInteractive ValidationMode = "interactive"
)

// ProblemLimits bound every run of a submission to a problem.
type ProblemLimits struct {
	// timeMillis is the CPU time limit of one test run, in milliseconds.
	// +required
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:Maximum=60000
	TimeMillis int32 `json:"timeMillis"`

	// memory is the memory limit of one run (e.g. 256Mi).
	// +required
	Memory resource.Quantity `json:"memory"`

	// output is the largest output one run may write (e.g. 8Mi).
	// +optional
	Output *resource.Quantity `json:"output,omitempty"`
}

// PackageVerification configures the judging of the package's labelled
// submissions (submissions/<verdict>/...).
type PackageVerification struct {
	// required makes Ready wait for every labelled submission to get the
	// verdict its folder names. Default true.
	// +optional
	Required *bool `json:"required,omitempty"`
}

// ProblemSpec is the desired state of a Problem.
type ProblemSpec struct {
	// title is the problem's display title.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	Title string `json:"title"`

	// limits bound every run; they override the package's problem.yaml.
	// +required
	Limits ProblemLimits `json:"limits"`

	// package is the problem package (a gzip-compressed tar of a Kattis /
	// ICPC problem folder) in object storage.
	// +required
	Package ObjectReference `json:"package"`

	// validation is the output checking the package must use; Ready is
	// refused when the package says otherwise. Empty: take the package's.
	// +optional
	Validation ValidationMode `json:"validation,omitempty"`

	// languages are the languages submissions may use. Empty: all.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	Languages []Language `json:"languages,omitempty"`

	// verification configures judging the package's labelled submissions.
	// +optional
	Verification *PackageVerification `json:"verification,omitempty"`
}

// PackageSubmissionResult is the verdict a labelled submission of the
// package got.
type PackageSubmissionResult struct {
	// path is the submission's path in the package (submissions/accepted/a.py).
	// +required
	// +kubebuilder:validation:MaxLength=256
	Path string `json:"path"`

	// expected is the verdict the submission's folder names.
	// +optional
	Expected Verdict `json:"expected,omitempty"`

	// verdict is the verdict it got.
	// +optional
	Verdict Verdict `json:"verdict,omitempty"`

	// agrees is true when verdict is expected.
	// +required
	Agrees bool `json:"agrees"`
}

// ProblemStatus is the observed state of a Problem.
type ProblemStatus struct {
	// conditions: Ready (package fetched, checked, verified).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// testCount is the number of tests in the package.
	// +optional
	TestCount int32 `json:"testCount,omitempty"`

	// observedSHA256 is the checksum of the package last checked.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ObservedSHA256 string `json:"observedSHA256,omitempty"`

	// validation is the package's validation mode.
	// +optional
	Validation ValidationMode `json:"validation,omitempty"`

	// verification lists the verdicts of the package's labelled
	// submissions.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Verification []PackageSubmissionResult `json:"verification,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=prob,categories=codequest
// +kubebuilder:printcolumn:name="Title",type=string,JSONPath=`.spec.title`
// +kubebuilder:printcolumn:name="Tests",type=integer,JSONPath=`.status.testCount`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Problem is a coding problem whose package (tests, validators, labelled
// submissions) lives in object storage.
type Problem struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the Problem.
	// +required
	Spec ProblemSpec `json:"spec"`

	// status is the observed state of the Problem.
	// +optional
	Status ProblemStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ProblemList is a list of Problems.
type ProblemList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Problem `json:"items"`
}

// VerificationRequired reports whether Ready waits for the labelled
// submissions to agree (default true).
func (p *Problem) VerificationRequired() bool {
	return p.Spec.Verification == nil || p.Spec.Verification.Required == nil || *p.Spec.Verification.Required
}

// AllowsLanguage reports whether submissions may use l.
func (p *Problem) AllowsLanguage(l Language) bool {
	if len(p.Spec.Languages) == 0 {
		return true
	}
	for _, x := range p.Spec.Languages {
		if x == l {
			return true
		}
	}
	return false
}
