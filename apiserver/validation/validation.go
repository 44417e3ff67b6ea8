// Package validation checks the shape of every request before a handler
// sees it. Today it refuses text that Postgres cannot store: a NUL
// character in any string of a request (however deeply nested, in lists
// and maps too) is invalid_argument with a field violation naming the
// field, for every RPC, in one place. (Rules declared in the protos
// belong here too.)
package validation

import (
	"context"
	"fmt"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/codequest-dev/codequest/apiserver/apierr"
)

// Interceptor validates requests.
type Interceptor struct{}

var _ connect.Interceptor = (*Interceptor)(nil)

// NewInterceptor returns the validating interceptor.
func NewInterceptor() *Interceptor { return &Interceptor{} }

// Check returns a *apierr.Validation for every string of m holding a NUL,
// or nil.
func Check(m proto.Message) error {
	if m == nil {
		return nil
	}
	v := &apierr.Validation{}
	walk(m.ProtoReflect(), "", v)
	return v.Err()
}

func walk(m protoreflect.Message, prefix string, v *apierr.Validation) {
	m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		name := prefix + string(fd.Name())
		switch {
		case fd.IsList():
			l := val.List()
			for i := range l.Len() {
				check(fd, l.Get(i), fmt.Sprintf("%s[%d]", name, i), v)
			}
		case fd.IsMap():
			val.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				if s, ok := k.Interface().(string); ok && strings.IndexByte(s, 0) >= 0 {
					v.Add(name, "must not contain NUL characters")
				}
				check(fd.MapValue(), mv, fmt.Sprintf("%s[%v]", name, k.Interface()), v)
				return true
			})
		default:
			check(fd, val, name, v)
		}
		return true
	})
}

func check(fd protoreflect.FieldDescriptor, val protoreflect.Value, name string, v *apierr.Validation) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		if strings.IndexByte(val.String(), 0) >= 0 {
			v.Add(name, "must not contain NUL characters")
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		walk(val.Message(), name+".", v)
	}
}

// WrapUnary implements connect.Interceptor.
func (i *Interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if !req.Spec().IsClient {
			if m, ok := req.Any().(proto.Message); ok {
				if err := Check(m); err != nil {
					return nil, apierr.Connect(ctx, err)
				}
			}
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient implements connect.Interceptor.
func (i *Interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements connect.Interceptor: every message the
// client streams is checked as it is received.
func (i *Interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return next(ctx, &checkedConn{StreamingHandlerConn: conn, ctx: ctx})
	}
}

type checkedConn struct {
	connect.StreamingHandlerConn
	ctx context.Context
}

func (c *checkedConn) Receive(m any) error {
	if err := c.StreamingHandlerConn.Receive(m); err != nil {
		return err
	}
	if pm, ok := m.(proto.Message); ok {
		if err := Check(pm); err != nil {
			return apierr.Connect(c.ctx, err)
		}
	}
	return nil
}
