package server

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Codecs are connect's protobuf codecs with error texts fit for clients:
// connect's own name the Go type the message was decoded into.
func codecs() []connect.HandlerOption {
	return []connect.HandlerOption{
		connect.WithCodec(binaryCodec{}),
		connect.WithCodec(jsonCodec{name: "json"}),
		connect.WithCodec(jsonCodec{name: "json; charset=utf-8"}),
	}
}

func messageName(m any) string {
	if pm, ok := m.(proto.Message); ok {
		return string(pm.ProtoReflect().Descriptor().FullName())
	}
	return "request"
}

// cleanDecodeError drops what a decode error says about Go.
func cleanDecodeError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "proto: ")
	return msg
}

type binaryCodec struct{}

func (binaryCodec) Name() string { return "proto" }

func (binaryCodec) Marshal(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, errors.New("not a protobuf message")
	}
	return proto.Marshal(pm)
}

func (binaryCodec) Unmarshal(b []byte, m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return errors.New("not a protobuf message")
	}
	if err := proto.Unmarshal(b, pm); err != nil {
		return fmt.Errorf("not a valid %s: %s", messageName(m), cleanDecodeError(err))
	}
	return nil
}

type jsonCodec struct{ name string }

func (c jsonCodec) Name() string { return c.name }

func (jsonCodec) Marshal(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, errors.New("not a protobuf message")
	}
	return protojson.MarshalOptions{}.Marshal(pm)
}

func (jsonCodec) Unmarshal(b []byte, m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return errors.New("not a protobuf message")
	}
	if len(b) == 0 {
		return errors.New("an empty body is not a JSON object")
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, pm); err != nil {
		return fmt.Errorf("not a valid %s: %s", messageName(m), cleanDecodeError(err))
	}
	return nil
}

// errInflated is what a limited decompressor returns past its limit.
var errInflated = errors.New("request body is larger than allowed once decompressed")

// limitedGzip decompresses at most max bytes of one message and then fails,
// instead of inflating the rest of a compressed bomb: connect reads one
// byte past its message limit and then drains the decompressor to report
// the size, which for ~4 MB of gzip is ~4 GB of work.
type limitedGzip struct {
	r     *gzip.Reader
	max   int64
	n     int64
	count func(int64)
}

func (l *limitedGzip) Read(p []byte) (int, error) {
	if l.n > l.max {
		return 0, errInflated
	}
	if rest := l.max + 1 - l.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.count != nil {
		l.count(int64(n))
	}
	return n, err
}

func (l *limitedGzip) Close() error { return l.r.Close() }

func (l *limitedGzip) Reset(r io.Reader) error {
	l.n = 0
	if l.r == nil {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		l.r = zr
		return nil
	}
	return l.r.Reset(r)
}

// limitedCompression is gzip for requests and responses, with requests
// inflated to at most max bytes. count, if set, sees every inflated byte.
func limitedCompression(max int64, count func(int64)) connect.HandlerOption {
	return connect.WithCompression("gzip",
		func() connect.Decompressor { return &limitedGzip{max: max, count: count} },
		func() connect.Compressor { return gzip.NewWriter(io.Discard) },
	)
}
