// Package v1alpha1 holds the codequest.dev/v1alpha1 API: Problem and
// Submission. It depends on k8s.io/apimachinery only, so clients can import
// it cheaply.
//
// +kubebuilder:object:generate=true
// +groupName=codequest.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the group and version of these objects.
var GroupVersion = schema.GroupVersion{Group: "codequest.dev", Version: "v1alpha1"}

// objects lists the kinds of this group-version.
func objects() []runtime.Object {
	return []runtime.Object{&Problem{}, &ProblemList{}, &Submission{}, &SubmissionList{}}
}

// AddToScheme adds the types of this group-version to a scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, objects()...)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
