package server

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// strictJSON is Connect's JSON codec, except that an unknown field is an error rather than
// silently dropped: a client's typo must not pass as a request without that field.
type strictJSON struct{ name string }

func (c strictJSON) Name() string { return c.name }

func (c strictJSON) Marshal(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a protobuf message", m)
	}
	return protojson.MarshalOptions{}.Marshal(pm)
}

func (c strictJSON) Unmarshal(b []byte, m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("%T is not a protobuf message", m)
	}
	if len(b) == 0 {
		return errors.New("empty JSON body: send {} for an empty message")
	}
	return protojson.UnmarshalOptions{}.Unmarshal(b, pm)
}

// healthJSON is the health service's JSON codec. Connect's health package declares the serving
// status with prefixed names (SERVING_STATUS_SERVING); the grpc.health.v1 proto that probes and
// other servers follow names them SERVING, NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN. The binary
// encoding (gRPC) is the number, the same either way.
type healthJSON struct{ strictJSON }

// healthResponse is the one message whose JSON differs (Connect declares it in a package of its
// own, connectext.grpc.health.v1, served as grpc.health.v1).
const healthResponse protoreflect.Name = "HealthCheckResponse"

func (c healthJSON) Marshal(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok || pm.ProtoReflect().Descriptor().Name() != healthResponse {
		return c.strictJSON.Marshal(m)
	}
	r := pm.ProtoReflect()
	field := r.Descriptor().Fields().ByName("status")
	if field == nil || field.Enum() == nil {
		return nil, fmt.Errorf("%s has no status enum", healthResponse)
	}
	name := fmt.Sprint(int32(r.Get(field).Enum())) // a number outside the enum, as protojson writes it
	if v := field.Enum().Values().ByNumber(r.Get(field).Enum()); v != nil {
		name = strconv.Quote(strings.TrimPrefix(string(v.Name()), "SERVING_STATUS_"))
	}
	return []byte(`{"status":` + name + `}`), nil
}
