package contract

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// releasedSet is the descriptor set of the last release's proto (see
// proto/duo/v1/released/README.md for how it is made at a release).
const releasedSet = "../duo/v1/released/v1.binpb"

// releasedSetFiles reads the released descriptor set: duo/v1/duo.proto
// and what it imports.
func releasedSetFiles(t *testing.T) []*descriptorpb.FileDescriptorProto {
	t.Helper()
	raw, err := os.ReadFile(releasedSet)
	if err != nil {
		t.Fatalf("read the released descriptor set: %v", err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(raw, &set); err != nil {
		t.Fatalf("%s: %v", releasedSet, err)
	}
	return set.GetFile()
}

// releasedFile reads the released descriptor of duo/v1/duo.proto.
func releasedFile(t *testing.T) *descriptorpb.FileDescriptorProto {
	t.Helper()
	for _, f := range releasedSetFiles(t) {
		if f.GetName() == duov1.File_duo_v1_duo_proto.Path() {
			return f
		}
	}
	t.Fatalf("%s has no %s", releasedSet, duov1.File_duo_v1_duo_proto.Path())
	return nil
}

// currentFile is the descriptor compiled into the generated code.
func currentFile() *descriptorpb.FileDescriptorProto {
	return protodesc.ToFileDescriptorProto(duov1.File_duo_v1_duo_proto)
}

// A released proto only grows: every service, RPC, message, field and enum
// value of the last release is still there, with the same number, type,
// cardinality and streaming; a removed field is reserved. On failure,
// either undo the change or, for a new major version, start
// proto/duo/v2.
func TestReleasedContractOnlyGrows(t *testing.T) {
	t.Parallel()
	for _, p := range incompatibilities(releasedFile(t), currentFile()) {
		t.Errorf("incompatible with the released contract (%s): %s", releasedSet, p)
	}
}

// Peers of the last release and of this tree read each other's messages:
// every message of this tree, filled in, decodes as the released message
// with each released field's value intact (an older host reads a newer
// plugin's answers; what it does not know it skips), and the reverse (a
// newer plugin reads an older host's requests).
func TestReleasedPeersReadCurrentMessages(t *testing.T) {
	t.Parallel()
	files, err := protodesc.NewFiles(&descriptorpb.FileDescriptorSet{File: releasedSetFiles(t)})
	if err != nil {
		t.Fatalf("the released descriptor set does not build: %v", err)
	}
	released, err := files.FindFileByPath(duov1.File_duo_v1_duo_proto.Path())
	if err != nil {
		t.Fatal(err)
	}
	msgs := released.Messages()
	for i := range msgs.Len() {
		old := msgs.Get(i)
		mt, err := protoregistry.GlobalTypes.FindMessageByName(old.FullName())
		if err != nil {
			t.Errorf("message %s of the release is gone: %v", old.FullName(), err)
			continue
		}
		t.Run(string(old.Name()), func(t *testing.T) {
			t.Parallel()
			// This tree's message, read by a peer of the release.
			n := 0
			cur := mt.New()
			fillProto(t, cur, &n)
			raw, err := proto.Marshal(cur.Interface())
			if err != nil {
				t.Fatal(err)
			}
			asOld := dynamicpb.NewMessage(old)
			if err := proto.Unmarshal(raw, asOld); err != nil {
				t.Fatalf("a peer of the release cannot decode this tree's %s: %v", old.FullName(), err)
			}
			sameKnownFields(t, string(old.FullName()), asOld, cur)

			// The release's message, read by this tree.
			n = 0
			oldMsg := dynamicpb.NewMessage(old)
			fillProto(t, oldMsg, &n)
			if raw, err = proto.Marshal(oldMsg); err != nil {
				t.Fatal(err)
			}
			asCur := mt.New()
			if err := proto.Unmarshal(raw, asCur.Interface()); err != nil {
				t.Fatalf("this tree cannot decode the release's %s: %v", old.FullName(), err)
			}
			sameKnownFields(t, string(old.FullName()), oldMsg, asCur)
		})
	}
}

// sameKnownFields checks that every field of old's descriptor (the
// release's) holds the same value in old and cur, matched by number.
func sameKnownFields(t *testing.T, path string, old, cur protoreflect.Message) {
	t.Helper()
	fields := old.Descriptor().Fields()
	for i := range fields.Len() {
		ofd := fields.Get(i)
		cfd := cur.Descriptor().Fields().ByNumber(ofd.Number())
		where := path + "." + string(ofd.Name())
		if cfd == nil {
			t.Errorf("%s: no field %d in this tree", where, ofd.Number())
			continue
		}
		ov, cv := old.Get(ofd), cur.Get(cfd)
		switch {
		case ofd.IsList():
			ol, cl := ov.List(), cv.List()
			if ol.Len() != cl.Len() {
				t.Errorf("%s: %d elements, want %d", where, ol.Len(), cl.Len())
				continue
			}
			for j := range ol.Len() {
				if ofd.Kind() == protoreflect.MessageKind {
					sameKnownFields(t, fmt.Sprintf("%s[%d]", where, j), ol.Get(j).Message(), cl.Get(j).Message())
				} else if !sameScalar(ofd, ol.Get(j), cl.Get(j)) {
					t.Errorf("%s[%d] = %v, want %v", where, j, ol.Get(j), cl.Get(j))
				}
			}
		case ofd.IsMap():
			om, cm := ov.Map(), cv.Map()
			if om.Len() != cm.Len() {
				t.Errorf("%s: %d entries, want %d", where, om.Len(), cm.Len())
			}
			om.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				if !cm.Has(k) || !sameScalar(ofd.MapValue(), v, cm.Get(k)) {
					t.Errorf("%s[%v] = %v, want %v", where, k, v, cm.Get(k))
				}
				return true
			})
		case ofd.Kind() == protoreflect.MessageKind:
			sameKnownFields(t, where, ov.Message(), cv.Message())
		default:
			if !sameScalar(ofd, ov, cv) {
				t.Errorf("%s = %v, want %v", where, ov, cv)
			}
		}
	}
}

func sameScalar(fd protoreflect.FieldDescriptor, a, b protoreflect.Value) bool {
	if fd.Kind() == protoreflect.EnumKind {
		return a.Enum() == b.Enum()
	}
	if fd.Kind() == protoreflect.BytesKind {
		return string(a.Bytes()) == string(b.Bytes())
	}
	return a.Interface() == b.Interface()
}

// The minor version grows with the contract: a proto that differs from the
// released one must say a newer minor than the release did.
func TestMinorVersionGrowsWithTheContract(t *testing.T) {
	t.Parallel()
	released, current := releasedFile(t), currentFile()
	rMinor, cMinor := minorOf(released), minorOf(current)
	if cMinor < rMinor {
		t.Fatalf("protocol_minor = %d, below the released %d: a minor version is never lowered", cMinor, rMinor)
	}
	if !sameContract(released, current) && cMinor == rMinor {
		t.Errorf("the proto changed since the release but protocol_minor is still %d: raise it (and contract.ProtocolMinor)", cMinor)
	}
}

// minorOf reads the file option protocol_minor; a file without it is 0.
func minorOf(f *descriptorpb.FileDescriptorProto) uint32 {
	if f.GetOptions() == nil {
		return 0
	}
	// The released set was unmarshalled without the extension known to
	// the decoder's resolver at the time, so round-trip through bytes.
	raw, err := proto.Marshal(f.GetOptions())
	if err != nil {
		return 0
	}
	var opts descriptorpb.FileOptions
	if err := proto.Unmarshal(raw, &opts); err != nil {
		return 0
	}
	return proto.GetExtension(&opts, duov1.E_ProtocolMinor).(uint32)
}

// sameContract compares the two files' services, messages and enums,
// leaving out options, comments and source info.
func sameContract(a, b *descriptorpb.FileDescriptorProto) bool {
	strip := func(f *descriptorpb.FileDescriptorProto) *descriptorpb.FileDescriptorProto {
		return &descriptorpb.FileDescriptorProto{Service: f.GetService(), MessageType: f.GetMessageType(), EnumType: f.GetEnumType(), Extension: f.GetExtension()}
	}
	return proto.Equal(strip(a), strip(b))
}

// incompatibilities lists, in words, every way next breaks a client or
// server built from released.
func incompatibilities(released, next *descriptorpb.FileDescriptorProto) []string {
	var out []string
	fail := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if released.GetPackage() != next.GetPackage() {
		fail("package %s renamed to %s: a new package is a new major version", released.GetPackage(), next.GetPackage())
	}
	pkg := released.GetPackage()

	services := map[string]*descriptorpb.ServiceDescriptorProto{}
	for _, s := range next.GetService() {
		services[s.GetName()] = s
	}
	for _, rs := range released.GetService() {
		svc := pkg + "." + rs.GetName()
		ns, ok := services[rs.GetName()]
		if !ok {
			fail("service %s removed or renamed", svc)
			continue
		}
		methods := map[string]*descriptorpb.MethodDescriptorProto{}
		for _, m := range ns.GetMethod() {
			methods[m.GetName()] = m
		}
		for _, rm := range rs.GetMethod() {
			rpc := svc + "." + rm.GetName()
			nm, ok := methods[rm.GetName()]
			switch {
			case !ok:
				fail("rpc %s removed or renamed", rpc)
				continue
			case nm.GetInputType() != rm.GetInputType():
				fail("rpc %s takes %s, was %s", rpc, nm.GetInputType(), rm.GetInputType())
			case nm.GetOutputType() != rm.GetOutputType():
				fail("rpc %s returns %s, was %s", rpc, nm.GetOutputType(), rm.GetOutputType())
			}
			if nm.GetClientStreaming() != rm.GetClientStreaming() {
				fail("rpc %s: client streaming %t, was %t", rpc, nm.GetClientStreaming(), rm.GetClientStreaming())
			}
			if nm.GetServerStreaming() != rm.GetServerStreaming() {
				fail("rpc %s: server streaming %t, was %t", rpc, nm.GetServerStreaming(), rm.GetServerStreaming())
			}
		}
	}
	compareMessages(pkg, released.GetMessageType(), next.GetMessageType(), fail)
	compareEnums(pkg, released.GetEnumType(), next.GetEnumType(), fail)
	return out
}

func compareMessages(scope string, released, next []*descriptorpb.DescriptorProto, fail func(string, ...any)) {
	byName := map[string]*descriptorpb.DescriptorProto{}
	for _, m := range next {
		byName[m.GetName()] = m
	}
	for _, rm := range released {
		name := scope + "." + rm.GetName()
		nm, ok := byName[rm.GetName()]
		if !ok {
			fail("message %s removed or renamed", name)
			continue
		}
		fields := map[int32]*descriptorpb.FieldDescriptorProto{}
		for _, f := range nm.GetField() {
			fields[f.GetNumber()] = f
		}
		for _, rf := range rm.GetField() {
			field := fmt.Sprintf("%s.%s (field %d)", name, rf.GetName(), rf.GetNumber())
			nf, ok := fields[rf.GetNumber()]
			if !ok {
				if !numberReserved(nm, rf.GetNumber()) || !slices.Contains(nm.GetReservedName(), rf.GetName()) {
					fail("field %s removed without reserving its number and name (reserved %d; reserved %q;)", field, rf.GetNumber(), rf.GetName())
				}
				continue
			}
			if nf.GetName() != rf.GetName() {
				fail("field %s renamed to %s (JSON and text formats break)", field, nf.GetName())
			}
			if nf.GetType() != rf.GetType() || nf.GetTypeName() != rf.GetTypeName() {
				fail("field %s changed type from %s to %s", field, typeOf(rf), typeOf(nf))
			}
			if nf.GetLabel() != rf.GetLabel() || nf.GetProto3Optional() != rf.GetProto3Optional() {
				fail("field %s changed cardinality from %s to %s", field, cardinality(rf), cardinality(nf))
			}
			if oneofName(rm, rf) != oneofName(nm, nf) {
				fail("field %s moved from oneof %q to %q", field, oneofName(rm, rf), oneofName(nm, nf))
			}
		}
		compareMessages(name, rm.GetNestedType(), nm.GetNestedType(), fail)
		compareEnums(name, rm.GetEnumType(), nm.GetEnumType(), fail)
	}
}

func compareEnums(scope string, released, next []*descriptorpb.EnumDescriptorProto, fail func(string, ...any)) {
	byName := map[string]*descriptorpb.EnumDescriptorProto{}
	for _, e := range next {
		byName[e.GetName()] = e
	}
	for _, re := range released {
		name := scope + "." + re.GetName()
		ne, ok := byName[re.GetName()]
		if !ok {
			fail("enum %s removed or renamed", name)
			continue
		}
		values := map[int32][]string{}
		for _, v := range ne.GetValue() {
			values[v.GetNumber()] = append(values[v.GetNumber()], v.GetName())
		}
		for _, rv := range re.GetValue() {
			names, ok := values[rv.GetNumber()]
			switch {
			case !ok && !enumReserved(ne, rv):
				fail("enum value %s.%s (%d) removed without reserving its number and name", name, rv.GetName(), rv.GetNumber())
			case ok && !slices.Contains(names, rv.GetName()):
				fail("enum value %s.%s (%d) renamed to %s", name, rv.GetName(), rv.GetNumber(), strings.Join(names, ", "))
			}
		}
	}
}

func numberReserved(m *descriptorpb.DescriptorProto, n int32) bool {
	for _, r := range m.GetReservedRange() {
		if n >= r.GetStart() && n < r.GetEnd() { // end is exclusive
			return true
		}
	}
	return false
}

func enumReserved(e *descriptorpb.EnumDescriptorProto, v *descriptorpb.EnumValueDescriptorProto) bool {
	if !slices.Contains(e.GetReservedName(), v.GetName()) {
		return false
	}
	for _, r := range e.GetReservedRange() {
		if v.GetNumber() >= r.GetStart() && v.GetNumber() <= r.GetEnd() { // end is inclusive
			return true
		}
	}
	return false
}

func typeOf(f *descriptorpb.FieldDescriptorProto) string {
	if f.GetTypeName() != "" {
		return strings.TrimPrefix(f.GetTypeName(), ".")
	}
	return strings.ToLower(strings.TrimPrefix(f.GetType().String(), "TYPE_"))
}

func cardinality(f *descriptorpb.FieldDescriptorProto) string {
	switch {
	case f.GetLabel() == descriptorpb.FieldDescriptorProto_LABEL_REPEATED:
		return "repeated"
	case f.GetProto3Optional():
		return "optional"
	default:
		return "singular"
	}
}

func oneofName(m *descriptorpb.DescriptorProto, f *descriptorpb.FieldDescriptorProto) string {
	if f.OneofIndex == nil || f.GetProto3Optional() {
		return ""
	}
	return m.GetOneofDecl()[f.GetOneofIndex()].GetName()
}
