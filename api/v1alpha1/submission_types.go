package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// MaxInlineSource is the largest source carried in a Submission; larger
// ones go to object storage (spec.source.object).
const MaxInlineSource = 64 << 10

// Mode is what a Submission asks for.
// +kubebuilder:validation:Enum=submit;run
type Mode string

// The modes.
const (
	// ModeSubmit judges the source on every test of the problem.
	ModeSubmit Mode = "submit"
	// ModeRun runs the source on spec.input only (no verdict against the
	// hidden tests).
	ModeRun Mode = "run"
)

// Phase is where a Submission is in its life.
// +kubebuilder:validation:Enum=Queued;Compiling;Running;Completed;Failed
type Phase string

// The phases. Completed means a verdict was reached (whatever it is);
// Failed means judging itself failed (INTERNAL_ERROR).
const (
	PhaseQueued    Phase = "Queued"
	PhaseCompiling Phase = "Compiling"
	PhaseRunning   Phase = "Running"
	PhaseCompleted Phase = "Completed"
	PhaseFailed    Phase = "Failed"
)

// Finished reports whether p is a final phase.
func (p Phase) Finished() bool { return p == PhaseCompleted || p == PhaseFailed }

// ProblemReference names a Problem in the Submission's namespace.
type ProblemReference struct {
	// name is the Problem's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// Source is a submission's program: inline, or in object storage when
// larger than 64 KiB.
// +kubebuilder:validation:XValidation:rule="has(self.inline) != has(self.object)",message="exactly one of inline and object is required"
type Source struct {
	// inline is the source text (at most 65536 bytes).
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	Inline *string `json:"inline,omitempty"`

	// object is the source in object storage.
	// +optional
	Object *ObjectReference `json:"object,omitempty"`
}

// SubmissionSpec is what is to be judged. It is immutable.
// +kubebuilder:validation:XValidation:rule="self.mode == 'run' || !has(self.input)",message="input is only for mode run"
type SubmissionSpec struct {
	// problemRef is the Problem to judge against.
	// +required
	ProblemRef ProblemReference `json:"problemRef"`

	// language is the source's language.
	// +required
	Language Language `json:"language"`

	// mode is submit (judge on every test) or run (run on input only).
	// +optional
	// +kubebuilder:default=submit
	Mode Mode `json:"mode,omitempty"`

	// source is the program.
	// +required
	Source Source `json:"source"`

	// input is the custom standard input of a run (mode run only).
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	Input *string `json:"input,omitempty"`
}

// TestSummary is the outcome of one test.
type TestSummary struct {
	// verdict is the test's verdict.
	// +required
	Verdict Verdict `json:"verdict"`

	// cpuMillis is the CPU time the test took, in milliseconds.
	// +optional
	CPUMillis int64 `json:"cpuMillis,omitempty"`

	// memoryKiB is the test's peak memory, in KiB.
	// +optional
	MemoryKiB int64 `json:"memoryKiB,omitempty"`
}

// JobReference names the judge Job of a Submission.
type JobReference struct {
	// name is the Job's name (in the Submission's namespace).
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// uid is the Job's uid.
	// +optional
	UID types.UID `json:"uid,omitempty"`
}

// SubmissionStatus is the observed state of a Submission.
type SubmissionStatus struct {
	// phase is Queued, Compiling, Running, Completed or Failed.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// verdict is the final verdict, set with phase Completed (or
	// INTERNAL_ERROR with Failed).
	// +optional
	Verdict Verdict `json:"verdict,omitempty"`

	// message explains the verdict, the failure or why the Submission waits.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// currentTest is the 1-based test being run while Running.
	// +optional
	CurrentTest int32 `json:"currentTest,omitempty"`

	// testsPassed counts accepted tests.
	// +optional
	TestsPassed int32 `json:"testsPassed,omitempty"`

	// testsTotal counts the problem's tests.
	// +optional
	TestsTotal int32 `json:"testsTotal,omitempty"`

	// maxCPUTime is the largest CPU time of one test.
	// +optional
	MaxCPUTime *metav1.Duration `json:"maxCPUTime,omitempty"`

	// peakMemory is the largest peak memory of one test.
	// +optional
	PeakMemory *resource.Quantity `json:"peakMemory,omitempty"`

	// tests summarises each test run, in order (cut to 256; see
	// testsTruncated).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	Tests []TestSummary `json:"tests,omitempty"`

	// testsTruncated is set when tests is incomplete.
	// +optional
	TestsTruncated bool `json:"testsTruncated,omitempty"`

	// runOutput is the program's standard output of a run (mode run),
	// cut to 64 KiB.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	RunOutput string `json:"runOutput,omitempty"`
	// compilerMessage is the compiler's output of a COMPILATION_ERROR.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	CompilerMessage string `json:"compilerMessage,omitempty"`

	// startTime is when judging started (the judge Job was created).
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the verdict was recorded.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// jobRef is the judge Job.
	// +optional
	JobRef *JobReference `json:"jobRef,omitempty"`

	// report is the full judge report in object storage.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Report string `json:"report,omitempty"`

	// conditions: Scheduled (a judge Job exists), Judged (a verdict was
	// recorded).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sub,categories=codequest
// +kubebuilder:printcolumn:name="Problem",type=string,JSONPath=`.spec.problemRef.name`
// +kubebuilder:printcolumn:name="Language",type=string,JSONPath=`.spec.language`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Verdict",type=string,JSONPath=`.status.verdict`
// +kubebuilder:printcolumn:name="Passed",type=integer,JSONPath=`.status.testsPassed`
// +kubebuilder:printcolumn:name="Total",type=integer,JSONPath=`.status.testsTotal`,priority=1
// +kubebuilder:printcolumn:name="Time",type=string,JSONPath=`.status.maxCPUTime`
// +kubebuilder:printcolumn:name="Memory",type=string,JSONPath=`.status.peakMemory`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Submission is a program to judge against a Problem. Its user and
// organization are the labels codequest.dev/user and
// codequest.dev/organization.
type Submission struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what is to be judged; it cannot change.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable"
	Spec SubmissionSpec `json:"spec"`

	// status is the judging's progress and outcome.
	// +optional
	Status SubmissionStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// SubmissionList is a list of Submissions.
type SubmissionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Submission `json:"items"`
}
