package contract

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

// The checker itself: each deliberately broken copy of the released proto
// is caught, with a message that names what broke; additions pass.
func TestIncompatibilitiesNameWhatBroke(t *testing.T) {
	t.Parallel()
	released := releasedFile(t)
	message := func(f *descriptorpb.FileDescriptorProto, name string) *descriptorpb.DescriptorProto {
		for _, m := range f.GetMessageType() {
			if m.GetName() == name {
				return m
			}
		}
		t.Fatalf("no message %s", name)
		return nil
	}
	field := func(m *descriptorpb.DescriptorProto, name string) *descriptorpb.FieldDescriptorProto {
		for _, f := range m.GetField() {
			if f.GetName() == name {
				return f
			}
		}
		t.Fatalf("no field %s.%s", m.GetName(), name)
		return nil
	}
	service := func(f *descriptorpb.FileDescriptorProto, name string) *descriptorpb.ServiceDescriptorProto {
		for _, s := range f.GetService() {
			if s.GetName() == name {
				return s
			}
		}
		t.Fatalf("no service %s", name)
		return nil
	}
	removeField := func(m *descriptorpb.DescriptorProto, name string) {
		m.Field = deleteFunc(m.Field, func(f *descriptorpb.FieldDescriptorProto) bool { return f.GetName() == name })
	}

	cases := []struct {
		name string
		edit func(f *descriptorpb.FileDescriptorProto)
		want string // a substring of the one message expected; "" for none
	}{
		{"unchanged", func(*descriptorpb.FileDescriptorProto) {}, ""},
		{"a new field", func(f *descriptorpb.FileDescriptorProto) {
			m := message(f, "StatusResponse")
			m.Field = append(m.Field, &descriptorpb.FieldDescriptorProto{Name: proto.String("uptime_s"), Number: proto.Int32(99),
				Type: descriptorpb.FieldDescriptorProto_TYPE_INT64.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()})
		}, ""},
		{"a new rpc", func(f *descriptorpb.FileDescriptorProto) {
			s := service(f, "Lifecycle")
			s.Method = append(s.Method, &descriptorpb.MethodDescriptorProto{Name: proto.String("Ping"),
				InputType: proto.String(".helpdesk.duo.v1.StatusRequest"), OutputType: proto.String(".helpdesk.duo.v1.StatusResponse")})
		}, ""},
		{"a field removed and reserved", func(f *descriptorpb.FileDescriptorProto) {
			m := message(f, "StatusResponse")
			removeField(m, "plugin_version")
			m.ReservedRange = append(m.ReservedRange, &descriptorpb.DescriptorProto_ReservedRange{Start: proto.Int32(4), End: proto.Int32(5)})
			m.ReservedName = append(m.ReservedName, "plugin_version")
		}, ""},
		{"a service removed", func(f *descriptorpb.FileDescriptorProto) {
			f.Service = deleteFunc(f.Service, func(s *descriptorpb.ServiceDescriptorProto) bool { return s.GetName() == "Metrics" })
		}, "service helpdesk.duo.v1.Metrics removed or renamed"},
		{"an rpc renamed", func(f *descriptorpb.FileDescriptorProto) {
			service(f, "Login").GetMethod()[0].Name = proto.String("StartLogin")
		}, "rpc helpdesk.duo.v1.Login.BeginLogin removed or renamed"},
		{"an rpc's response changed", func(f *descriptorpb.FileDescriptorProto) {
			service(f, "Lifecycle").GetMethod()[0].OutputType = proto.String(".helpdesk.duo.v1.StatusResponse")
		}, "rpc helpdesk.duo.v1.Lifecycle.Activate returns .helpdesk.duo.v1.StatusResponse, was .helpdesk.duo.v1.ActivateResponse"},
		{"an rpc no longer streams", func(f *descriptorpb.FileDescriptorProto) {
			for _, m := range service(f, "AuthLog").GetMethod() {
				m.ServerStreaming = nil
			}
		}, "rpc helpdesk.duo.v1.AuthLog.ExportAuthEvents: server streaming false, was true"},
		{"a message removed", func(f *descriptorpb.FileDescriptorProto) {
			f.MessageType = deleteFunc(f.MessageType, func(m *descriptorpb.DescriptorProto) bool { return m.GetName() == "LoginCounts" })
		}, "message helpdesk.duo.v1.LoginCounts removed or renamed"},
		{"a field removed, not reserved", func(f *descriptorpb.FileDescriptorProto) {
			removeField(message(f, "StatusResponse"), "plugin_version")
		}, "field helpdesk.duo.v1.StatusResponse.plugin_version (field 4) removed without reserving"},
		{"a field removed, only its number reserved", func(f *descriptorpb.FileDescriptorProto) {
			m := message(f, "StatusResponse")
			removeField(m, "plugin_version")
			m.ReservedRange = append(m.ReservedRange, &descriptorpb.DescriptorProto_ReservedRange{Start: proto.Int32(4), End: proto.Int32(5)})
		}, "field helpdesk.duo.v1.StatusResponse.plugin_version (field 4) removed without reserving"},
		{"a field renamed", func(f *descriptorpb.FileDescriptorProto) {
			field(message(f, "Operator"), "email").Name = proto.String("mail")
		}, "field helpdesk.duo.v1.Operator.email (field 3) renamed to mail"},
		{"a field renumbered", func(f *descriptorpb.FileDescriptorProto) {
			field(message(f, "Operator"), "email").Number = proto.Int32(30)
		}, "field helpdesk.duo.v1.Operator.email (field 3) removed without reserving"},
		{"a field's type changed", func(f *descriptorpb.FileDescriptorProto) {
			field(message(f, "StatusResponse"), "schema_version").Type = descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
		}, "field helpdesk.duo.v1.StatusResponse.schema_version (field 2) changed type from int64 to string"},
		{"a message field's type changed", func(f *descriptorpb.FileDescriptorProto) {
			field(message(f, "GetSettingsRequest"), "actor").TypeName = proto.String(".helpdesk.duo.v1.Operator")
		}, "field helpdesk.duo.v1.GetSettingsRequest.actor (field 1) changed type from helpdesk.duo.v1.Actor to helpdesk.duo.v1.Operator"},
		{"a field made repeated", func(f *descriptorpb.FileDescriptorProto) {
			field(message(f, "Operator"), "email").Label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
		}, "field helpdesk.duo.v1.Operator.email (field 3) changed cardinality from singular to repeated"},
		{"an enum value removed", func(f *descriptorpb.FileDescriptorProto) {
			for _, e := range f.GetEnumType() {
				if e.GetName() == "Role" {
					e.Value = deleteFunc(e.Value, func(v *descriptorpb.EnumValueDescriptorProto) bool { return v.GetName() == "ROLE_HELP_DESK" })
				}
			}
		}, "enum value helpdesk.duo.v1.Role.ROLE_HELP_DESK (2) removed without reserving"},
		{"an enum value renamed", func(f *descriptorpb.FileDescriptorProto) {
			for _, e := range f.GetEnumType() {
				if e.GetName() == "Role" {
					for _, v := range e.GetValue() {
						if v.GetName() == "ROLE_AGENT" {
							v.Name = proto.String("ROLE_OPERATOR")
						}
					}
				}
			}
		}, "enum value helpdesk.duo.v1.Role.ROLE_AGENT (3) renamed to ROLE_OPERATOR"},
		{"the package renamed", func(f *descriptorpb.FileDescriptorProto) {
			f.Package = proto.String("helpdesk.duo.v2")
		}, "package helpdesk.duo.v1 renamed to helpdesk.duo.v2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			next := proto.Clone(released).(*descriptorpb.FileDescriptorProto)
			tc.edit(next)
			got := incompatibilities(released, next)
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("a compatible change was refused: %q", got)
				}
				return
			}
			if len(got) == 0 {
				t.Fatalf("not caught; want %q", tc.want)
			}
			if !strings.Contains(got[0], tc.want) {
				t.Errorf("got %q, want a message containing %q", got, tc.want)
			}
		})
	}
}

func deleteFunc[S ~[]E, E any](s S, del func(E) bool) S {
	out := S{}
	for _, e := range s {
		if !del(e) {
			out = append(out, e)
		}
	}
	return out
}
