package validation

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/apierr"
)

func TestCheck(t *testing.T) {
	name := "A\x00"
	cases := []struct {
		name string
		err  error
		want []string
	}{
		{"clean", Check(&codequestv1.LoginRequest{Email: "a@b.co", Password: "x\ny\t"}), nil},
		{"top level", Check(&codequestv1.LoginRequest{Email: "a\x00@b.co"}), []string{"email"}},
		{"repeated", Check(&codequestv1.CreateProblemRequest{Slug: "ok", Hints: []string{"fine", "bad\x00"}}), []string{"hints[1]"}},
		{"optional", Check(&codequestv1.UpdateProfileRequest{DisplayName: &name}), []string{"display_name"}},
		{"several", Check(&codequestv1.SubmitRequest{Source: "\x00", IdempotencyKey: "k\x00"}), []string{"source", "idempotency_key"}},
	}
	for _, tc := range cases {
		var got []string
		var v *apierr.Validation
		if errors.As(tc.err, &v) {
			for _, fv := range v.Violations {
				got = append(got, fv.Field)
			}
		} else if tc.err != nil {
			t.Errorf("%s: %v is not a validation error", tc.name, tc.err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: fields (-want +got):\n%s", tc.name, diff)
		}
	}
}
