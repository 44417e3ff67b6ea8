package v1alpha1

// Labels and annotations the platform sets on Submissions and on the objects
// made for them.
const (
	// UserLabel names the user who owns a Submission (the user id).
	UserLabel = "codequest.dev/user"
	// OrganizationLabel names the organization a Submission belongs to.
	OrganizationLabel = "codequest.dev/organization"
	// SubmissionLabel is set on a Submission's Job, pods and Secret.
	SubmissionLabel = "codequest.dev/submission"
	// ProblemLabel is set on a Submission's Job and pods.
	ProblemLabel = "codequest.dev/problem"
	// LanguageLabel is set on a Submission's Job and pods.
	LanguageLabel = "codequest.dev/language"
	// ComponentLabel marks the judge pods ("judge").
	ComponentLabel = "app.kubernetes.io/component"
	// JudgeNamespaceLabel marks namespaces where Submissions are judged; the
	// admission policy refusing pods without the gVisor RuntimeClass binds
	// to namespaces with this label set to "true".
	JudgeNamespaceLabel = "codequest.dev/judge-namespace"
)

// ObjectReference locates an object in object storage.
type ObjectReference struct {
	// bucket is the object storage bucket.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`
	Bucket string `json:"bucket"`

	// key is the object's key in the bucket.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Key string `json:"key"`

	// sha256 is the lowercase hex SHA-256 of the object's bytes; the object
	// is refused when it differs.
	// +required
	// +kubebuilder:validation:Pattern=`^[a-f0-9]{64}$`
	SHA256 string `json:"sha256"`

	// size is the object's size in bytes; the object is refused when it
	// differs.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1073741824
	Size int64 `json:"size"`
}

// Verdict is the outcome of judging a submission or one test.
// +kubebuilder:validation:Enum=ACCEPTED;WRONG_ANSWER;TIME_LIMIT_EXCEEDED;MEMORY_LIMIT_EXCEEDED;OUTPUT_LIMIT_EXCEEDED;RUNTIME_ERROR;COMPILATION_ERROR;INTERNAL_ERROR
type Verdict string

// The verdicts (the judge's, spelled the same).
const (
	VerdictAccepted            Verdict = "ACCEPTED"
	VerdictWrongAnswer         Verdict = "WRONG_ANSWER"
	VerdictTimeLimitExceeded   Verdict = "TIME_LIMIT_EXCEEDED"
	VerdictMemoryLimitExceeded Verdict = "MEMORY_LIMIT_EXCEEDED"
	VerdictOutputLimitExceeded Verdict = "OUTPUT_LIMIT_EXCEEDED"
	VerdictRuntimeError        Verdict = "RUNTIME_ERROR"
	VerdictCompilationError    Verdict = "COMPILATION_ERROR"
	VerdictInternalError       Verdict = "INTERNAL_ERROR"
)

// Language is a language id of the judge's languages table.
// +kubebuilder:validation:Enum=python3;javascript;typescript;cpp;java;go
type Language string
