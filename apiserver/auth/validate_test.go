package auth

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/apierr"
)

// Whatever bytes arrive, decoding and validation either accept the request
// or reject it with field violations: never a panic, never another error.
func FuzzRegisterRequest(f *testing.F) {
	for _, m := range []*codequestv1.RegisterRequest{
		{Email: "ada@example.com", Password: "Analytical-1", DisplayName: "Ada"},
		{Email: "zed@example.com", Password: "Password1", DisplayName: "Zed"},
		{Email: "bad", Password: "x", DisplayName: ""},
		{Email: "a@b.co", Password: "Abcdefg1", DisplayName: "\n"},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b, false)
		j, _ := protojson.Marshal(m)
		f.Add(j, true)
	}
	f.Add([]byte(`{"email":42}`), true)
	f.Fuzz(func(t *testing.T, data []byte, isJSON bool) {
		var m codequestv1.RegisterRequest
		var err error
		if isJSON {
			err = protojson.Unmarshal(data, &m)
		} else {
			err = proto.Unmarshal(data, &m)
		}
		if err != nil {
			return // the codec refuses it: Connect answers invalid_argument
		}
		email, err := validateRegister(&m)
		if err == nil {
			if _, ok := NormalizeEmail(email); !ok || PasswordProblem(m.GetPassword(), email) != "" || !validDisplayName(m.GetDisplayName()) {
				t.Fatalf("accepted invalid request %v", &m)
			}
			return
		}
		var v *apierr.Validation
		if !errors.As(err, &v) || len(v.Violations) == 0 {
			t.Fatalf("validation returned %T %v", err, err)
		}
	})
}
